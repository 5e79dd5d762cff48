"""The auditors' read-only web view of the register: a JSON API and a few server-rendered pages.

`create_app(db_url, rpc_url)` opens the register with `Register(db_url, read_only=True)` (SQLite
`mode=ro`, PostgreSQL `default_transaction_read_only`), so nothing can be written through it; on
top of that every request whose method is not GET, HEAD or OPTIONS is answered 405 before it
reaches any route. The JSON routes give the same rows as the `bondledger register ...` commands
with `--format json` (they call the same functions in `ledger.views`, serialized the same way);
`/api/reconciliation/{isin}` is `bondledger reconcile ISIN --format json`, and needs the chain.

Bad input answers 4xx with `{"detail": "<one line>"}`: 404 when the instrument, fund or investor
named in the path is not in the register, 400 for anything else (a block beyond the indexed one,
a malformed date). Reconciliation answers 503 when no RPC URL was given or the node is
unreachable, and 409 when the node is not the register's chain (or it reorganised).

Run it with `python -m ledger.web [--db URL] [--rpc-url URL] [--host H] [--port N]`.
"""

import argparse
import json
import os
import re
from datetime import date, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import select

from ledger import models, views
from ledger.db import Register
from ledger.errors import ChainError, InputError, NotFound, RegisterError
from ledger.money import from_minor

TEMPLATES = Path(__file__).resolve().parent / "templates"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
ALLOW = ", ".join(SAFE_METHODS)
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
# The views name the CLI's options in their messages; the web names its query parameters.
CLI_OPTIONS = {"--as-of-block": "as_of_block", "--as-of-date": "as_of_date", "--from": "from", "--to": "to"}


# ---------------------------------------------------------------------- errors


class WebError(Exception):
    """A request the register cannot answer: an HTTP status and one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def web_message(exc: Exception) -> str:
    """The one-line message of a bondledger error, with the CLI's option names as query names."""
    message = str(exc)
    for option, param in CLI_OPTIONS.items():
        if message.startswith(option + ":"):
            return param + message[len(option) :]
    return message


class ReadOnlyMiddleware:
    """Refuses every method but GET, HEAD and OPTIONS on every path (before routing), answers
    OPTIONS with the allowed methods, and serves HEAD as a GET without its body."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"].upper()
        if method not in SAFE_METHODS:
            body = json.dumps({"detail": f"method {method} is not allowed: the register is read-only ({ALLOW})"}).encode()
            await _respond(send, 405, body, b"application/json")
            return
        if method == "OPTIONS":
            await _respond(send, 204, b"", None)
            return
        if method == "HEAD":

            async def send_no_body(message):
                if message["type"] == "http.response.body":
                    message = {**message, "body": b""}
                await send(message)

            await self.app({**scope, "method": "GET"}, receive, send_no_body)
            return
        await self.app(scope, receive, send)


async def _respond(send, status: int, body: bytes, content_type: bytes | None) -> None:
    headers = [(b"allow", ALLOW.encode()), (b"content-length", str(len(body)).encode())]
    if content_type:
        headers.append((b"content-type", content_type))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RowsResponse(JSONResponse):
    """JSON exactly as the CLI's `--format json` serializes rows (`default=str`)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=str, ensure_ascii=False, separators=(",", ":")).encode()


# ---------------------------------------------------------------------- documented row shapes
# For the OpenAPI document only: the routes return the views' rows as they are (RowsResponse),
# so the web can never differ from the CLI by a coercion; tests check the keys match.


class _Row(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class InstrumentRow(_Row):
    isin: str = Field(description="The bond's ISIN, or the fund's code")
    kind: str = Field(description="bond | fund")
    name: str
    symbol: str
    currency: str
    address: str = Field(description="The token contract")
    outstanding: int = Field(description="Units outstanding at the indexed block")
    issuer: str
    maturity_date: str | None


class HolderRow(_Row):
    investor_id: str | None = Field(description="The register's investor, as linked to the wallet at that block")
    wallet: str
    quantity: int = Field(description="Tokens held")
    principal: str | None = Field(description="Bonds: quantity x denomination, in currency units; funds: null")


class TransferRow(_Row):
    block_number: int
    time: str
    from_: str = Field(alias="from", description="0x0…0 for a mint")
    to: str = Field(description="0x0…0 for a burn")
    quantity: int
    tx_hash: str
    log_index: int
    block_hash: str
    chain_id: int


class CouponRow(_Row):
    coupon: int
    record_date: str
    payment_date: str
    amount_per_denomination: str
    quantity_of_record: int
    due: str
    paid: str
    residue: str | None
    status: str = Field(description="paid | paying | not declared")
    declared_per_token: int | None


class PaymentRow(_Row):
    kind: str = Field(description="coupon | redemption")
    coupon: int | None
    payment_date: str
    investor_id: str | None
    wallet: str
    quantity: int
    amount: str
    currency: str
    tx_hash: str
    block_number: int


class NavRow(_Row):
    fund_code: str
    nav: str
    currency: str
    published_at: str
    block_number: int
    tx_hash: str


class FlowRow(_Row):
    kind: str = Field(description="creation | redemption")
    fund_code: str
    participant: str
    units: int
    creation_units: int
    cash_amount: str
    currency: str
    nav: str
    date: str
    block_number: int
    tx_hash: str


class SettlementRow(_Row):
    instruction_id: str
    isin: str
    status: str = Field(description="pending | settled | failed | cancelled | expired")
    reason: str | None
    seller: str
    buyer: str
    quantity: int
    price: str
    cash_amount: str
    currency: str
    trade_date: str
    settlement_date: str
    tx_hash: str | None
    block_number: int | None


class DutyRow(_Row):
    instruction_id: str
    isin: str | None
    instrument_class: str
    treatment: str = Field(description="not_chargeable | waived | chargeable")
    currency: str
    consideration: str
    duty_without_relief: str
    duty_buyer: str
    duty_seller: str
    basis: str
    rule_version: str
    trade_date: str
    tx_hash: str
    block_number: int


class MovementRow(_Row):
    time: str
    instrument: str
    kind: str = Field(description="bond | fund | cash")
    direction: str = Field(description="in | out")
    quantity: int | str = Field(description="Tokens for securities; currency units (a decimal string) for cash")
    wallet: str
    counterparty: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


class BreakRow(_Row):
    kind: str
    subject: str
    register_: int | None = Field(alias="register", description="What the register says")
    chain: int | None = Field(description="What the chain says")


class ReconciliationReport(_Row):
    isin: str
    block: int
    ok: bool
    wallets_checked: int
    supply_register: int
    supply_chain: int
    breaks: list[BreakRow]


class Problem(_Row):
    detail: str = Field(description="One line naming what is wrong")


DOCUMENTED = {
    "instruments": InstrumentRow,
    "holders": HolderRow,
    "transfers": TransferRow,
    "coupons": CouponRow,
    "payments": PaymentRow,
    "nav": NavRow,
    "flows": FlowRow,
    "settlements": SettlementRow,
    "stamp-duty": DutyRow,
    "movements": MovementRow,
}


def _rows(model: type[BaseModel], description: str, *errors: int) -> dict:
    responses: dict = {200: {"model": list[model], "description": description}}
    for status in errors:
        responses[status] = {"model": Problem, "description": _ERROR_DESCRIPTIONS[status]}
    return responses


_ERROR_DESCRIPTIONS = {
    400: "Bad input (a block beyond the indexed one, a malformed date, an empty register)",
    404: "Not in the register",
    409: "The node is not the register's chain, or it reorganised below the indexed block",
    503: "No chain: the app was started without an RPC URL, or the node is unreachable",
}


# ---------------------------------------------------------------------- helpers over the register


def parse_day(value: str | None, param: str) -> date | None:
    if value is None or value == "":
        return None
    if not DATE_PATTERN.fullmatch(value):
        raise WebError(400, f"{param}: {value!r} is not a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise WebError(400, f"{param}: {value!r} is not a date ({exc})") from None


def holder_rows(register: Register, isin: str, as_of_block: int | None, as_of_date: date | None) -> tuple[int, list[dict]]:
    """(block, rows) exactly as `bondledger register holders ISIN --format json` prints them."""
    register.instrument(isin)  # 404 before any complaint about the dates
    if as_of_date is not None:
        if as_of_block is not None:
            raise WebError(400, "as_of_date: give as_of_block or as_of_date, not both")
        as_of_block = views.block_at(register, as_of_date)
    block, rows = views.holders(register, isin, as_of_block)
    return block, [h.as_json() for h in rows]


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


def network(register: Register) -> dict:
    """The register's chain and how far it is indexed (for page headers)."""
    with register.session() as s:
        net = s.get(models.Network, 1)
        cp = s.get(models.Checkpoint, 1)
    return {
        "chain_id": net.chain_id if net else None,
        "genesis_hash": net.genesis_hash if net else None,
        "indexed_block": cp.block_number if cp else None,
        "indexed_block_hash": cp.block_hash if cp else None,
        "indexed_at": cp.updated_at.replace(tzinfo=timezone.utc).isoformat(timespec="seconds") if cp and cp.updated_at else None,
    }


def wallet_names(register: Register) -> dict[str, str]:
    """wallet -> investor id, as the register links them now (labels on the pages only)."""
    with register.session() as s:
        ids = dict(s.exec(select(models.Investor.id_hash, models.Investor.investor_id)).all())
        return {w.address: ids[w.id_hash] for w in s.exec(select(models.Wallet)) if w.id_hash in ids}


def status_of(report: dict | None, problem: str | None) -> dict:
    if report is None:
        return {"state": "unavailable", "label": "chain unavailable", "detail": problem}
    n = len(report["breaks"])
    if n == 0:
        return {"state": "ok", "label": "OK", "detail": f"{report['wallets_checked']} wallets at block {report['block']}"}
    return {"state": "breaks", "label": f"{n} break" + ("s" if n != 1 else ""), "detail": None}


def statuses(register: Register, rpc_url: str | None, codes: list[str]) -> dict[str, tuple[dict, dict | None]]:
    """code -> (status, report) for each instrument, over one connection to the chain."""
    try:
        chain = connect_chain(rpc_url)
    except WebError as exc:
        return {code: (status_of(None, exc.message), None) for code in codes}
    out = {}
    for code in codes:
        try:
            report = reconciliation_report(register, rpc_url, code, chain)
        except WebError as exc:
            if exc.status == 409:
                out[code] = ({"state": "breaks", "label": "not this chain", "detail": exc.message}, None)
            else:
                out[code] = (status_of(None, exc.message), None)
            continue
        out[code] = (status_of(report, None), report)
    return out


# ---------------------------------------------------------------------- templates


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["qty"] = lambda v: "" if v is None else f"{v:,}" if isinstance(v, int) else v
    env.filters["amount"] = _amount
    env.filters["when"] = lambda v: v.replace("T", " ").removesuffix("+00:00") if isinstance(v, str) else v
    env.filters["short"] = lambda v: "" if not v else v if len(v) <= 14 else f"{v[:8]}…{v[-4:]}"
    return env


def _amount(value) -> str:
    """'2000000000.00' -> '2,000,000,000.00' (decimal strings from the views, never floats)."""
    if value is None:
        return ""
    text = str(value)
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, dot, frac = text.partition(".")
    if not whole.isdigit():
        return str(value)
    return f"{sign}{int(whole):,}{dot}{frac}"


# ---------------------------------------------------------------------- the app


def create_app(db_url: str, rpc_url: str | None = None) -> FastAPI:
    """The register's read-only web view. `rpc_url` is needed only to reconcile with the chain."""
    register = Register(db_url, read_only=True)
    templates = Jinja2Templates(env=_env())
    try:
        version = metadata.version("bondledger")
    except metadata.PackageNotFoundError:
        version = "0"
    app = FastAPI(
        title="bondledger register",
        version=version,
        summary="Read-only view of the bondledger register: holders, transfers with their chain proofs, "
        "settlements, stamp duty, coupons, fund NAVs and flows, and reconciliation with the chain.",
        description=(
            "Every route is a GET over the off-chain register as the indexer wrote it; any other method is "
            "refused with 405. Rows are exactly what `bondledger register ... --format json` prints. Errors "
            "answer `{\"detail\": \"<one line>\"}`: 404 when the instrument, fund or investor is not in the "
            "register, 400 for other bad input."
        ),
        openapi_tags=[
            {"name": "instruments", "description": "Bonds and funds, their holders and transfers"},
            {"name": "bonds", "description": "Coupons due and paid, payments to holders"},
            {"name": "funds", "description": "Tokenized ETFs: NAV history, creations and redemptions"},
            {"name": "settlements", "description": "Settlement instructions and their stamp duty treatment"},
            {"name": "investors", "description": "An investor's movements of securities and cash"},
            {"name": "reconciliation", "description": "The register against the chain"},
        ],
    )
    app.state.register = register
    _document_errors_as_400(app)
    app.state.rpc_url = rpc_url
    app.add_middleware(ReadOnlyMiddleware)

    @app.exception_handler(WebError)
    async def _web_error(request: Request, exc: WebError):
        return _error(request, templates, exc.status, exc.message)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound):
        return _error(request, templates, 404, str(exc))

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError):
        return _error(request, templates, 400, web_message(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        value = first.get("input")
        shown = f" (got {value!r})" if isinstance(value, str) else ""
        return _error(request, templates, 400, f"{where}: {first.get('msg', 'is not valid')}{shown}")

    # ------------------------------------------------------------------ JSON

    @app.get(
        "/api/instruments",
        tags=["instruments"],
        summary="Every bond and fund, with units outstanding",
        description="`bondledger register instruments --format json`: units outstanding at the indexed block.",
        response_class=RowsResponse,
        responses=_rows(InstrumentRow, "Instruments, bonds first"),
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
            "was taken at is in the `X-As-Of-Block` header."
        ),
        response_class=RowsResponse,
        responses=_rows(HolderRow, "Holders, largest first", 400, 404),
    )
    def api_holders(
        isin: str = PathParam(description="ISIN of a bond or code of a fund"),
        as_of_block: int | None = Query(None, description="Holders after this block (at most the indexed block)"),
        as_of_date: str | None = Query(None, description="Holders at the end of this day, Hong Kong time (YYYY-MM-DD)"),
    ):
        block, rows = holder_rows(register, isin.upper(), as_of_block, parse_day(as_of_date, "as_of_date"))
        return RowsResponse(rows, headers={"X-As-Of-Block": str(block)})

    @app.get(
        "/api/instruments/{isin}/transfers",
        tags=["instruments"],
        summary="Every transfer of an instrument with its chain proof",
        description="`bondledger register transfers ISIN --format json`: in chain order; mints are from 0x0…0.",
        response_class=RowsResponse,
        responses=_rows(TransferRow, "Transfers in chain order", 404),
    )
    def api_transfers(isin: str = PathParam(description="ISIN of a bond or code of a fund")):
        return RowsResponse(views.transfer_rows(register, isin.upper()))

    @app.get(
        "/api/instruments/{isin}/coupons",
        tags=["bonds"],
        summary="A bond's coupons: due on the holdings of record vs declared and paid",
        description="`bondledger register coupons ISIN --format json`, with the rounding residue of each paid coupon.",
        response_class=RowsResponse,
        responses=_rows(CouponRow, "Scheduled coupons", 404),
    )
    def api_coupons(isin: str = PathParam(description="ISIN of a bond")):
        return RowsResponse(views.coupons(register, isin.upper()))

    @app.get(
        "/api/instruments/{isin}/payments",
        tags=["bonds"],
        summary="Every coupon and principal payment of a bond to each holder",
        description="`bondledger register payments ISIN --format json`, with the proof of each payment.",
        response_class=RowsResponse,
        responses=_rows(PaymentRow, "Payments in chain order", 404),
    )
    def api_payments(isin: str = PathParam(description="ISIN of a bond")):
        return RowsResponse(views.payments(register, isin.upper()))

    @app.get(
        "/api/funds/{code}/nav",
        tags=["funds"],
        summary="A fund's NAV history as published on chain",
        description="`bondledger register nav FUND --format json`.",
        response_class=RowsResponse,
        responses=_rows(NavRow, "NAVs in chain order", 404),
    )
    def api_nav(code: str = PathParam(description="The fund's code")):
        return RowsResponse(views.nav_history(register, code.upper()))

    @app.get(
        "/api/funds/{code}/flows",
        tags=["funds"],
        summary="A fund's creations and redemptions by authorized participants",
        description="`bondledger register flows FUND --format json`.",
        response_class=RowsResponse,
        responses=_rows(FlowRow, "Creations and redemptions in chain order", 404),
    )
    def api_flows(code: str = PathParam(description="The fund's code")):
        return RowsResponse(views.fund_flows(register, code.upper()))

    @app.get(
        "/api/settlements",
        tags=["settlements"],
        summary="Settlement instructions, with their status and reason",
        description="`bondledger register settlements [ISIN] [--from] [--to] --format json`: traded in a period, of one instrument.",
        response_class=RowsResponse,
        responses=_rows(SettlementRow, "Instructions in the order they were captured", 400, 404),
    )
    def api_settlements(
        isin: str | None = Query(None, description="Only this instrument's"),
        date_from: str | None = Query(None, alias="from", description="First trade date, inclusive (YYYY-MM-DD)"),
        date_to: str | None = Query(None, alias="to", description="Last trade date, inclusive (YYYY-MM-DD)"),
    ):
        if isin:
            register.instrument(isin.upper())  # 404 before any complaint about the dates
        start, end = parse_day(date_from, "from"), parse_day(date_to, "to")
        _check_period(start, end)
        return RowsResponse(views.settlements(register, isin.upper() if isin else None, start, end))

    @app.get(
        "/api/stamp-duty",
        tags=["settlements"],
        summary="The Hong Kong stamp duty treatment of every settled transfer",
        description="`bondledger register stamp-duty [--from] [--to] --format json`: amounts in currency units.",
        response_class=RowsResponse,
        responses=_rows(DutyRow, "Assessments by trade date", 400),
    )
    def api_stamp_duty(
        date_from: str | None = Query(None, alias="from", description="First trade date, inclusive (YYYY-MM-DD)"),
        date_to: str | None = Query(None, alias="to", description="Last trade date, inclusive (YYYY-MM-DD)"),
    ):
        start, end = parse_day(date_from, "from"), parse_day(date_to, "to")
        _check_period(start, end)
        return RowsResponse(views.stamp_duty(register, start, end))

    @app.get(
        "/api/investors/{investor_id}/movements",
        tags=["investors"],
        summary="Every movement of an investor's securities and cash",
        description="`bondledger register movements INVESTOR [--from] [--to] --format json`: with chain proofs; days in Hong Kong time.",
        response_class=RowsResponse,
        responses=_rows(MovementRow, "Movements in chain order", 400, 404),
    )
    def api_movements(
        investor_id: str = PathParam(description="The register's investor id"),
        date_from: str | None = Query(None, alias="from", description="First day, inclusive (YYYY-MM-DD)"),
        date_to: str | None = Query(None, alias="to", description="Last day, inclusive (YYYY-MM-DD)"),
    ):
        views.investor(register, investor_id)  # 404 before any complaint about the dates
        start, end = parse_day(date_from, "from"), parse_day(date_to, "to")
        _check_period(start, end)
        return RowsResponse(views.movements(register, investor_id, start, end))

    @app.get(
        "/api/reconciliation/{isin}",
        tags=["reconciliation"],
        summary="Reconcile an instrument's register with the chain at the indexed block",
        description=(
            "`bondledger reconcile ISIN --format json`: every wallet's balance, the supply, each issuance, and the "
            "NAV (funds) or coupons paid (bonds); `ok` is true when there are no breaks."
        ),
        response_class=RowsResponse,
        responses={
            200: {"model": ReconciliationReport, "description": "The reconciliation, with every break"},
            **{s: {"model": Problem, "description": _ERROR_DESCRIPTIONS[s]} for s in (404, 409, 503)},
        },
    )
    def api_reconciliation(isin: str = PathParam(description="ISIN of a bond or code of a fund")):
        return RowsResponse(reconciliation_report(register, rpc_url, isin.upper()))

    # ------------------------------------------------------------------ HTML

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request):
        instruments = views.instruments(register)
        status = statuses(register, rpc_url, [i["isin"] for i in instruments])
        block = register.indexed_block()
        holders = {i["isin"]: holder_rows(register, i["isin"], None, None)[1] if block >= 0 else [] for i in instruments}
        return templates.TemplateResponse(
            request,
            "index.html",
            {
                "net": network(register),
                "rpc_url": rpc_url,
                "instruments": instruments,
                "holders": holders,
                "status": {code: s for code, (s, _) in status.items()},
                "settlements": views.settlements(register),
                "duty": views.stamp_duty(register),
                "names": wallet_names(register),
            },
        )

    @app.get("/instruments/{isin}", response_class=HTMLResponse, include_in_schema=False)
    def instrument_page(request: Request, isin: str, as_of_block: str | None = None, as_of_date: str | None = None):
        code = isin.upper()
        inst = register.instrument(code)
        block_param = _int_param(as_of_block, "as_of_block")
        day = parse_day(as_of_date, "as_of_date")
        block, holders = holder_rows(register, code, block_param, day)
        (status, report), = statuses(register, rpc_url, [code]).values()
        context = {
            "net": network(register),
            "rpc_url": rpc_url,
            "inst": inst,
            "terms": next(i for i in views.instruments(register) if i["isin"] == code),
            "denomination": str(from_minor(inst.denomination, inst.currency)) if inst.denomination else None,
            "holders": holders,
            "holders_block": block,
            "as_of_block": as_of_block or "",
            "as_of_date": as_of_date or "",
            "point_in_time": block_param is not None or day is not None,
            "status": status,
            "report": report,
            "transfers": views.transfer_rows(register, code),
            "settlements": views.settlements(register, code),
            "names": wallet_names(register),
            "zero": views.ZERO_ADDRESS,
        }
        if inst.kind == "fund":
            context |= {"nav": views.nav_history(register, code), "flows": views.fund_flows(register, code)}
        else:
            context |= {"coupons": views.coupons(register, code), "payments": views.payments(register, code)}
        return templates.TemplateResponse(request, "instrument.html", context)

    return app


def _document_errors_as_400(app: FastAPI) -> None:
    """Invalid parameters answer 400 with one line (not FastAPI's 422 with a list): say so."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
        return app.openapi_schema

    app.openapi = openapi


def _int_param(value: str | None, param: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise WebError(400, f"{param}: {value!r} is not a whole number") from None


def _check_period(start: date | None, end: date | None) -> None:
    if start and end and start > end:
        raise WebError(400, f"from: {start} is after the `to` date {end}")


def _error(request: Request, templates: Jinja2Templates, status: int, message: str):
    if request.url.path.startswith("/api/") or request.url.path.startswith("/openapi"):
        return JSONResponse({"detail": message}, status_code=status)
    return templates.TemplateResponse(request, "error.html", {"status": status, "message": message}, status_code=status)


# ---------------------------------------------------------------------- running it


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m ledger.web", description="Serve the register's read-only web view.")
    parser.add_argument("--db", default=os.environ.get("BONDLEDGER_DB"), help="register URL or SQLite path [env BONDLEDGER_DB]")
    parser.add_argument("--rpc-url", default=os.environ.get("BONDLEDGER_RPC_URL"), help="chain, for reconciliation [env BONDLEDGER_RPC_URL]")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.db, args.rpc_url), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
