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
from datetime import date
from functools import cache

from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic, to_checksum_address
from sqlalchemy import insert, update
from sqlmodel import Session, select

from ledger import artifacts, models, stampduty
from ledger.addresses import checksum as _checksum  # one EIP-55 for the sync and the CSV inputs
from ledger.chain import Chain
from ledger.clock import HONG_KONG, hk_date  # noqa: F401 (HONG_KONG: kept importable from here)
from ledger.codes import SettlementFailure
from ledger.db import Register, writes_register
from ledger.errors import RegisterError
from ledger.money import CURRENCIES

CHUNK_BLOCKS = 5_000  # the widest block range asked of eth_getLogs at once
CHUNK_LOGS = 5_000  # ranges shrink so that a chunk holds about this many logs: memory stays flat

#: contract kind -> the artifact whose ABI decodes its events
KIND_ARTIFACT = {
    "registry": "InvestorRegistry",
    "dvp": "DvPSettlement",
    "cash": "CashToken",
    "bond": "BondToken",
    "fund": "FundToken",
    "paying_agent": "PayingAgent",
}


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


@dataclass(frozen=True)
class _EventShape:
    name: str
    indexed: tuple[tuple[str, str], ...]  # (name, type) from topics 1..3
    data: tuple[tuple[str, str], ...]  # (name, type) from data
    static_words: bool  # every data field is one 32-byte word: decode by slicing


_WORD_TYPES = ("address", "bool", "bytes32", "bytes2") + tuple(f"uint{n}" for n in range(8, 257, 8))


@cache
def _events(kind: str) -> dict[str, _EventShape]:
    """topic0 (hex) -> how to decode that event, for a contract kind."""
    shapes = {}
    for e in artifacts.load(KIND_ARTIFACT[kind]).abi:
        if e["type"] != "event" or e.get("anonymous"):
            continue
        indexed = tuple((i["name"], i["type"]) for i in e["inputs"] if i["indexed"])
        data = tuple((i["name"], i["type"]) for i in e["inputs"] if not i["indexed"])
        static = all(t in _WORD_TYPES for _, t in data)
        shapes["0x" + event_abi_to_log_topic(e).hex()] = _EventShape(e["name"], indexed, data, static)
    return shapes


def _word(word: str, abi_type: str):
    """One 32-byte ABI word (64 hex digits) as a Python value."""
    if abi_type == "address":
        return _checksum("0x" + word[24:])
    if abi_type == "bool":
        return int(word, 16) != 0
    if abi_type == "bytes32":
        return "0x" + word
    if abi_type.startswith("bytes"):
        return "0x" + word[: 2 * int(abi_type[5:])]
    return int(word, 16)


def _decode(kind: str, log: dict) -> tuple[str, dict] | None:
    topics = log["topics"]
    shape = _events(kind).get(topics[0]) if topics else None
    if shape is None:
        return None
    args = {name: _word(topic[2:], t) for (name, t), topic in zip(shape.indexed, topics[1:])}
    if shape.static_words:
        data = log["data"][2:]
        for n, (name, t) in enumerate(shape.data):
            args[name] = _word(data[64 * n : 64 * n + 64], t)
    elif shape.data:
        values = abi_decode([t for _, t in shape.data], bytes.fromhex(log["data"][2:]))
        for (name, t), value in zip(shape.data, values):
            args[name] = _scalar(value, t)
    return shape.name, args


def _scalar(value, abi_type: str):
    if abi_type == "address":
        return _checksum(value)
    if abi_type.startswith("bytes") and isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_scalar(v, abi_type.rstrip("[]")) for v in value]
    return value


def _bytes2_text(hex_value: str) -> str:
    return bytes.fromhex(hex_value[2:]).decode("ascii", errors="replace")


# ---------------------------------------------------------------------- applying events


SETTLEMENT_EVENTS = {"InstructionSettled": "settled", "InstructionCancelled": "cancelled", "SettlementFailed": "failed"}
#: statuses only the venue's InstructionSettled / InstructionCancelled events give, and nothing takes back
FINAL_STATUSES = ("settled", "cancelled")
#: statuses `settle` may still act on (and record a refusal over)
OPEN_STATUSES = ("pending", "failed")
FUND_FLOW_EVENTS = {"CreationSettled": "creation", "RedemptionSettled": "redemption"}
PAYMENT_EVENTS = {"CouponDeclared", "CouponPaid", "CouponCompleted", "RedemptionDeclared", "PrincipalPaid", "RedemptionCompleted"}


REGISTRY_EVENTS = ("InvestorUpdated", "InvestorRemoved", "WalletAdded", "WalletRemoved")


def table_of(kind: str, event: str) -> str:
    """Which register table an event of a followed contract goes to (verify reads it back there)."""
    if event in SETTLEMENT_EVENTS:
        return "settlement_events"
    if event in FUND_FLOW_EVENTS:
        return "fund_flows"
    if kind == "paying_agent" and event in ("CouponPaid", "PrincipalPaid"):
        return "payments"
    if kind == "paying_agent" and event in PAYMENT_EVENTS:
        return "coupons"
    if event == "NavPublished":
        return "nav_history"
    if event == "Transfer":
        return "transfers"
    if kind == "registry" and event in REGISTRY_EVENTS:
        return "registrations"
    if event == "IssuanceSettled":
        return "issuances"
    return "token_events"


def _apply(session: Session, logs: list[DecodedLog]) -> None:
    """Writes decoded logs (in chain order) to the register's tables."""
    rows: dict[str, list] = {}
    wallets: dict[str, dict] = {}  # the last link event of each wallet in these logs
    for log in logs:
        a, proof, table = log.args, log.proof, table_of(log.kind, log.event)
        if table in ("settlement_events", "fund_flows"):
            rows.setdefault(table, []).append(log)
        elif table in ("payments", "coupons"):
            _apply_payment(session, log)
        elif table == "nav_history":
            rows.setdefault(table, []).append({**proof, "fund": log.contract, "nav_e6": a["navPerUnit"], "published_at": a["timestamp"]})
        elif table == "transfers":
            rows.setdefault(table, []).append(
                {**proof, "token": log.contract, "from_address": a["from"], "to_address": a["to"], "quantity": a["value"]}
            )
        elif table == "registrations":
            rows.setdefault(table, []).append(_registration(log, wallets))
        elif table == "issuances":
            rows.setdefault(table, []).append(
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
            rows.setdefault(table, []).append(
                {**proof, "contract": log.contract, "event": log.event, "args": json.dumps(a, sort_keys=True)}
            )
    _apply_wallets(session, wallets)
    for model in (models.Transfer, models.Registration, models.Issuance, models.NavRecord, models.TokenEvent):
        if rows.get(model.__tablename__):
            _insert(session, model, rows[model.__tablename__])
    if rows.get("settlement_events"):
        _apply_settlements(session, rows["settlement_events"])
    if rows.get("fund_flows"):
        _apply_fund_flows(session, rows["fund_flows"])


def _insert(session: Session, model, rows: list[dict]) -> None:
    if rows:
        session.execute(insert(model.__table__), rows)


def _apply_payment(session: Session, log: DecodedLog) -> None:
    """The paying agent's events: declarations and completions of coupons and of the redemption,
    and every payment to a holder."""
    a, proof = log.args, log.proof
    c = models.CouponRecord
    if log.event in ("CouponPaid", "PrincipalPaid"):
        coupon = log.event == "CouponPaid"
        session.execute(
            insert(models.Payment.__table__),
            [
                {
                    **proof,
                    "bond": a["bond"],
                    "kind": "coupon" if coupon else "redemption",
                    "coupon_id": a["couponId"] if coupon else 0,
                    "holder": a["holder"],
                    "quantity": a["quantity"],
                    "amount": a["amount"],
                }
            ],
        )
    elif log.event in ("CouponDeclared", "RedemptionDeclared"):
        coupon = log.event == "CouponDeclared"
        session.add(
            models.CouponRecord(
                bond=a["bond"],
                coupon_id=a["couponId"] if coupon else 0,
                kind="coupon" if coupon else "redemption",
                amount_per_token=a["amountPerToken"],
                payment_time=a["paymentTime"] if coupon else proof["block_timestamp"],
                early=a.get("early", False),
                declared_block=proof["block_number"],
                declared_tx=proof["tx_hash"],
            )
        )
        session.flush()
    else:  # CouponCompleted, RedemptionCompleted
        coupon_id = a["couponId"] if log.event == "CouponCompleted" else 0
        record = session.exec(select(c).where(c.bond == a["bond"], c.coupon_id == coupon_id)).one()
        record.completed, record.paid_quantity, record.paid_amount = True, a["quantity"], a["amount"]
        record.completed_block, record.completed_tx = proof["block_number"], proof["tx_hash"]
        session.add(record)
        session.flush()


def _apply_fund_flows(session: Session, logs: list[DecodedLog]) -> None:
    """Creations and redemptions, each with its duty assessment (the market-maker waiver)."""
    instruments, currencies = _instruments_and_currencies(session)
    rows, duties = [], []
    for log in logs:
        a, proof, kind = log.args, log.proof, FUND_FLOW_EVENTS[log.event]
        rows.append(
            {
                **proof,
                "kind": kind,
                "fund": a["fund"],
                "participant": a["participant"],
                "creation_units": a["creationUnits"],
                "units": a["units"],
                "cash_token": a["cashToken"],
                "cash_amount": a["cashAmount"],
                "nav_e6": a["navPerUnit"],
            }
        )
        instruction_id = f"{kind}:{proof['tx_hash']}:{proof['log_index']}"
        duties.append(
            _duty_row(
                proof, instruction_id, instruments.get(a["fund"]), "etf_creation_redemption",
                currencies.get(a["cashToken"], "?"), a["cashAmount"], hk_date(proof["block_timestamp"]),
            )
        )
    _insert(session, models.FundFlow, rows)
    _insert(session, models.DutyAssessment, duties)


def _apply_settlements(session: Session, logs: list[DecodedLog]) -> None:
    """Settlement events: the event rows, each instruction's status, and a duty assessment per
    settled transfer (written once, never updated)."""
    ids = [log.args["instructionId"] for log in logs]
    i = models.Instruction
    # (id -> trade date, status) of the captured instructions among them; plain columns, not ORM objects
    captured = {r[0]: r[1:] for r in session.exec(select(i.instruction_id, i.trade_date, i.status).where(i.instruction_id.in_(ids)))}
    known = {iid: traded for iid, (traded, _) in captured.items()}
    current = {iid: status for iid, (_, status) in captured.items()}
    instruments, currencies = _instruments_and_currencies(session)
    events, duties, updates = [], [], {}
    for log in logs:
        a, proof, status = log.args, log.proof, SETTLEMENT_EVENTS[log.event]
        iid = a["instructionId"]
        events.append(
            {
                **proof,
                "instruction_id": iid,
                "event": status,
                "reason": a.get("reason"),
                "token_reason": a.get("tokenReason"),
                "party": a.get("party"),
            }
        )
        # Settled and cancelled are final on chain: a later failure of the same instruction (a
        # second submission finding its nonce used) never takes them back.
        if iid in known and not (status == "failed" and current[iid] in FINAL_STATUSES):
            reason = SettlementFailure(a["reason"]).describe(a["tokenReason"]) if status == "failed" else None
            updates[iid] = {"instruction_id": iid, "status": status, "reason": reason, "updated_at": models.utcnow(), **proof}
            current[iid] = status
        if status == "settled":
            instrument = instruments.get(a["securityToken"])
            klass = stampduty.instrument_class(instrument.kind if instrument else "")
            # The rule is chosen by the trade date; without the captured trade, by the settlement day in Hong Kong.
            traded = known.get(iid) or hk_date(proof["block_timestamp"])
            duties.append(_duty_row(proof, iid, instrument, klass, currencies.get(a["cashToken"], "?"), a["cashAmount"], traded))
    _insert(session, models.SettlementEvent, events)
    if updates:
        session.execute(update(models.Instruction), list(updates.values()))
    if duties:
        _insert(session, models.DutyAssessment, duties)


def _instruments_and_currencies(session: Session) -> tuple[dict[str, models.Instrument], dict[str, str]]:
    """(token address -> instrument, cash token address -> currency) as the register has them."""
    instruments = {i.address: i for i in session.exec(select(models.Instrument))}
    cash = select(models.ContractRecord).where(models.ContractRecord.kind == "cash")
    return instruments, {c.address: c.label for c in session.exec(cash)}


def _duty_row(
    proof: dict, instruction_id: str, instrument: models.Instrument | None, klass: str, currency: str, cash_amount: int,
    traded: date,
) -> dict:
    """The duty assessment of one settled transfer of `cash_amount` traded on `traded`."""
    assessment = stampduty.assess(klass, cash_amount, traded, 10 ** CURRENCIES.get(currency, 2))
    return {
        **proof,
        "instruction_id": instruction_id,
        "isin": instrument.isin if instrument else None,
        "instrument_class": assessment.instrument_class,
        "treatment": assessment.treatment,
        "currency": currency,
        "consideration": assessment.consideration,
        "duty_without_relief": assessment.duty_without_relief,
        "duty_buyer": assessment.duty_buyer,
        "duty_seller": assessment.duty_seller,
        "basis": assessment.basis,
        "rule_version": assessment.rule_version,
        "trade_date": traded,
    }


def _registration(log: DecodedLog, wallets: dict[str, dict]) -> dict:
    a = log.args
    row = {**log.proof, "id_hash": a["investorId"], "wallet": a.get("wallet"), "country": None, "category": None, "kyc_expiry": None}
    if log.event == "InvestorUpdated":
        row.update(event="investor_updated", country=_bytes2_text(a["country"]), category=a["category"], kyc_expiry=a["kycExpiry"])
    elif log.event == "InvestorRemoved":
        row["event"] = "investor_removed"
    else:
        active = log.event == "WalletAdded"
        row["event"] = "wallet_added" if active else "wallet_removed"
        wallets[a["wallet"]] = {"address": a["wallet"], "id_hash": a["investorId"], "active": active, "block_number": log.proof["block_number"]}
    return row


def _apply_wallets(session: Session, wallets: dict[str, dict]) -> None:
    """The wallet links as the latest events leave them: the known ones updated, the new ones
    inserted together (one query per 500 wallets, not a lookup and a flush per event)."""
    if not wallets:
        return
    addresses = list(wallets)
    for i in range(0, len(addresses), 500):
        for wallet in session.exec(select(models.Wallet).where(models.Wallet.address.in_(addresses[i : i + 500]))).all():
            state = wallets.pop(wallet.address)
            wallet.id_hash, wallet.active, wallet.block_number = state["id_hash"], state["active"], state["block_number"]
            session.add(wallet)
    session.flush()
    _insert(session, models.Wallet, list(wallets.values()))


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
        decoded.append(DecodedLog(_checksum(log["address"]), kind, result[0], result[1], proof))
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


@writes_register("sync")
def sync(
    register: Register,
    chain: Chain,
    to_block: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = CHUNK_BLOCKS,
) -> SyncResult:
    """Indexes new events of every followed contract up to `to_block` (default: the head).

    Block ranges adapt to the density of events: a range that returned many logs is followed by
    a narrower one (and one far over CHUNK_LOGS is fetched again in halves), a sparse one by a
    wider one up to `chunk` blocks, so each database transaction and the memory it takes stay
    about CHUNK_LOGS events whatever the chain holds."""
    check_checkpoint(register, chain)
    target = chain.block_number() if to_block is None else to_block
    start = register.indexed_block()
    events = 0
    span = min(chunk, 16)  # start narrow and widen: one dense first range would be the memory peak
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
            end = min(low + span, next_level, target)
            logs = _fetch(chain, {c.address: c.kind for c in lagging}, low + 1, end)
            if len(logs) > 2 * CHUNK_LOGS and end > low + 1:
                span = max(1, (end - low) // 2)
                continue  # too dense to hold at once: the same blocks again, in halves
            # widen from the range actually read (a range cut short by another contract's level says
            # nothing about density), at most doubling, towards CHUNK_LOGS logs
            span = max(1, min(chunk, 2 * (end - low), (end - low) * CHUNK_LOGS // max(len(logs), 1)))
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
    header = chain.rpc("eth_getBlockByNumber", [hex(block), False])
    if cp is None:
        cp = models.Checkpoint(chain_id=chain.chain_id, block_number=block, block_hash=header["hash"])
    else:
        cp.block_number, cp.block_hash, cp.updated_at = block, header["hash"], models.utcnow()
    session.add(cp)
    _expire(session, int(header["timestamp"], 16))


def _expire(session: Session, chain_time: int) -> None:
    """Instructions past their expiry at the indexed block can no longer settle: expired. A plain
    function of the indexed chain time over the open statuses: a settled or cancelled instruction
    (an event of a block at or below the checkpoint) is never touched."""
    i = models.Instruction
    session.execute(
        update(i)
        .where(i.status.in_(OPEN_STATUSES), i.expiry <= chain_time)
        .values(status="expired", reason="expired before it settled", updated_at=models.utcnow())
    )


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
