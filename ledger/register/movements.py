"""What moved: every transfer of an instrument with its proof, and each investor's movements
(in and out of its wallets, any token), paged for the API and the pages, streamed for export.

Views as in ledger.register.views (the register only, never the chain), kept apart for what they
read: the transfers table joined to the register's directory of wallets, names and labels.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

from sqlalchemy import literal, union_all
from sqlmodel import Session, select

from ledger.clock import end_of_day
from ledger.money import from_minor
from ledger.register import models
from ledger.register.db import Register
from ledger.register.paging import Page, chain_key, chain_order, fetch, page_like
from ledger.register.rows import MovementRow, TransferRow
from ledger.register.finality import marks_finality
from ledger.register.views import ZERO_ADDRESS, check_period, investor, investor_names, transfers


def _labels(session: Session) -> dict[str, tuple[str, str, int | None]]:
    """token address -> (label, kind, denomination): instruments by code, cash by currency."""
    labels = {i.address: (i.isin, i.kind, i.denomination) for i in session.exec(select(models.Instrument))}
    for c in session.exec(select(models.ContractRecord).where(models.ContractRecord.kind == "cash")):
        labels[c.address] = (c.label, "cash", None)
    return labels


@dataclass(frozen=True)
class Directory:
    """Who and what the register knows, loaded once for many movement lists (an export)."""

    wallets: dict[str, str]  # wallet -> investor id hash
    names: dict[str, str]  # id hash -> investor id
    labels: dict[str, tuple[str, str, int | None]]  # token -> (label, kind, denomination)

    @classmethod
    def load(cls, session: Session) -> "Directory":
        wallets, names = investor_names(session)
        return cls(wallets, names, _labels(session))


@marks_finality
def movements(
    register: Register,
    investor_id: str,
    date_from: date | None = None,
    date_to: date | None = None,
    directory: Directory | None = None,
    page: Page | None = None,
) -> list[MovementRow]:
    """Every transfer into or out of an investor's wallets (securities and cash), in chain order
    (page keys: (block, log index)).
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
        rows = fetch(s, q, page, chain_order(t), chain_key)
        if directory is None and page is not None:  # a page names only its own counterparties
            wallets, names = investor_names(s, [a for row in rows for a in (row.from_address, row.to_address)])
            directory = Directory(wallets, names, _labels(s))
        directory = directory or Directory.load(s)
    return page_like(rows, [_movement(row, row.to_address in own, directory) for row in rows])


def _movement(row, incoming: bool, directory: Directory) -> MovementRow:
    """One transfer (a Transfer or a row with its columns) as a movement of the investor on the
    receiving side (`incoming`) or the sending side."""
    label, kind, _ = directory.labels.get(row.token, (row.token, "token", None))
    other = row.from_address if incoming else row.to_address
    quantity = row.quantity if kind in ("bond", "fund") else from_minor(row.quantity, label)
    return MovementRow(
        time=_utc_time(row.block_timestamp),
        instrument=label,
        kind=kind,
        direction="in" if incoming else "out",
        quantity=quantity,
        wallet=row.to_address if incoming else row.from_address,
        counterparty=directory.names.get(directory.wallets.get(other))
        or ("issue/redemption" if other == ZERO_ADDRESS else other),
        block_number=row.block_number,
        block_hash=row.block_hash,
        tx_hash=row.tx_hash,
        log_index=row.log_index,
    )


@marks_finality
def every_investors_movements(register: Register) -> Iterator[tuple[str, list[MovementRow]]]:
    """(investor id, its movements as `movements` lists them) for every investor of the register,
    by investor id: one query streamed in that order, where a query per investor makes an export
    of 10,000 investors quadratic. Only one investor's rows are held at a time."""
    r, i, t = models.Registration, models.Investor, models.Transfer
    own = select(r.id_hash, r.wallet).where(r.wallet.is_not(None)).distinct().subquery()
    columns = [
        t.token,
        t.from_address,
        t.to_address,
        t.quantity,
        t.block_number,
        t.block_hash,
        t.block_timestamp,
        t.tx_hash,
        t.log_index,
    ]
    # each transfer once per investor on its receiving side (leg 0) and once on its sending side
    # (leg 1); a transfer between two wallets of one investor is its "in" alone, as in `movements`
    legs = union_all(
        *(
            select(i.investor_id, literal(leg).label("leg"), *columns)
            .join(own, own.c.id_hash == i.id_hash)
            .join(t, side == own.c.wallet)
            for leg, side in ((0, t.to_address), (1, t.from_address))
        )
    ).subquery()
    query = select(legs).order_by(legs.c.investor_id, legs.c.block_number, legs.c.log_index, legs.c.leg)
    with register.session() as s:
        directory = Directory.load(s)
        investor_ids = list(s.exec(select(i.investor_id).order_by(i.investor_id)).all())
    with register.engine.connect() as conn:
        stream = conn.execution_options(yield_per=2000).execute(query)
        pending = next(stream, None)
        for investor_id in investor_ids:
            out, last = [], None
            while pending is not None and pending.investor_id == investor_id:
                if not (pending.leg == 1 and last == (pending.block_number, pending.log_index)):
                    out.append(_movement(pending, pending.leg == 0, directory))
                last = (pending.block_number, pending.log_index)
                pending = next(stream, None)
            yield investor_id, out
        if pending is not None:  # the two orders by investor id disagree: never silently drop rows
            raise RuntimeError(f"movements of {pending.investor_id} came out of investor order")


@marks_finality
def transfer_rows(register: Register, isin: str, page: Page | None = None) -> list[TransferRow]:
    """Every transfer of an instrument with its chain proof, as auditors export it."""
    rows = transfers(register, isin, page)
    return page_like(rows, [_transfer_row(t) for t in rows])


@lru_cache(maxsize=4096)
def _utc_time(timestamp: int) -> datetime:
    """A block's time in UTC: made once per block, not once per row of an export."""
    return datetime.fromtimestamp(timestamp, timezone.utc)


def _transfer_row(t) -> TransferRow:
    """A Transfer (or a row with its columns) as the transfers view shows it."""
    return TransferRow(
        block_number=t.block_number,
        time=_utc_time(t.block_timestamp),
        from_=t.from_address,
        to=t.to_address,
        quantity=t.quantity,
        tx_hash=t.tx_hash,
        log_index=t.log_index,
        block_hash=t.block_hash,
        chain_id=t.chain_id,
    )


@marks_finality
def stream_transfer_rows(register: Register, isin: str) -> Iterator[TransferRow]:
    """`transfer_rows` of a whole instrument, streamed from the database (an export of 100,000
    transfers holds none of them all at once, nor builds an ORM object each)."""
    inst = register.instrument(isin)
    t = models.Transfer
    query = select(*t.__table__.columns).where(t.token == inst.address).order_by(t.block_number, t.log_index)
    with register.engine.connect() as conn:
        for row in conn.execution_options(yield_per=2000).execute(query):
            yield _transfer_row(row)
