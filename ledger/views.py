"""What auditors read: holders at a block, transfers with their proofs.

Every view reads the register only (what the indexer wrote), never the chain; a view as of a
block beyond the indexed one is refused rather than silently incomplete.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import Session, select

from ledger import models
from ledger.db import Register
from ledger.errors import InputError
from ledger.money import from_minor

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


@dataclass
class Holder:
    investor_id: str | None
    wallet: str
    quantity: int
    principal: Decimal | None  # bonds: quantity x denomination; funds: None (see the NAV)


def as_of(register: Register, block: int | None) -> int:
    """The block a view is taken at: the indexed block, or an earlier one asked for."""
    indexed = register.indexed_block()
    if indexed < 0:
        raise InputError("register is empty: run `bondledger sync` first")
    if block is None:
        return indexed
    if block < 0:
        raise InputError(f"--as-of-block: {block} is negative")
    if block > indexed:
        raise InputError(f"--as-of-block: {block} is beyond the indexed block {indexed}; run `bondledger sync`")
    return block


def balances(session: Session, token: str, block: int) -> dict[str, int]:
    """Every non-zero balance of `token` after `block`, summed from the Transfer rows."""
    t = models.Transfer
    received = session.exec(
        select(t.to_address, func.sum(t.quantity)).where(t.token == token, t.block_number <= block).group_by(t.to_address)
    ).all()
    sent = session.exec(
        select(t.from_address, func.sum(t.quantity))
        .where(t.token == token, t.block_number <= block)
        .group_by(t.from_address)
    ).all()
    result: dict[str, int] = {}
    for wallet, amount in received:
        result[wallet] = result.get(wallet, 0) + int(amount)
    for wallet, amount in sent:
        result[wallet] = result.get(wallet, 0) - int(amount)
    result.pop(ZERO_ADDRESS, None)
    return {w: q for w, q in result.items() if q != 0}


def investor_ids_at(session: Session, wallets: list[str], block: int) -> dict[str, str | None]:
    """wallet -> register investor id, from the registry's wallet events up to `block`."""
    r = models.Registration
    rows = session.exec(
        select(r.wallet, r.event, r.id_hash)
        .where(r.wallet.in_(wallets), r.block_number <= block, r.event.in_(["wallet_added", "wallet_removed"]))
        .order_by(r.block_number, r.log_index)
    ).all()
    link: dict[str, str | None] = {}
    for wallet, event, id_hash in rows:
        link[wallet] = id_hash if event == "wallet_added" else None
    names = dict(session.exec(select(models.Investor.id_hash, models.Investor.investor_id)).all())
    return {w: names.get(link.get(w)) if link.get(w) else None for w in wallets}


def holders(register: Register, isin: str, as_of_block: int | None = None) -> tuple[int, list[Holder]]:
    """Holders of an instrument after a block: (block, rows by quantity, largest first)."""
    inst = register.instrument(isin)
    block = as_of(register, as_of_block)
    with register.session() as s:
        bal = balances(s, inst.address, block)
        ids = investor_ids_at(s, list(bal), block)
    rows = [
        Holder(ids[w], w, q, from_minor(q * inst.denomination, inst.currency) if inst.denomination else None)
        for w, q in sorted(bal.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return block, rows


def transfers(register: Register, isin: str) -> list[models.Transfer]:
    """Every indexed transfer of an instrument, in chain order."""
    inst = register.instrument(isin)
    t = models.Transfer
    with register.session() as s:
        return list(s.exec(select(t).where(t.token == inst.address).order_by(t.block_number, t.log_index)).all())


def stamp_duty(register: Register, date_from: date | None = None, date_to: date | None = None) -> list[dict]:
    """Every duty assessment, by trade date; amounts in currency units as decimal strings."""
    d = models.DutyAssessment
    q = select(d).order_by(d.trade_date, d.block_number, d.log_index)
    if date_from:
        q = q.where(d.trade_date >= date_from)
    if date_to:
        q = q.where(d.trade_date <= date_to)
    if date_from and date_to and date_from > date_to:
        raise InputError(f"--from: {date_from} is after --to {date_to}")
    with register.session() as s:
        rows = s.exec(q).all()
    return [
        {
            "instruction_id": r.instruction_id,
            "isin": r.isin,
            "instrument_class": r.instrument_class,
            "treatment": r.treatment,
            "currency": r.currency,
            "consideration": str(from_minor(r.consideration, r.currency)),
            "duty_without_relief": str(from_minor(r.duty_without_relief, r.currency)),
            "duty_buyer": str(from_minor(r.duty_buyer, r.currency)),
            "duty_seller": str(from_minor(r.duty_seller, r.currency)),
            "basis": r.basis,
            "rule_version": r.rule_version,
            "trade_date": r.trade_date.isoformat(),
            "tx_hash": r.tx_hash,
            "block_number": r.block_number,
        }
        for r in rows
    ]


def instruments(register: Register) -> list[dict]:
    """Every instrument with its units outstanding at the indexed block."""
    block = register.indexed_block()
    with register.session() as s:
        rows = s.exec(select(models.Instrument).order_by(models.Instrument.kind, models.Instrument.isin)).all()
        out = []
        for inst in rows:
            outstanding = sum(balances(s, inst.address, block).values()) if block >= 0 else 0
            out.append(
                {
                    "isin": inst.isin,
                    "kind": inst.kind,
                    "name": inst.name,
                    "symbol": inst.symbol,
                    "currency": inst.currency,
                    "address": inst.address,
                    "outstanding": outstanding,
                    "issuer": inst.issuer,
                    "maturity_date": inst.maturity_date.isoformat() if inst.maturity_date else None,
                }
            )
    return out


def balances_before_time(session: Session, token: str, timestamp: int) -> dict[str, int]:
    """Every non-zero balance of `token` as a record time `timestamp` fixes it: after every block
    stamped before it (a block stamped at the record time already comes after the snapshot)."""
    t = models.Transfer
    last = session.exec(select(func.max(t.block_number)).where(t.token == token, t.block_timestamp < timestamp)).one()
    return balances(session, token, last) if last is not None else {}


AMOUNT_SCALE = 10**10  # PayingAgent.AMOUNT_SCALE


def coupons(register: Register, isin: str) -> list[dict]:
    """Each scheduled coupon: what was due (exactly, on the register's holdings at the record
    date) against what the paying agent declared and paid, and the rounding residue."""
    inst = register.instrument(isin)
    with register.session() as s:
        schedule = s.exec(select(models.ScheduledCoupon).where(models.ScheduledCoupon.isin == isin).order_by(models.ScheduledCoupon.coupon_id)).all()
        declared = {c.coupon_id: c for c in s.exec(select(models.CouponRecord).where(models.CouponRecord.bond == inst.address))}
        paid = dict(
            s.exec(
                select(models.Payment.coupon_id, func.sum(models.Payment.amount))
                .where(models.Payment.bond == inst.address, models.Payment.kind == "coupon")
                .group_by(models.Payment.coupon_id)
            ).all()
        )
        rows = []
        for c in schedule:
            quantity = sum(balances_before_time(s, inst.address, c.record_time).values())
            per_denomination = Decimal(c.amount_per_denomination)
            due = per_denomination * quantity
            record = declared.get(c.coupon_id)
            paid_amount = from_minor(int(paid.get(c.coupon_id) or 0), inst.currency)
            rows.append(
                {
                    "coupon": c.coupon_id,
                    "record_date": c.record_date.isoformat(),
                    "payment_date": c.payment_date.isoformat(),
                    "amount_per_denomination": c.amount_per_denomination,
                    "quantity_of_record": quantity,
                    "due": str(due.quantize(Decimal("1e-10")).normalize()),
                    "paid": str(paid_amount),
                    "residue": str((due - paid_amount).quantize(Decimal("1e-10")).normalize()) if record and record.completed else None,
                    "status": "paid" if record and record.completed else "paying" if record else "not declared",
                    "declared_per_token": record.amount_per_token if record else None,
                }
            )
    return rows

