"""The indexer: reads the events of every followed contract into the register.

The register is derived from what the chain says happened, never from what Python believes it
sent. Each contract has its own `synced_block`, so a contract added late (a new bond) is
read from its deployment block up to the others before they move on together; the checkpoint
is the block up to which every followed contract is indexed, with that block's hash. Each
chunk of blocks is applied in one database transaction together with the new checkpoint, so a
crash leaves the register at the last whole chunk and a re-run resumes from there. Running it
twice changes nothing.
"""

from collections.abc import Callable
from dataclasses import dataclass
from eth_utils import to_checksum_address
from sqlalchemy import delete, insert, update
from sqlmodel import Session, select

from ledger.register import eventmap, finality, models
from ledger.chain import Chain
from ledger.clock import HONG_KONG, hk_date  # noqa: F401 (HONG_KONG: kept importable from here)
from ledger.chain.codec import KIND_ARTIFACT, checksum, decode_event  # noqa: F401 (KIND_ARTIFACT: kept importable from here)
from ledger.register.db import Register, writes_register
from ledger.errors import RegisterError

CHUNK_BLOCKS = 5_000  # the widest block range asked of eth_getLogs at once
CHUNK_LOGS = 5_000  # ranges shrink so that a chunk holds about this many logs: memory stays flat


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


# ---------------------------------------------------------------------- applying events
# What each event writes is ledger/register/eventmap.py's one map; these names stay importable from here.

FINAL_STATUSES, OPEN_STATUSES = eventmap.FINAL_STATUSES, eventmap.OPEN_STATUSES
table_of = eventmap.table_of


def _apply(session: Session, logs: list[DecodedLog]) -> None:
    """Writes decoded logs (in chain order) through the event map, then the facts derived from
    them (stamp duty assessments of the settled transfers among them)."""
    eventmap.apply(session, logs)
    eventmap.assess_duties(session, logs)


# ---------------------------------------------------------------------- reading the chain


def _fetch(chain: Chain, addresses: dict[str, str], from_block: int, to_block: int) -> tuple[list[DecodedLog], dict[int, dict]]:
    """The followed contracts' logs in a block range, decoded in chain order, with the header of
    each block holding one (for its time; `_record_blocks` keeps the ones it needs rather than
    asking again). A block gone or replaced between the two reads: `_Moved`."""
    raw = chain.rpc("eth_getLogs", [{"fromBlock": hex(from_block), "toBlock": hex(to_block), "address": list(addresses)}])
    kinds = {a.lower(): k for a, k in addresses.items()}
    hashes = {int(log["blockNumber"], 16): log["blockHash"] for log in raw}
    block_numbers = sorted(hashes)
    blocks = chain.rpc_batch([("eth_getBlockByNumber", [hex(n), False]) for n in block_numbers])
    gone = [n for n, b in zip(block_numbers, blocks) if b is None or b["hash"] != hashes[n]]
    if gone:  # rolled back or reorganised between the two reads: these logs are not the chain's now
        raise _Moved(gone[0])
    times = {int(b["number"], 16): int(b["timestamp"], 16) for b in blocks}
    decoded = []
    for log in raw:
        if log.get("removed"):
            continue
        kind = kinds[log["address"].lower()]
        result = decode_event(kind, log)
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
        decoded.append(DecodedLog(checksum(log["address"]), kind, result[0], result[1], proof))
    decoded.sort(key=lambda d: (d.proof["block_number"], d.proof["log_index"]))
    return decoded, dict(zip(block_numbers, blocks))


def _block_hash(chain: Chain, number: int) -> str:
    return chain.rpc("eth_getBlockByNumber", [hex(number), False])["hash"]


# ---------------------------------------------------------------------- reorganisations

#: blocks whose hashes are compared with the chain per request, walking back to the common ancestor
ANCESTOR_BATCH = 100


@dataclass
class Fork:
    """The register's checkpoint is no longer on the chain: where the two part."""

    checkpoint: int  # the register's checkpoint block
    old_hash: str  # its hash in the register
    new_hash: str | None  # the chain's block at that height now (None: the chain is shorter)
    head: int
    ancestor: int  # the highest block the register holds that is still on the chain (-1: none)
    finalized: int  # the register's finalized height (-1: nothing recorded final)
    finalized_hash: str | None  # the finalized block's hash in the register

    @property
    def depth(self) -> int:
        """Indexed blocks the chain no longer has (at most: blocks without rows are not compared)."""
        return self.checkpoint - self.ancestor

    @property
    def below_finality(self) -> bool:
        return self.ancestor < self.finalized

    def describe(self) -> str:
        """The old one-line refusal (verify, reconcile, commands other than sync)."""
        if self.new_hash is None:
            return f"register is indexed to block {self.checkpoint} but the chain's head is {self.head}: another chain?"
        return (
            f"block {self.checkpoint} has hash {self.new_hash[:10]}… on chain but {self.old_hash[:10]}… in the register: "
            "the chain reorganised or this is another chain"
        )


def find_fork(register: Register, chain: Chain) -> Fork | None:
    """None while the checkpoint block is on the chain (then, its hash chaining to every block
    below it, so is every indexed block). Else the common ancestor: the highest block of the
    register's (the checkpoint, the finalized block, every provisional block a row came from) whose
    hash the chain still has, found walking back from the checkpoint."""
    with register.session() as s:
        cp = s.get(models.Checkpoint, 1)
        if cp is None:
            return None
        head = chain.block_number()
        new_hash = _block_hash(chain, cp.block_number) if cp.block_number <= head else None
        if new_hash == cp.block_hash:
            return None
        finalized = finality.finalized_height(s)
        known = {cp.block_number: cp.block_hash}
        if finalized >= 0 and cp.finalized_hash and cp.finalized_block == finalized:
            known[finalized] = cp.finalized_hash
        known.update(s.exec(select(models.ProvisionalBlock.number, models.ProvisionalBlock.hash)).all())
        for model in eventmap.PROVEN_MODELS:  # (a register indexed before it kept provisional blocks)
            q = select(model.block_number, model.block_hash).where(
                model.block_number > finalized, model.block_number < cp.block_number
            )
            known.update(s.exec(q.distinct()).all())
    ancestor = -1
    candidates = sorted((n for n in known if n <= head and n < cp.block_number), reverse=True)
    for n in range(0, len(candidates), ANCESTOR_BATCH):
        batch = candidates[n : n + ANCESTOR_BATCH]
        blocks = chain.rpc_batch([("eth_getBlockByNumber", [hex(b), False]) for b in batch])
        match = next((b for b, block in zip(batch, blocks) if block and block["hash"] == known[b]), None)
        if match is not None:
            ancestor = match
            break
    return Fork(cp.block_number, cp.block_hash, new_hash, head, ancestor, finalized, cp.finalized_hash)


def _unwindable(register: Register, chain: Chain, fork: Fork) -> None:
    """Refuses, in one line, a fork sync must not unwind: one below the finalized height, or one
    that took away the deployment of a followed contract (the register's off-chain facts name it)."""
    if fork.below_finality:
        now = _block_hash(chain, fork.finalized) if fork.finalized <= fork.head else None
        there = f"the chain has {now[:10]}… there" if now else f"the chain's head is {fork.head}"
        raise RegisterError(
            f"block {fork.finalized} is final in the register ({(fork.finalized_hash or '?')[:10]}…) but {there}: "
            "the chain reorganised below finality or this is another chain; nothing was changed"
        )
    with register.session() as s:
        deployed = s.exec(select(models.ContractRecord).where(models.ContractRecord.deploy_block > fork.ancestor)).all()
    receipts = chain.rpc_batch([("eth_getTransactionReceipt", [c.deploy_tx]) for c in deployed])
    for record, receipt in zip(deployed, receipts):
        if not receipt or receipt.get("status") != "0x1" or int(receipt["blockNumber"], 16) != record.deploy_block:
            raise RegisterError(
                f"block {record.deploy_block} with the deployment of {record.kind} {record.label} ({record.address}) is no longer "
                "on the chain: another chain, or a reorganisation that took a deployment away; nothing was changed"
            )


def check_checkpoint(register: Register, chain: Chain) -> Fork | None:
    """The indexed block must still be on the chain (no reorg, same chain): else a one-line refusal.
    `sync` unwinds a reorganisation above the finalized height instead (see `sync`)."""
    fork = find_fork(register, chain)
    if fork is not None:
        raise RegisterError(fork.describe())
    return None


def _unwind(register: Register, chain: Chain, fork: Fork) -> dict:
    """Removes what the orphaned blocks wrote (through the event map), moves the checkpoint and
    every contract's level back to the common ancestor, and records the reorganisation in the
    audit log, in one transaction: the next chunks re-index the chain's new branch."""
    header = chain.rpc("eth_getBlockByNumber", [hex(max(fork.ancestor, 0)), False])
    with register.session() as s:
        removed = eventmap.unwind(s, fork.ancestor, int(header["timestamp"], 16) if fork.ancestor >= 0 else 0)
        s.execute(delete(models.ProvisionalBlock).where(models.ProvisionalBlock.number > fork.ancestor))
        for c in s.exec(select(models.ContractRecord).where(models.ContractRecord.synced_block > fork.ancestor)).all():
            c.synced_block = fork.ancestor
            s.add(c)
        cp = s.get(models.Checkpoint, 1)
        cp.block_number, cp.block_hash, cp.updated_at = fork.ancestor, header["hash"], models.utcnow()
        s.add(cp)
        detail = {
            "depth": fork.depth,
            "ancestor": fork.ancestor,
            "ancestor_hash": header["hash"],
            "block": fork.checkpoint,
            "old_hash": fork.old_hash,
            "new_hash": fork.new_hash,
            "head": fork.head,
            "finalized": fork.finalized,
            "removed": removed,
        }
        register.audit(s, "indexer", "reorg", detail)
        s.commit()
    return detail


# ---------------------------------------------------------------------- syncing


@dataclass
class SyncReport(SyncResult):
    """What a sync did, with the heights it leaves the register at."""

    finalized: int = -1  # the register's finalized height after the sync (rows above it are provisional)
    head: int = -1  # the chain's head when it was read
    reorg: dict | None = None  # the reorganisation unwound first (as recorded in the audit log), if any


@writes_register("sync")
def sync(
    register: Register,
    chain: Chain,
    to_block: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = CHUNK_BLOCKS,
    confirmations: int | None = None,
) -> SyncReport:
    """Indexes new events of every followed contract up to `to_block` (default: the head), and
    records the chain's finalized height with the checkpoint (ledger/register/finality.py).

    A reorganisation under the checkpoint above the finalized height is unwound first (`_unwind`)
    and the new branch indexed; one below it is refused in one line.

    Block ranges adapt to the density of events: a range that returned many logs is followed by
    a narrower one (and one far over CHUNK_LOGS is fetched again in halves), a sparse one by a
    wider one up to `chunk` blocks, so each database transaction and the memory it takes stay
    about CHUNK_LOGS events whatever the chain holds."""
    reorg, moved = None, 0
    start = register.indexed_block()
    events = 0
    span = min(chunk, 16)  # start narrow and widen: one dense first range would be the memory peak
    fresh = True
    while True:
        if fresh:  # at the start, and after the chain moved under a chunk: unwind what it took back
            fork = find_fork(register, chain)
            if fork is not None:
                _unwindable(register, chain, fork)
                reorg = _unwind(register, chain, fork)
            head = chain.block_number()
            target = head if to_block is None else min(to_block, head)
            finalized = finality.node_finalized(chain, head, finality.confirmations(chain.chain_id, confirmations))
            fresh = False
        with register.session() as s:
            contracts = s.exec(select(models.ContractRecord)).all()
            low = min((c.synced_block for c in contracts), default=target)
            if low >= target:
                try:
                    _set_checkpoint(s, chain, target if not contracts else low, finalized, head)
                except _Moved:
                    s.rollback()
                    moved, fresh = moved + 1, True
                    if moved <= MAX_MOVES:
                        continue
                    raise RegisterError(f"the chain reorganised {moved} times during one sync: run sync again") from None
                s.commit()
                break
            lagging = [c for c in contracts if c.synced_block == low]
            next_level = min((c.synced_block for c in contracts if c.synced_block > low), default=target)
            end = min(low + span, next_level, target)
            try:
                logs, headers = _fetch(chain, {c.address: c.kind for c in lagging}, low + 1, end)
            except _Moved as exc:  # a block of these logs was gone by the time its header was asked
                moved, fresh = _one_more_move(moved, low, end, exc), True
                continue
            if len(logs) > 2 * CHUNK_LOGS and end > low + 1:
                span = max(1, (end - low) // 2)
                continue  # too dense to hold at once: the same blocks again, in halves
            # widen from the range actually read (a range cut short by another contract's level says
            # nothing about density), at most doubling, towards CHUNK_LOGS logs
            span = max(1, min(chunk, 2 * (end - low), (end - low) * CHUNK_LOGS // max(len(logs), 1)))
            try:
                _record_blocks(s, chain, low + 1, end, finalized[0], headers)
                _apply(s, logs)
                for c in lagging:
                    c.synced_block = end
                    s.add(c)
                _set_checkpoint(s, chain, min(end, *(c.synced_block for c in contracts)), finalized, head)
            except _Moved as exc:
                s.rollback()
                moved, fresh = _one_more_move(moved, low, end, exc), True
                continue
            s.commit()
            events += len(logs)
            if progress:
                progress(end, target)
    with register.session() as s:
        final = finality.finalized_height(s)
    return SyncReport(max(start, -1) + 1, target, events, final, head, reorg)


class _Moved(Exception):
    """The chain reorganised while a chunk was being read (the block number it showed at)."""


#: reorganisations met in one sync before it gives up
MAX_MOVES = 10


def _one_more_move(moved: int, low: int, end: int, exc: _Moved) -> int:
    """The count of reorganisations met so far, one more; past MAX_MOVES, sync gives up in one line."""
    moved += 1
    if moved > MAX_MOVES:
        raise RegisterError(
            f"the chain reorganised {moved} times while blocks {low + 1}..{end} were read (last at block {exc}); "
            "nothing of them was written: run sync again"
        ) from None
    return moved


def _record_blocks(session: Session, chain: Chain, first: int, last: int, finalized: int, fetched: dict[int, dict]) -> None:
    """Keeps the hash of each block from `first` to `last` above the finalized height, and forgets
    those that became final. The chunk must be one view of the chain: each header links to the one
    before it (and the first to the block already kept below it) and a block kept already has the
    same hash (its logs were held to their block's header by `_fetch`, whose headers, `fetched`,
    are not asked for again); else `_Moved`, and nothing is written."""
    b = models.ProvisionalBlock
    numbers = list(range(max(first, finalized + 1), last + 1))
    if numbers:
        kept = dict(session.exec(select(b.number, b.hash).where(b.number >= numbers[0] - 1, b.number <= last)).all())
        missing = [x for x in numbers if x not in fetched]
        asked = {}
        for n in range(0, len(missing), ANCESTOR_BATCH):
            part = missing[n : n + ANCESTOR_BATCH]
            asked.update(zip(part, chain.rpc_batch([("eth_getBlockByNumber", [hex(x), False]) for x in part])))
        headers = {}
        for number in numbers:
            header = fetched.get(number) or asked.get(number)
            if not header:
                raise _Moved(number)  # the chain is shorter now
            headers[number] = header["hash"]
            if (
                kept.get(number, header["hash"]) != header["hash"]
                or kept.get(number - 1, header["parentHash"]) != header["parentHash"]
            ):
                raise _Moved(number)
            kept.setdefault(number, header["hash"])
    session.execute(delete(b).where((b.number <= finalized) | ((b.number >= first) & (b.number <= last))))
    if numbers:
        session.execute(insert(b.__table__), [{"number": n, "hash": headers[n]} for n in numbers])


def _set_checkpoint(session: Session, chain: Chain, block: int, finalized: tuple[int, str | None], head: int) -> None:
    """The checkpoint at `block`, with the finalized height (never above it), and the facts that
    follow from the indexed chain time (instruction expiry)."""
    cp = session.get(models.Checkpoint, 1)
    final_block = finality.height_to_record(finalized[0], block, cp.finalized_block if cp else None)
    if cp is not None and final_block == cp.finalized_block:
        finalized = (cp.finalized_block, cp.finalized_hash)  # what was final stays final
        if cp.block_number == block:
            return  # nothing new: no write (quick.nothing_to_sync answers the same without the ORM)
    header = chain.rpc("eth_getBlockByNumber", [hex(block), False])
    kept = session.get(models.ProvisionalBlock, block)
    if header is None or (kept is not None and kept.hash != header["hash"]):
        raise _Moved(block)
    final_hash = finalized[1] if final_block == finalized[0] else None
    if final_block >= 0 and final_hash is None:
        final_hash = header["hash"] if final_block == block else _block_hash(chain, final_block)
    if cp is None:
        cp = models.Checkpoint(chain_id=chain.chain_id, block_number=block, block_hash=header["hash"])
    cp.block_number, cp.block_hash, cp.updated_at = block, header["hash"], models.utcnow()
    cp.finalized_block, cp.finalized_hash, cp.head_block = final_block, final_hash if final_block >= 0 else None, head
    session.add(cp)
    eventmap.expire(session, int(header["timestamp"], 16))


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


def record_refusals(register: Register, chain_id: int, refused: dict[str, tuple[str, dict | None]], actor: str) -> None:
    """What a reverted settlement transaction proves: it emits no event, so its receipt (status 0,
    with the revert reason) is the chain's fact that these instructions were refused. Written over
    open statuses only (an instruction the venue's events settled or cancelled keeps that status),
    with the receipt as the proof; unwinding a reorganisation derives the status again from the
    events (ledger/register/eventmap.py). The one writer of a chain-derived status outside `sync`."""
    i = models.Instruction
    with register.session() as s:
        for iid, (why, proof) in refused.items():
            values = {"status": "failed", "reason": why, "updated_at": models.utcnow()}
            if proof:
                values.update(
                    tx_hash=proof["tx_hash"],
                    block_number=proof["block_number"],
                    block_hash=proof["block_hash"],
                    chain_id=chain_id,
                )
            s.execute(update(i).where(i.instruction_id == iid, i.status.in_(OPEN_STATUSES)).values(**values))
        register.audit(s, actor, "settle refused", {"instructions": {i: w for i, (w, _) in refused.items()}})
        s.commit()
