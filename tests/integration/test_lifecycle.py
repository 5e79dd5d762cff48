"""A bond's life on a real anvil: coupons paid on chain to the holders of record, a trade in
between, a re-run after an interrupted payment, redemption at maturity or on a call, and the
register's record of every payment reconciled against the schedule. Time moves with anvil's
clock, never the wall's."""

import sqlite3
import unittest.mock
from datetime import datetime, timezone
from decimal import ROUND_FLOOR, Decimal

import pytest
from sqlalchemy import text

from helpers import EXAMPLES, chain_state, dev_address, fund, register_counts, trade
from issuance import lifecycle
from ledger.chain import keys
from ledger.chain import Signer
from ledger.errors import ChainError
from ledger.register.db import Register

ISIN = "HK0000987658"
NAMES = {1: "harbour_pension", 2: "kowloon_life", 3: "lion_rock", 4: "straits_capital", 5: "victoria_peak"}
COUPON_1, COUPON_2 = Decimal("947.397260274"), Decimal("957.8082191781")


def warp_to(world, day: str, hour: int = 2) -> None:
    chain = world.chain()
    chain.rpc("evm_setNextBlockTimestamp", [int(datetime.fromisoformat(day).replace(hour=hour, tzinfo=timezone.utc).timestamp())])
    chain.rpc("evm_mine", [])


def pay(world, *extra):
    r = world.run("coupon", "pay", ISIN, *extra, "--format", "json")
    assert r.exit_code == 0, r.stderr
    return r.json()


def payments(world, kind="coupon", coupon=None):
    rows = world.run("register", "payments", ISIN, "--format", "json").json()
    return {r["investor_id"]: r for r in rows if r["kind"] == kind and (coupon is None or r["coupon"] == coupon)}


def trade_all(world, seller: int, buyer: int, quantity: int, day: str, settle_on: str | None = None):
    fund(world.run, buyer, str(quantity * 50_000))
    iid = trade(world, ISIN, NAMES[seller], NAMES[buyer], quantity, price="100", settlement_date=day)["instruction_id"]
    for index in (seller, buyer):
        assert world.run("affirm", iid, "--dev-account", index).exit_code == 0
    if settle_on:
        warp_to(world, settle_on)
    outcomes = world.run("settle", "--format", "json").json()
    assert [o["status"] for o in outcomes] == ["settled"], outcomes


def coupon_of(quantity: int, per_denomination: Decimal) -> str:
    return str((per_denomination * quantity).quantize(Decimal("0.01"), rounding=ROUND_FLOOR))


# ---------------------------------------------------------------------- coupons


def test_a_coupon_pays_every_holder_of_record_rounded_down(issued):
    world, _ = issued
    warp_to(world, "2024-08-07")
    run = pay(world)
    assert (run["coupon"], run["payment_date"], run["holders_paid"], run["complete"]) == (1, "2024-08-07", 5, True)
    paid = payments(world, coupon=1)
    assert paid["harbour_pension"]["amount"] == coupon_of(12_000, COUPON_1) == "11368767.12"
    assert paid["victoria_peak"]["wallet"] == dev_address(5) and paid["victoria_peak"]["payment_date"] == "2024-08-07"
    total = sum(Decimal(p["amount"]) for p in paid.values())
    assert run["total_paid"] == str(total)
    assert Decimal(run["residue"]) == COUPON_1 * 40_000 - total  # what rounding down kept, recorded
    assert 0 <= Decimal(run["residue"]) < Decimal("0.05")


def test_the_buyer_receives_the_next_coupon_and_the_seller_does_not(issued):
    world, _ = issued
    warp_to(world, "2024-08-07")
    pay(world)
    trade_all(world, 5, 3, 3_000, "2024-08-07")  # victoria_peak sells everything to lion_rock
    warp_to(world, "2025-02-07")
    pay(world)
    second = payments(world, coupon=2)
    assert "victoria_peak" not in second
    assert second["lion_rock"]["quantity"] == 11_000
    assert second["lion_rock"]["amount"] == coupon_of(11_000, COUPON_2)
    assert payments(world, coupon=1)["victoria_peak"]["quantity"] == 3_000  # it held on the first record date


def copy_database(source: str, target: str) -> None:
    """SQLite's online backup: the whole database, its write-ahead log included."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def test_a_coupon_paid_by_a_run_killed_before_it_recorded_is_recorded_by_the_refusing_rerun(issued, tmp_path):
    # The register as a run killed after its last payment was mined leaves it: the payments on
    # chain, none of them indexed (the register file from before the run, its checkpoint still on chain).
    world, _ = issued
    warp_to(world, "2024-08-07")
    assert world.run("sync").exit_code == 0
    db_file, before = world.db_url.removeprefix("sqlite:///"), str(tmp_path / "before.db")
    copy_database(db_file, before)
    pay(world)
    paid = payments(world, coupon=1)
    copy_database(before, db_file)
    assert paid and payments(world, coupon=1) == {}

    again = world.run("coupon", "pay", ISIN, "--date", "2024-08-07")
    assert again.exit_code == 2 and again.stderr.count("\n") == 1 and "is already paid" in again.stderr
    assert payments(world, coupon=1) == paid
    assert world.run("reconcile", ISIN).exit_code == 0
    assert world.run("verify").exit_code == 0


def test_a_holder_of_record_who_sells_before_payment_is_still_paid(issued):
    world, _ = issued
    warp_to(world, "2024-08-06", hour=18)  # 02:00 on 7 Aug in Hong Kong: the record date has ended
    trade_all(world, 5, 3, 3_000, "2024-08-07", settle_on="2024-08-07")
    pay(world)
    first = payments(world, coupon=1)
    assert first["victoria_peak"]["quantity"] == 3_000 and first["lion_rock"]["quantity"] == 8_000


def test_a_coupon_is_not_paid_before_its_date_nor_twice(issued):
    world, _ = issued
    r = world.run("coupon", "pay", ISIN)
    assert r.exit_code == 2 and "coupon 1 of HK0000987658 is due 2024-08-07; the chain's date is 2024-02-07" in r.stderr
    warp_to(world, "2024-08-07")
    pay(world)
    again = world.run("coupon", "pay", ISIN, "--date", "2024-08-07")
    assert again.exit_code == 2 and "is already paid" in again.stderr
    assert world.run("coupon", "pay", ISIN, "--date", "2024-08-08").exit_code == 2


def test_a_rerun_after_an_interrupted_coupon_payment_pays_each_holder_once(issued, monkeypatch):
    world, _ = issued
    warp_to(world, "2024-08-07")
    monkeypatch.setattr(lifecycle, "PAYMENT_BATCH", 2)
    real = Signer.send_many

    def crash_after_the_first_transaction(self, calls, progress=None):
        if calls and calls[0][2].startswith("pay coupon"):
            real(self, calls[:1], progress)
            raise KeyboardInterrupt("the operator's machine died")
        return real(self, calls, progress)

    monkeypatch.setattr(Signer, "send_many", crash_after_the_first_transaction)
    assert world.run("coupon", "pay", ISIN).exit_code == 1  # click reports the interrupt as "Aborted!"
    assert world.run("sync").exit_code == 0
    assert len(payments(world, coupon=1)) == 2, "the first batch landed"

    monkeypatch.setattr(Signer, "send_many", real)
    run = pay(world)
    assert run["holders_paid"] == 3 and run["complete"]
    rows = world.run("register", "payments", ISIN, "--format", "json").json()
    assert sorted(r["wallet"] for r in rows) == sorted(dev_address(i) for i in range(1, 6)), "each holder exactly once"


def _agent_and_cash(world):
    ctx = world.context()
    agent = lifecycle._agent(ctx)
    bond = ctx.chain.contract("BondToken", ctx.register.instrument(ISIN).address)
    cash = ctx.chain.contract("CashToken", bond.functions.currency().call())
    return agent, bond, cash, bond.functions.treasury().call()


def test_the_paying_agent_is_authorized_for_exactly_what_a_run_pays(issued):
    world, _ = issued
    agent, bond, cash, treasury = _agent_and_cash(world)
    # What an earlier version left: an authorization that never runs out.
    keys_signer = Signer(world.chain(), keys.dev_account(0))
    keys_signer.transact(cash.functions.approve(agent.address, 2**256 - 1), "authorize without limit")
    warp_to(world, "2024-08-07")
    approvals = []
    real = Signer.transact

    def spy(self, fn, what, gas=None):
        if fn.fn_name == "approve":
            approvals.append(fn.args[1])
        return real(self, fn, what, gas)

    with unittest.mock.patch.object(Signer, "transact", spy):
        run = pay(world)
    due = Decimal(run["paid"]).scaleb(2)
    assert approvals == [int(due)], "one authorization, of exactly what was due"
    assert cash.functions.allowance(treasury, agent.address).call() == 0, "nothing left for the agent to draw on"
    assert agent.functions.isBondRegistered(bond.address).call(), "the issuer registered its bond"


def test_the_paying_agent_refuses_a_bond_its_admin_did_not_register(issued):
    world, _ = issued
    agent, bond, cash, treasury = _agent_and_cash(world)
    warp_to(world, "2024-08-07")
    # Someone holding the paying agent role only (not its admin) cannot pay for an unregistered bond.
    role = agent.functions.PAYING_AGENT_ROLE().call()
    admin = Signer(world.chain(), keys.dev_account(0))
    admin.transact(agent.functions.grantRole(role, keys.dev_account(9).address), "appoint a paying agent")
    payer = Signer(world.chain(), keys.dev_account(9))
    fn = agent.functions.declareCoupon(bond.address, 1, 1, 0)
    with pytest.raises(ChainError, match="BondNotRegistered"):
        payer.build(fn, "declare")


def test_a_coupon_stops_before_paying_anyone_when_the_issuers_cash_falls_short(issued):
    world, _ = issued
    chain = world.chain()
    hkd = chain.contract("CashToken", Register(world.db_url).require_contract("cash", "HKD").address)
    operator = Signer(chain, keys.dev_account(0))
    operator.transact(hkd.functions.transfer(dev_address(9), 1_990_000_000_00), "spend most of the proceeds")
    warp_to(world, "2024-08-07")
    assert world.run("sync").exit_code == 0
    before = chain_state(world.rpc_url), register_counts(world.db_url)
    r = world.run("coupon", "pay", ISIN)
    assert r.exit_code == 1
    assert "the issuer's cash account holds 10000000.00 HKD, short of the 37895890.40 due; nothing was paid" in r.stderr
    assert (chain_state(world.rpc_url), register_counts(world.db_url)) == before


def test_the_register_lists_due_and_paid_and_reconciles_against_the_schedule(issued):
    world, _ = issued
    warp_to(world, "2024-08-07")
    assert world.run("sync").exit_code == 0  # reconcile compares at the indexed block
    unpaid = world.run("reconcile", ISIN, "--format", "json")
    assert unpaid.exit_code == 1
    assert [b["kind"] for b in unpaid.json()["breaks"]] == ["coupon_unpaid"], "a coupon due and unpaid is a break"
    pay(world)
    assert world.run("reconcile", ISIN).exit_code == 0
    [first, *rest] = world.run("register", "coupons", ISIN, "--format", "json").json()
    assert (first["status"], first["quantity_of_record"], first["paid"]) == ("paid", 40_000, "37895890.40")
    assert Decimal(first["due"]) - Decimal(first["paid"]) == Decimal(first["residue"])
    assert [c["status"] for c in rest] == ["not declared"] * 3

    with Register(world.db_url).engine.begin() as conn:
        conn.execute(text("UPDATE payments SET amount = amount + 1 WHERE holder = :w"), {"w": dev_address(1)})
    tampered = world.run("reconcile", ISIN, "--format", "json")
    assert tampered.exit_code == 1 and "coupon_payments" in [b["kind"] for b in tampered.json()["breaks"]]


# ---------------------------------------------------------------------- redemption


def pay_all_coupons(world):
    for day in ("2024-08-07", "2025-02-07", "2025-08-07", "2026-02-09"):
        warp_to(world, day)
        pay(world)


def test_a_bond_from_issue_to_redemption_with_a_trade_in_between(issued):
    world, out = issued
    warp_to(world, "2024-08-07")
    pay(world)
    trade_all(world, 5, 3, 3_000, "2024-08-07")
    for day in ("2025-02-07", "2025-08-07", "2026-02-09"):
        warp_to(world, day)
        pay(world)
    assert world.run("cash", "mint", "HKD", dev_address(0), "400000000").exit_code == 0  # the issuer funds the principal
    r = world.run("redeem", ISIN, "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert (r.json()["total_paid"], r.json()["complete"]) == ("2000000000.00", True)

    principal = payments(world, kind="redemption")
    assert principal["lion_rock"]["amount"] == "550000000.00" and "victoria_peak" not in principal
    assert world.run("register", "holders", ISIN, "--format", "json").json() == []
    bond = world.chain().contract("BondToken", out["address"]).functions
    assert bond.isRedeemed().call() and bond.totalSupply().call() == 0
    assert world.run("reconcile", ISIN).exit_code == 0
    again = world.run("redeem", ISIN)
    assert again.exit_code == 2 and "is already redeemed" in again.stderr


def test_redemption_waits_for_maturity_and_pays_the_coupons_owed_with_the_principal(issued):
    world, _ = issued
    early = world.run("redeem", ISIN)
    assert early.exit_code == 2 and "matures on 2026-02-07" in early.stderr
    warp_to(world, "2026-02-09")
    call = world.run("redeem", ISIN, "--call")
    assert call.exit_code == 2
    short = world.run("redeem", ISIN)  # four coupons and the principal: the issuer's cash must cover all of it first
    assert short.exit_code == 1 and "(4 coupon(s) and the principal); nothing was paid" in short.stderr
    assert payments(world) == {}
    assert world.run("cash", "mint", "HKD", dev_address(0), "400000000").exit_code == 0
    r = world.run("redeem", ISIN, "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert [c["coupon"] for c in r.json()["coupons_paid"]] == [1, 2, 3, 4] and r.json()["complete"] is True
    assert len(payments(world, coupon=4)) == 5 and len(payments(world, kind="redemption")) == 5
    assert world.run("reconcile", ISIN).exit_code == 0


def test_from_maturity_the_bond_no_longer_trades(issued):
    world, out = issued
    warp_to(world, "2026-02-07")
    bond = world.chain().contract("BondToken", out["address"]).functions
    assert bond.canTransfer(dev_address(1), dev_address(2), 1).call() is False
    assert bond.detectTransferRestriction(dev_address(1), dev_address(2), 1).call() == 12  # instrument closed
    r = world.run("trade", ISIN, "--seller", "harbour_pension", "--buyer", "kowloon_life", "--quantity", 1, "--price", "100")
    assert r.exit_code == 2


@pytest.fixture
def callable_bond(funded, tmp_path):
    """The sample bond with an issuer's call from 2025-02-07 at 101."""
    termsheet = tmp_path / "callable.toml"
    termsheet.write_text(
        (EXAMPLES / "green_bond_hkd.toml").read_text() + '\n[call]\nfirst_call_date = 2025-02-07\ncall_price = "101"\n'
    )
    r = funded.run("issue", termsheet, "--allocations", EXAMPLES / "allocations.csv", "--format", "json")
    assert r.exit_code == 0, r.stderr
    return funded, r.json()


def test_an_issuer_call_redeems_early_at_the_call_price_plus_accrued(callable_bond):
    world, out = callable_bond
    warp_to(world, "2024-08-07")
    pay(world)
    warp_to(world, "2024-12-02")
    too_early = world.run("redeem", ISIN, "--call")
    assert too_early.exit_code == 2 and "callable from 2025-02-07" in too_early.stderr
    warp_to(world, "2025-02-07")
    pay(world)
    warp_to(world, "2025-03-07")
    assert world.run("cash", "mint", "HKD", dev_address(0), "200000000").exit_code == 0
    r = world.run("redeem", ISIN, "--call", "--format", "json")
    assert r.exit_code == 0, r.stderr
    # per denomination: 50,000 x 101% + 28 days of 3.8% ACT/365F on 50,000
    per_denomination = Decimal(50_500) + Decimal(50_000) * Decimal("0.038") * 28 / 365
    principal = payments(world, kind="redemption")
    assert principal["harbour_pension"]["amount"] == str(
        (per_denomination * 12_000).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
    )
    bond = world.chain().contract("BondToken", out["address"]).functions
    assert bond.isRedeemed().call() and bond.closed().call()


# ---------------------------------------------------------------------- green bond reporting


def test_green_allocations_are_reported_per_category_with_the_unallocated_balance(issued):
    world, _ = issued
    assert (
        world.run(
            "green",
            "allocate",
            ISIN,
            "--category",
            "clean_transportation",
            "--amount",
            "500000000",
            "--project",
            "Electric buses",
        ).exit_code
        == 0
    )
    assert (
        world.run(
            "green",
            "allocate",
            ISIN,
            "--category",
            "green_buildings",
            "--amount",
            "250000000.50",
            "--project",
            "Zero-carbon school",
        ).exit_code
        == 0
    )
    report = world.run("green", "report", ISIN, "--format", "json").json()
    assert (report["net_proceeds"], report["allocated"], report["unallocated"]) == (
        "2000000000.00",
        "750000000.50",
        "1249999999.50",
    )
    categories = {c["category"]: c for c in report["categories"]}
    assert len(categories) == 9, "every category of the framework, allocated or not"
    assert categories["clean_transportation"] == {
        "category": "clean_transportation",
        "allocated": "500000000.00",
        "percent_of_proceeds": "25.00",
        "projects": 1,
    }
    assert categories["renewable_energy"]["allocated"] == "0.00"
    assert report["framework_sha256"].startswith("62bcd247")
    table = world.run("green", "report", ISIN).stdout
    assert "unallocated 1249999999.50" in table


@pytest.mark.parametrize(
    "args, expect",
    [
        (
            ["--category", "coal", "--amount", "1", "--project", "X"],
            "--category: 'coal' is not one of HK0000987658's use-of-proceeds categories",
        ),
        (
            ["--category", "green_buildings", "--amount", "2000000000.01", "--project", "X"],
            "is more than the 2000000000.00 of proceeds left to allocate",
        ),
        (["--category", "green_buildings", "--amount", "-5", "--project", "X"], "--amount: -5 must be positive"),
        (
            ["--category", "green_buildings", "--amount", "1.001", "--project", "X"],
            "--amount: 1.001 HKD has more than 2 decimal places",
        ),
    ],
)
def test_a_bad_allocation_is_refused(issued, args, expect):
    world, _ = issued
    before = register_counts(world.db_url)
    r = world.run("green", "allocate", ISIN, *args)
    assert r.exit_code == 2 and expect in r.stderr, r.stderr
    assert register_counts(world.db_url) == before
