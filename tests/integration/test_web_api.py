"""The auditors' read-only web view (ledger/web/), served for real by uvicorn on a free port
against a register and an anvil: every JSON route gives the rows the CLI prints, bad input is a
4xx with one line, nothing but GET/HEAD/OPTIONS gets through, serving never touches the database,
the OpenAPI document names every route, and long lists come a page at a time."""

import base64
import subprocess
import sys
import time

import httpx
import pytest

from conftest import both_backends
from helpers import dev_address, register_counts
from ledger.register import models, movements, views
from ledger.register.db import Register
from ledger.chain.devnet import free_port
from ledger.register.rows import as_json
from ledger.web import DOCUMENTED, create_app
from web_helpers import BIG_BOND, BIG_FUND, BOND, FUND, db_file, db_fingerprint, Dom, _link, _run_json, Served, walk

pytest_plugins = ["web_helpers"]  # its fixtures: site, empty_register, long_register


# ---------------------------------------------------------------------- JSON: the CLI's rows


def test_every_json_route_gives_the_rows_the_cli_prints_now_and_at_a_point_in_time(site):
    cli, web = site.cli, site.json
    assert web("/api/instruments") == cli("register", "instruments")
    assert [(i["isin"], i["outstanding"]) for i in web("/api/instruments")] == [(BOND, 40_000), (FUND, 100_000)]

    holders = web(f"/api/instruments/{BOND}/holders")
    assert holders == cli("register", "holders", BOND)
    assert set(holders[0]) == {"investor_id", "wallet", "quantity", "principal", "provisional"}
    by_investor = {h["investor_id"]: (h["quantity"], h["principal"]) for h in holders}
    assert by_investor["harbour_pension"] == (11_900, "595000000.00") and by_investor["kowloon_life"] == (10_100, "505000000.00")
    assert (
        web(f"/api/instruments/{FUND}/holders")
        == cli("register", "holders", FUND)
        == [
            {
                "investor_id": "red_dot_securities",
                "wallet": dev_address(8),
                "quantity": 100_000,
                "principal": None,
                "provisional": True,
            }
        ]
    )
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
    assert (
        web("/api/stamp-duty", **{"from": "2024-01-01", "to": "2024-12-31"})
        == cli("register", "stamp-duty", "--from", "2024-01-01", "--to", "2024-12-31")
        == duty
    )
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
        "instruments": web("/api/instruments"),
        "holders": holders,
        "transfers": transfers,
        "coupons": web(f"/api/instruments/{BOND}/coupons"),
        "nav": web(f"/api/funds/{FUND}/nav"),
        "flows": web(f"/api/funds/{FUND}/flows"),
        "settlements": settlements,
        "stamp-duty": duty,
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
    "/api/instruments",
    f"/api/instruments/{BOND}/holders",
    f"/api/instruments/{FUND}/holders",
    f"/api/instruments/{BOND}/transfers",
    f"/api/instruments/{BOND}/coupons",
    f"/api/instruments/{BOND}/payments",
    f"/api/funds/{FUND}/nav",
    f"/api/funds/{FUND}/flows",
    "/api/settlements",
    "/api/stamp-duty",
    "/api/investors/harbour_pension/movements",
    f"/api/reconciliation/{BOND}",
    f"/api/reconciliation/{FUND}",
    "/",
    f"/instruments/{BOND}",
    f"/instruments/{FUND}",
    "/openapi.json",
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
    assert (
        problem(holders, 400, as_of_date="2024-02-30") == "as_of_date: '2024-02-30' is not a date (day is out of range for month)"
    )
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
        assert operations["get"]["summary"] and operations["get"]["responses"]["200"]["content"]["application/json"]["schema"], (
            path
        )
    holders = spec["paths"]["/api/instruments/{isin}/holders"]["get"]
    assert {p["name"] for p in holders["parameters"]} == {"isin", "as_of_block", "as_of_date", "limit", "cursor"}
    assert set(holders["responses"]) == {"200", "400", "404"}
    assert {p["name"] for p in spec["paths"]["/api/settlements"]["get"]["parameters"]} == {
        "isin",
        "from",
        "to",
        "limit",
        "cursor",
    }
    paged = [path for path, ops in spec["paths"].items() if "cursor" in {p["name"] for p in ops["get"].get("parameters", [])}]
    assert sorted(paged) == sorted(
        p for p in spec["paths"] if not p.endswith(("/coupons", "/reconciliation/{isin}")) and p != "/api/instruments"
    )
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
    command = [
        sys.executable,
        "-m",
        "issuance.cli",
        "--db",
        world.db_url,
        "--rpc-url",
        world.rpc_url,
        "serve",
        "--read-only",
        "--port",
        str(port),
    ]
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


def test_reconciliation_needs_the_chain_and_says_so(empty_register, anvil):
    """503 without a chain (none given, or unreachable), 409 when the node is not the register's
    chain; the holders and the pages still answer, showing that nothing was reconciled yet."""
    reg = Register(empty_register)
    with reg.session() as s:
        s.add(
            models.Instrument(
                isin=BOND,
                kind="bond",
                name="A bond",
                symbol="B",
                issuer="An issuer",
                currency="HKD",
                address="0x00000000000000000000000000000000000000bb",
                termsheet="{}",
                termsheet_sha256="0" * 64,
            )
        )
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


# ---------------------------------------------------------------------- pages of long lists


@both_backends
def test_paging_gives_every_row_once_in_order_forward_and_back(long_register):
    """Every paged list, walked with a small page size both ways, is the unpaged view (what the
    CLI prints), row for row; holders in the same order on PostgreSQL as in Python (bytewise)."""
    url, expect = long_register
    reg = Register(url, read_only=True)
    whole = {
        f"/api/instruments/{BIG_BOND}/holders": [h.as_json() for h in views.holders(reg, BIG_BOND)[1]],
        f"/api/instruments/{BIG_BOND}/transfers": as_json(movements.transfer_rows(reg, BIG_BOND)),
        f"/api/instruments/{BIG_FUND}/transfers": as_json(movements.transfer_rows(reg, BIG_FUND)),
        f"/api/instruments/{BIG_BOND}/payments": as_json(views.payments(reg, BIG_BOND)),
        f"/api/funds/{BIG_FUND}/nav": as_json(views.nav_history(reg, BIG_FUND)),
        f"/api/funds/{BIG_FUND}/flows": as_json(views.fund_flows(reg, BIG_FUND)),
        "/api/settlements": as_json(views.settlements(reg)),
        "/api/stamp-duty": as_json(views.stamp_duty(reg)),
        "/api/investors/inv_000/movements": as_json(movements.movements(reg, "inv_000")),
    }
    reg.engine.dispose()
    assert (
        len(whole[f"/api/instruments/{BIG_BOND}/holders"]) == expect["holders"] > 200 and expect["equal"] < expect["holders"] / 3
    )
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
        assert (
            problem(holders, cursor=foreign)
            == f"cursor: {foreign!r} is not a cursor of this list (pass back the one a response gave)"
        )
        for bad in ("garbage", "W10", "!!!", base64.urlsafe_b64encode(b'["transfers","n","1",2]').decode(), foreign[:-2]):
            assert problem(transfers, cursor=bad).startswith("cursor: "), bad
        # The pages too: a bad cursor of one table, or a bad limit, is a 400 page naming it.
        r = http.get(f"/instruments/{BIG_BOND}", params={"transfers": "garbage"})
        assert r.status_code == 400 and "transfers: &#39;garbage&#39; is not a cursor of this list" in r.text
        r = http.get("/", params={"limit": "0"})
        assert r.status_code == 400 and "limit: 0 is not between 1 and 1000" in r.text
