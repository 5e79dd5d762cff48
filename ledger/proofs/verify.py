"""Verification: proves every register row that came from the chain against the chain itself.

Three checks, each reporting every problem it finds:
- integrity: each row's log is re-read from its transaction's receipt at (tx hash, log index),
  in the block (number and hash) the row names, and its decoded values must be the row's: an
  edited row is caught;
- completeness: every log of every followed contract up to the checkpoint is re-read and must
  have its row: a deleted row is caught;
- the audit log: each entry's hash must recompute and chain to the previous one with no gap in
  the sequence: an edited, inserted or deleted entry is caught;
- statuses: every instruction's status must be what the venue's events and storage say at the
  checkpoint (ledger/register/statuses.py): `failed` for an instruction that settled is caught.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select as sa_select
from sqlmodel import select

from ledger.register import eventmap, finality, models, statuses
from ledger.chain import Chain
from ledger.register.db import GENESIS_AUDIT_HASH, Register, audit_hash
from ledger.errors import RegisterError
from ledger.chain.codec import checksum, decode_event
from ledger.register.indexer import DecodedLog, check_checkpoint

RECEIPT_BATCH = 100
LOG_CHUNK = 5_000


@dataclass
class Problem:
    check: str  # integrity | completeness | audit_log | status
    table: str
    where: str  # tx_hash:log_index, or an audit log id
    what: str


@dataclass
class Verification:
    block: int
    rows_checked: int = 0
    logs_checked: int = 0
    audit_entries: int = 0
    audit_head: str = ""  # the last entry's hash: note it, and a later truncation of the log shows
    final_block: int = -1  # the register's finalized height: rows above it are provisional (ledger/register/finality.py)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict:
        """What `verify --format json` prints."""
        return {
            "ok": self.ok,
            "block": self.block,
            "rows_checked": self.rows_checked,
            "logs_checked": self.logs_checked,
            "audit_entries": self.audit_entries,
            "audit_head": self.audit_head,
            "final_block": self.final_block,
            "problems": [{"check": p.check, "table": p.table, "where": p.where, "what": p.what} for p in self.problems],
        }


# The tables whose rows carry their log's proof: what the event map writes, and the duty
# assessments derived from settlements.
_CHAIN_TABLES = eventmap.PROVEN_MODELS


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _receipt_logs(chain: Chain, tx_hashes: list[str]) -> dict[tuple[str, int], dict]:
    logs = {}
    for batch in _chunks(tx_hashes, RECEIPT_BATCH):
        for receipt in chain.rpc_batch([("eth_getTransactionReceipt", [h]) for h in batch]):
            if receipt is None:
                continue
            for log in receipt["logs"]:
                logs[(log["transactionHash"], int(log["logIndex"], 16))] = log
    return logs


def _followed_logs(
    chain: Chain, kinds: dict[str, str], start: int, block: int, progress: Callable[[int, int], None] | None
) -> dict[tuple[str, int], dict]:
    """(tx hash, log index) -> log, for every log of the followed contracts from `start` to
    `block`, read by block range (eth_getLogs): what completeness reads, and what integrity
    checks rows against. A node answers a receipt by rebuilding its block's receipts, so one
    receipt per transaction costs the size of its block: in full blocks that grows with the
    square of the rows; a range costs its logs."""
    logs = {}
    for low in range(start, block + 1, LOG_CHUNK):
        high = min(low + LOG_CHUNK - 1, block)
        for log in chain.rpc("eth_getLogs", [{"fromBlock": hex(low), "toBlock": hex(high), "address": list(kinds)}]):
            logs[(log["transactionHash"], int(log["logIndex"], 16))] = log
        if progress:
            progress(high - start + 1, block - start + 1)
    return logs


def _integrity(
    register: Register,
    chain: Chain,
    kinds: dict[str, str],
    followed: dict[tuple[str, int], dict],
    decoded_logs: dict[tuple[str, int], tuple | None],
    result: Verification,
) -> set[tuple[str, int]]:
    """Checks every chain-derived row against its log; returns the (tx, log index) keys seen.
    A row's log is looked up among the followed contracts' logs (`followed`); a row naming any
    other log (edited, or of a contract not followed) has its transaction's receipt read, so
    what it is checked against is the chain's log at (tx hash, log index) either way. Each log
    decoded is kept in `decoded_logs` for completeness."""
    # plain rows (the columns by name, as compare reads them), not ORM objects: building a
    # model instance per row cost more than checking it
    with register.session() as s:
        rows = {model.__tablename__: s.execute(sa_select(model.__table__)).all() for model in _CHAIN_TABLES}
    seen: set[tuple[str, int]] = set()
    missing = sorted({r.tx_hash for table in rows.values() for r in table if (r.tx_hash, r.log_index) not in followed})
    logs = {**followed, **_receipt_logs(chain, missing)} if missing else followed
    for table, table_rows in rows.items():
        for row in table_rows:
            key = (row.tx_hash, row.log_index)
            seen.add(key)
            result.rows_checked += 1
            where = f"{row.tx_hash}:{row.log_index}"
            log = logs.get(key)
            if log is None:
                result.problems.append(Problem("integrity", table, where, "no such log on chain"))
                continue
            if log["blockHash"] != row.block_hash or int(log["blockNumber"], 16) != row.block_number:
                result.problems.append(
                    Problem(
                        "integrity",
                        table,
                        where,
                        f"the log is in block {int(log['blockNumber'], 16)} {log['blockHash'][:10]}…, not the row's",
                    )
                )
                continue
            address = checksum(log["address"])
            kind = kinds.get(address)
            decoded = decode_event(kind, log) if kind else None
            if key in followed:
                decoded_logs[key] = decoded
            if decoded is None:
                result.problems.append(Problem("integrity", table, where, "the log is not an event of a followed contract"))
                continue
            proof = {
                "block_number": row.block_number,
                "block_hash": row.block_hash,
                "tx_hash": row.tx_hash,
                "log_index": row.log_index,
            }
            mismatch = eventmap.compare(table, row, DecodedLog(address, kind, decoded[0], decoded[1], proof))
            if mismatch:
                result.problems.append(Problem("integrity", table, where, mismatch))
    return seen


def _completeness(
    register: Register,
    followed: dict[tuple[str, int], dict],
    decoded_logs: dict[tuple[str, int], tuple | None],
    kinds: dict[str, str],
    seen: set[tuple[str, int]],
    result: Verification,
) -> None:
    """Every log of every followed contract up to the checkpoint (`followed`) must have its row."""
    with register.session() as s:
        coupon_records = s.exec(select(models.CouponRecord)).all()
    # rows without a proof of their own (coupon records) name the transaction of their event
    recorded_txs = {
        "declared_tx": {r.declared_tx for r in coupon_records},
        "completed_tx": {r.completed_tx for r in coupon_records if r.completed_tx},
    }
    for key, log in followed.items():
        kind = kinds[checksum(log["address"])]
        decoded = decoded_logs[key] if key in decoded_logs else decode_event(kind, log)
        if decoded is None:
            continue
        result.logs_checked += 1
        e = eventmap.entry(kind, decoded[0])
        table = e.model.__tablename__
        present = key in seen if e.proven else key[0] in recorded_txs[e.tx_column]
        if not present:
            result.problems.append(
                Problem("completeness", table, f"{key[0]}:{key[1]}", f"{decoded[0]} of {log['address']} is not in the register")
            )


def _audit_log(register: Register, result: Verification) -> None:
    with register.session() as s:
        entries = s.exec(select(models.AuditLog).order_by(models.AuditLog.id)).all()
    previous, expected_id = GENESIS_AUDIT_HASH, None
    for entry in entries:
        result.audit_entries += 1
        if expected_id is not None and entry.id != expected_id:
            result.problems.append(
                Problem("audit_log", "audit_log", str(entry.id), f"entries {expected_id}..{entry.id - 1} are missing")
            )
        if entry.prev_hash != previous:
            result.problems.append(Problem("audit_log", "audit_log", str(entry.id), "does not chain to the entry before it"))
        if audit_hash(entry) != entry.hash:
            result.problems.append(
                Problem("audit_log", "audit_log", str(entry.id), "its content does not match its hash (edited)")
            )
        previous, expected_id = entry.hash, entry.id + 1
    result.audit_head = previous if entries else ""


def verify(register: Register, chain: Chain, progress: Callable[[int, int], None] | None = None) -> Verification:
    check_checkpoint(register, chain)
    cp = register.checkpoint()
    if cp is None:
        raise RegisterError("register is empty: nothing to verify")
    result = Verification(cp.block_number)
    with register.session() as s:
        result.final_block = finality.finalized_height(s)
    with register.session() as s:
        kinds = dict(s.execute(sa_select(models.ContractRecord.address, models.ContractRecord.kind)).all())
    with register.session() as s:
        contracts = s.exec(select(models.ContractRecord)).all()
    followed: dict[tuple[str, int], dict] = {}
    if contracts:
        start = min(c.deploy_block for c in contracts)
        followed = _followed_logs(chain, {c.address: c.kind for c in contracts}, start, cp.block_number, progress)
    decoded_logs: dict[tuple[str, int], tuple | None] = {}
    seen = _integrity(register, chain, kinds, followed, decoded_logs, result)
    _completeness(register, followed, decoded_logs, kinds, seen, result)
    _audit_log(register, result)
    _, breaks = statuses.instruction_breaks(register, chain, cp.block_number)
    for b in breaks:
        result.problems.append(
            Problem("status", "instructions", b.instruction_id, f"{b.register} in the register, {b.chain} on chain: {b.what}")
        )
    return result
