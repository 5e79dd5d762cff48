"""What auditors read: holders at a block, transfers with their proofs.

Every view reads the register only (what the indexer wrote), never the chain; a view as of a
block beyond the indexed one is refused rather than silently incomplete. Each returns rows of
its model in ledger.register.rows (typed values; text only at the edge), a page of them (ledger.register.paging)
when given a Page. A view an export writes whole has a `stream_` sibling that yields the same rows
from the same query, read a batch at a time (`streamed`); the unpaged list is built from it (from
its undecorated function, `__wrapped__`: the list's own decorator marks finality, read once).
"""

import json
from collections.abc import Callable, Iterator
from datetime import date, datetime, timezone
from decimal import Decimal

from sqlalchemy import func, literal, union_all
from sqlmodel import Session, select

from ledger.register import finality, models
from ledger.clock import end_of_day, hk_date
from ledger.register.db import Register
from ledger.errors import InputError, NotFound
from ledger.money import from_minor, nav_from_e6
from ledger.register.paging import Page, chain_key, chain_order, fetch, page_like
from ledger.register.rows import (
    AssetRow,
    CouponRow,
    DutyRow,
    FlowRow,
    HolderRow,
    InstrumentRow,
    InvestorRow,
    IssuanceRow,
    NavRow,
    PaymentRow,
    ReconciliationRecordRow,
    SettlementRow,
)

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def as_of(register: Register, block: int | None, day: date | None = None) -> int:
    """The block a view is taken at: the indexed block, or an earlier one asked for, or the last
    one of a day (`day`, Hong Kong; not both)."""
    if day is not None:
        if block is not None:
            raise InputError("--as-of-date: give --as-of-block or --as-of-date, not both")
        block = block_at(register, day)
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
        select(t.from_address, func.sum(t.quantity)).where(t.token == token, t.block_number <= block).group_by(t.from_address)
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
    i = models.Investor
    names = dict(session.exec(select(i.id_hash, i.investor_id).where(i.id_hash.in_({h for h in link.values() if h}))).all())
    return {w: names.get(link.get(w)) if link.get(w) else None for w in wallets}


@finality.marks_finality
def holders(
    register: Register, isin: str, as_of_block: int | None = None, page: Page | None = None, as_of_date: date | None = None
) -> tuple[int, list[HolderRow]]:
    """Holders of an instrument after a block (or at the end of a day, see `as_of`): (block, rows
    by quantity, largest first, then by wallet). With `page`, one page of them (keys: (quantity,
    wallet)), summed and sorted by the database rather than here."""
    if page is None:
        block, rows = stream_holders.__wrapped__(register, isin, as_of_block, as_of_date)
        return block, list(rows)
    inst = register.instrument(isin)
    block = as_of(register, as_of_block, as_of_date)
    with register.session() as s:
        query, order = _holdings(s, inst.address, block)
        bal = fetch(s, query, page, order, lambda r: (int(r[1]), r[0]))
        bal = page_like(bal, [(w, int(q)) for w, q in bal])
        ids = investor_ids_at(s, [w for w, _ in bal], block)
    return block, page_like(bal, [_holder_row(inst, w, q, ids[w]) for w, q in bal])


@finality.marks_finality
def stream_holders(
    register: Register, isin: str, as_of_block: int | None = None, as_of_date: date | None = None
) -> tuple[int, Iterator[HolderRow]]:
    """`holders` unpaged: (block, its rows streamed from the database, their investors looked up
    a batch of wallets at a time)."""
    inst = register.instrument(isin)
    block = as_of(register, as_of_block, as_of_date)

    def rows() -> Iterator[HolderRow]:
        with register.session() as s:
            query, _ = _holdings(s, inst.address, block)
            for batch in s.exec(query.execution_options(yield_per=STREAM_BATCH)).partitions():
                ids = investor_ids_at(s, [w for w, _ in batch], block)
                for w, q in batch:
                    yield _holder_row(inst, w, int(q), ids[w])

    return block, rows()


def _holder_row(inst: models.Instrument, wallet: str, quantity: int, investor_id: str | None) -> HolderRow:
    return HolderRow(
        investor_id=investor_id,
        wallet=wallet,
        quantity=quantity,
        principal=from_minor(quantity * inst.denomination, inst.currency) if inst.denomination else None,
    )


def _holdings(session: Session, token: str, block: int) -> tuple:
    """(query, order): every (wallet, balance) after `block`, largest first, then by wallet
    (bytewise, as Python sorts: PostgreSQL's default collation would not)."""
    t = models.Transfer
    # Each side summed per wallet first: read from the covering indexes in wallet order, no sort.
    legs = union_all(
        select(t.to_address.label("wallet"), func.sum(t.quantity).label("amount"))
        .where(t.token == token, t.block_number <= block)
        .group_by(t.to_address),
        select(t.from_address.label("wallet"), (literal(0) - func.sum(t.quantity)).label("amount"))
        .where(t.token == token, t.block_number <= block)
        .group_by(t.from_address),
    ).subquery()
    summed = select(legs.c.wallet, func.sum(legs.c.amount).label("quantity")).group_by(legs.c.wallet).subquery()
    wallet = summed.c.wallet.collate("C") if session.get_bind().dialect.name == "postgresql" else summed.c.wallet
    query = select(summed.c.wallet, summed.c.quantity).where(summed.c.quantity != 0, summed.c.wallet != ZERO_ADDRESS)
    return query.order_by(summed.c.quantity.desc(), wallet), [(summed.c.quantity, True), (wallet, False)]


STREAM_BATCH = 2000  # rows read from the database at a time when a view is streamed


def streamed(register: Register, query, row_of: Callable[[Session], Callable]) -> Iterator:
    """`query`'s rows, each made into a view's row by the function `row_of(session)` gives (it
    loads what every row needs once), read a batch at a time: none held all at once."""
    with register.session() as s:
        make = row_of(s)
        for r in s.exec(query.execution_options(yield_per=STREAM_BATCH)):
            yield make(r)


def transfers(register: Register, isin: str, page: Page | None = None) -> list[models.Transfer]:
    """Every indexed transfer of an instrument, in chain order (page keys: (block, log index))."""
    inst = register.instrument(isin)
    t = models.Transfer
    with register.session() as s:
        q = select(t).where(t.token == inst.address).order_by(t.block_number, t.log_index)
        return fetch(s, q, page, chain_order(t), chain_key)


def check_period(date_from: date | None, date_to: date | None) -> None:
    """A period whose end comes before its start is a mistake, not an empty answer (the web
    names its query parameters instead: ledger.web.app.web_message)."""
    if date_from and date_to and date_from > date_to:
        raise InputError(f"--from: {date_from} is after --to {date_to}")


@finality.marks_finality
def stamp_duty(
    register: Register, date_from: date | None = None, date_to: date | None = None, page: Page | None = None
) -> list[DutyRow]:
    """Every duty assessment, by trade date; amounts in currency units (page keys: (trade date,
    block, log index))."""
    if page is None:
        return list(stream_stamp_duty.__wrapped__(register, date_from, date_to))
    d = models.DutyAssessment
    order = [(d.trade_date, False), *chain_order(d)]
    with register.session() as s:
        rows = fetch(s, _duty_query(date_from, date_to), page, order, lambda r: (r.trade_date, r.block_number, r.log_index))
    return page_like(rows, [_duty_row(r) for r in rows])


@finality.marks_finality
def stream_stamp_duty(register: Register, date_from: date | None = None, date_to: date | None = None) -> Iterator[DutyRow]:
    """`stamp_duty` unpaged, streamed from the database."""
    return streamed(register, _duty_query(date_from, date_to), lambda s: _duty_row)


def _duty_query(date_from: date | None, date_to: date | None):
    check_period(date_from, date_to)
    d = models.DutyAssessment
    q = select(d).order_by(d.trade_date, d.block_number, d.log_index)
    if date_from:
        q = q.where(d.trade_date >= date_from)
    if date_to:
        q = q.where(d.trade_date <= date_to)
    return q


def _duty_row(r: models.DutyAssessment) -> DutyRow:
    return DutyRow(
        instruction_id=r.instruction_id,
        isin=r.isin,
        instrument_class=r.instrument_class,
        treatment=r.treatment,
        currency=r.currency,
        consideration=from_minor(r.consideration, r.currency),
        duty_without_relief=from_minor(r.duty_without_relief, r.currency),
        duty_buyer=from_minor(r.duty_buyer, r.currency),
        duty_seller=from_minor(r.duty_seller, r.currency),
        basis=r.basis,
        rule_version=r.rule_version,
        trade_date=r.trade_date,
        tx_hash=r.tx_hash,
        block_number=r.block_number,
    )


def instruments(register: Register) -> list[InstrumentRow]:
    """Every instrument with its units outstanding at the indexed block."""
    block = register.indexed_block()
    with register.session() as s:
        rows = s.exec(select(models.Instrument).order_by(models.Instrument.kind, models.Instrument.isin)).all()
        return [_instrument_row(s, inst, block) for inst in rows]


def instrument_row(register: Register, isin: str) -> InstrumentRow:
    """One instrument as `instruments` lists it (without working out every other's units)."""
    inst = register.instrument(isin)
    with register.session() as s:
        return _instrument_row(s, inst, register.indexed_block())


def _instrument_row(session: Session, inst: models.Instrument, block: int) -> InstrumentRow:
    return InstrumentRow(
        isin=inst.isin,
        kind=inst.kind,
        name=inst.name,
        symbol=inst.symbol,
        currency=inst.currency,
        address=inst.address,
        outstanding=outstanding(session, inst.address, block) if block >= 0 else 0,
        issuer=inst.issuer,
        maturity_date=inst.maturity_date,
        settlement_asset=inst.settlement_asset,
        dti=inst.dti,
        issuer_lei=inst.issuer_lei,
    )


def outstanding(session: Session, token: str, block: int) -> int:
    """Units of `token` outstanding after `block`: minted less burned (the sum of every balance)."""
    t = models.Transfer
    total = 0
    for side, sign in ((t.from_address, 1), (t.to_address, -1)):
        found = session.exec(
            select(func.sum(t.quantity)).where(t.token == token, t.block_number <= block, side == ZERO_ADDRESS)
        ).one()
        total += sign * int(found or 0)
    return total


def last_reconciliations(register: Register) -> dict[str, ReconciliationRecordRow]:
    """isin -> the last reconciliation `bondledger reconcile` recorded of it: block, time (UTC,
    to the second), ok, number of breaks and the report as `reconcile --format json` printed it."""
    r = models.ReconciliationRecord
    last = select(func.max(r.id)).group_by(r.isin).scalar_subquery()
    with register.session() as s:
        rows = s.exec(select(r).where(r.id.in_(last))).all()
    return {
        row.isin: ReconciliationRecordRow(
            block=row.block_number,
            reconciled_at=_utc(row.reconciled_at).replace(microsecond=0),
            ok=row.ok,
            breaks=row.breaks,
            report=json.loads(row.summary),
        )
        for row in rows
    }


def _utc(moment: datetime) -> datetime:
    """SQLite gives back naive UTC; PostgreSQL an aware time in the session's zone."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def balances_before_time(session: Session, token: str, timestamp: int) -> dict[str, int]:
    """Every non-zero balance of `token` as a record time `timestamp` fixes it: after every block
    stamped before it (a block stamped at the record time already comes after the snapshot)."""
    t = models.Transfer
    last = session.exec(select(func.max(t.block_number)).where(t.token == token, t.block_timestamp < timestamp)).one()
    return balances(session, token, last) if last is not None else {}


AMOUNT_SCALE = 10**10  # PayingAgent.AMOUNT_SCALE


def coupons(register: Register, isin: str) -> list[CouponRow]:
    """Each scheduled coupon: what was due (exactly, on the register's holdings at the record
    date) against what the paying agent declared and paid, and the rounding residue."""
    return list(stream_coupons(register, isin))


def stream_coupons(register: Register, isin: str) -> Iterator[CouponRow]:
    """`coupons`, one at a time (each sums every holding of record: none kept past its row)."""
    inst = register.instrument(isin)
    return _coupon_rows(register, inst)


def _coupon_rows(register: Register, inst: models.Instrument) -> Iterator[CouponRow]:
    isin = inst.isin
    with register.session() as s:
        schedule = s.exec(
            select(models.ScheduledCoupon).where(models.ScheduledCoupon.isin == isin).order_by(models.ScheduledCoupon.coupon_id)
        ).all()
        declared = {c.coupon_id: c for c in s.exec(select(models.CouponRecord).where(models.CouponRecord.bond == inst.address))}
        paid = dict(
            s.exec(
                select(models.Payment.coupon_id, func.sum(models.Payment.amount))
                .where(models.Payment.bond == inst.address, models.Payment.kind == "coupon")
                .group_by(models.Payment.coupon_id)
            ).all()
        )
        for c in schedule:
            quantity = sum(balances_before_time(s, inst.address, c.record_time).values())
            per_denomination = Decimal(c.amount_per_denomination)
            due = per_denomination * quantity
            record = declared.get(c.coupon_id)
            paid_amount = from_minor(int(paid.get(c.coupon_id) or 0), inst.currency)
            yield CouponRow(
                coupon=c.coupon_id,
                record_date=c.record_date,
                payment_date=c.payment_date,
                amount_per_denomination=per_denomination,
                quantity_of_record=quantity,
                due=due.quantize(Decimal("1e-10")).normalize(),
                paid=paid_amount,
                residue=(due - paid_amount).quantize(Decimal("1e-10")).normalize() if record and record.completed else None,
                status="paid" if record and record.completed else "paying" if record else "not declared",
                declared_per_token=record.amount_per_token if record else None,
            )


# ---------------------------------------------------------------------- settlements, funds, payments


def investor_names(session: Session, only: list[str] | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """(wallet -> id hash, id hash -> investor id) as the register knows them now (of the wallets
    `only`, when a page names them: not every investor's)."""
    w, i = models.Wallet, models.Investor
    if only is not None:
        wallets = dict(session.exec(select(w.address, w.id_hash).where(w.address.in_(set(only)))).all())
        return wallets, dict(session.exec(select(i.id_hash, i.investor_id).where(i.id_hash.in_(set(wallets.values())))).all())
    wallets = dict(session.exec(select(w.address, w.id_hash)).all())  # columns, not 10,000 ORM objects
    names = dict(session.exec(select(i.id_hash, i.investor_id)).all())
    return wallets, names


@finality.marks_finality
def settlements(
    register: Register,
    isin: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    page: Page | None = None,
) -> list[SettlementRow]:
    """Every settlement instruction (of one instrument; traded within dates), with its status,
    in the order they were captured (page keys: (nonce, instruction id))."""
    if page is None:
        return list(stream_settlements.__wrapped__(register, isin, date_from, date_to))
    i = models.Instruction
    q = _settlements_query(register, isin, date_from, date_to)
    with register.session() as s:
        rows = fetch(s, q, page, [(i.nonce, False), (i.instruction_id, False)], lambda r: (r.nonce, r.instruction_id))
        make = _settlement_row(s)
    return page_like(rows, [make(r) for r in rows])


@finality.marks_finality
def stream_settlements(
    register: Register, isin: str | None = None, date_from: date | None = None, date_to: date | None = None
) -> Iterator[SettlementRow]:
    """`settlements` unpaged, streamed from the database."""
    return streamed(register, _settlements_query(register, isin, date_from, date_to), _settlement_row)


def _settlements_query(register: Register, isin: str | None, date_from: date | None, date_to: date | None):
    check_period(date_from, date_to)
    i = models.Instruction
    q = select(i).order_by(i.nonce, i.instruction_id)
    if isin:
        register.instrument(isin)
        q = q.where(i.isin == isin)
    if date_from:
        q = q.where(i.trade_date >= date_from)
    if date_to:
        q = q.where(i.trade_date <= date_to)
    return q


def _settlement_row(session: Session) -> Callable[[models.Instruction], SettlementRow]:
    assets = _assets(session)

    def make(r: models.Instruction) -> SettlementRow:
        return SettlementRow(
            instruction_id=r.instruction_id,
            isin=r.isin,
            status=r.status,
            reason=r.reason,
            seller=r.seller_investor_id,
            buyer=r.buyer_investor_id,
            quantity=r.quantity,
            price=Decimal(r.price),
            cash_amount=from_minor(r.cash_amount, r.currency),
            currency=r.currency,
            settlement_asset=assets.get(r.cash_token, (None, None))[0],
            asset_kind=assets.get(r.cash_token, (None, None))[1],
            trade_date=r.trade_date,
            settlement_date=r.settlement_date,
            tx_hash=r.tx_hash,
            block_number=r.block_number,
        )

    return make


def _assets(session: Session) -> dict[str, tuple[str, str]]:
    """Cash token address -> (settlement asset label, its legal kind)."""
    a = models.SettlementAsset
    return {address: (label, kind) for address, label, kind in session.exec(select(a.address, a.label, a.kind)).all()}


@finality.marks_finality
def issuances(register: Register, isin: str | None = None, kind: str | None = None) -> list[IssuanceRow]:
    """Every primary allocation settled DvP (of one instrument; in one kind of settlement asset),
    with the asset it settled in and that asset's legal kind: "which primary settlements were in
    central bank money" is `--kind tokenised_central_bank_money`."""
    return list(stream_issuances.__wrapped__(register, isin, kind))


@finality.marks_finality
def stream_issuances(register: Register, isin: str | None = None, kind: str | None = None) -> Iterator[IssuanceRow]:
    """`issuances`, streamed from the database."""
    n, a, inst = models.Issuance, models.SettlementAsset, models.Instrument
    q = (
        select(n, a.label, a.kind, inst.isin, inst.currency)
        .join(inst, inst.address == n.token)
        .join(a, a.address == n.cash_token, isouter=True)
        .order_by(n.block_number, n.log_index)
    )
    if isin:
        register.instrument(isin)
        q = q.where(inst.isin == isin)
    if kind:
        q = q.where(a.kind == kind)
    return streamed(register, q, _issuance_row)


def _issuance_row(session: Session) -> Callable[[tuple], IssuanceRow]:
    wallets, names = investor_names(session)

    def make(found: tuple) -> IssuanceRow:
        r, label, asset_kind, code, currency = found
        return IssuanceRow(
            isin=code,
            allocation_id=r.allocation_id,
            investor_id=names.get(wallets.get(r.investor)),
            wallet=r.investor,
            quantity=r.quantity,
            cash_amount=from_minor(r.cash_amount, currency),
            currency=currency,
            settlement_asset=label,
            asset_kind=asset_kind,
            date=hk_date(r.block_timestamp),
            block_number=r.block_number,
            tx_hash=r.tx_hash,
        )

    return make


def fund(register: Register, fund_code: str) -> models.Instrument:
    inst = register.instrument(fund_code)
    if inst.kind != "fund":
        raise NotFound(f"FUND: {fund_code} is a {inst.kind}, not a fund")
    return inst


@finality.marks_finality
def nav_history(register: Register, fund_code: str, page: Page | None = None) -> list[NavRow]:
    if page is None:
        return list(stream_nav_history.__wrapped__(register, fund_code))
    inst = fund(register, fund_code)
    with register.session() as s:
        rows = fetch(s, _nav_query(inst), page, chain_order(models.NavRecord), chain_key)
    make = _nav_row(fund_code, inst)
    return page_like(rows, [make(r) for r in rows])


@finality.marks_finality
def stream_nav_history(register: Register, fund_code: str) -> Iterator[NavRow]:
    """`nav_history` unpaged, streamed from the database."""
    inst = fund(register, fund_code)
    return streamed(register, _nav_query(inst), lambda s: _nav_row(fund_code, inst))


def _nav_query(inst: models.Instrument):
    n = models.NavRecord
    return select(n).where(n.fund == inst.address).order_by(n.block_number, n.log_index)


def _nav_row(fund_code: str, inst: models.Instrument) -> Callable[[models.NavRecord], NavRow]:
    def make(r: models.NavRecord) -> NavRow:
        return NavRow(
            fund_code=fund_code,
            nav=nav_from_e6(r.nav_e6, inst.currency),
            currency=inst.currency,
            published_at=datetime.fromtimestamp(r.published_at, timezone.utc),
            block_number=r.block_number,
            tx_hash=r.tx_hash,
        )

    return make


@finality.marks_finality
def fund_flows(register: Register, fund_code: str, page: Page | None = None) -> list[FlowRow]:
    if page is None:
        return list(stream_fund_flows.__wrapped__(register, fund_code))
    inst = fund(register, fund_code)
    with register.session() as s:
        rows = fetch(s, _flows_query(inst), page, chain_order(models.FundFlow), chain_key)
        make = _flow_row(fund_code, inst)(s)
    return page_like(rows, [make(r) for r in rows])


@finality.marks_finality
def stream_fund_flows(register: Register, fund_code: str) -> Iterator[FlowRow]:
    """`fund_flows` unpaged, streamed from the database."""
    inst = fund(register, fund_code)
    return streamed(register, _flows_query(inst), _flow_row(fund_code, inst))


def _flows_query(inst: models.Instrument):
    f = models.FundFlow
    return select(f).where(f.fund == inst.address).order_by(f.block_number, f.log_index)


def _flow_row(fund_code: str, inst: models.Instrument) -> Callable[[Session], Callable[[models.FundFlow], FlowRow]]:
    def row_of(session: Session) -> Callable[[models.FundFlow], FlowRow]:
        wallets, names = investor_names(session)

        def make(r: models.FundFlow) -> FlowRow:
            return FlowRow(
                kind=r.kind,
                fund_code=fund_code,
                participant=names.get(wallets.get(r.participant), r.participant),
                units=r.units,
                creation_units=r.creation_units,
                cash_amount=from_minor(r.cash_amount, inst.currency),
                currency=inst.currency,
                nav=nav_from_e6(r.nav_e6, inst.currency),
                date=hk_date(r.block_timestamp),
                block_number=r.block_number,
                tx_hash=r.tx_hash,
            )

        return make

    return row_of


@finality.marks_finality
def payments(register: Register, isin: str, page: Page | None = None) -> list[PaymentRow]:
    """Every coupon and principal payment to each holder, with its proof (page keys: (block, log index))."""
    if page is None:
        return list(stream_payments.__wrapped__(register, isin))
    inst = register.instrument(isin)
    with register.session() as s:
        rows = fetch(s, _payments_query(inst), page, chain_order(models.Payment), chain_key)
        make = _payment_row(inst, [r.holder for r in rows])(s)  # the names of this page's holders only
    return page_like(rows, [make(r) for r in rows])


@finality.marks_finality
def stream_payments(register: Register, isin: str) -> Iterator[PaymentRow]:
    """`payments` unpaged, streamed from the database."""
    inst = register.instrument(isin)
    return streamed(register, _payments_query(inst), _payment_row(inst))


def _payments_query(inst: models.Instrument):
    p = models.Payment
    return select(p).where(p.bond == inst.address).order_by(p.block_number, p.log_index)


def _payment_row(
    inst: models.Instrument, holders: list[str] | None = None
) -> Callable[[Session], Callable[[models.Payment], PaymentRow]]:
    def row_of(session: Session) -> Callable[[models.Payment], PaymentRow]:
        wallets, names = investor_names(session, holders)
        coupon = models.CouponRecord
        declared = {c.coupon_id: c for c in session.exec(select(coupon).where(coupon.bond == inst.address))}
        # A bond pays in its settlement asset (the cash token it is wired to).
        asset = session.get(models.SettlementAsset, inst.settlement_asset or inst.currency)

        def make(r: models.Payment) -> PaymentRow:
            # A coupon's payment date is the one declared; a redemption's, the day it was paid.
            c = declared.get(r.coupon_id)
            when = c.payment_time if c and r.kind == "coupon" else r.block_timestamp
            return PaymentRow(
                kind=r.kind,
                coupon=r.coupon_id or None,
                payment_date=hk_date(when),
                investor_id=names.get(wallets.get(r.holder)),
                wallet=r.holder,
                quantity=r.quantity,
                amount=from_minor(r.amount, inst.currency),
                currency=inst.currency,
                settlement_asset=asset.label if asset else None,
                asset_kind=asset.kind if asset else None,
                tx_hash=r.tx_hash,
                block_number=r.block_number,
            )

        return make

    return row_of


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


def investors(register: Register) -> list[InvestorRow]:
    """Every investor of the register, by id, with its active wallets."""
    w, i = models.Wallet, models.Investor
    with register.session() as s:
        wallets: dict[str, list[str]] = {}
        for id_hash, address in s.exec(select(w.id_hash, w.address).where(w.active)).all():
            wallets.setdefault(id_hash, []).append(address)
        return [
            InvestorRow(
                investor_id=r.investor_id,
                name=r.name,
                country=r.country,
                category=r.category,
                kyc_expiry=r.kyc_expiry,
                wallets=" ".join(sorted(wallets.get(r.id_hash, []))),
            )
            for r in s.exec(select(i).order_by(i.investor_id)).all()
        ]


def settlement_assets(register: Register) -> list[AssetRow]:
    """Every cash token the register knows, by currency and label, with its legal kind."""
    a = models.SettlementAsset
    with register.session() as s:
        rows = s.exec(select(a).order_by(a.currency, a.label)).all()
    return [
        AssetRow(label=r.label, currency=r.currency, kind=r.kind, issuer=r.issuer, licence=r.licence, address=r.address)
        for r in rows
    ]


def investor(register: Register, investor_id: str) -> models.Investor:
    with register.session() as s:
        found = s.get(models.Investor, investor_id)
    if found is None:
        raise NotFound(f"INVESTOR: {investor_id} is not an investor in this register")
    return found
