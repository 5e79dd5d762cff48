"""The auditors' web pages (ledger/web/pages.py): what they show is escaped, they render in a
real headless chromium, each table shows one page with links to the others, and the last
reconciliation recorded is shown."""

import json
import re
import sqlite3
from html import unescape

import httpx
import pytest

from helpers import dev_address, register_counts
from ledger.register import models, movements, views
from ledger.register.db import Register
from ledger.register.rows import as_json
from ledger.web import create_app
from web_helpers import BIG_BOND, BOND, CHROMIUM, FUND, chromium, db_file, Dom, Served

pytest_plugins = ["web_helpers"]  # its fixtures: site, empty_register, long_register


def test_an_empty_register_and_what_it_holds_is_escaped(empty_register):
    reg = Register(empty_register)
    with reg.session() as s:
        s.add(
            models.Instrument(
                isin="XS<B>1",
                kind="bond",
                name="<script>alert('x')</script> & Co",
                symbol="S",
                issuer='"Issuer" <i>',
                currency="HKD",
                address="0x00000000000000000000000000000000000000aa",
                termsheet="{}",
                termsheet_sha256="0" * 64,
            )
        )
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
        [h["investor_id"], h["wallet"], f"{h['quantity']:,}", f"{int(h['principal'].removesuffix('.00')):,}.00"]
        for h in holders[BOND]
    ]
    assert ["harbour_pension", dev_address(1), "11,900", "595,000,000.00"] in page.tables[f"holders-{BOND}"]
    assert page.tables[f"holders-{FUND}"] == [["red_dot_securities", dev_address(8), "100,000"]], (
        "a fund's units have no principal"
    )
    [row] = page.tables["settlements"]
    assert (row[1], row[2], row[3], row[4], row[5]) == (BOND, "settled", "harbour_pension", "kowloon_life", "100")
    assert row[7] == "4,975,000.00 HKD" and f"block {settlement['block_number']}" in row[9]
    treatments = {(r[1], r[3]) for r in page.tables["stamp-duty"]}
    assert treatments == {(BOND, "not_chargeable"), (FUND, "waived")}

    bond = chromium(f"{site.url}/instruments/{BOND}", profile)
    assert bond.text["reconciliation"].split()[0] == "OK"
    assert [tuple(r[:3]) for r in bond.tables["holders"]] == [
        (h["investor_id"], h["wallet"], f"{h['quantity']:,}") for h in holders[BOND]
    ]
    transfers = site.json(f"/api/instruments/{BOND}/transfers")
    assert len(bond.tables["transfers"]) == len(transfers)
    for shown, t in zip(bond.tables["transfers"], transfers):
        assert shown[0] == str(t["block_number"]) and shown[4] == f"{t['quantity']:,}"
        assert t["tx_hash"] in shown[5] and t["block_hash"] in shown[5] and f"log {t['log_index']}" in shown[5]
    assert bond.tables["transfers"][-1][2].startswith("harbour_pension") and bond.tables["transfers"][-1][3].startswith(
        "kowloon_life"
    )
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


def _pager(html: str, table: str) -> dict[str, str]:
    """rel -> href of the page links under a table."""
    found = re.search(rf'<div class="pager" role="navigation" id="pager-{re.escape(table)}"[^>]*>(.*?)</div>', html, re.S)
    assert found, f"no page links under {table}"
    return {rel: unescape(href) for href, rel in re.findall(r'<a href="([^"]+)" rel="(\w+)"', found.group(1))}


def test_the_pages_show_one_page_of_each_table_with_links_to_the_others(long_register):
    url, _ = long_register
    reg = Register(url, read_only=True)
    transfers = as_json(movements.transfer_rows(reg, BIG_BOND))
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
        assert (
            shown.split()[0] == "OK"
            and f"{ok['wallets_checked']} wallets at block {ok['block']}, {row['reconciled_at'][:16]}" in shown
        )
        index = Dom(http.get("/").text)
        assert (
            index.tables["instruments"][0][-1].startswith("OK") and f"block {ok['block']}" in index.tables["instruments"][0][-1]
        )

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
