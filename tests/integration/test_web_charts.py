"""The pictures on the auditors' pages (ledger/web/charts.py), drawn as inline SVG and read in a
real headless chromium."""

import re

import pytest

from web_helpers import BOND, CHROMIUM, FUND, chromium

pytest_plugins = ["web_helpers"]  # its fixtures: site, empty_register, long_register


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
    for category, amount, project in (
        ("renewable_energy", "300000000", "Solar farm"),
        ("clean_transportation", "150000000", "Tram line"),
    ):
        assert (
            world.run("green", "allocate", BOND, "--category", category, "--amount", amount, "--project", project).exit_code == 0
        )
    holders = site.json(f"/api/instruments/{BOND}/holders")
    coupons = site.json(f"/api/instruments/{BOND}/coupons")
    profile = tmp_path / "chromium-profile"
    shots = {code: tmp_path / f"{code}.png" for code in (BOND, FUND)}

    bond = chromium(
        f"{site.url}/instruments/{BOND}", profile, f"--screenshot={shots[BOND]}", "--window-size=1000,1600", "--hide-scrollbars"
    )
    html = bond.html
    outstanding = sum(h["quantity"] for h in holders)
    top = holders[:10]
    concentration = svg(html, "concentration")
    assert 'role="img"' in concentration and "<title" in concentration and "<desc" in concentration
    assert concentration.count('<rect class="bar"') == len(top) == 5
    share = f"{sum(h['quantity'] for h in top) * 100 / outstanding:.2f}%"
    assert (
        bond.text["chart-concentration-title"] == f"{BOND}: the largest {len(top)} holders hold {share} of {outstanding:,} units"
    )
    assert [r[1] for r in bond.tables["chart-concentration-data"]] == [h["investor_id"] for h in top]
    assert [r[3] for r in bond.tables["chart-concentration-data"]] == [f"{h['quantity']:,}" for h in top]

    drawn = svg(html, "coupons")
    assert drawn.count('<rect class="bar due"') == drawn.count('<rect class="bar paid"') == len(coupons) == 4
    assert [r[2:4] for r in bond.tables["chart-coupons-data"]] == [[c["due"], c["paid"]] for c in coupons]
    assert f"coupon 1 ({coupons[0]['payment_date']}) due: {coupons[0]['due']} HKD" in drawn

    green = svg(html, "green")
    assert green.count('<rect class="bar green"') == 9, "one bar per use-of-proceeds category of the framework"
    allocated = {r[0]: r[1:] for r in bond.tables["chart-green-data"]}
    assert allocated["renewable_energy"] == ["300,000,000.00 HKD", "15.00%"] and allocated["clean_transportation"] == [
        "150,000,000.00 HKD",
        "7.50%",
    ]
    assert allocated["green_buildings"] == ["0.00 HKD", "0.00%"]
    assert "22.50% of 2,000,000,000.00 HKD" in bond.text["chart-green-title"]
    assert "renewable_energy: 300,000,000.00 HKD, 15.00%" in green

    fund = chromium(
        f"{site.url}/instruments/{FUND}", profile, f"--screenshot={shots[FUND]}", "--window-size=1000,1100", "--hide-scrollbars"
    )
    nav = svg(fund.html, "nav")
    assert nav.count('<circle class="point nav"') == len(site.json(f"/api/funds/{FUND}/nav")) == 1
    assert nav.count('<rect class="bar flow creation"') == 1 and 'class="bar flow redemption"' not in nav
    assert "creation of 100,000 units by red_dot_securities" in nav
    assert svg(fund.html, "concentration").count('<rect class="bar"') == 1
    assert "chart-coupons" not in fund.html and "chart-green" not in fund.html
    for png in shots.values():  # kept in pytest's tmp_path to look at
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and len(png.read_bytes()) > 20_000
