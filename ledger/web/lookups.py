"""What the JSON routes and the pages both read: parameters parsed, reconciliation.

Each raises WebError (an HTTP status and one line) for what the register cannot answer.
"""

from datetime import date

from fastapi import Request

from ledger.register.db import Register
from ledger.errors import ChainError, RegisterError
from ledger.register.paging import DATE_PATTERN
from ledger.register.rows import ReconciliationReport

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


def reconciliation_report(register: Register, rpc_url: str | None, isin: str, chain=None) -> ReconciliationReport:
    """`bondledger reconcile ISIN --format json` (WebError 503 without a chain)."""
    from ledger.proofs.reconcile import reconcile

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
    return result.report()


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
