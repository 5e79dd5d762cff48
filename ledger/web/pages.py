"""The server-rendered pages: the register at a glance, and one instrument in full."""

from datetime import timezone
from pathlib import Path

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlmodel import select

from ledger import models, views
from ledger.db import Register
from ledger.money import from_minor
from ledger.web.lookups import WebError, connect_chain, holder_rows, int_param, parse_day, reconciliation_report

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


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


def environment() -> jinja2.Environment:
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


def add_routes(app: FastAPI, register: Register, rpc_url: str | None, templates: Jinja2Templates) -> None:
    """The pages, kept out of the OpenAPI document."""

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
        block_param = int_param(as_of_block, "as_of_block")
        day = parse_day(as_of_date, "as_of_date")
        block, holders = holder_rows(register, code, block_param, day)
        (status, report), = statuses(register, rpc_url, [code]).values()
        context = {
            "net": network(register),
            "rpc_url": rpc_url,
            "inst": inst,
            "terms": views.instrument_row(register, code),
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
