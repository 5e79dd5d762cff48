"""A tokenized ETF next to the bonds, on a real anvil: launched, its NAV published, units created
and redeemed by an authorized participant against cash in one transaction, traded between
investors with the stamp duty waiver, and all of it in the register, reconciled with the chain."""

from decimal import Decimal

import pytest
from sqlalchemy import text

from helpers import EXAMPLES, chain_state, dev_address, fund, register_counts, trade
from ledger.register.db import Register

FUND = "03999"
AP = 8  # red_dot_securities' wallet
TERMSHEET = (EXAMPLES / "etf_hkd.toml").read_text()


@pytest.fixture
def etf_world(deployed):
    """Contracts, the sample investors and the sample authorized participant; the ETF launched."""
    world = deployed
    assert world.run("investors", "import", EXAMPLES / "authorized_participants.csv").exit_code == 0
    r = world.run("etf", "launch", EXAMPLES / "etf_hkd.toml", "--format", "json")
    assert r.exit_code == 0, r.stderr
    fund(world.run, AP, "10000000")
    return world, r.json()


def run_json(world, *args):
    r = world.run(*args, "--format", "json")
    assert r.exit_code == 0, r.stderr
    return r.json()


def create(world, units=100_000):
    return run_json(world, "etf", "create", FUND, "--ap", "red_dot_securities", "--units", units)


def test_launch_prints_the_fund_code_and_address_and_the_fund_keeps_its_terms(etf_world):
    world, out = etf_world
    assert out["fund_code"] == FUND and out["address"].startswith("0x")
    fund_token = world.chain().contract("FundToken", out["address"]).functions
    assert fund_token.fundCode().call() == FUND
    assert fund_token.creationUnit().call() == 50_000
    assert fund_token.navMaxAge().call() == 86_400
    assert fund_token.nav().call()[0] == 2_543_210_000  # HK$25.4321 in cents x 10^6
    hkd = Register(world.db_url).require_contract("cash", "HKD").address
    assert fund_token.currency().call() == hkd, "its cash token, readable as currency() as on bonds"
    [nav] = run_json(world, "register", "nav", FUND)
    assert (nav["nav"], nav["currency"]) == ("25.4321", "HKD")


def test_a_creation_mints_units_and_takes_cash_at_the_latest_nav(etf_world):
    world, _ = etf_world
    flow = create(world)
    assert (flow["units"], flow["cash_amount"], flow["nav"]) == (100_000, "2543210.00", "25.4321")
    assert run_json(world, "register", "holders", FUND) == [
        {
            "investor_id": "red_dot_securities",
            "wallet": dev_address(AP),
            "quantity": 100_000,
            "principal": None,
            "provisional": True,
        }
    ]
    position = run_json(world, "cash", "balance", "HKD", dev_address(AP))[0]
    assert position["balance"] == "7456790.00"
    [row] = run_json(world, "register", "flows", FUND)
    assert (row["kind"], row["participant"], row["creation_units"], row["tx_hash"]) == (
        "creation",
        "red_dot_securities",
        2,
        flow["tx_hash"],
    )


def test_a_redemption_burns_units_and_pays_cash_from_the_funds_account(etf_world):
    world, _ = etf_world
    create(world)
    assert world.run("etf", "nav", FUND, "25.61").exit_code == 0
    flow = run_json(world, "etf", "redeem", FUND, "--ap", "red_dot_securities", "--units", 50_000)
    assert (flow["cash_amount"], flow["nav"]) == ("1280500.00", "25.61")
    assert run_json(world, "register", "holders", FUND)[0]["quantity"] == 50_000
    outstanding = {i["isin"]: i["outstanding"] for i in run_json(world, "register", "instruments")}
    assert outstanding[FUND] == 50_000
    assert [f["kind"] for f in run_json(world, "register", "flows", FUND)] == ["creation", "redemption"]
    assert [n["nav"] for n in run_json(world, "register", "nav", FUND)] == ["25.4321", "25.61"]
    assert world.run("reconcile", FUND).exit_code == 0


def test_a_secondary_trade_of_units_settles_dvp_with_the_2015_waiver(etf_world):
    world, _ = etf_world
    create(world)
    fund(world.run, 1, "1000000")
    t = trade(world, FUND, "red_dot_securities", "harbour_pension", 10_000, price="25.50")
    assert (t["cash_amount"], t["accrued"]) == ("255000.00", "0.00")  # price per unit, nothing accrues
    for index in (AP, 1):
        assert world.run("affirm", t["instruction_id"], "--dev-account", index).exit_code == 0
    assert [o["status"] for o in run_json(world, "settle")] == ["settled"]

    duty = {d["instruction_id"]: d for d in run_json(world, "register", "stamp-duty")}
    row = duty[t["instruction_id"]]
    assert (row["isin"], row["instrument_class"], row["treatment"]) == (FUND, "etf", "waived")
    assert row["consideration"] == "255000.00"
    assert row["duty_without_relief"] == "510.00"  # HK$255 a side at 0.1%: what the waiver saved
    assert (row["duty_buyer"], row["duty_seller"]) == ("0.00", "0.00")
    assert "Stamp Duty (Amendment) Ordinance 2015" in row["basis"]
    assert world.run("reconcile", FUND).exit_code == 0


def test_creations_and_redemptions_carry_the_2020_market_maker_basis(etf_world):
    world, _ = etf_world
    flow = create(world)
    [row] = run_json(world, "register", "stamp-duty")
    assert row["instruction_id"].startswith(f"creation:{flow['tx_hash']}:")
    assert (row["instrument_class"], row["treatment"]) == ("etf_creation_redemption", "waived")
    assert row["duty_without_relief"] == "5088.00"  # HK$2,543.21 a side, each rounded up to HK$2,544
    assert "2020" in row["basis"] and "Schedule 8" in row["basis"]


def test_a_stale_nav_blocks_creation_and_redemption(etf_world):
    world, _ = etf_world
    create(world)
    chain = world.chain()
    chain.rpc("evm_increaseTime", [86_401])
    chain.rpc("evm_mine", [])
    before = chain_state(world.rpc_url), register_counts(world.db_url)
    for command in ("create", "redeem"):
        r = world.run("etf", command, FUND, "--ap", "red_dot_securities", "--units", 50_000)
        assert r.exit_code == 2 and "is stale; publish a new one with `bondledger etf nav`" in r.stderr
    assert (chain_state(world.rpc_url), register_counts(world.db_url)) == before
    assert world.run("etf", "nav", FUND, "25.50").exit_code == 0
    assert world.run("etf", "redeem", FUND, "--ap", "red_dot_securities", "--units", 50_000).exit_code == 0


@pytest.mark.parametrize(
    "args, expect",
    [
        (
            ["--ap", "red_dot_securities", "--units", "70000"],
            "--units: 70000 is not a positive whole number of creation units of 50000",
        ),
        (
            ["--ap", "harbour_pension", "--units", "50000"],
            "--ap: harbour_pension is registered as institutional_professional_investor, not as an authorized_participant",
        ),
        (["--ap", "ghost", "--units", "50000"], "--ap: ghost is not a known investor"),
        (
            ["--ap", "red_dot_securities", "--units", "500000"],
            "--ap: red_dot_securities holds 10000000.00 HKD, needs 12716050.00 for 500000 units",
        ),
    ],
)
def test_a_creation_that_cannot_settle_is_refused_before_anything_is_sent(etf_world, args, expect):
    world, _ = etf_world
    before = chain_state(world.rpc_url), register_counts(world.db_url)
    r = world.run("etf", "create", FUND, *args)
    assert r.exit_code == 2 and expect in r.stderr, r.stderr
    assert (chain_state(world.rpc_url), register_counts(world.db_url)) == before


def test_redeeming_more_than_held_is_refused(etf_world):
    world, _ = etf_world
    create(world)
    r = world.run("etf", "redeem", FUND, "--ap", "red_dot_securities", "--units", 150_000)
    assert r.exit_code == 2 and "holds 100000 units of 03999, fewer than 150000" in r.stderr


@pytest.mark.parametrize(
    "old, new, expect",
    [
        (
            'initial_nav = "25.4321"',
            'initial_nav = "25.123456789"',
            "etf.initial_nav: 25.123456789 has more than 8 decimal places",
        ),
        ("creation_unit = 50000", "creation_unit = 0", "etf.creation_unit: Input should be greater than 0"),
        ('fund_code = "03999"', 'fund_code = "no spaces please"', "etf.fund_code: String should match pattern"),
        ("nav_max_age = 86400", "", "etf.nav_max_age: missing"),
    ],
)
def test_a_bad_etf_term_sheet_is_refused_in_one_line(deployed, tmp_path, old, new, expect):
    bad = tmp_path / "etf.toml"
    bad.write_text(TERMSHEET.replace(old, new))
    before = chain_state(deployed.rpc_url), register_counts(deployed.db_url)
    r = deployed.run("etf", "launch", bad)
    assert r.exit_code == 2 and r.stderr == f"error: etf.toml: {expect}" + r.stderr.split(expect, 1)[1]
    assert (chain_state(deployed.rpc_url), register_counts(deployed.db_url)) == before


def test_a_fund_code_launches_once(etf_world):
    world, _ = etf_world
    r = world.run("etf", "launch", EXAMPLES / "etf_hkd.toml")
    assert r.exit_code == 2 and "etf.fund_code: 03999 is already an instrument in this register" in r.stderr


def test_an_edited_nav_history_is_a_reconciliation_break(etf_world):
    world, _ = etf_world
    create(world)
    with Register(world.db_url).engine.begin() as conn:
        conn.execute(text("UPDATE nav_history SET nav_e6 = nav_e6 + 1"))
    report = world.run("reconcile", FUND, "--format", "json")
    assert report.exit_code == 1
    [brk] = report.json()["breaks"]
    assert (brk["kind"], brk["register"], brk["chain"]) == ("nav", 2_543_210_001, 2_543_210_000)


def test_nav_values_are_exact_decimals(etf_world):
    world, _ = etf_world
    assert world.run("etf", "nav", FUND, "25.12345678").exit_code == 0
    assert Decimal(run_json(world, "register", "nav", FUND)[-1]["nav"]) == Decimal("25.12345678")
    r = world.run("etf", "nav", FUND, "0")
    assert r.exit_code == 2 and "VALUE: 0 must be positive" in r.stderr
