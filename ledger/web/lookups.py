"""What the JSON routes and the pages both read: parameters parsed, holders, reconciliation.

Each raises WebError (an HTTP status and one line) for what the register cannot answer.
"""

import base64
import json
import re
from datetime import date

from fastapi import Request

from ledger import views
from ledger.db import Register
from ledger.errors import ChainError, RegisterError

DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
#: Dates a view can be asked for: the calendar bondledger's schedules use (QuantLib's); the end of
#: 9999-12-31 is not even a Python datetime.
FIRST_DAY, LAST_DAY = date(1901, 1, 1), date(2199, 12, 31)


class WebError(Exception):
    """A request the register cannot answer: an HTTP status and one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def parse_day(value: str | None, param: str) -> date | None:
    if value is None or value == "":
        return None
    if not DATE_PATTERN.fullmatch(value):
        raise WebError(400, f"{param}: {value!r} is not a date (YYYY-MM-DD)")
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise WebError(400, f"{param}: {value!r} is not a date ({exc})") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise WebError(400, f"{param}: {day} is outside {FIRST_DAY} to {LAST_DAY}")
    return day


def holder_rows(
    register: Register, isin: str, as_of_block: int | None, as_of_date: date | None, page: views.Page | None = None
) -> tuple[int, list[dict]]:
    """(block, rows) exactly as `bondledger register holders ISIN --format json` prints them (one
    page of them with `page`)."""
    register.instrument(isin)  # 404 before any complaint about the dates
    if as_of_date is not None:
        if as_of_block is not None:
            raise WebError(400, "as_of_date: give as_of_block or as_of_date, not both")
        as_of_block = views.block_at(register, as_of_date)
    block, rows = views.holders(register, isin, as_of_block, page)
    return block, views.page_like(rows, [h.as_json() for h in rows])


def reconciliation_report(register: Register, rpc_url: str | None, isin: str, chain=None) -> dict:
    """`bondledger reconcile ISIN --format json` as a dict (WebError 503 without a chain)."""
    from ledger.reconcile import reconcile

    register.instrument(isin)  # 404 before 503
    chain = chain or connect_chain(rpc_url)
    try:
        result = reconcile(register, chain, isin)
    except RegisterError as exc:
        raise WebError(409, str(exc)) from None
    except ChainError as exc:
        raise WebError(503, f"chain unavailable: {exc}") from None
    except (OSError, ConnectionError) as exc:
        raise WebError(503, f"chain unavailable: {type(exc).__name__} talking to {rpc_url}") from None
    except Exception as exc:  # requests' and web3's connection errors have no common base
        if "connection" in type(exc).__name__.lower() or "timeout" in type(exc).__name__.lower():
            raise WebError(503, f"chain unavailable: {type(exc).__name__} talking to {rpc_url}") from None
        raise
    return result.as_json()


def connect_chain(rpc_url: str | None):
    from ledger.chain import connect

    if not rpc_url:
        raise WebError(503, "chain unavailable: this register view was started without an RPC URL (--rpc-url)")
    try:
        return connect(rpc_url)
    except ChainError as exc:
        raise WebError(503, f"chain unavailable: {exc}") from None


def int_param(value: str | None, param: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise WebError(400, f"{param}: {value[:40]!r} is not a whole number") from None
    if abs(number) >= 2**63:  # beyond what the register's integers hold
        raise WebError(400, f"{param}: {value[:40]} is too large")
    return number


def refuse_nul(request: Request) -> None:
    """PostgreSQL cannot hold a NUL in text (its driver refuses the query), so no register row has
    one: a path naming one names nothing (404) and a query value with one is bad input (400)."""
    for name, value in request.path_params.items():
        if "\x00" in str(value):
            raise WebError(404, f"{name}: no such {name} (the name contains a NUL character)")
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise WebError(400, f"{name.replace(chr(0), '')}: contains a NUL character")


def check_period(start: date | None, end: date | None) -> None:
    if start and end and start > end:
        raise WebError(400, f"from: {start} is after the `to` date {end}")



# ---------------------------------------------------------------------- pages of a list

# Each paged list's sort key, as its cursor carries it (holders: the block of the first page too,
# so that every page of one walk is taken at the same block).
CURSOR_KEYS: dict[str, tuple[type, ...]] = {
    "holders": (int, int, str),
    "transfers": (int, int),
    "payments": (int, int),
    "nav": (int, int),
    "flows": (int, int),
    "movements": (int, int),
    "settlements": (int, str),
    "stamp-duty": (date, int, int),
}


def encode_cursor(name: str, key: tuple, backward: bool) -> str:
    """An opaque cursor: the list's name, the direction and the sort key, as base64url JSON."""
    values = [v.isoformat() if isinstance(v, date) else v for v in key]
    text = json.dumps([name, "p" if backward else "n", *values], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(name: str, cursor: str, param: str = "cursor") -> tuple[tuple, bool]:
    """(key, backward) from a cursor this list gave; WebError 400 for anything else."""
    shown = cursor if len(cursor) <= 60 else cursor[:57] + "..."
    problem = WebError(400, f"{param}: {shown!r} is not a cursor of this list (pass back the one a response gave)")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise problem from None
    types = CURSOR_KEYS[name]
    if not isinstance(data, list) or len(data) != len(types) + 2 or data[0] != name or data[1] not in ("n", "p"):
        raise problem
    key = []
    for kind, value in zip(types, data[2:]):
        if kind is date:
            if not isinstance(value, str) or not DATE_PATTERN.fullmatch(value):
                raise problem
            try:
                value = date.fromisoformat(value)
            except ValueError:
                raise problem from None
        elif not isinstance(value, kind) or isinstance(value, bool):
            raise problem
        key.append(value)
    return tuple(key), data[1] == "p"


def page_of(name: str, limit: int, cursor: str | None, param: str = "cursor") -> views.Page:
    """The page a request asks for: `limit` rows from the start, or on from `cursor`."""
    if not cursor:
        return views.Page(limit)
    key, backward = decode_cursor(name, cursor, param)
    if name == "holders":
        key = key[1:]  # the block is the caller's (cursor_block)
    return views.Page(limit, key, backward)


def cursor_block(cursor: str | None) -> int | None:
    """The block a holders cursor was taken at (it has been decoded once already)."""
    return decode_cursor("holders", cursor)[0][0] if cursor else None


def cursors(name: str, rows: list, block: int | None = None) -> tuple[str | None, str | None]:
    """(next, previous) cursors of a page of rows (views.Rows)."""
    prefix = (block,) if name == "holders" else ()
    after = encode_cursor(name, prefix + rows.next, False) if getattr(rows, "next", None) else None
    before = encode_cursor(name, prefix + rows.previous, True) if getattr(rows, "previous", None) else None
    return after, before
