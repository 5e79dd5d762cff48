"""Keyset paging of the register's lists, and the opaque cursors that carry a page's key.

A list is read a page at a time: `limit` rows after (or before) the row whose sort key a cursor
carries. The database seeks to the key, so a page costs the same wherever it is in the list.
"""

import base64
import json
import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, or_
from sqlmodel import Session

from ledger.errors import InputError

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Page:
    """One page of a list in the list's own order: `limit` rows after the row whose sort key is
    `key` (None: from the first row), or before it when `backward` (None: up to the last row).
    Keyset paging: the database seeks to the key, so a page costs the same wherever it is."""

    limit: int = DEFAULT_LIMIT
    key: tuple | None = None
    backward: bool = False


class Rows(list):
    """A page of rows, with the sort keys that continue it: `next` (its last row's, None on the
    last page) and `previous` (its first row's, None on the first page)."""

    next: tuple | None = None
    previous: tuple | None = None


def beyond(order: list, key: tuple, backward: bool):
    """Rows after `key` in `order` ((column, descending) pairs), or before it when `backward`:
    (a, b) > (x, y) spelled out, with a bound on the first column the database can seek by."""
    terms = []
    for i, (column, descending) in enumerate(order):
        after = descending == backward
        equal = [c == v for (c, _), v in zip(order[:i], key[:i])]
        terms.append(and_(*equal, column > key[i] if after else column < key[i]))
    first, descending = order[0]
    bound = first >= key[0] if descending == backward else first <= key[0]
    return and_(bound, or_(*terms))


def fetch(session: Session, query, page: Page | None, order: list, key) -> list:
    """`query`'s rows (it is already in `order`), or one page of them as Rows; `key(row)` is a
    row's sort key, the values of `order`'s columns."""
    if page is None:
        return session.exec(query).all()
    query = query.order_by(None)
    if page.key is not None:
        query = query.where(beyond(order, page.key, page.backward))
    ordering = [column.desc() if descending != page.backward else column.asc() for column, descending in order]
    found = list(session.exec(query.order_by(*ordering).limit(page.limit + 1)).all())
    more = len(found) > page.limit
    out = Rows(found[: page.limit])
    if page.backward:
        out.reverse()
    if out:
        came_from = page.key is not None
        out.previous = key(out[0]) if (more if page.backward else came_from) else None
        out.next = key(out[-1]) if (came_from if page.backward else more) else None
    return out


def page_like(rows: list, out: list) -> list:
    """`out` (rows made from `rows`) as a page like `rows` when `rows` is one."""
    if not isinstance(rows, Rows):
        return out
    page = Rows(out)
    page.next, page.previous = rows.next, rows.previous
    return page


def chain_order(model) -> list:
    """Chain order of an event table: (block, log index)."""
    return [(model.block_number, False), (model.log_index, False)]


def chain_key(row) -> tuple:
    return (row.block_number, row.log_index)


# ---------------------------------------------------------------------- cursors

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
    """(key, backward) from a cursor this list gave; InputError for anything else."""
    shown = cursor if len(cursor) <= 60 else cursor[:57] + "..."
    problem = InputError(f"{param}: {shown!r} is not a cursor of this list (pass back the one a response gave)")
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


def page_of(name: str, limit: int, cursor: str | None, param: str = "cursor") -> Page:
    """The page a request asks for: `limit` rows from the start, or on from `cursor`."""
    if not cursor:
        return Page(limit)
    key, backward = decode_cursor(name, cursor, param)
    if name == "holders":
        key = key[1:]  # the block is the caller's (cursor_block)
    return Page(limit, key, backward)


def cursor_block(cursor: str | None, param: str = "cursor") -> int | None:
    """The block a holders cursor was taken at (None without a cursor)."""
    return decode_cursor("holders", cursor, param)[0][0] if cursor else None


def cursors(name: str, rows: list, block: int | None = None) -> tuple[str | None, str | None]:
    """(next, previous) cursors of a page of rows (Rows)."""
    prefix = (block,) if name == "holders" else ()
    after = encode_cursor(name, prefix + rows.next, False) if getattr(rows, "next", None) else None
    before = encode_cursor(name, prefix + rows.previous, True) if getattr(rows, "previous", None) else None
    return after, before
