"""The server-rendered pages: the register at a glance, and one instrument in full."""

from datetime import datetime, timezone
from pathlib import Path

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlmodel import select

from ledger.register import finality, models, movements, views
from ledger.register.db import Register
from ledger.money import from_minor
from ledger.register.paging import DEFAULT_LIMIT, MAX_LIMIT, Page, cursor_block, cursors, page_of
from ledger.register.rows import ReconciliationRecordRow
from ledger.web import charts
from ledger.web.lookups import WebError, int_param, parse_day

TEMPLATES = Path(__file__).resolve().parent / "templates"


def network(register: Register) -> dict:
    """The register's chain and how far it is indexed (for page headers)."""
    with register.session() as s:
        net = s.get(models.Network, 1)
        cp = s.get(models.Checkpoint, 1)
        finalized = finality.finalized_height(s)
    return {
        "chain_id": net.chain_id if net else None,
        "genesis_hash": net.genesis_hash if net else None,
        "indexed_block": cp.block_number if cp else None,
        "indexed_block_hash": cp.block_hash if cp else None,
        "indexed_at": cp.updated_at.replace(tzinfo=timezone.utc).isoformat(timespec="seconds") if cp and cp.updated_at else None,
        "finalized_block": finalized,
    }


def wallet_names(register: Register, wallets: list[str]) -> dict[str, str]:
    """wallet -> investor id of these wallets, as the register links them now (labels on the pages only)."""
    w, i = models.Wallet, models.Investor
    with register.session() as s:
        return dict(
            s.exec(select(w.address, i.investor_id).join(i, i.id_hash == w.id_hash).where(w.address.in_(set(wallets)))).all()
        )


def status_of(last: ReconciliationRecordRow | None) -> dict:
    """A badge for an instrument's last recorded reconciliation (`bondledger reconcile`): the
    page never reconciles itself (that is `/api/reconciliation/{isin}`, on demand)."""
    if last is None:
        return {
            "state": "never",
            "label": "never reconciled",
            "detail": "run `bondledger reconcile ISIN`, or see /api/reconciliation/ISIN",
        }
    when = f"block {last.block}, {_when(last.reconciled_at)} UTC"
    if last.ok:
        return {"state": "ok", "label": "OK", "detail": f"{last.report.wallets_checked} wallets at {when}"}
    n = last.breaks
    return {"state": "breaks", "label": f"{n} break" + ("s" if n != 1 else ""), "detail": f"at {when}"}


class Pager:
    """The pages of a page's tables: each table's cursor is the query parameter named after the
    table's id (`?transfers=...`); `limit` (default 100, at most 1000) is each table's page size."""

    def __init__(self, request: Request):
        self.request = request
        limit = int_param(request.query_params.get("limit"), "limit")
        if limit is not None and not 1 <= limit <= MAX_LIMIT:
            raise WebError(400, f"limit: {limit} is not between 1 and {MAX_LIMIT}")
        self.limit = limit or DEFAULT_LIMIT
        self.links: dict[str, dict] = {}

    def page(self, table: str, name: str) -> Page:
        return page_of(name, self.limit, self.request.query_params.get(table), table)

    def block(self, table: str) -> int | None:
        """The block a holders table's cursor was taken at (None on its first page)."""
        return cursor_block(self.request.query_params.get(table), table)

    def done(self, table: str, name: str, rows: list, block: int | None = None) -> list:
        """Records the links around `rows` (one page of table `table`) and gives the rows back."""
        after, before = cursors(name, rows, block)
        url = self.request.url
        self.links[table] = {
            "next": str(url.include_query_params(**{table: after})) + f"#{table}" if after else None,
            "previous": str(url.include_query_params(**{table: before})) + f"#{table}" if before else None,
            "first": str(url.remove_query_params(table)) + f"#{table}" if table in self.request.query_params else None,
        }
        return rows


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["qty"] = lambda v: "" if v is None else f"{v:,}" if isinstance(v, int) else v
    env.filters["amount"] = _amount
    env.filters["when"] = _when
    env.filters["short"] = lambda v: "" if not v else v if len(v) <= 14 else f"{v[:8]}…{v[-4:]}"
    return env


def _when(moment: datetime) -> str:
    """A UTC time on a page: '2024-02-07 01:02:03'."""
    return moment.isoformat().replace("T", " ").removesuffix("+00:00")


def _amount(value) -> str:
    """2000000000.00 -> '2,000,000,000.00' (Decimals from the views, never floats)."""
    if value is None:
        return ""
    text = str(value)
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, dot, frac = text.partition(".")
    if not whole.isdigit():
        return str(value)
    return f"{sign}{int(whole):,}{dot}{frac}"


def add_routes(app: FastAPI, register: Register, rpc_url: str | None, templates: Jinja2Templates) -> None:
    """The pages, kept out of the OpenAPI document."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request):
        pager = Pager(request)
        instruments = views.instruments(register)
        last = views.last_reconciliations(register)
        block = register.indexed_block()
        holders = {}
        for i in instruments:
            table = f"holders-{i.isin}"
            if block < 0:
                holders[i.isin] = []
                continue
            at, rows = views.holders(register, i.isin, pager.block(table), pager.page(table, "holders"))
            holders[i.isin] = pager.done(table, "holders", rows, at)
        return templates.TemplateResponse(
            request,
            "index.html",
            {
                "net": network(register),
                "rpc_url": rpc_url,
                "instruments": instruments,
                "holders": holders,
                "status": {i.isin: status_of(last.get(i.isin)) for i in instruments},
                "settlements": pager.done(
                    "settlements", "settlements", views.settlements(register, page=pager.page("settlements", "settlements"))
                ),
                "duty": pager.done(
                    "stamp-duty", "stamp-duty", views.stamp_duty(register, page=pager.page("stamp-duty", "stamp-duty"))
                ),
                "links": pager.links,
            },
        )

    @app.get("/instruments/{isin}", response_class=HTMLResponse, include_in_schema=False)
    def instrument_page(request: Request, isin: str, as_of_block: str | None = None, as_of_date: str | None = None):
        code = isin.upper()
        inst = register.instrument(code)
        block_param = int_param(as_of_block, "as_of_block")
        day = parse_day(as_of_date, "as_of_date")
        pager = Pager(request)
        walk = pager.block("holders")  # a page after the first stays at the first one's block
        holders_page = pager.page("holders", "holders")
        block, holders = views.holders(
            register, code, block_param if walk is None else walk, holders_page, day if walk is None else None
        )
        last = views.last_reconciliations(register).get(code)
        report = last.report if last else None
        page = pager.page
        context = {
            "net": network(register),
            "rpc_url": rpc_url,
            "inst": inst,
            "terms": views.instrument_row(register, code),
            "denomination": str(from_minor(inst.denomination, inst.currency)) if inst.denomination else None,
            "holders": pager.done("holders", "holders", holders, block),
            "holders_block": block,
            "as_of_block": as_of_block or "",
            "as_of_date": as_of_date or "",
            "point_in_time": block_param is not None or day is not None,
            "status": status_of(last),
            "report": report,
            "transfers": pager.done(
                "transfers", "transfers", transfers := movements.transfer_rows(register, code, page("transfers", "transfers"))
            ),
            "settlements": pager.done(
                "settlements", "settlements", views.settlements(register, code, page=page("settlements", "settlements"))
            ),
            "zero": views.ZERO_ADDRESS,
        }
        if holders_page.key is None and pager.limit >= charts.TOP_HOLDERS:
            top = holders  # the first page is largest first: the chart's holders are its first rows
        else:
            top = views.holders(register, code, block, Page(charts.TOP_HOLDERS))[1]
        with register.session() as s:
            outstanding = views.outstanding(s, inst.address, block)
        pictures = [charts.concentration(code, top, outstanding, block)]
        if inst.kind == "fund":
            context |= {
                "nav": pager.done("nav", "nav", views.nav_history(register, code, page("nav", "nav"))),
                "flows": pager.done("flows", "flows", views.fund_flows(register, code, page("flows", "flows"))),
            }
            latest = Page(charts.NAV_POINTS, backward=True)  # the latest NAVs and flows, in chain order
            pictures.append(
                charts.nav(
                    code, inst.currency, views.nav_history(register, code, latest), views.fund_flows(register, code, latest)
                )
            )
        else:
            context |= {
                "coupons": views.coupons(register, code),
                "payments": pager.done("payments", "payments", views.payments(register, code, page("payments", "payments"))),
            }
            pictures += [charts.coupons(code, inst.currency, context["coupons"]), charts.green(register, inst)]
        context["charts"] = [p for p in pictures if p is not None]
        context |= {"names": wallet_names(register, [a for t in transfers for a in (t.from_, t.to)]), "links": pager.links}
        return templates.TemplateResponse(request, "instrument.html", context)

    return app
