"""Instruction statuses as the chain has them: what `verify` and `reconcile` hold the register to.

An instruction's status is a function of the chain at a block: `settled` or `cancelled` if the
venue emitted InstructionSettled / InstructionCancelled for its id (and then its nonce is used,
or it is flagged cancelled, in the venue's storage); otherwise `expired` once the block's time
reaches its expiry; otherwise open (`pending`, or `failed` after a refused attempt). A register
that says anything else contradicts the chain: `failed` for an instruction that settled is the
worst case (an operator would book the trade again).
"""

from dataclasses import dataclass

from sqlmodel import select

from ledger.chain import codec
from ledger.register import eventmap, models
from ledger.chain import Chain, read_many
from ledger.register.db import Register

LOG_CHUNK = 5_000
OPEN = ("pending", "failed")


@dataclass
class StatusBreak:
    instruction_id: str
    register: str  # the register's status
    chain: str  # what the chain says it is (pending | failed for "open": the chain cannot tell which)
    what: str


def _topics() -> dict[str, str]:
    """topic0 -> settled | cancelled for the venue's final events."""
    names = {e: status for e, status in eventmap.InstructionStatus.STATUS.items() if status in eventmap.FINAL_STATUSES}
    return {topic: names[shape.name] for topic, shape in codec.events("DvPSettlement").items() if shape.name in names}


def final_events(chain: Chain, dvp: str, from_block: int, to_block: int) -> dict[str, tuple[str, str]]:
    """instruction id -> (settled | cancelled, tx hash), from the venue's logs up to `to_block`."""
    topics = _topics()
    found = {}
    for low in range(from_block, to_block + 1, LOG_CHUNK):
        high = min(low + LOG_CHUNK - 1, to_block)
        logs = chain.rpc("eth_getLogs", [{"fromBlock": hex(low), "toBlock": hex(high), "address": dvp, "topics": [list(topics)]}])
        for log in logs:
            if not log.get("removed"):
                found[log["topics"][1]] = (topics[log["topics"][0]], log["transactionHash"])
    return found


def instruction_breaks(register: Register, chain: Chain, block: int, isin: str | None = None) -> tuple[int, list[StatusBreak]]:
    """(instructions checked, breaks): every instruction of the register (of `isin`) against the
    venue's events and storage (nonce used, cancelled) at `block`."""
    dvp_record = register.contract("dvp")
    i = models.Instruction
    with register.session() as s:
        q = select(i.instruction_id, i.status, i.nonce, i.expiry, i.tx_hash)
        if isin is not None:
            q = q.where(i.isin == isin)
        rows = s.exec(q.order_by(i.nonce)).all()
    if not rows or dvp_record is None:
        return len(rows), []
    events = final_events(chain, dvp_record.address, dvp_record.deploy_block, block)
    dvp = dvp_record.address
    calls = []
    for iid, _, nonce, _, _ in rows:
        calls.append((dvp, "isNonceUsed", [nonce]))
        calls.append((dvp, "isCancelled", [bytes.fromhex(iid[2:])]))
    # At the head, ask for "latest": a node may answer a numbered block from a state it has not
    # kept (anvil after anvil_rollback, under load: an empty result) where "latest" is always there.
    at = "latest" if block == chain.block_number() else block
    answers = read_many(chain, "DvPSettlement", calls, at)
    chain_time = int(chain.rpc("eth_getBlockByNumber", [hex(block), False])["timestamp"], 16)

    breaks = []
    for n, (iid, status, nonce, expiry, tx_hash) in enumerate(rows):
        nonce_used, cancelled = answers[2 * n], answers[2 * n + 1]
        event, event_tx = events.get(iid, (None, None))
        expected = event or ("expired" if expiry <= chain_time else None)
        if event is not None and status != event:
            breaks.append(StatusBreak(iid, status, event, f"the venue emitted Instruction{event.capitalize()} in {event_tx}"))
        elif event is None and status in ("settled", "cancelled"):
            breaks.append(
                StatusBreak(iid, status, expected or "pending", f"the venue has no Instruction{status.capitalize()} event for it")
            )
        elif expected == "expired" and status in OPEN:
            breaks.append(StatusBreak(iid, status, "expired", f"its expiry {expiry} is past the block's time {chain_time}"))
        elif expected is None and status == "expired":
            breaks.append(StatusBreak(iid, status, "pending", f"its expiry {expiry} is after the block's time {chain_time}"))
        elif event is not None and tx_hash != event_tx:
            breaks.append(StatusBreak(iid, status, event, f"its proof is {tx_hash}, the event is in {event_tx}"))
        # the venue's storage must agree with its events
        if status == "settled" and not nonce_used:
            breaks.append(StatusBreak(iid, status, "pending", f"the venue has nonce {nonce} unused"))
        if status == "cancelled" and not cancelled:
            breaks.append(StatusBreak(iid, status, "pending", "the venue does not have it cancelled"))
        if event is None and cancelled:
            breaks.append(StatusBreak(iid, status, "cancelled", "the venue has it cancelled but no InstructionCancelled event"))
    return len(rows), breaks
