"""Testing your own system against bondledger: what a user's test module looks like.

Nothing here imports from bondledger's tests: the fixtures come from the pytest plugin that
installing bondledger registers (`pip install bondledger pytest`, anvil on PATH or in
BONDLEDGER_ANVIL, then `pytest test_with_bondledger.py`). Each test gets its own devnet
and register; `--bondledger-devnet=shared` runs them all on one anvil, reverted after each.
"""

from datetime import timedelta

import pytest


def test_a_bond_is_issued_to_the_allocations(bondledger_bond):
    holders = bondledger_bond.run("register", "holders", bondledger_bond.isin, "--format", "json").check().json()
    assert len(holders) == len(bondledger_bond.allocations)
    assert bondledger_bond.run("reconcile", bondledger_bond.isin).exit_code == 0


def test_a_secondary_trade_settles_delivery_versus_payment(bondledger_bond, bondledger_investors, bondledger_cash):
    seller, buyer = bondledger_investors["harbour_pension"], bondledger_investors["kowloon_life"]
    bondledger_cash.fund(buyer, 5_000_000)
    before = bondledger_cash.balance(seller.address)
    trade = bondledger_bond.run(
        "trade", bondledger_bond.isin, "--seller", seller.investor_id, "--buyer", buyer.investor_id,
        "--quantity", 100, "--price", "99.50", "--settlement-date", "2024-02-07", "--format", "json",
    ).check().json()  # fmt: skip
    for party in (seller, buyer):
        bondledger_bond.run("affirm", trade["instruction_id"], "--private-key", party.private_key).check()
    bondledger_bond.run("settle").check()
    assert bondledger_cash.balance(seller.address) > before
    assert bondledger_bond.run("reconcile", bondledger_bond.isin).exit_code == 0


def test_the_clock_brings_the_first_coupon_due(bondledger_bond, bondledger_clock):
    bondledger_clock.move_to("2024-08-07T02:00:00")
    bondledger_bond.run("coupon", "pay", bondledger_bond.isin).check()
    payments = bondledger_bond.run("register", "payments", bondledger_bond.isin, "--format", "json").check().json()
    assert payments and bondledger_clock.advance(timedelta(days=1)).date().isoformat() == "2024-08-08"


def test_a_devnet_of_its_own_starts_empty(bondledger_devnet):
    assert bondledger_devnet.block_number() == 0
    assert bondledger_devnet.chain_id == 31337 and len(bondledger_devnet.accounts) == 10


class TestYourOwnInvestors:
    """Override a data fixture (here in a class, or in your conftest.py) to use your own."""

    @pytest.fixture
    def bondledger_investor_list(self):
        return [
            {"investor_id": "your_fund", "name": "Your Fund", "country": "HK", "category": "institutional_professional_investor",
             "private_key": "0x" + "11" * 32},
        ]  # fmt: skip

    def test_they_are_onboarded_with_their_own_keys(self, bondledger_investors, bondledger_cash):
        fund = bondledger_investors["your_fund"]
        bondledger_cash.fund(fund, 1000)  # the cash authorization is signed with the fund's own key
        assert bondledger_cash.balance(fund.address) == 1000
        listed = bondledger_investors.platform.run("investors", "list", "--format", "json").check().json()
        assert [i["investor_id"] for i in listed] == ["your_fund"]
