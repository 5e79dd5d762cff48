"""What auditors read: holders at a block, transfers with their proofs.

Every view reads the register only (what the indexer wrote), never the chain; a view as of a
block beyond the indexed one is refused rather than silently incomplete.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import Session, select

from ledger import models
from ledger.db import Register
from ledger.errors import InputError, NotFound
from ledger.clock import end_of_day, hk_date
from ledger.money import from_minor, nav_from_e6

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


@dataclass
class Holder:
    investor_id: str | None
    wallet: str
    quantity: int
    principal: Decimal | None  # bonds: quantity x denomination; funds: None (see the NAV)

    def as_json(self) -> dict:
        """What `register holders --format json` prints (and the web view and export give)."""
        principal = None if self.principal is None else str(self.principal)
        return {"investor_id": self.investor_id, "wallet": self.wallet, "quantity": self.quantity, "principal": principal}


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


def check_period(date_from: date | None, date_to: date | None) -> None:
    """A period whose end comes before its start is a mistake, not an empty answer."""
    if date_from and date_to and date_from > date_to:
        raise InputError(f"--from: {date_from} is after --to {date_to}")


def stamp_duty(register: Register, date_from: date | None = None, date_to: date | None = None) -> list[dict]:
    """Every duty assessment, by trade date; amounts in currency units as decimal strings."""
    d = models.DutyAssessment
    q = select(d).order_by(d.trade_date, d.block_number, d.log_index)
    if date_from:
        q = q.where(d.trade_date >= date_from)
    if date_to:
        q = q.where(d.trade_date <= date_to)
    check_period(date_from, date_to)
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
        return [_instrument_row(s, inst, block) for inst in rows]


def instrument_row(register: Register, isin: str) -> dict:
    """One instrument as `instruments` lists it (without working out every other's units)."""
    inst = register.instrument(isin)
    with register.session() as s:
        return _instrument_row(s, inst, register.indexed_block())


def _instrument_row(session: Session, inst: models.Instrument, block: int) -> dict:
    return {
        "isin": inst.isin,
        "kind": inst.kind,
        "name": inst.name,
        "symbol": inst.symbol,
        "currency": inst.currency,
        "address": inst.address,
        "outstanding": sum(balances(session, inst.address, block).values()) if block >= 0 else 0,
        "issuer": inst.issuer,
        "maturity_date": inst.maturity_date.isoformat() if inst.maturity_date else None,
    }


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


# ---------------------------------------------------------------------- settlements, funds, payments


def _names(session: Session) -> tuple[dict[str, str], dict[str, str]]:
    """(wallet -> id hash, id hash -> investor id) as the register knows them now."""
    wallets = {w.address: w.id_hash for w in session.exec(select(models.Wallet))}
    names = dict(session.exec(select(models.Investor.id_hash, models.Investor.investor_id)).all())
    return wallets, names


def settlements(
    register: Register, isin: str | None = None, date_from: date | None = None, date_to: date | None = None
) -> list[dict]:
    """Every settlement instruction (of one instrument; traded within dates), with its status."""
    check_period(date_from, date_to)
    i = models.Instruction
    q = select(i).order_by(i.nonce)
    if isin:
        register.instrument(isin)
        q = q.where(i.isin == isin)
    if date_from:
        q = q.where(i.trade_date >= date_from)
    if date_to:
        q = q.where(i.trade_date <= date_to)
    with register.session() as s:
        rows = s.exec(q).all()
    return [
        {
            "instruction_id": r.instruction_id,
            "isin": r.isin,
            "status": r.status,
            "reason": r.reason,
            "seller": r.seller_investor_id,
            "buyer": r.buyer_investor_id,
            "quantity": r.quantity,
            "price": r.price,
            "cash_amount": str(from_minor(r.cash_amount, r.currency)),
            "currency": r.currency,
            "trade_date": r.trade_date.isoformat(),
            "settlement_date": r.settlement_date.isoformat(),
            "tx_hash": r.tx_hash,
            "block_number": r.block_number,
        }
        for r in rows
    ]


def fund(register: Register, fund_code: str) -> models.Instrument:
    inst = register.instrument(fund_code)
    if inst.kind != "fund":
        raise NotFound(f"FUND: {fund_code} is a {inst.kind}, not a fund")
    return inst


def nav_history(register: Register, fund_code: str) -> list[dict]:
    inst = fund(register, fund_code)
    n = models.NavRecord
    with register.session() as s:
        rows = s.exec(select(n).where(n.fund == inst.address).order_by(n.block_number, n.log_index)).all()
    return [
        {
            "fund_code": fund_code,
            "nav": str(nav_from_e6(r.nav_e6, inst.currency)),
            "currency": inst.currency,
            "published_at": datetime.fromtimestamp(r.published_at, timezone.utc).isoformat(),
            "block_number": r.block_number,
            "tx_hash": r.tx_hash,
        }
        for r in rows
    ]


def fund_flows(register: Register, fund_code: str) -> list[dict]:
    inst = fund(register, fund_code)
    f = models.FundFlow
    with register.session() as s:
        rows = s.exec(select(f).where(f.fund == inst.address).order_by(f.block_number, f.log_index)).all()
        wallets, names = _names(s)
    return [
        {
            "kind": r.kind,
            "fund_code": fund_code,
            "participant": names.get(wallets.get(r.participant), r.participant),
            "units": r.units,
            "creation_units": r.creation_units,
            "cash_amount": str(from_minor(r.cash_amount, inst.currency)),
            "currency": inst.currency,
            "nav": str(nav_from_e6(r.nav_e6, inst.currency)),
            "date": hk_date(r.block_timestamp).isoformat(),
            "block_number": r.block_number,
            "tx_hash": r.tx_hash,
        }
        for r in rows
    ]


def payments(register: Register, isin: str) -> list[dict]:
    """Every coupon and principal payment to each holder, with its proof."""
    inst = register.instrument(isin)
    p = models.Payment
    with register.session() as s:
        rows = s.exec(select(p).where(p.bond == inst.address).order_by(p.block_number, p.log_index)).all()
        wallets, names = _names(s)
        declared = {c.coupon_id: c for c in s.exec(select(models.CouponRecord).where(models.CouponRecord.bond == inst.address))}
    out = []
    for r in rows:
        # A coupon's payment date is the one declared; a redemption's, the day it was paid.
        c = declared.get(r.coupon_id)
        when = c.payment_time if c and r.kind == "coupon" else r.block_timestamp
        out.append(
            {
                "kind": r.kind,
                "coupon": r.coupon_id or None,
                "payment_date": hk_date(when).isoformat(),
                "investor_id": names.get(wallets.get(r.holder)),
                "wallet": r.holder,
                "quantity": r.quantity,
                "amount": str(from_minor(r.amount, inst.currency)),
                "currency": inst.currency,
                "tx_hash": r.tx_hash,
                "block_number": r.block_number,
            }
        )
    return out


# ---------------------------------------------------------------------- point in time, movements


def block_at(register: Register, day: date) -> int:
    """The last indexed block stamped before the end of `day` (Hong Kong): a view as of that date."""
    cut = end_of_day(day)
    stamps = [
        select(func.max(m.block_number)).where(m.block_timestamp < cut)
        for m in (models.Transfer, models.Registration, models.TokenEvent, models.SettlementEvent)
    ]
    with register.session() as s:
        found = [s.exec(q).one() for q in stamps]
    found = [b for b in found if b is not None]
    if not found:
        raise InputError(f"--as-of-date: nothing is indexed before the end of {day}")
    return min(max(found), register.indexed_block())


def _labels(session: Session) -> dict[str, tuple[str, str, int | None]]:
    """token address -> (label, kind, denomination): instruments by code, cash by currency."""
    labels = {i.address: (i.isin, i.kind, i.denomination) for i in session.exec(select(models.Instrument))}
    for c in session.exec(select(models.ContractRecord).where(models.ContractRecord.kind == "cash")):
        labels[c.address] = (c.label, "cash", None)
    return labels


def investor(register: Register, investor_id: str) -> models.Investor:
    with register.session() as s:
        found = s.get(models.Investor, investor_id)
    if found is None:
        raise NotFound(f"INVESTOR: {investor_id} is not an investor in this register")
    return found


@dataclass(frozen=True)
class Directory:
    """Who and what the register knows, loaded once for many movement lists (an export)."""

    wallets: dict[str, str]  # wallet -> investor id hash
    names: dict[str, str]  # id hash -> investor id
    labels: dict[str, tuple[str, str, int | None]]  # token -> (label, kind, denomination)

    @classmethod
    def load(cls, session: Session) -> "Directory":
        wallets, names = _names(session)
        return cls(wallets, names, _labels(session))


def movements(
    register: Register,
    investor_id: str,
    date_from: date | None = None,
    date_to: date | None = None,
    directory: Directory | None = None,
) -> list[dict]:
    """Every transfer into or out of an investor's wallets (securities and cash), in chain order.
    `directory`: names and labels already loaded (export passes one for every investor)."""
    check_period(date_from, date_to)
    owner = investor(register, investor_id)
    with register.session() as s:
        r = models.Registration
        own = set(s.exec(select(r.wallet).where(r.id_hash == owner.id_hash, r.wallet.is_not(None))).all())
        t = models.Transfer
        q = select(t).where(t.from_address.in_(own) | t.to_address.in_(own)).order_by(t.block_number, t.log_index)
        if date_from:
            q = q.where(t.block_timestamp >= end_of_day(date_from - timedelta(days=1)))
        if date_to:
            q = q.where(t.block_timestamp < end_of_day(date_to))
        rows = s.exec(q).all()
        directory = directory or Directory.load(s)
    out = []
    for row in rows:
        label, kind, _ = directory.labels.get(row.token, (row.token, "token", None))
        incoming = row.to_address in own
        other = row.from_address if incoming else row.to_address
        quantity = row.quantity if kind in ("bond", "fund") else str(from_minor(row.quantity, label))
        out.append(
            {
                "time": datetime.fromtimestamp(row.block_timestamp, timezone.utc).isoformat(),
                "instrument": label,
                "kind": kind,
                "direction": "in" if incoming else "out",
                "quantity": quantity,
                "wallet": row.to_address if incoming else row.from_address,
                "counterparty": directory.names.get(directory.wallets.get(other))
                or ("issue/redemption" if other == ZERO_ADDRESS else other),
                "block_number": row.block_number,
                "block_hash": row.block_hash,
                "tx_hash": row.tx_hash,
                "log_index": row.log_index,
            }
        )
    return out


def transfer_rows(register: Register, isin: str) -> list[dict]:
    """Every transfer of an instrument with its chain proof, as auditors export it."""
    return [
        {
            "block_number": t.block_number,
            "time": datetime.fromtimestamp(t.block_timestamp, timezone.utc).isoformat(),
            "from": t.from_address,
            "to": t.to_address,
            "quantity": t.quantity,
            "tx_hash": t.tx_hash,
            "log_index": t.log_index,
            "block_hash": t.block_hash,
            "chain_id": t.chain_id,
        }
        for t in transfers(register, isin)
    ]
