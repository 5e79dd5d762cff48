"""The indexer: reads the events of every followed contract into the register.

The register is derived from what the chain says happened, never from what Python believes it
sent. Each contract has its own `synced_block`, so a contract added late (a new bond) is
read from its deployment block up to the others before they move on together; the checkpoint
is the block up to which every followed contract is indexed, with that block's hash. Each
chunk of blocks is applied in one database transaction together with the new checkpoint, so a
crash leaves the register at the last whole chunk and a re-run resumes from there. Running it
twice changes nothing.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic, to_checksum_address
from sqlalchemy import insert
from sqlmodel import Session, select

from ledger import artifacts, models
from ledger.chain import Chain
from ledger.db import Register
from ledger.errors import RegisterError

CHUNK_BLOCKS = 5_000

#: contract kind -> the artifact whose ABI decodes its events
KIND_ARTIFACT = {"registry": "InvestorRegistry", "dvp": "DvPSettlement", "cash": "CashToken", "bond": "BondToken"}


@dataclass
class DecodedLog:
    contract: str
    kind: str
    event: str
    args: dict
    proof: dict


@dataclass
class SyncResult:
    from_block: int
    to_block: int
    events: int


@cache
def _events(kind: str) -> dict[str, dict]:
    """topic0 (hex) -> event ABI for a contract kind."""
    abi = artifacts.load(KIND_ARTIFACT[kind]).abi
    return {"0x" + event_abi_to_log_topic(e).hex(): e for e in abi if e["type"] == "event" and not e.get("anonymous")}


def _decode(kind: str, log: dict) -> tuple[str, dict] | None:
    topics = log["topics"]
    event = _events(kind).get(topics[0]) if topics else None
    if event is None:
        return None
    indexed = [i for i in event["inputs"] if i["indexed"]]
    plain = [i for i in event["inputs"] if not i["indexed"]]
    args = {}
    for item, topic in zip(indexed, topics[1:]):
        args[item["name"]] = _scalar(abi_decode([item["type"]], bytes.fromhex(topic[2:]))[0], item["type"])
    if plain:
        values = abi_decode([i["type"] for i in plain], bytes.fromhex(log["data"][2:]))
        for item, value in zip(plain, values):
            args[item["name"]] = _scalar(value, item["type"])
    return event["name"], args


def _scalar(value, abi_type: str):
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type.startswith("bytes") and isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_scalar(v, abi_type.rstrip("[]")) for v in value]
    return value


def _bytes2_text(hex_value: str) -> str:
    return bytes.fromhex(hex_value[2:]).decode("ascii", errors="replace")


# ---------------------------------------------------------------------- applying events


def _apply(session: Session, logs: list[DecodedLog]) -> None:
    """Writes decoded logs (in chain order) to the register's tables."""
    transfers, registrations, issuances, others = [], [], [], []
    for log in logs:
        a, proof = log.args, log.proof
        if log.event == "Transfer":
            transfers.append({**proof, "token": log.contract, "from_address": a["from"], "to_address": a["to"], "quantity": a["value"]})
        elif log.kind == "registry" and log.event in ("InvestorUpdated", "InvestorRemoved", "WalletAdded", "WalletRemoved"):
            registrations.append(_registration(session, log))
        elif log.event == "IssuanceSettled":
            issuances.append(
                {
                    **proof,
                    "allocation_id": a["allocationId"],
                    "token": a["token"],
                    "investor": a["investor"],
                    "quantity": a["quantity"],
                    "cash_token": a["cashToken"],
                    "cash_amount": a["cashAmount"],
                    "treasury": a["treasury"],
                }
            )
        else:
            others.append({**proof, "contract": log.contract, "event": log.event, "args": json.dumps(a, sort_keys=True)})
    for model, rows in (
        (models.Transfer, transfers),
        (models.Registration, registrations),
        (models.Issuance, issuances),
        (models.TokenEvent, others),
    ):
        if rows:
            session.execute(insert(model.__table__), rows)


def _registration(session: Session, log: DecodedLog) -> dict:
    a = log.args
    row = {**log.proof, "id_hash": a["investorId"], "wallet": a.get("wallet"), "country": None, "category": None, "kyc_expiry": None}
    if log.event == "InvestorUpdated":
        row.update(event="investor_updated", country=_bytes2_text(a["country"]), category=a["category"], kyc_expiry=a["kycExpiry"])
    elif log.event == "InvestorRemoved":
        row["event"] = "investor_removed"
    else:
        active = log.event == "WalletAdded"
        row["event"] = "wallet_added" if active else "wallet_removed"
        wallet = session.get(models.Wallet, a["wallet"])
        if wallet is None:
            session.add(models.Wallet(address=a["wallet"], id_hash=a["investorId"], active=active, block_number=log.proof["block_number"]))
        else:
            wallet.id_hash, wallet.active, wallet.block_number = a["investorId"], active, log.proof["block_number"]
            session.add(wallet)
        session.flush()
    return row


# ---------------------------------------------------------------------- reading the chain


def _fetch(chain: Chain, addresses: dict[str, str], from_block: int, to_block: int) -> list[DecodedLog]:
    raw = chain.rpc(
        "eth_getLogs", [{"fromBlock": hex(from_block), "toBlock": hex(to_block), "address": list(addresses)}]
    )
    kinds = {a.lower(): k for a, k in addresses.items()}
    block_numbers = sorted({int(log["blockNumber"], 16) for log in raw})
    blocks = chain.rpc_batch([("eth_getBlockByNumber", [hex(n), False]) for n in block_numbers])
    times = {int(b["number"], 16): int(b["timestamp"], 16) for b in blocks}
    decoded = []
    for log in raw:
        if log.get("removed"):
            continue
        kind = kinds[log["address"].lower()]
        result = _decode(kind, log)
        if result is None:
            continue  # an event from a base contract we do not follow
        number = int(log["blockNumber"], 16)
        proof = {
            "chain_id": chain.chain_id,
            "block_number": number,
            "block_hash": log["blockHash"],
            "block_timestamp": times[number],
            "tx_hash": log["transactionHash"],
            "log_index": int(log["logIndex"], 16),
        }
        decoded.append(DecodedLog(to_checksum_address(log["address"]), kind, result[0], result[1], proof))
    decoded.sort(key=lambda d: (d.proof["block_number"], d.proof["log_index"]))
    return decoded


def _block_hash(chain: Chain, number: int) -> str:
    return chain.rpc("eth_getBlockByNumber", [hex(number), False])["hash"]


def check_checkpoint(register: Register, chain: Chain) -> None:
    """The indexed block must still be on the chain (no reorg, same chain)."""
    cp = register.checkpoint()
    if cp is None:
        return
    head = chain.block_number()
    if cp.block_number > head:
        raise RegisterError(f"register is indexed to block {cp.block_number} but the chain's head is {head}: another chain?")
    actual = _block_hash(chain, cp.block_number)
    if actual != cp.block_hash:
        raise RegisterError(
            f"block {cp.block_number} has hash {actual[:10]}… on chain but {cp.block_hash[:10]}… in the register: "
            "the chain reorganised or this is another chain"
        )


def sync(
    register: Register,
    chain: Chain,
    to_block: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = CHUNK_BLOCKS,
) -> SyncResult:
    """Indexes new events of every followed contract up to `to_block` (default: the head)."""
    check_checkpoint(register, chain)
    target = chain.block_number() if to_block is None else to_block
    start = register.indexed_block()
    events = 0
    while True:
        with register.session() as s:
            contracts = s.exec(select(models.ContractRecord)).all()
            low = min((c.synced_block for c in contracts), default=target)
            if low >= target:
                _set_checkpoint(s, chain, target if not contracts else low)
                s.commit()
                break
            lagging = [c for c in contracts if c.synced_block == low]
            next_level = min((c.synced_block for c in contracts if c.synced_block > low), default=target)
            end = min(low + chunk, next_level, target)
            logs = _fetch(chain, {c.address: c.kind for c in lagging}, low + 1, end)
            _apply(s, logs)
            for c in lagging:
                c.synced_block = end
                s.add(c)
            _set_checkpoint(s, chain, min(end, *(c.synced_block for c in contracts)))
            s.commit()
            events += len(logs)
            if progress:
                progress(end, target)
    return SyncResult(max(start, -1) + 1, target, events)


def _set_checkpoint(session: Session, chain: Chain, block: int) -> None:
    cp = session.get(models.Checkpoint, 1)
    if cp is not None and cp.block_number == block:
        return
    block_hash = _block_hash(chain, block)
    if cp is None:
        cp = models.Checkpoint(chain_id=chain.chain_id, block_number=block, block_hash=block_hash)
    else:
        cp.block_number, cp.block_hash, cp.updated_at = block, block_hash, models.utcnow()
    session.add(cp)


def follow(session: Session, chain: Chain, kind: str, label: str, address: str, receipt: dict) -> models.ContractRecord:
    """Starts following a newly deployed contract from its deployment block."""
    record = models.ContractRecord(
        address=to_checksum_address(address),
        kind=kind,
        label=label,
        chain_id=chain.chain_id,
        deploy_block=receipt["blockNumber"],
        deploy_tx=receipt["transactionHash"].to_0x_hex(),
        synced_block=receipt["blockNumber"] - 1,
    )
    session.add(record)
    return record
