"""The JSON routes: the rows of `bondledger register ... --format json`, from the same views.

Each route's `response_model` is the view's row model (ledger.register.rows); the route answers the rows
serialized by that model (RowsResponse), so the document and the body cannot differ.
"""

from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from ledger.register import movements, views
from ledger.register.db import Register
from ledger.register.paging import DEFAULT_LIMIT, MAX_LIMIT, cursor_block, cursors, page_of
from ledger.register.rows import ReconciliationReport, json_bytes
from ledger.web.lookups import parse_day, reconciliation_report
from ledger.web.schemas import DOCUMENTED, ERROR_DESCRIPTIONS, Problem, rows_responses


class RowsResponse(JSONResponse):
    """Rows (or one report) as their models serialize them: what the CLI's `--format json` prints."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


PAGING = (
    f"One page of rows: `limit` of them (default {DEFAULT_LIMIT}, at most {MAX_LIMIT}); the `Link` header "
    '(rel="next", rel="prev") and `X-Next-Cursor` / `X-Previous-Cursor` give the pages around it.'
)


def _limit():
    return Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"Rows per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})")


def _cursor():
    return Query(
        None, description="Where the page starts: an `X-Next-Cursor` or `X-Previous-Cursor` a page gave; none for the first page"
    )


def _rows_of(name: str) -> type:
    """A list's `response_model`: a list of its row model."""
    return list[DOCUMENTED[name]]


def paged(request: Request, name: str, rows: list, headers: dict | None = None, block: int | None = None) -> RowsResponse:
    """A page of rows (the body is the list, as unpaged) with the cursors around it in headers."""
    after, before = cursors(name, rows, block)
    headers, links = dict(headers or {}), []
    if after:
        headers["X-Next-Cursor"] = after
        links.append(f'<{request.url.include_query_params(cursor=after)}>; rel="next"')
    if before:
        headers["X-Previous-Cursor"] = before
        links.append(f'<{request.url.include_query_params(cursor=before)}>; rel="prev"')
    if links:
        headers["Link"] = ", ".join(links)
    return RowsResponse(rows, headers=headers)


def add_routes(app: FastAPI, register: Register, rpc_url: str | None) -> None:
    """Every JSON route, each a GET over `register` (reconciliation also reads the chain at `rpc_url`)."""

    @app.get(
        "/api/instruments",
        tags=["instruments"],
        summary="Every bond and fund, with units outstanding",
        description="`bondledger register instruments --format json`: units outstanding at the indexed block.",
        response_class=RowsResponse,
        response_model=_rows_of("instruments"),
        responses=rows_responses("Instruments, bonds first"),
    )
    def api_instruments():
        return RowsResponse(views.instruments(register))

    @app.get(
        "/api/instruments/{isin}/holders",
        tags=["instruments"],
        summary="Holders of an instrument, now or at a point in time",
        description=(
            "`bondledger register holders ISIN --format json`: holders after the indexed block, or after "
            "`as_of_block`, or at the end of `as_of_date` (Hong Kong time); largest first. The block the view "
            "was taken at is in the `X-As-Of-Block` header. " + PAGING + " Every page of one walk is taken at the "
            "block of its first page (the cursor carries it)."
        ),
        response_class=RowsResponse,
        response_model=_rows_of("holders"),
        responses=rows_responses("Holders, largest first, then by wallet", 400, 404, paged=True),
    )
    def api_holders(
        request: Request,
        isin: str = PathParam(description="ISIN of a bond or code of a fund"),
        as_of_block: int | None = Query(None, description="Holders after this block (at most the indexed block)"),
        as_of_date: str | None = Query(None, description="Holders at the end of this day, Hong Kong time (YYYY-MM-DD)"),
        limit: int = _limit(),
        cursor: str | None = _cursor(),
    ):
        page = page_of("holders", limit, cursor)
        if cursor:  # the walk stays at its first page's block
            as_of_block, as_of_date = cursor_block(cursor), None
        block, rows = views.holders(register, isin.upper(), as_of_block, page, parse_day(as_of_date, "as_of_date"))
        return paged(request, "holders", rows, {"X-As-Of-Block": str(block)}, block)

    @app.get(
        "/api/instruments/{isin}/transfers",
        tags=["instruments"],
        summary="Every transfer of an instrument with its chain proof",
        description="`bondledger register transfers ISIN --format json`: in chain order; mints are from 0x0…0. " + PAGING,
        response_class=RowsResponse,
        response_model=_rows_of("transfers"),
        responses=rows_responses("Transfers in chain order", 400, 404, paged=True),
    )
    def api_transfers(
        request: Request,
        isin: str = PathParam(description="ISIN of a bond or code of a fund"),
        limit: int = _limit(),
        cursor: str | None = _cursor(),
    ):
        page = page_of("transfers", limit, cursor)
        return paged(request, "transfers", movements.transfer_rows(register, isin.upper(), page))

    @app.get(
        "/api/instruments/{isin}/coupons",
        tags=["bonds"],
        summary="A bond's coupons: due on the holdings of record vs declared and paid",
        description="`bondledger register coupons ISIN --format json`, with the rounding residue of each paid coupon.",
        response_class=RowsResponse,
        response_model=_rows_of("coupons"),
        responses=rows_responses("Scheduled coupons", 404),
    )
    def api_coupons(isin: str = PathParam(description="ISIN of a bond")):
        return RowsResponse(views.coupons(register, isin.upper()))

    @app.get(
        "/api/instruments/{isin}/payments",
        tags=["bonds"],
        summary="Every coupon and principal payment of a bond to each holder",
        description="`bondledger register payments ISIN --format json`, with the proof of each payment. " + PAGING,
        response_class=RowsResponse,
        response_model=_rows_of("payments"),
        responses=rows_responses("Payments in chain order", 400, 404, paged=True),
    )
    def api_payments(
        request: Request,
        isin: str = PathParam(description="ISIN of a bond"),
        limit: int = _limit(),
        cursor: str | None = _cursor(),
    ):
        page = page_of("payments", limit, cursor)
        return paged(request, "payments", views.payments(register, isin.upper(), page))

    @app.get(
        "/api/funds/{code}/nav",
        tags=["funds"],
        summary="A fund's NAV history as published on chain",
        description="`bondledger register nav FUND --format json`. " + PAGING,
        response_class=RowsResponse,
        response_model=_rows_of("nav"),
        responses=rows_responses("NAVs in chain order", 400, 404, paged=True),
    )
    def api_nav(
        request: Request,
        code: str = PathParam(description="The fund's code"),
        limit: int = _limit(),
        cursor: str | None = _cursor(),
    ):
        page = page_of("nav", limit, cursor)
        return paged(request, "nav", views.nav_history(register, code.upper(), page))

    @app.get(
        "/api/funds/{code}/flows",
        tags=["funds"],
        summary="A fund's creations and redemptions by authorized participants",
        description="`bondledger register flows FUND --format json`. " + PAGING,
        response_class=RowsResponse,
        response_model=_rows_of("flows"),
        responses=rows_responses("Creations and redemptions in chain order", 400, 404, paged=True),
    )
    def api_flows(
        request: Request,
        code: str = PathParam(description="The fund's code"),
        limit: int = _limit(),
        cursor: str | None = _cursor(),
    ):
        page = page_of("flows", limit, cursor)
        return paged(request, "flows", views.fund_flows(register, code.upper(), page))

    @app.get(
        "/api/settlements",
        tags=["settlements"],
        summary="Settlement instructions, with their status and reason",
        description=(
            "`bondledger register settlements [ISIN] [--from] [--to] --format json`: traded in a period, of one instrument. "
            + PAGING
        ),
        response_class=RowsResponse,
        response_model=_rows_of("settlements"),
        responses=rows_responses("Instructions in the order they were captured", 400, 404, paged=True),
    )
    def api_settlements(
        request: Request,
        isin: str | None = Query(None, description="Only this instrument's"),
        date_from: str | None = Query(None, alias="from", description="First trade date, inclusive (YYYY-MM-DD)"),
        date_to: str | None = Query(None, alias="to", description="Last trade date, inclusive (YYYY-MM-DD)"),
        limit: int = _limit(),
        cursor: str | None = _cursor(),
    ):
        if isin:
            register.instrument(isin.upper())  # 404 before any complaint about the dates
        start, end = parse_day(date_from, "from"), parse_day(date_to, "to")
        views.check_period(start, end)
        page = page_of("settlements", limit, cursor)
        return paged(request, "settlements", views.settlements(register, isin.upper() if isin else None, start, end, page))

    @app.get(
        "/api/stamp-duty",
        tags=["settlements"],
        summary="The Hong Kong stamp duty treatment of every settled transfer",
        description="`bondledger register stamp-duty [--from] [--to] --format json`: amounts in currency units. " + PAGING,
        response_class=RowsResponse,
        response_model=_rows_of("stamp-duty"),
        responses=rows_responses("Assessments by trade date", 400, paged=True),
    )
    def api_stamp_duty(
        request: Request,
        date_from: str | None = Query(None, alias="from", description="First trade date, inclusive (YYYY-MM-DD)"),
        date_to: str | None = Query(None, alias="to", description="Last trade date, inclusive (YYYY-MM-DD)"),
        limit: int = _limit(),
        cursor: str | None = _cursor(),
    ):
        start, end = parse_day(date_from, "from"), parse_day(date_to, "to")
        views.check_period(start, end)
        page = page_of("stamp-duty", limit, cursor)
        return paged(request, "stamp-duty", views.stamp_duty(register, start, end, page))

    @app.get(
        "/api/investors/{investor_id}/movements",
        tags=["investors"],
        summary="Every movement of an investor's securities and cash",
        description=(
            "`bondledger register movements INVESTOR [--from] [--to] --format json`: with chain proofs; days in Hong Kong time. "
            + PAGING
        ),
        response_class=RowsResponse,
        response_model=_rows_of("movements"),
        responses=rows_responses("Movements in chain order", 400, 404, paged=True),
    )
    def api_movements(
        request: Request,
        investor_id: str = PathParam(description="The register's investor id"),
        date_from: str | None = Query(None, alias="from", description="First day, inclusive (YYYY-MM-DD)"),
        date_to: str | None = Query(None, alias="to", description="Last day, inclusive (YYYY-MM-DD)"),
        limit: int = _limit(),
        cursor: str | None = _cursor(),
    ):
        views.investor(register, investor_id)  # 404 before any complaint about the dates
        start, end = parse_day(date_from, "from"), parse_day(date_to, "to")
        views.check_period(start, end)
        page = page_of("movements", limit, cursor)
        return paged(request, "movements", movements.movements(register, investor_id, start, end, page=page))

    @app.get(
        "/api/reconciliation/{isin}",
        tags=["reconciliation"],
        summary="Reconcile an instrument's register with the chain at the indexed block",
        description=(
            "`bondledger reconcile ISIN --format json`: every wallet's balance, the supply, each issuance, and the "
            "NAV (funds) or coupons paid (bonds); `ok` is true when there are no breaks."
        ),
        response_class=RowsResponse,
        response_model=ReconciliationReport,
        responses={
            200: {"description": "The reconciliation, with every break"},
            **{s: {"model": Problem, "description": ERROR_DESCRIPTIONS[s]} for s in (404, 409, 503)},
        },
    )
    def api_reconciliation(isin: str = PathParam(description="ISIN of a bond or code of a fund")):
        return RowsResponse(reconciliation_report(register, rpc_url, isin.upper()))
