"""The auditors' read-only web view (ledger/web/), served for real by uvicorn on a free port
against a register and an anvil: every JSON route gives the rows the CLI prints, bad input is a
4xx with one line, nothing but GET/HEAD/OPTIONS gets through, serving never touches the database,
and the pages render in a real headless chromium."""

import base64
import gc
import hashlib
import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import uvicorn

from conftest import both_backends
from helpers import EXAMPLES, dev_address, fund, register_counts
from ledger import models, views
from ledger.db import Register
from ledger.rows import as_json
from ledger.devnet import free_port
from ledger.web import DOCUMENTED, create_app

BOND = "HK0000987658"
FUND = "03999"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# ---------------------------------------------------------------------- serving


class Served:
    """An app run for real by uvicorn in a background thread on a free port."""

    def __init__(self, app):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Site:
    world: object
    bond: dict
    trade: dict
    flow: dict
    url: str
    http: httpx.Client

    def get(self, path: str, **params):
        return self.http.get(path, params=params or None)

    def json(self, path: str, **params):
        r = self.get(path, **params)
        assert r.status_code == 200, (path, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json")
        return r.json()

    def cli(self, *args):
        r = self.world.run(*args, "--format", "json")
        assert r.exit_code == 0, r.stderr
        return r.json()


def _run_json(world, *args):
    r = world.run(*args, "--format", "json")
    assert r.exit_code == 0, r.stderr
    return r.json()


@pytest.fixture
def site(issued):
    """The issued sample bond traded once (harbour_pension sells 100 to kowloon_life, settled DvP),
    the sample ETF launched with one creation, and the web view served over that register."""
    world, bond = issued
    fund(world.run, 2, "100000000")
    trade = _run_json(
        world, "trade", BOND, "--seller", "harbour_pension", "--buyer", "kowloon_life", "--quantity", 100, "--price", "99.50",
        "--settlement-date", "2024-02-07",
    )
    for index in (1, 2):
        assert world.run("affirm", trade["instruction_id"], "--dev-account", index).exit_code == 0
    assert [o["status"] for o in _run_json(world, "settle")] == ["settled"]
    assert world.run("investors", "import", EXAMPLES / "authorized_participants.csv").exit_code == 0
    assert world.run("etf", "launch", EXAMPLES / "etf_hkd.toml").exit_code == 0
    fund(world.run, 8, "10000000")
    flow = _run_json(world, "etf", "create", FUND, "--ap", "red_dot_securities", "--units", 100_000)
    for code in (BOND, FUND):  # recorded: what the pages show
        assert world.run("reconcile", code).exit_code == 0
    with Served(create_app(world.db_url, world.rpc_url)) as served, httpx.Client(base_url=served.url, timeout=30) as http:
        yield Site(world, bond, trade, flow, served.url, http)


def db_file(world) -> Path:
    return Path(world.db_url.removeprefix("sqlite:///"))


def db_fingerprint(path: Path) -> tuple[str, int, int]:
    """(sha256, size, mtime_ns) of the register file, with everything the CLI wrote in it: what
    the CLI's engines still hold in the WAL is checkpointed first, so only the web can change it."""
    gc.collect()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    stat = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), stat.st_size, stat.st_mtime_ns


# ---------------------------------------------------------------------- JSON: the CLI's rows


def test_every_json_route_gives_the_rows_the_cli_prints_now_and_at_a_point_in_time(site):
    cli, web = site.cli, site.json
    assert web("/api/instruments") == cli("register", "instruments")
    assert [(i["isin"], i["outstanding"]) for i in web("/api/instruments")] == [(BOND, 40_000), (FUND, 100_000)]

    holders = web(f"/api/instruments/{BOND}/holders")
    assert holders == cli("register", "holders", BOND)
    assert set(holders[0]) == {"investor_id", "wallet", "quantity", "principal"}
    by_investor = {h["investor_id"]: (h["quantity"], h["principal"]) for h in holders}
    assert by_investor["harbour_pension"] == (11_900, "595000000.00") and by_investor["kowloon_life"] == (10_100, "505000000.00")
    assert web(f"/api/instruments/{FUND}/holders") == cli("register", "holders", FUND) == [
        {"investor_id": "red_dot_securities", "wallet": dev_address(8), "quantity": 100_000, "principal": None}
    ]
    assert web(f"/api/instruments/{BOND.lower()}/holders") == holders, "codes are case-insensitive, as in the CLI"

    transfers = web(f"/api/instruments/{BOND}/transfers")
    assert transfers == cli("register", "transfers", BOND)
    assert transfers[-1]["tx_hash"] == site.world.run("register", "settlements", "--format", "json").json()[0]["tx_hash"]
    assert web(f"/api/instruments/{FUND}/transfers") == cli("register", "transfers", FUND)
    assert web(f"/api/instruments/{BOND}/coupons") == cli("register", "coupons", BOND) != []
    assert web(f"/api/instruments/{BOND}/payments") == cli("register", "payments", BOND)
    assert web(f"/api/funds/{FUND}/nav") == cli("register", "nav", FUND) != []
    assert web(f"/api/funds/{FUND}/flows") == cli("register", "flows", FUND) != []

    settlements = web("/api/settlements")
    assert settlements == cli("register", "settlements")
    assert [(s["instruction_id"], s["status"]) for s in settlements] == [(site.trade["instruction_id"], "settled")]
    assert web("/api/settlements", isin=BOND) == cli("register", "settlements", BOND) == settlements
    assert web("/api/settlements", isin=FUND) == cli("register", "settlements", FUND) == []
    assert web("/api/settlements", **{"from": "2024-02-07", "to": "2024-02-07"}) == settlements
    assert web("/api/settlements", **{"from": "2024-02-08"}) == cli("register", "settlements", "--from", "2024-02-08") == []

    duty = web("/api/stamp-duty")
    assert duty == cli("register", "stamp-duty")
    assert {(d["isin"], d["treatment"]) for d in duty} == {(BOND, "not_chargeable"), (FUND, "waived")}
    assert web("/api/stamp-duty", **{"from": "2024-01-01", "to": "2024-12-31"}) == cli(
        "register", "stamp-duty", "--from", "2024-01-01", "--to", "2024-12-31"
    ) == duty
    assert web("/api/stamp-duty", to="2024-02-06") == []

    for investor in ("harbour_pension", "kowloon_life", "red_dot_securities"):
        assert web(f"/api/investors/{investor}/movements") == cli("register", "movements", investor) != []
    assert web("/api/investors/kowloon_life/movements", **{"from": "2024-02-07", "to": "2024-02-07"}) == cli(
        "register", "movements", "kowloon_life", "--from", "2024-02-07", "--to", "2024-02-07"
    )

    # Holders at a point in time: before the trade's block, at it, before anything, on a date.
    settled = settlements[0]["block_number"]
    before = web(f"/api/instruments/{BOND}/holders", as_of_block=settled - 1)
    assert before == cli("register", "holders", BOND, "--as-of-block", settled - 1)
    assert {h["investor_id"]: h["quantity"] for h in before}["harbour_pension"] == 12_000
    r = site.get(f"/api/instruments/{BOND}/holders", as_of_block=settled)
    assert r.headers["x-as-of-block"] == str(settled) and r.json()[0] == holders[0]
    assert web(f"/api/instruments/{BOND}/holders", as_of_block=0) == cli("register", "holders", BOND, "--as-of-block", 0) == []
    indexed = int(site.get(f"/api/instruments/{BOND}/holders").headers["x-as-of-block"])
    on_the_day = site.get(f"/api/instruments/{BOND}/holders", as_of_date="2024-02-07")
    assert on_the_day.json() == cli("register", "holders", BOND, "--as-of-date", "2024-02-07") == holders
    assert on_the_day.headers["x-as-of-block"] == str(indexed) and indexed > settled, "all of it happened on the issue day"

    for code in (BOND, FUND):
        report = web(f"/api/reconciliation/{code}")
        r = site.world.run("reconcile", code, "--format", "json")
        assert r.exit_code == 0 and report == r.json() and report["ok"] is True and report["breaks"] == []

    # The OpenAPI document names every field each route returns (the rows are never coerced to it).
    spec = web("/openapi.json")
    schemas = spec["components"]["schemas"]
    samples = {
        "instruments": web("/api/instruments"), "holders": holders, "transfers": transfers,
        "coupons": web(f"/api/instruments/{BOND}/coupons"), "nav": web(f"/api/funds/{FUND}/nav"),
        "flows": web(f"/api/funds/{FUND}/flows"), "settlements": settlements, "stamp-duty": duty,
        "movements": web("/api/investors/harbour_pension/movements"),
    }
    for name, rows in samples.items():
        documented = set(schemas[DOCUMENTED[name].__name__]["properties"])
        assert all(set(row) == documented for row in rows), name


def cli_error(site, *args) -> str:
    r = site.world.run(*args)
    assert r.exit_code == 2 and r.stderr.startswith("error: "), (args, r.exit_code, r.stderr)
    return r.stderr.strip().removeprefix("error: ")


WRITES = ("POST", "PUT", "DELETE", "PATCH", "TRACE", "PROPFIND")
PATHS = (
    "/api/instruments",
    f"/api/instruments/{BOND}/holders",
    f"/api/instruments/{BOND}/transfers",
    "/api/settlements",
    "/api/stamp-duty",
    f"/api/funds/{FUND}/nav",
    f"/api/reconciliation/{BOND}",
    "/",
    f"/instruments/{BOND}",
    "/openapi.json",
    "/docs",
    "/no/such/path",
)
READS = (
    "/api/instruments", f"/api/instruments/{BOND}/holders", f"/api/instruments/{FUND}/holders", f"/api/instruments/{BOND}/transfers",
    f"/api/instruments/{BOND}/coupons", f"/api/instruments/{BOND}/payments", f"/api/funds/{FUND}/nav", f"/api/funds/{FUND}/flows",
    "/api/settlements", "/api/stamp-duty", "/api/investors/harbour_pension/movements", f"/api/reconciliation/{BOND}",
    f"/api/reconciliation/{FUND}", "/", f"/instruments/{BOND}", f"/instruments/{FUND}", "/openapi.json",
)


def test_bad_input_and_writes_are_refused_and_serving_leaves_the_database_untouched(site):
    """Bad input: a 4xx with the one line the CLI prints (naming the query parameter where the CLI
    names its option); any method but GET/HEAD/OPTIONS on any path: 405. The register's file is
    the same, byte for byte, after all of it and after reading every route and page."""
    indexed = int(site.get(f"/api/instruments/{BOND}/holders").headers["x-as-of-block"])
    unknown = cli_error(site, "register", "holders", "XS0000000000")
    assert unknown == "ISIN: XS0000000000 is not an instrument in this register"
    not_a_fund, no_fund = cli_error(site, "register", "nav", BOND), cli_error(site, "register", "flows", "99999")
    assert not_a_fund == f"FUND: {BOND} is a bond, not a fund"
    ghost = cli_error(site, "register", "movements", "ghost")
    beyond = cli_error(site, "register", "holders", BOND, "--as-of-block", indexed + 1)
    assert beyond == f"--as-of-block: {indexed + 1} is beyond the indexed block {indexed}; run `bondledger sync`"
    early = cli_error(site, "register", "holders", BOND, "--as-of-date", "2024-02-06")

    path = db_file(site.world)
    counts, before = register_counts(site.world.db_url), db_fingerprint(path)

    def problem(path, status, **params):
        r = site.get(path, **params)
        assert r.status_code == status, (path, params, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json") and list(r.json()) == ["detail"]
        detail = r.json()["detail"]
        assert isinstance(detail, str) and "\n" not in detail
        return detail

    for route in ("holders", "transfers", "coupons", "payments"):
        assert problem(f"/api/instruments/XS0000000000/{route}", 404) == unknown
    assert problem("/api/settlements", 404, isin="XS0000000000") == unknown
    assert problem("/api/reconciliation/XS0000000000", 404) == unknown
    assert problem(f"/api/funds/{BOND}/nav", 404) == not_a_fund
    assert problem("/api/funds/99999/flows", 404) == no_fund
    assert problem("/api/investors/ghost/movements", 404) == ghost
    holders = f"/api/instruments/{BOND}/holders"
    assert problem(holders, 400, as_of_block=indexed + 1) == beyond.replace("--as-of-block", "as_of_block")
    assert problem(holders, 400, as_of_date="2024-02-06") == early.replace("--as-of-date", "as_of_date")
    assert problem(holders, 400, as_of_block=-1) == "as_of_block: -1 is negative"
    assert problem(holders, 400, as_of_block=1, as_of_date="2024-02-07") == "as_of_date: give as_of_block or as_of_date, not both"
    assert problem(holders, 400, as_of_block="ten") == (
        "as_of_block: Input should be a valid integer, unable to parse string as an integer (got 'ten')"
    )
    assert problem(holders, 400, as_of_date="2024-02-30") == "as_of_date: '2024-02-30' is not a date (day is out of range for month)"
    assert problem(holders, 400, as_of_date="7 Feb 2024") == "as_of_date: '7 Feb 2024' is not a date (YYYY-MM-DD)"
    assert problem("/api/stamp-duty", 400, **{"from": "20240101"}) == "from: '20240101' is not a date (YYYY-MM-DD)"
    assert problem("/api/settlements", 400, to="2024-13-01") == "to: '2024-13-01' is not a date (month must be in 1..12)"
    assert problem("/api/investors/kowloon_life/movements", 400, **{"from": "2024-12-31", "to": "2024-01-01"}) == (
        "from: 2024-12-31 is after the `to` date 2024-01-01"
    )
    assert problem("/api/no/such/route", 404) == "Not Found"
    # The pages answer the same statuses, with a page naming the problem.
    r = site.get("/instruments/XS0000000000")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html") and unknown in r.text
    r = site.get(f"/instruments/{BOND}", as_of_block=indexed + 1)
    assert r.status_code == 400 and f"as_of_block: {indexed + 1} is beyond the indexed block {indexed}" in r.text

    for p in PATHS:
        for method in WRITES:
            r = site.http.request(method, p, json={"isin": BOND, "quantity": 1})
            assert r.status_code == 405, (method, p, r.status_code)
            assert r.json() == {"detail": f"method {method} is not allowed: the register is read-only (GET, HEAD, OPTIONS)"}
            assert r.headers["allow"] == "GET, HEAD, OPTIONS"
        r = site.http.options(p)
        assert (r.status_code, r.headers["allow"], r.content) == (204, "GET, HEAD, OPTIONS", b"")
    get, head = site.get("/api/instruments"), site.http.head("/api/instruments")
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", get.headers["content-length"])
    assert site.http.head(f"/instruments/{BOND}").status_code == 200
    assert site.http.head("/no/such/path").status_code == 404

    for route in READS:
        assert site.get(route).status_code == 200, route
    assert db_fingerprint(path) == before
    assert register_counts(site.world.db_url) == counts


# ---------------------------------------------------------------------- no chain at hand


@pytest.fixture
def empty_register(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    Register(url)  # created at the schema's head revision, nothing in it
    return url


def test_the_openapi_document_lists_every_route_as_a_get(empty_register):
    with Served(create_app(empty_register, None)) as served:
        spec = httpx.get(f"{served.url}/openapi.json").json()
    assert spec["info"]["title"] == "bondledger register"
    assert set(spec["paths"]) == {
        "/api/instruments",
        "/api/instruments/{isin}/holders",
        "/api/instruments/{isin}/transfers",
        "/api/instruments/{isin}/coupons",
        "/api/instruments/{isin}/payments",
        "/api/funds/{code}/nav",
        "/api/funds/{code}/flows",
        "/api/settlements",
        "/api/stamp-duty",
        "/api/investors/{investor_id}/movements",
        "/api/reconciliation/{isin}",
    }
    for path, operations in spec["paths"].items():
        assert list(operations) == ["get"], path
        assert operations["get"]["summary"] and operations["get"]["responses"]["200"]["content"]["application/json"]["schema"], path
    holders = spec["paths"]["/api/instruments/{isin}/holders"]["get"]
    assert {p["name"] for p in holders["parameters"]} == {"isin", "as_of_block", "as_of_date", "limit", "cursor"}
    assert set(holders["responses"]) == {"200", "400", "404"}
    assert {p["name"] for p in spec["paths"]["/api/settlements"]["get"]["parameters"]} == {"isin", "from", "to", "limit", "cursor"}
    paged = [path for path, ops in spec["paths"].items() if "cursor" in {p["name"] for p in ops["get"].get("parameters", [])}]
    assert sorted(paged) == sorted(p for p in spec["paths"] if not p.endswith(("/coupons", "/reconciliation/{isin}")) and p != "/api/instruments")
    for path in paged:
        get = spec["paths"][path]["get"]
        [limit] = [p for p in get["parameters"] if p["name"] == "limit"]
        assert (limit["schema"]["default"], limit["schema"]["minimum"], limit["schema"]["maximum"]) == (100, 1, 1000), path
        assert set(get["responses"]["200"]["headers"]) == {"Link", "X-Next-Cursor", "X-Previous-Cursor"}, path
        assert "400" in get["responses"], path
    assert set(spec["paths"]["/api/reconciliation/{isin}"]["get"]["responses"]) == {"200", "404", "409", "503"}


def test_bondledger_serve_read_only_serves_the_page_and_refuses_writes(issued):
    """The command an auditor runs, as a process: it serves the register it is given, read-only."""
    world, _ = issued
    port = free_port()
    command = [sys.executable, "-m", "issuance.cli", "--db", world.db_url, "--rpc-url", world.rpc_url,
               "serve", "--read-only", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 30
        while True:
            assert server.poll() is None, server.stderr.read()
            try:
                page = httpx.get(f"{url}/")
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "bondledger serve did not start"
                time.sleep(0.1)
        assert page.status_code == 200 and BOND in page.text
        holders = httpx.get(f"{url}/api/instruments/{BOND}/holders").json()
        assert holders == _run_json(world, "register", "holders", BOND)
        assert httpx.get(f"{url}/api/reconciliation/{BOND}").json()["ok"] is True
        assert httpx.post(f"{url}/api/instruments", json={}).status_code == 405
    finally:
        server.terminate()
        server.wait(10)
    assert "read-only" in server.stderr.read()


@pytest.mark.parametrize("register_backend", ["postgresql"], indirect=True)
def test_a_postgresql_register_is_served_read_only_too(issued):
    world, _ = issued
    before = register_counts(world.db_url)
    with Served(create_app(world.db_url, world.rpc_url)) as served, httpx.Client(base_url=served.url, timeout=30) as http:
        assert http.get(f"/api/instruments/{BOND}/holders").json() == _run_json(world, "register", "holders", BOND)
        assert http.get(f"/api/reconciliation/{BOND}").json()["ok"] is True
        assert BOND in http.get("/").text
        assert http.delete(f"/api/instruments/{BOND}").status_code == 405
    assert register_counts(world.db_url) == before


HOSTILE_PATHS = [
    "/api/instruments/{x}/holders",
    "/api/instruments/{x}/transfers",
    "/api/instruments/{x}/coupons",
    "/api/instruments/{x}/payments",
    "/api/funds/{x}/nav",
    "/api/funds/{x}/flows",
    "/api/investors/{x}/movements",
    "/api/reconciliation/{x}",
    "/instruments/{x}",
]


@both_backends
def test_dates_beyond_the_calendar_and_nul_bytes_are_refused_in_one_line(issued):
    """A date no view can be as of answers 400, not 500; a NUL byte anywhere in a path names
    nothing (404) and in a query is bad input (400), on PostgreSQL too, whose driver refuses NUL."""
    world, _ = issued
    before = register_counts(world.db_url)
    with Served(create_app(world.db_url, world.rpc_url)) as served, httpx.Client(base_url=served.url, timeout=30) as http:

        def problem(url: str, status: int) -> str:
            r = http.get(url)
            assert r.status_code == status, (url, r.status_code, r.text)
            if url.startswith("/api/"):
                detail = r.json()["detail"]
                assert list(r.json()) == ["detail"] and isinstance(detail, str) and "\n" not in detail, r.text
                return detail
            assert r.headers["content-type"].startswith("text/html")
            return r.text

        holders = f"/api/instruments/{BOND}/holders"
        assert problem(f"{holders}?as_of_date=9999-12-31", 400) == "as_of_date: 9999-12-31 is outside 1901-01-01 to 2199-12-31"
        assert problem(f"{holders}?as_of_date=0001-01-01", 400) == "as_of_date: 0001-01-01 is outside 1901-01-01 to 2199-12-31"
        assert "is outside 1901-01-01 to 2199-12-31" in problem(f"/instruments/{BOND}?as_of_date=9999-12-31", 400)
        assert problem("/api/settlements?from=9999-12-31", 400) == "from: 9999-12-31 is outside 1901-01-01 to 2199-12-31"
        assert problem(f"/instruments/{BOND}?as_of_block=" + "9" * 30, 400)
        for template in HOSTILE_PATHS:
            for x in ("%00", f"{BOND}%00", "a%00b"):
                assert "NUL" in problem(template.format(x=x), 404)
        assert problem("/api/settlements?isin=%00", 400) == "isin: contains a NUL character"
        assert problem(f"{holders}?as_of_date=2024-02-07%00", 400) == "as_of_date: contains a NUL character"
    assert register_counts(world.db_url) == before


def test_serve_without_read_only_is_refused(world):
    r = world.run("serve", "--port", free_port())
    assert r.exit_code == 2 and "--read-only" in r.stderr


def test_an_empty_register_and_what_it_holds_is_escaped(empty_register):
    reg = Register(empty_register)
    with reg.session() as s:
        s.add(models.Instrument(
            isin="XS<B>1", kind="bond", name="<script>alert('x')</script> & Co", symbol="S", issuer='"Issuer" <i>', currency="HKD",
            address="0x00000000000000000000000000000000000000aa", termsheet="{}", termsheet_sha256="0" * 64,
        ))
        s.commit()
    reg.engine.dispose()
    with Served(create_app(empty_register, None)) as served, httpx.Client(base_url=served.url) as http:
        page = http.get("/")
        assert page.status_code == 200
        assert "<script>" not in page.text and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co" in page.text
        assert "XS&lt;B&gt;1" in page.text and "&#34;Issuer&#34; &lt;i&gt;" in page.text
        assert "nothing indexed yet" in page.text
        assert http.get("/api/instruments").json()[0]["name"] == "<script>alert('x')</script> & Co"
        r = http.get("/api/instruments/XS%3CB%3E1/holders")
        assert (r.status_code, r.json()) == (400, {"detail": "register is empty: run `bondledger sync` first"})
        r = http.get("/instruments/<img src=x onerror=alert(1)>")
        assert r.status_code == 404 and "<img" not in r.text.lower() and "&lt;img src=x onerror=alert(1)&gt;" in r.text.lower()


def test_reconciliation_needs_the_chain_and_says_so(empty_register, anvil):
    """503 without a chain (none given, or unreachable), 409 when the node is not the register's
    chain; the holders and the pages still answer, showing that nothing was reconciled yet."""
    reg = Register(empty_register)
    with reg.session() as s:
        s.add(models.Instrument(
            isin=BOND, kind="bond", name="A bond", symbol="B", issuer="An issuer", currency="HKD",
            address="0x00000000000000000000000000000000000000bb", termsheet="{}", termsheet_sha256="0" * 64,
        ))
        s.add(models.Checkpoint(chain_id=31337, block_number=5, block_hash="0x" + "ab" * 32))
        s.commit()
    reg.engine.dispose()
    dead = f"http://127.0.0.1:{free_port()}"
    label = "never reconciled"  # the pages show what `bondledger reconcile` recorded, and never reach for the chain
    for rpc_url, status, detail in (
        (None, 503, "chain unavailable: this register view was started without an RPC URL (--rpc-url)"),
        (dead, 503, f"chain unavailable: cannot reach an EVM node at {dead}: ConnectionError"),
        (anvil.rpc_url, 409, "register is indexed to block 5 but the chain's head is 0: another chain?"),
    ):
        with Served(create_app(empty_register, rpc_url)) as served, httpx.Client(base_url=served.url, timeout=30) as http:
            r = http.get(f"/api/reconciliation/{BOND}")
            assert (r.status_code, r.json()) == (status, {"detail": detail}), rpc_url
            assert http.get(f"/api/instruments/{BOND}/holders").json() == []
            for page in (Dom(http.get("/").text), Dom(http.get(f"/instruments/{BOND}").text)):
                assert label in page.text["reconciliation" if "reconciliation" in page.text else f"instrument-{BOND}"]


# ---------------------------------------------------------------------- a real browser


class Dom(HTMLParser):
    """What a rendered page shows: the text of each element with an id, and the body rows of
    each table with an id, as lists of cell texts (whitespace collapsed)."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self, html: str):
        super().__init__()
        self.text: dict[str, str] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self._open: list[tuple[str, str | None]] = []  # (tag, id) of every open element
        self._tables: list[str | None] = []
        self._row: list[str] | None = None
        self._header = False
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        ident = dict(attrs).get("id")
        self._open.append((tag, ident))
        if ident:
            self.text[ident] = ""
        if tag == "table":
            self._tables.append(ident)
            if ident:
                self.tables[ident] = []
        elif tag == "tr":
            self._row, self._header = [], False
        elif tag in ("td", "th"):
            self._cell, self._header = [], self._header or tag == "th"

    def handle_endtag(self, tag):
        while self._open and self._open.pop()[0] != tag:
            pass
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._tables and self._tables[-1] and not self._header:
                self.tables[self._tables[-1]].append(self._row)
            self._row = None
        elif tag == "table" and self._tables:
            self._tables.pop()

    def handle_data(self, data):
        for _, ident in self._open:
            if ident:
                self.text[ident] += data
        if self._cell is not None:
            self._cell.append(data)


def chromium(url: str, profile: Path, *extra: str) -> Dom:
    """The page as a headless chromium renders it (`--dump-dom`)."""
    command = [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", *extra, url]
    run = subprocess.run(command, capture_output=True, text=True, timeout=90)
    assert run.returncode == 0 and "<table" in run.stdout, (command, run.returncode, run.stderr[-2000:])
    dom = Dom(run.stdout)
    dom.html = run.stdout
    return dom


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: `apt-get install chromium` (the Makefile installs it)")
def test_the_pages_in_a_headless_chromium(site, tmp_path):
    holders = {code: site.json(f"/api/instruments/{code}/holders") for code in (BOND, FUND)}
    indexed = site.get(f"/api/instruments/{BOND}/holders").headers["x-as-of-block"]
    settlement = site.json("/api/settlements")[0]

    before_trade = settlement["block_number"] - 1
    shot, profile = tmp_path / "register.png", tmp_path / "chromium-profile"

    page = chromium(f"{site.url}/", profile, f"--screenshot={shot}", "--window-size=1400,1800", "--hide-scrollbars")
    assert page.text["chain-id"] == "31337" and page.text["indexed-block"] == indexed
    instruments = {row[0]: row for row in page.tables["instruments"]}
    assert (instruments[BOND][1], instruments[BOND][5], instruments[BOND][-1].split()[0]) == ("bond", "40,000", "OK")
    assert (instruments[FUND][1], instruments[FUND][5], instruments[FUND][-1].split()[0]) == ("fund", "100,000", "OK")
    assert f"wallets at block {indexed}, " in instruments[BOND][-1], "the recorded reconciliation, with its block and time"
    assert page.tables[f"holders-{BOND}"] == [
        [h["investor_id"], h["wallet"], f"{h['quantity']:,}", f"{int(h['principal'].removesuffix('.00')):,}.00"] for h in holders[BOND]
    ]
    assert ["harbour_pension", dev_address(1), "11,900", "595,000,000.00"] in page.tables[f"holders-{BOND}"]
    assert page.tables[f"holders-{FUND}"] == [["red_dot_securities", dev_address(8), "100,000"]], "a fund's units have no principal"
    [row] = page.tables["settlements"]
    assert (row[1], row[2], row[3], row[4], row[5]) == (BOND, "settled", "harbour_pension", "kowloon_life", "100")
    assert row[7] == "4,975,000.00 HKD" and f"block {settlement['block_number']}" in row[9]
    treatments = {(r[1], r[3]) for r in page.tables["stamp-duty"]}
    assert treatments == {(BOND, "not_chargeable"), (FUND, "waived")}

    bond = chromium(f"{site.url}/instruments/{BOND}", profile)
    assert bond.text["reconciliation"].split()[0] == "OK"
    assert [tuple(r[:3]) for r in bond.tables["holders"]] == [(h["investor_id"], h["wallet"], f"{h['quantity']:,}") for h in holders[BOND]]
    transfers = site.json(f"/api/instruments/{BOND}/transfers")
    assert len(bond.tables["transfers"]) == len(transfers)
    for shown, t in zip(bond.tables["transfers"], transfers):
        assert shown[0] == str(t["block_number"]) and shown[4] == f"{t['quantity']:,}"
        assert t["tx_hash"] in shown[5] and t["block_hash"] in shown[5] and f"log {t['log_index']}" in shown[5]
    assert bond.tables["transfers"][-1][2].startswith("harbour_pension") and bond.tables["transfers"][-1][3].startswith("kowloon_life")
    assert len(bond.tables["coupons"]) == len(site.json(f"/api/instruments/{BOND}/coupons")) > 0
    [row] = bond.tables["settlements"]
    assert settlement["tx_hash"] in row[9]

    # The other pages are the same server-rendered HTML without chromium (each launch costs a second or two).
    before = Dom(site.get(f"/instruments/{BOND}", as_of_block=before_trade).text)
    assert ("harbour_pension", "12,000") in [(r[0], r[2]) for r in before.tables["holders"]]
    assert f"Holders as of block {before_trade}" in before.text["holders-title"]

    etf = Dom(site.get(f"/instruments/{FUND}").text)
    assert etf.text["reconciliation"].split()[0] == "OK"
    assert [tuple(r[:3]) for r in etf.tables["holders"]] == [("red_dot_securities", dev_address(8), "100,000")]
    assert [r[1] for r in etf.tables["nav"]] == ["25.4321 HKD"]
    [flow] = etf.tables["flows"]
    assert (flow[0], flow[2], flow[3], flow[6]) == ("creation", "red_dot_securities", "100,000", "2,543,210.00 HKD")
    assert site.flow["tx_hash"] in flow[7]

    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000


# ---------------------------------------------------------------------- pages of long lists

BIG_BOND, BIG_FUND = "HK0000000019", "03998"


def _fake_hash(*parts) -> str:
    return "0x" + hashlib.sha256(repr(parts).encode()).hexdigest()


def build_long_register(url: str) -> dict:
    """A register of a few hundred rows in every paged list, written directly (no chain: the
    proofs are shaped like real ones): a bond and a fund, 240 holders in checksummed (mixed-case)
    wallets with many equal balances, two instructions per nonce, a whale investor in every fund
    transfer. Returns what the lists should hold, for the test to compare."""
    from eth_utils import to_checksum_address
    from sqlalchemy import insert

    reg = Register(url)
    bond_token, fund_token = "0x" + "b1" * 20, "0x" + "f1" * 20
    wallets = [to_checksum_address(_fake_hash("wallet", i)[:42]) for i in range(240)]
    t0 = 1_767_225_600  # 2026-01-01T00:00:00Z
    rows = {name: [] for name in ("transfers", "instructions", "duty", "payments", "nav", "flows")}
    balance = dict.fromkeys(wallets, 0)

    def proof(block: int, log: int) -> dict:
        return {"chain_id": 31337, "block_number": block, "block_hash": _fake_hash("block", block),
                "block_timestamp": t0 + 3_600 * block, "tx_hash": _fake_hash("tx", block, log), "log_index": log}

    def transfer(block, log, token, sender, receiver, quantity):
        rows["transfers"].append({**proof(block, log), "token": token, "from_address": sender, "to_address": receiver, "quantity": quantity})

    zero = "0x" + "0" * 40
    for i, w in enumerate(wallets):  # mints: only five different quantities, so ties abound
        transfer(2 + i // 10, i % 10, bond_token, zero, w, (i % 5 + 1) * 100)
        balance[w] += (i % 5 + 1) * 100
    for n in range(300):  # trades between holders; some empty a wallet
        block, sender, receiver = 30 + n // 6, wallets[(7 * n) % 240], wallets[(11 * n + 3) % 240]
        quantity = balance[sender] if n % 9 == 0 else min(balance[sender], 10 * (n % 4 + 1))
        if quantity and sender != receiver:
            transfer(block, 2 * (n % 6), bond_token, sender, receiver, quantity)
            balance[sender] -= quantity
            balance[receiver] += quantity
        transfer(block, 2 * (n % 6) + 1, fund_token, zero if n % 2 else wallets[0], wallets[0] if n % 2 else zero, 50)
        day = date(2026, 1, 1 + n % 20)
        instruction = _fake_hash("instruction", n)
        rows["instructions"].append({
            "instruction_id": instruction, "isin": BIG_BOND, "seller_investor_id": "s", "buyer_investor_id": "b", "seller": sender,
            "buyer": receiver, "security_token": bond_token, "cash_token": "0x" + "ca" * 20, "currency": "HKD", "quantity": 10,
            "price": "100", "accrued": 0, "cash_amount": 1000, "trade_date": day, "settlement_date": day, "expiry": t0 + 10**7,
            "nonce": n // 2, "status": "settled", "reason": None, **proof(block, 100),
        })
        if n < 250:
            rows["duty"].append({
                **proof(block, 100 + n % 6), "instruction_id": instruction, "isin": BIG_BOND, "instrument_class": "bond",
                "treatment": "not_chargeable", "currency": "HKD", "consideration": 1000, "duty_without_relief": 0, "duty_buyer": 0,
                "duty_seller": 0, "basis": "loan capital", "rule_version": "test", "trade_date": day,
            })
        if n < 210:
            rows["payments"].append({**proof(block, 200 + n % 6), "bond": bond_token, "kind": "coupon", "coupon_id": 1 + n % 2,
                                     "holder": receiver, "quantity": 10, "amount": 12_345})
            rows["nav"].append({**proof(block, 300 + n % 6), "fund": fund_token, "nav_e6": 25_000_000 + n, "published_at": t0 + n})
            rows["flows"].append({**proof(block, 400 + n % 6), "kind": "creation" if n % 2 else "redemption", "fund": fund_token,
                                  "participant": wallets[0], "creation_units": 1, "units": 50, "cash_token": "0x" + "ca" * 20,
                                  "cash_amount": 1_250_000, "nav_e6": 25_000_000})
    with reg.engine.begin() as conn:
        conn.execute(insert(models.Network), [{"id": 1, "chain_id": 31337, "genesis_hash": _fake_hash("genesis")}])
        conn.execute(insert(models.Checkpoint), [{"id": 1, "chain_id": 31337, "block_number": 200, "block_hash": _fake_hash("block", 200)}])
        for isin, kind, token in ((BIG_BOND, "bond", bond_token), (BIG_FUND, "fund", fund_token)):
            conn.execute(insert(models.Instrument), [{
                "isin": isin, "kind": kind, "name": f"Long {kind}", "symbol": kind.upper(), "issuer": "Issuer", "currency": "HKD",
                "address": token, "denomination": 1_000_000 if kind == "bond" else None, "termsheet": "{}", "termsheet_sha256": "0" * 64,
                "creation_unit": 50 if kind == "fund" else None,
            }])
        conn.execute(insert(models.Investor), [
            {"investor_id": f"inv_{i:03d}", "id_hash": _fake_hash("id", i), "name": f"Investor {i}", "country": "HK",
             "category": "professional", "kyc_expiry": date(2030, 1, 1)} for i in range(len(wallets))
        ])
        conn.execute(insert(models.Wallet), [{"address": w, "id_hash": _fake_hash("id", i), "active": True, "block_number": 1}
                                             for i, w in enumerate(wallets)])
        conn.execute(insert(models.Registration), [
            {**proof(1, i), "event": "wallet_added", "id_hash": _fake_hash("id", i), "wallet": w} for i, w in enumerate(wallets)
        ])
        for model, name in ((models.Transfer, "transfers"), (models.Instruction, "instructions"), (models.DutyAssessment, "duty"),
                            (models.Payment, "payments"), (models.NavRecord, "nav"), (models.FundFlow, "flows")):
            conn.execute(insert(model), rows[name])
    reg.engine.dispose()
    return {"holders": sum(1 for q in balance.values() if q), "equal": len(set(q for q in balance.values() if q))}


def _link(response, rel: str) -> str | None:
    for part in response.headers.get("link", "").split(","):
        if part.strip().endswith(f'rel="{rel}"'):
            return part.strip().split(";")[0].strip().strip("<>")
    return None


def walk(http, path: str, limit: int, **params) -> tuple[list, list]:
    """Every row of a paged list: forward from the first page by rel="next", then back from the
    last by rel="prev" (pages reversed). Both as lists of rows."""
    r = http.get(path, params={**params, "limit": limit})
    pages = []
    while True:
        assert r.status_code == 200, (path, r.status_code, r.text)
        page = r.json()
        assert isinstance(page, list) and 0 < len(page) <= limit
        pages.append(page)
        following = _link(r, "next")
        assert (following is None) == ("x-next-cursor" not in r.headers)
        if following is None:
            break
        assert following.endswith(r.headers["x-next-cursor"]) or r.headers["x-next-cursor"] in following
        r = http.get(following)
    forward = [row for page in pages for row in page]
    assert all(len(page) == limit for page in pages[:-1])
    back = [pages[-1]]
    while (before := _link(r, "prev")) is not None:
        r = http.get(before)
        assert r.status_code == 200
        back.append(r.json())
    assert "x-previous-cursor" not in r.headers, "the first page has no page before it"
    backward = [row for page in reversed(back) for row in page]
    return forward, backward


@pytest.fixture
def long_register(registers) -> tuple[str, dict]:
    url = registers.new("long")
    return url, build_long_register(url)


@both_backends
def test_paging_gives_every_row_once_in_order_forward_and_back(long_register):
    """Every paged list, walked with a small page size both ways, is the unpaged view (what the
    CLI prints), row for row; holders in the same order on PostgreSQL as in Python (bytewise)."""
    url, expect = long_register
    reg = Register(url, read_only=True)
    whole = {
        f"/api/instruments/{BIG_BOND}/holders": [h.as_json() for h in views.holders(reg, BIG_BOND)[1]],
        f"/api/instruments/{BIG_BOND}/transfers": as_json(views.transfer_rows(reg, BIG_BOND)),
        f"/api/instruments/{BIG_FUND}/transfers": as_json(views.transfer_rows(reg, BIG_FUND)),
        f"/api/instruments/{BIG_BOND}/payments": as_json(views.payments(reg, BIG_BOND)),
        f"/api/funds/{BIG_FUND}/nav": as_json(views.nav_history(reg, BIG_FUND)),
        f"/api/funds/{BIG_FUND}/flows": as_json(views.fund_flows(reg, BIG_FUND)),
        "/api/settlements": as_json(views.settlements(reg)),
        "/api/stamp-duty": as_json(views.stamp_duty(reg)),
        "/api/investors/inv_000/movements": as_json(views.movements(reg, "inv_000")),
    }
    reg.engine.dispose()
    assert len(whole[f"/api/instruments/{BIG_BOND}/holders"]) == expect["holders"] > 200 and expect["equal"] < expect["holders"] / 3
    quantities = [h["quantity"] for h in whole[f"/api/instruments/{BIG_BOND}/holders"]]
    assert len(set(quantities)) < len(quantities), "equal balances: the wallet decides their order"
    with Served(create_app(url)) as served, httpx.Client(base_url=served.url, timeout=30) as http:
        for path, rows in whole.items():
            assert len(rows) >= 200, path
            for limit in (7, 100):
                forward, backward = walk(http, path, limit)
                assert forward == rows, (path, limit)
                assert backward == rows, (path, limit)
        # Filters and paging together: a period's settlements, one instrument's.
        forward, _ = walk(http, "/api/stamp-duty", 9, **{"from": "2026-01-05", "to": "2026-01-09"})
        assert forward == [d for d in whole["/api/stamp-duty"] if "2026-01-05" <= d["trade_date"] <= "2026-01-09"]
        assert walk(http, "/api/settlements", 11, isin=BIG_BOND)[0] == whole["/api/settlements"]
        # Without a limit: the default page of 100 rows, and the documented maximum of 1000 gives them all.
        r = http.get(f"/api/instruments/{BIG_BOND}/transfers")
        assert r.json() == whole[f"/api/instruments/{BIG_BOND}/transfers"][:100] and "x-next-cursor" in r.headers
        r = http.get(f"/api/instruments/{BIG_BOND}/transfers", params={"limit": 1000})
        assert r.json() == whole[f"/api/instruments/{BIG_BOND}/transfers"] and "link" not in r.headers
        # A walk of holders stays at its first page's block.
        first = http.get(f"/api/instruments/{BIG_BOND}/holders", params={"limit": 5, "as_of_block": 40})
        second = http.get(_link(first, "next"))
        assert first.headers["x-as-of-block"] == second.headers["x-as-of-block"] == "40"


def test_a_bad_limit_or_cursor_is_refused_in_one_line(long_register):
    url, _ = long_register
    transfers, holders = f"/api/instruments/{BIG_BOND}/transfers", f"/api/instruments/{BIG_BOND}/holders"
    with Served(create_app(url)) as served, httpx.Client(base_url=served.url, timeout=30) as http:

        def problem(path, **params):
            r = http.get(path, params=params)
            assert r.status_code == 400 and list(r.json()) == ["detail"], (path, params, r.status_code, r.text)
            assert "\n" not in r.json()["detail"]
            return r.json()["detail"]

        assert problem(transfers, limit=0) == "limit: Input should be greater than or equal to 1 (got '0')"
        assert problem(transfers, limit=1001) == "limit: Input should be less than or equal to 1000 (got '1001')"
        assert problem("/api/settlements", limit="ten").startswith("limit: Input should be a valid integer")
        foreign = http.get(transfers, params={"limit": 3}).headers["x-next-cursor"]
        assert problem(holders, cursor=foreign) == f"cursor: {foreign!r} is not a cursor of this list (pass back the one a response gave)"
        for bad in ("garbage", "W10", "!!!", base64.urlsafe_b64encode(b'["transfers","n","1",2]').decode(), foreign[:-2]):
            assert problem(transfers, cursor=bad).startswith("cursor: "), bad
        # The pages too: a bad cursor of one table, or a bad limit, is a 400 page naming it.
        r = http.get(f"/instruments/{BIG_BOND}", params={"transfers": "garbage"})
        assert r.status_code == 400 and "transfers: &#39;garbage&#39; is not a cursor of this list" in r.text
        r = http.get("/", params={"limit": "0"})
        assert r.status_code == 400 and "limit: 0 is not between 1 and 1000" in r.text


def _pager(html: str, table: str) -> dict[str, str]:
    """rel -> href of the page links under a table."""
    found = re.search(rf'<div class="pager" role="navigation" id="pager-{re.escape(table)}"[^>]*>(.*?)</div>', html, re.S)
    assert found, f"no page links under {table}"
    return {rel: unescape(href) for href, rel in re.findall(r'<a href="([^"]+)" rel="(\w+)"', found.group(1))}


def test_the_pages_show_one_page_of_each_table_with_links_to_the_others(long_register):
    url, _ = long_register
    reg = Register(url, read_only=True)
    transfers = as_json(views.transfer_rows(reg, BIG_BOND))
    holders = [h.as_json() for h in views.holders(reg, BIG_BOND)[1]]
    settlements = as_json(views.settlements(reg))
    reg.engine.dispose()
    with Served(create_app(url)) as served, httpx.Client(base_url=served.url, timeout=30) as http:
        page = http.get(f"/instruments/{BIG_BOND}", params={"limit": 40})
        shown, pages = [], 0
        while True:
            dom = Dom(page.text)
            shown += [row[4] for row in dom.tables["transfers"]]
            assert len(dom.tables["holders"]) == 40 and len(dom.tables["settlements"]) == 40
            pages += 1
            links = _pager(page.text, "transfers")
            if "next" not in links:
                break
            page = http.get(links["next"])
            assert page.status_code == 200
        assert shown == [f"{t['quantity']:,}" for t in transfers] and pages == -(-len(transfers) // 40)
        assert set(links) == {"first", "prev"}
        # The other tables keep their own page: walk the holders from the last transfers page.
        dom = Dom(http.get(_pager(page.text, "holders")["next"]).text)
        assert [r[1] for r in dom.tables["holders"]] == [h["wallet"] for h in holders[40:80]]
        assert len(dom.tables["transfers"]) == len(transfers) % 40 or 40
        index = http.get("/", params={"limit": 25})
        dom = Dom(index.text)
        assert [r[1] for r in dom.tables[f"holders-{BIG_BOND}"]] == [h["wallet"] for h in holders[:25]]
        assert len(dom.tables["settlements"]) == 25 and len(dom.tables["stamp-duty"]) == 25
        following = Dom(http.get(_pager(index.text, "settlements")["next"]).text)
        assert [r[0] for r in following.tables["settlements"]] == [
            f"{s['instruction_id'][:8]}…{s['instruction_id'][-4:]}" for s in settlements[25:50]
        ]
        assert "never reconciled" in dom.text[f"instrument-{BIG_BOND}"]


def test_the_pages_show_the_last_reconciliation_reconcile_recorded(issued):
    """`bondledger reconcile` records each result; the pages show the last one (its block and
    time, its breaks) without touching the chain, and the on-demand route records nothing."""
    world, _ = issued
    with Served(create_app(world.db_url, world.rpc_url)) as served, httpx.Client(base_url=served.url, timeout=30) as http:
        assert Dom(http.get(f"/instruments/{BOND}").text).text["reconciliation"].split()[:2] == ["never", "reconciled"]
        assert http.get(f"/api/reconciliation/{BOND}").json()["ok"] is True
        assert register_counts(world.db_url)["reconciliations"] == 0, "the read-only view records nothing"

        ok = world.run("reconcile", BOND, "--format", "json").json()
        [row] = _reconciliations(world.db_url)
        assert (row["isin"], row["block_number"], row["ok"], row["breaks"]) == (BOND, ok["block"], 1, 0)
        assert json.loads(row["summary"]) == ok
        shown = Dom(http.get(f"/instruments/{BOND}").text).text["reconciliation"]
        assert shown.split()[0] == "OK" and f"{ok['wallets_checked']} wallets at block {ok['block']}, {row['reconciled_at'][:16]}" in shown
        index = Dom(http.get("/").text)
        assert index.tables["instruments"][0][-1].startswith("OK") and f"block {ok['block']}" in index.tables["instruments"][0][-1]

        # A register edited behind bondledger's back: the next reconcile records its breaks, and the page shows them.
        with sqlite3.connect(db_file(world)) as conn:
            conn.execute("UPDATE transfers SET quantity = quantity + 1 WHERE id = (SELECT MAX(id) FROM transfers)")
        conn.close()
        bad = world.run("reconcile", BOND, "--format", "json")
        assert bad.exit_code == 1
        breaks = bad.json()["breaks"]
        page = Dom(http.get(f"/instruments/{BOND}").text)
        assert page.text["reconciliation"].split()[:2] == [str(len(breaks)), "breaks" if len(breaks) > 1 else "break"]
        assert [r[0] for r in page.tables["breaks"]] == [b["kind"] for b in breaks]
        assert [r["ok"] for r in _reconciliations(world.db_url)] == [1, 0]


def _reconciliations(db_url: str) -> list[dict]:
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM reconciliations ORDER BY id")]
    conn.close()
    return rows


def svg(html: str, chart: str) -> str:
    """The markup of one chart's <svg> as the browser has it."""
    found = re.search(rf'<svg id="chart-{chart}"[^>]*>.*?</svg>', html, re.S)
    assert found, f"no chart {chart}"
    return found.group(0)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: `apt-get install chromium` (the Makefile installs it)")
def test_the_pictures_in_a_headless_chromium(site, tmp_path):
    """Holder concentration, coupons due vs paid, green allocation by category (the bond) and NAV
    with creations and redemptions (the fund), drawn as SVG with a title, a tooltip on every bar and
    point, and the numbers in a table: one bar or point per number of the fixture's register."""
    world = site.world
    for category, amount, project in (("renewable_energy", "300000000", "Solar farm"), ("clean_transportation", "150000000", "Tram line")):
        assert world.run("green", "allocate", BOND, "--category", category, "--amount", amount, "--project", project).exit_code == 0
    holders = site.json(f"/api/instruments/{BOND}/holders")
    coupons = site.json(f"/api/instruments/{BOND}/coupons")
    profile = tmp_path / "chromium-profile"
    shots = {code: tmp_path / f"{code}.png" for code in (BOND, FUND)}

    bond = chromium(f"{site.url}/instruments/{BOND}", profile, f"--screenshot={shots[BOND]}", "--window-size=1000,1600", "--hide-scrollbars")
    html = bond.html
    outstanding = sum(h["quantity"] for h in holders)
    top = holders[:10]
    concentration = svg(html, "concentration")
    assert 'role="img"' in concentration and "<title" in concentration and "<desc" in concentration
    assert concentration.count('<rect class="bar"') == len(top) == 5
    share = f"{sum(h['quantity'] for h in top) * 100 / outstanding:.2f}%"
    assert bond.text["chart-concentration-title"] == f"{BOND}: the largest {len(top)} holders hold {share} of {outstanding:,} units"
    assert [r[1] for r in bond.tables["chart-concentration-data"]] == [h["investor_id"] for h in top]
    assert [r[3] for r in bond.tables["chart-concentration-data"]] == [f"{h['quantity']:,}" for h in top]

    drawn = svg(html, "coupons")
    assert drawn.count('<rect class="bar due"') == drawn.count('<rect class="bar paid"') == len(coupons) == 4
    assert [r[2:4] for r in bond.tables["chart-coupons-data"]] == [[c["due"], c["paid"]] for c in coupons]
    assert f"coupon 1 ({coupons[0]['payment_date']}) due: {coupons[0]['due']} HKD" in drawn

    green = svg(html, "green")
    assert green.count('<rect class="bar green"') == 9, "one bar per use-of-proceeds category of the framework"
    allocated = {r[0]: r[1:] for r in bond.tables["chart-green-data"]}
    assert allocated["renewable_energy"] == ["300,000,000.00 HKD", "15.00%"] and allocated["clean_transportation"] == ["150,000,000.00 HKD", "7.50%"]
    assert allocated["green_buildings"] == ["0.00 HKD", "0.00%"]
    assert "22.50% of 2,000,000,000.00 HKD" in bond.text["chart-green-title"]
    assert "renewable_energy: 300,000,000.00 HKD, 15.00%" in green

    fund = chromium(f"{site.url}/instruments/{FUND}", profile, f"--screenshot={shots[FUND]}", "--window-size=1000,1100", "--hide-scrollbars")
    nav = svg(fund.html, "nav")
    assert nav.count('<circle class="point nav"') == len(site.json(f"/api/funds/{FUND}/nav")) == 1
    assert nav.count('<rect class="bar flow creation"') == 1 and 'class="bar flow redemption"' not in nav
    assert "creation of 100,000 units by red_dot_securities" in nav
    assert svg(fund.html, "concentration").count('<rect class="bar"') == 1
    assert "chart-coupons" not in fund.html and "chart-green" not in fund.html
    for png in shots.values():  # kept in pytest's tmp_path to look at
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and len(png.read_bytes()) > 20_000
