"""The one map from each contract event to what it writes in the register.

`sync` writes through it (`apply`), `verify` compares through it (`entry(...).row(log)` against the
stored row) and unwinding a reorganisation removes through it (`unwind`). An entry names the
model (table) an event writes and how the event's arguments become the row's columns; an event
that also moves the state of another row (an instruction's status, a wallet's link, a coupon's
completion) names that effect, which knows how to apply a chunk of events and how to take back
what orphaned blocks did. Every event of a followed contract that no entry names is kept as a
`TokenEvent` (decoded arguments as JSON) for the audit trail.

Adding an event to the register: its model in ledger/register/models.py (with `ChainProof`), a migration,
and one entry in `EVENTS`.

Facts derived from the indexed events (stamp duty assessments, instruction expiry) are plain
functions below, called by the indexer after a chunk is applied, never inside the event loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from datetime import date

from sqlalchemy import delete, insert, update
from sqlmodel import Session, select

from ledger import stampduty
from ledger.chain.codec import bytes2_text
from ledger.register import models
from ledger.clock import hk_date
from ledger.codes import SettlementFailure
from ledger.money import CURRENCIES

if TYPE_CHECKING:  # a decoded log (contract, kind, event, args, proof), as the indexer reads it
    from ledger.register.indexer import DecodedLog

#: statuses only the venue's InstructionSettled / InstructionCancelled events give, and nothing takes back
FINAL_STATUSES = ("settled", "cancelled")
#: statuses `settle` may still act on (and record a refusal over)
OPEN_STATUSES = ("pending", "failed")


# ---------------------------------------------------------------------- effects on other rows


class Effect:
    """What an event does to rows it does not insert. `apply` gets a chunk's logs of this effect
    in chain order, after the chunk's rows are inserted; `unwind` restores what blocks above
    `ancestor` did, after their inserted rows are deleted."""

    def apply(self, session: Session, logs: list[DecodedLog]) -> None:
        raise NotImplementedError

    def unwind(self, session: Session, ancestor: int, chain_time: int) -> None:
        raise NotImplementedError


class InstructionStatus(Effect):
    """A settlement event gives the captured instruction its status and the event's proof.
    Settled and cancelled are final on chain: a later failure of the same instruction (a second
    submission finding its nonce used) never takes them back."""

    STATUS = {"InstructionSettled": "settled", "InstructionCancelled": "cancelled", "SettlementFailed": "failed"}

    def apply(self, session, logs):
        i = models.Instruction
        ids = [log.args["instructionId"] for log in logs]
        current = dict(session.exec(select(i.instruction_id, i.status).where(i.instruction_id.in_(ids))).all())
        updates = {}
        for log in logs:
            iid, status = log.args["instructionId"], self.STATUS[log.event]
            if iid not in current or (status == "failed" and current[iid] in FINAL_STATUSES):
                continue
            reason = SettlementFailure(log.args["reason"]).describe(log.args["tokenReason"]) if status == "failed" else None
            updates[iid] = {"instruction_id": iid, "status": status, "reason": reason, "updated_at": models.utcnow(), **log.proof}
            current[iid] = status
        if updates:
            session.execute(update(models.Instruction), list(updates.values()))

    def unwind(self, session, ancestor, chain_time):
        i = models.Instruction
        ids = session.exec(select(i.instruction_id).where(i.block_number > ancestor)).all()
        derive_statuses(session, list(ids), chain_time)


class WalletLink(Effect):
    """Wallet -> investor links as the latest registry events leave them: the known ones updated,
    the new ones inserted together (one query per 500 wallets, not a lookup per event)."""

    def apply(self, session, logs):
        wallets = {}
        for log in logs:
            a = log.args
            wallets[a["wallet"]] = {
                "address": a["wallet"],
                "id_hash": a["investorId"],
                "active": log.event == "WalletAdded",
                "block_number": log.proof["block_number"],
            }
        addresses = list(wallets)
        for n in range(0, len(addresses), 500):
            for wallet in session.exec(select(models.Wallet).where(models.Wallet.address.in_(addresses[n : n + 500]))).all():
                state = wallets.pop(wallet.address)
                wallet.id_hash, wallet.active, wallet.block_number = state["id_hash"], state["active"], state["block_number"]
                session.add(wallet)
        session.flush()
        if wallets:
            session.execute(insert(models.Wallet.__table__), list(wallets.values()))

    def unwind(self, session, ancestor, chain_time):
        w, r = models.Wallet, models.Registration
        for wallet in session.exec(select(w).where(w.block_number > ancestor)).all():
            last = session.exec(
                select(r)
                .where(r.wallet == wallet.address, r.event.in_(("wallet_added", "wallet_removed")))
                .order_by(r.block_number.desc(), r.log_index.desc())
                .limit(1)
            ).first()
            if last is None:
                session.delete(wallet)
            else:
                wallet.id_hash, wallet.active, wallet.block_number = last.id_hash, last.event == "wallet_added", last.block_number
                session.add(wallet)
        session.flush()


class CouponCompletion(Effect):
    """The paying agent's completion of a coupon or of the redemption: the declared record gets
    the totals paid and the completion's proof."""

    def apply(self, session, logs):
        c = models.CouponRecord
        for log in logs:
            values = EVENTS[(log.kind, log.event)].columns(log)
            session.execute(update(c).where(c.bond == log.args["bond"], c.coupon_id == values.pop("coupon_id")).values(**values))

    def unwind(self, session, ancestor, chain_time):
        c = models.CouponRecord
        session.execute(
            update(c)
            .where(c.completed_block > ancestor)
            .values(completed=False, paid_quantity=None, paid_amount=None, completed_block=None, completed_tx=None)
        )


# ---------------------------------------------------------------------- the map


@dataclass(frozen=True)
class Entry:
    model: type  # the table the event writes (inserts into, or updates with `effect`)
    columns: Callable[[DecodedLog], dict]  # the row's columns from the log, its proof aside
    effect: Effect | None = None  # what it does to other rows
    inserts: bool = True  # False: the effect writes `columns` into an existing row
    tx_column: str | None = None  # for a model without a chain proof: the column naming the log's transaction

    @property
    def proven(self) -> bool:
        """Its rows carry their log's proof (and are unique on it)."""
        return issubclass(self.model, models.ChainProof)

    def row(self, log: DecodedLog) -> dict:
        """The row this event writes, as inserted (proof included when the model carries one)."""
        return {**log.proof, **self.columns(log)} if self.proven else self.columns(log)


def _transfer(log):
    a = log.args
    return {"token": log.contract, "from_address": a["from"], "to_address": a["to"], "quantity": a["value"]}


def _registration(event: str):
    def columns(log):
        a = log.args
        row = {
            "event": event,
            "id_hash": a["investorId"],
            "wallet": a.get("wallet"),
            "country": None,
            "category": None,
            "kyc_expiry": None,
        }
        if event == "investor_updated":
            row.update(country=bytes2_text(a["country"]), category=a["category"], kyc_expiry=a["kycExpiry"])
        return row

    return columns


def _settlement(status: str):
    def columns(log):
        a = log.args
        return {
            "instruction_id": a["instructionId"],
            "event": status,
            "reason": a.get("reason"),
            "token_reason": a.get("tokenReason"),
            "party": a.get("party"),
        }

    return columns


def _fund_flow(kind: str):
    def columns(log):
        a = log.args
        return {
            "kind": kind,
            "fund": a["fund"],
            "participant": a["participant"],
            "creation_units": a["creationUnits"],
            "units": a["units"],
            "cash_token": a["cashToken"],
            "cash_amount": a["cashAmount"],
            "nav_e6": a["navPerUnit"],
        }

    return columns


def _payment(kind: str):
    def columns(log):
        a = log.args
        return {
            "bond": a["bond"],
            "kind": kind,
            "coupon_id": a["couponId"] if kind == "coupon" else 0,
            "holder": a["holder"],
            "quantity": a["quantity"],
            "amount": a["amount"],
        }

    return columns


def _declared(kind: str):
    def columns(log):
        a, coupon = log.args, kind == "coupon"
        return {
            "bond": a["bond"],
            "coupon_id": a["couponId"] if coupon else 0,
            "kind": kind,
            "amount_per_token": a["amountPerToken"],
            "payment_time": a["paymentTime"] if coupon else log.proof["block_timestamp"],
            "early": a.get("early", False),
            "declared_block": log.proof["block_number"],
            "declared_tx": log.proof["tx_hash"],
        }

    return columns


def _completed(kind: str):
    def columns(log):
        a = log.args
        return {
            "coupon_id": a["couponId"] if kind == "coupon" else 0,
            "completed": True,
            "paid_quantity": a["quantity"],
            "paid_amount": a["amount"],
            "completed_block": log.proof["block_number"],
            "completed_tx": log.proof["tx_hash"],
        }

    return columns


def _token_event(log):
    return {"contract": log.contract, "event": log.event, "args": json.dumps(log.args, sort_keys=True)}


_instruction_status, _wallet_link, _coupon_completion = InstructionStatus(), WalletLink(), CouponCompletion()

#: (contract kind, event name) -> what it writes
EVENTS: dict[tuple[str, str], Entry] = {
    **{(kind, "Transfer"): Entry(models.Transfer, _transfer) for kind in ("cash", "bond", "fund")},
    ("fund", "NavPublished"): Entry(
        models.NavRecord,
        lambda log: {"fund": log.contract, "nav_e6": log.args["navPerUnit"], "published_at": log.args["timestamp"]},
    ),
    ("registry", "InvestorUpdated"): Entry(models.Registration, _registration("investor_updated")),
    ("registry", "InvestorRemoved"): Entry(models.Registration, _registration("investor_removed")),
    ("registry", "WalletAdded"): Entry(models.Registration, _registration("wallet_added"), _wallet_link),
    ("registry", "WalletRemoved"): Entry(models.Registration, _registration("wallet_removed"), _wallet_link),
    ("dvp", "IssuanceSettled"): Entry(
        models.Issuance,
        lambda log: {
            "allocation_id": log.args["allocationId"],
            "token": log.args["token"],
            "investor": log.args["investor"],
            "quantity": log.args["quantity"],
            "cash_token": log.args["cashToken"],
            "cash_amount": log.args["cashAmount"],
            "treasury": log.args["treasury"],
        },
    ),
    ("dvp", "InstructionSettled"): Entry(models.SettlementEvent, _settlement("settled"), _instruction_status),
    ("dvp", "InstructionCancelled"): Entry(models.SettlementEvent, _settlement("cancelled"), _instruction_status),
    ("dvp", "SettlementFailed"): Entry(models.SettlementEvent, _settlement("failed"), _instruction_status),
    ("dvp", "CreationSettled"): Entry(models.FundFlow, _fund_flow("creation")),
    ("dvp", "RedemptionSettled"): Entry(models.FundFlow, _fund_flow("redemption")),
    ("paying_agent", "CouponPaid"): Entry(models.Payment, _payment("coupon")),
    ("paying_agent", "PrincipalPaid"): Entry(models.Payment, _payment("redemption")),
    ("paying_agent", "CouponDeclared"): Entry(models.CouponRecord, _declared("coupon"), tx_column="declared_tx"),
    ("paying_agent", "RedemptionDeclared"): Entry(models.CouponRecord, _declared("redemption"), tx_column="declared_tx"),
    ("paying_agent", "CouponCompleted"): Entry(
        models.CouponRecord, _completed("coupon"), _coupon_completion, False, "completed_tx"
    ),
    ("paying_agent", "RedemptionCompleted"): Entry(
        models.CouponRecord, _completed("redemption"), _coupon_completion, False, "completed_tx"
    ),
}
#: every other event of a followed contract
OTHER = Entry(models.TokenEvent, _token_event)


def entry(kind: str, event: str) -> Entry:
    return EVENTS.get((kind, event), OTHER)


def table_of(kind: str, event: str) -> str:
    """The register table an event of a followed contract goes to."""
    return entry(kind, event).model.__tablename__


#: the settlement events that carry a stamp duty assessment, with the id it is filed under
DUTY_EVENTS = {
    ("dvp", "InstructionSettled"): lambda log: log.args["instructionId"],
    ("dvp", "CreationSettled"): lambda log: f"creation:{log.proof['tx_hash']}:{log.proof['log_index']}",
    ("dvp", "RedemptionSettled"): lambda log: f"redemption:{log.proof['tx_hash']}:{log.proof['log_index']}",
}

#: the models sync writes from events, and the derived ones that carry a proof
PROVEN_MODELS: tuple[type, ...] = tuple(
    dict.fromkeys([e.model for e in (*EVENTS.values(), OTHER) if e.proven] + [models.DutyAssessment])
)


# ---------------------------------------------------------------------- writing and unwinding


def apply(session: Session, logs: list[DecodedLog]) -> None:
    """Writes decoded logs (in chain order): each entry's rows inserted in bulk per table, then each
    effect given its logs in chain order."""
    rows: dict[type, list[dict]] = {}
    effects: dict[Effect, list[DecodedLog]] = {}
    for log in logs:
        e = entry(log.kind, log.event)
        if e.inserts:
            rows.setdefault(e.model, []).append(e.row(log))
        if e.effect is not None:
            effects.setdefault(e.effect, []).append(log)
    for model, batch in rows.items():
        session.execute(insert(model.__table__), batch)
    for effect, batch in effects.items():
        effect.apply(session, batch)


def unwind(session: Session, ancestor: int, chain_time: int) -> dict[str, int]:
    """Removes what blocks above `ancestor` wrote: their rows deleted, the effects of their events
    taken back, and the facts derived from them derived again at `chain_time` (the ancestor's).
    Returns the rows deleted per table."""
    removed = {}
    for model in PROVEN_MODELS:
        removed[model.__tablename__] = session.execute(delete(model).where(model.block_number > ancestor)).rowcount
    c = models.CouponRecord
    removed[c.__tablename__] = session.execute(delete(c).where(c.declared_block > ancestor)).rowcount
    for effect in dict.fromkeys(e.effect for e in EVENTS.values() if e.effect is not None):
        effect.unwind(session, ancestor, chain_time)
    expire(session, chain_time)
    return {table: n for table, n in removed.items() if n}


# ---------------------------------------------------------------------- derived facts


def derive_statuses(session: Session, ids: list[str], chain_time: int) -> None:
    """Each instruction's status from the settlement events the register holds for it: the final
    event if any, else expired if past its expiry at `chain_time`, else failed after a refused
    attempt, else pending; with the proof of the event that gave it."""
    i, e = models.Instruction, models.SettlementEvent
    for n in range(0, len(ids), 500):
        chunk = ids[n : n + 500]
        events: dict[str, list] = {}
        for ev in session.exec(select(e).where(e.instruction_id.in_(chunk)).order_by(e.block_number, e.log_index)).all():
            events.setdefault(ev.instruction_id, []).append(ev)
        for row in session.exec(select(i).where(i.instruction_id.in_(chunk))).all():
            mine = events.get(row.instruction_id, [])
            final = next((ev for ev in mine if ev.event in FINAL_STATUSES), None)
            failed = next((ev for ev in reversed(mine) if ev.event == "failed"), None)
            given = final or failed
            if final is None and row.expiry <= chain_time:
                status, reason = "expired", "expired before it settled"
            elif given is not None:
                status = given.event
                reason = SettlementFailure(given.reason).describe(given.token_reason) if given.event == "failed" else None
            else:
                status, reason = "pending", None
            row.status, row.reason, row.updated_at = status, reason, models.utcnow()
            for column in ("chain_id", "block_number", "block_hash", "block_timestamp", "tx_hash", "log_index"):
                setattr(row, column, getattr(given, column) if given is not None else None)
            session.add(row)
    session.flush()


def expire(session: Session, chain_time: int) -> None:
    """Instructions past their expiry at the indexed block's time can no longer settle: expired.
    A settled or cancelled instruction is never touched; one marked expired whose expiry is after
    `chain_time` (the register was unwound to an earlier block) gets its status back."""
    i = models.Instruction
    session.execute(
        update(i)
        .where(i.status.in_(OPEN_STATUSES), i.expiry <= chain_time)
        .values(status="expired", reason="expired before it settled", updated_at=models.utcnow())
    )
    revived = session.exec(select(i.instruction_id).where(i.status == "expired", i.expiry > chain_time)).all()
    if revived:
        derive_statuses(session, list(revived), chain_time)


def assess_duties(session: Session, logs: list[DecodedLog]) -> None:
    """The stamp duty assessment of every settled transfer among the indexed logs (written once,
    never updated): the rule chosen by the captured trade date, else by the settlement day in Hong
    Kong; creations and redemptions under the market-maker waiver."""
    settled = [log for log in logs if (log.kind, log.event) in DUTY_EVENTS]
    if not settled:
        return
    instruments = {inst.address: inst for inst in session.exec(select(models.Instrument))}
    cash = select(models.ContractRecord).where(models.ContractRecord.kind == "cash")
    currencies = {c.address: c.label for c in session.exec(cash)}
    i = models.Instruction
    ids = [log.args["instructionId"] for log in settled if log.event == "InstructionSettled"]
    traded = dict(session.exec(select(i.instruction_id, i.trade_date).where(i.instruction_id.in_(ids))).all()) if ids else {}
    duties = []
    for log in settled:
        a, iid = log.args, DUTY_EVENTS[(log.kind, log.event)](log)
        if log.event == "InstructionSettled":
            instrument = instruments.get(a["securityToken"])
            klass = stampduty.instrument_class(instrument.kind if instrument else "")
            day = traded.get(iid) or hk_date(log.proof["block_timestamp"])
        else:
            instrument, klass, day = instruments.get(a["fund"]), "etf_creation_redemption", hk_date(log.proof["block_timestamp"])
        duties.append(_duty_row(log.proof, iid, instrument, klass, currencies.get(a["cashToken"], "?"), a["cashAmount"], day))
    session.execute(insert(models.DutyAssessment.__table__), duties)


def _duty_row(
    proof: dict,
    instruction_id: str,
    instrument: models.Instrument | None,
    klass: str,
    currency: str,
    cash_amount: int,
    traded: date,
) -> dict:
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


def check_duty(row: models.DutyAssessment, log: DecodedLog) -> str | None:
    """A duty assessment against the settlement event it assesses (verify)."""
    if (log.kind, log.event) not in DUTY_EVENTS:
        return f"{log.event} carries no stamp duty assessment"
    if row.instruction_id != DUTY_EVENTS[(log.kind, log.event)](log):
        return f"instruction_id is {row.instruction_id} in the register, {DUTY_EVENTS[(log.kind, log.event)](log)} on chain"
    if row.consideration != log.args["cashAmount"]:
        return f"consideration is {row.consideration} in the register, {log.args['cashAmount']} on chain"
    return None


def compare(table: str, row, log: DecodedLog) -> str | None:
    """A stored row against the log it claims to come from, column by column (verify)."""
    if table == models.DutyAssessment.__tablename__:
        return check_duty(row, log)
    e = entry(log.kind, log.event)
    if e.model.__tablename__ != table:
        return f"a {table} row, but {log.event} of {log.contract} goes to {e.model.__tablename__}"
    for column, value in e.columns(log).items():
        stored = getattr(row, column)
        if column == "args" and stored is not None and json.loads(stored) == json.loads(value):
            continue
        if str(stored).lower() != str(value).lower():
            return f"{column} is {stored} in the register, {value} on chain"
    return None
