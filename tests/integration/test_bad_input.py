"""Bad input gets one line naming what is wrong, exit code 2, and nothing half-written:
the chain has not moved (no block, no transaction from the operator) and no register row
has been added."""

import os
import subprocess
import sys

import pytest

from helpers import EXAMPLES, chain_state, dev_address, register_counts

TERMSHEET = (EXAMPLES / "green_bond_hkd.toml").read_text()
ALLOCATIONS = (EXAMPLES / "allocations.csv").read_text()


@pytest.fixture
def refuses(funded, tmp_path):
    """Runs a command that must be refused and checks that it left no trace."""

    def check(*args, expect: str) -> str:
        before_chain, before_register = chain_state(funded.rpc_url), register_counts(funded.db_url)
        r = funded.run(*args)
        assert r.exit_code == 2, (r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
        assert expect in lines[0]
        assert chain_state(funded.rpc_url) == before_chain, "something was sent to the chain"
        assert register_counts(funded.db_url) == before_register, "something was written to the register"
        return lines[0]

    return check


def files(tmp_path, termsheet: str = TERMSHEET, allocations: str = ALLOCATIONS):
    ts, alloc = tmp_path / "termsheet.toml", tmp_path / "allocations.csv"
    ts.write_text(termsheet)
    alloc.write_text(allocations)
    return ts, "--allocations", alloc


def test_a_bad_isin_check_digit(refuses, tmp_path):
    refuses(
        "issue",
        *files(tmp_path, TERMSHEET.replace("HK0000987658", "HK0000987657")),
        expect="bond.isin: bad check digit 7 (expected 8)",
    )


def test_maturity_not_after_issue(refuses, tmp_path):
    ts = TERMSHEET.replace("maturity_date = 2026-02-07", "maturity_date = 2024-02-07")
    refuses("issue", *files(tmp_path, ts), expect="bond.maturity_date: 2024-02-07 is not after issue_date 2024-02-07")


def test_principal_not_a_multiple_of_the_denomination(refuses, tmp_path):
    alloc = ALLOCATIONS.replace("600000000", "599990000").replace("150000000", "150010000")
    refuses(
        "issue",
        *files(tmp_path, allocations=alloc),
        expect="harbour_pension: principal 599990000 is not a multiple of the denomination 50000",
    )


def test_allocations_not_summing_to_the_issue_size(refuses, tmp_path):
    alloc = ALLOCATIONS.replace("150000000", "100000000")
    refuses(
        "issue",
        *files(tmp_path, allocations=alloc),
        expect="allocations sum to 1950000000.00 but the issue size is 2000000000 HKD",
    )


def test_an_unknown_investor(refuses, tmp_path):
    alloc = ALLOCATIONS.replace("victoria_peak", "ghost_fund")
    refuses("issue", *files(tmp_path, allocations=alloc), expect="investor_id: ghost_fund is not a known investor")


def test_a_bad_address(refuses, tmp_path):
    alloc = ALLOCATIONS.replace(dev_address(5), "0x9965507D1a55bcC2695C58ba16FB37d819B0A4")
    refuses(
        "issue",
        *files(tmp_path, allocations=alloc),
        expect="allocations.csv line 6: wallet: '0x9965507D1a55bcC2695C58ba16FB37d819B0A4' is not a 20-byte hex address",
    )


def test_a_bad_checksum_address(refuses, tmp_path):
    alloc = ALLOCATIONS.replace(dev_address(5), dev_address(5).replace("dc", "DC"))
    refuses("issue", *files(tmp_path, allocations=alloc), expect="bad EIP-55 checksum")


def test_a_wallet_of_another_investor(refuses, tmp_path):
    alloc = ALLOCATIONS.replace(f"victoria_peak,{dev_address(5)}", f"victoria_peak,{dev_address(4)}")
    refuses(
        "issue",
        *files(tmp_path, allocations=alloc),
        expect=f"wallet: {dev_address(4)} is not a registered wallet of victoria_peak",
    )


def test_an_ineligible_retail_investor(refuses, tmp_path):
    # chan_tai_man is retail; the bond is for professional investors only
    alloc = ALLOCATIONS.replace(f"victoria_peak,{dev_address(5)}", f"chan_tai_man,{dev_address(7)}")
    refuses(
        "issue", *files(tmp_path, allocations=alloc), expect="chan_tai_man: not eligible for HK0000987658: category not allowed"
    )


def test_an_investor_outside_the_allowed_jurisdictions(refuses, tmp_path):
    ts = TERMSHEET.replace('allowed_jurisdictions = ["HK", "SG", "GB", "JP", "AU"]', 'allowed_jurisdictions = ["HK"]')
    refuses("issue", *files(tmp_path, ts), expect="straits_capital: not eligible for HK0000987658: jurisdiction not allowed")


def test_cash_short_of_the_allocation(funded, refuses, tmp_path):
    funded.run("cash", "allow", "HKD", "900000000", "--dev-account", 5)  # authorized more than it holds
    alloc = ALLOCATIONS.replace("600000000", "450000000").replace("150000000", "300000000")
    refuses(
        "issue",
        *files(tmp_path, allocations=alloc),
        expect=f"{dev_address(5)}: cash balance 150000000.00 HKD is short of 300000000.00",
    )


def test_cash_not_authorized_for_settlement(funded, refuses, tmp_path):
    assert funded.run("cash", "allow", "HKD", "100", "--dev-account", 3).exit_code == 0
    refuses("issue", *files(tmp_path), expect=f"{dev_address(3)}: authorized 100.00 HKD for settlement, needs 400000000.00")


def test_a_bond_that_matured_before_the_chains_date(refuses, tmp_path):
    ts = TERMSHEET.replace("issue_date = 2024-02-07", "issue_date = 2022-02-07").replace(
        "maturity_date = 2026-02-07", "maturity_date = 2024-02-07"
    )
    refuses("issue", *files(tmp_path, ts), expect="bond.maturity_date: 2024-02-07 is not after the chain's date 2024-02-07")


@pytest.mark.filterwarnings("ignore:QuantLib's Hong Kong calendar")
def test_more_coupons_than_a_token_keeps_record_dates_for(refuses, tmp_path):
    ts = TERMSHEET.replace("coupon_frequency = 2 ", "coupon_frequency = 12").replace(
        "maturity_date = 2026-02-07", "maturity_date = 2046-02-07"
    )
    refuses(
        "issue",
        *files(tmp_path, ts),
        expect="bond.coupon_frequency: 264 coupons over the bond's life; a token keeps at most 255 record dates",
    )


def test_reissuing_an_isin_with_other_terms(issued, tmp_path):
    world, _ = issued
    before_chain, before_register = chain_state(world.rpc_url), register_counts(world.db_url)
    r = world.run("issue", *files(tmp_path, TERMSHEET.replace('coupon_rate = "3.800"', 'coupon_rate = "3.900"')))
    assert r.exit_code == 2 and "already issued in this register with a different term sheet" in r.stderr
    assert (chain_state(world.rpc_url), register_counts(world.db_url)) == (before_chain, before_register)


@pytest.mark.parametrize(
    "args, expect",
    [
        (("cash", "mint", "HKD", "0x1234", "100"), "WALLET: '0x1234' is not a 20-byte hex address"),
        (("cash", "mint", "HKD", dev_address(1), "1.001"), "amount: 1.001 HKD has more than 2 decimal places"),
        (("cash", "mint", "HKD", dev_address(1), "0"), "amount: 0 must be positive"),
        (("cash", "mint", "JPY", dev_address(1), "5"), "currency: 'JPY' is not one of HKD, CNH, USD, EUR"),
        (("cash", "mint", "HKD", dev_address(1), "lots"), "AMOUNT: 'lots' is not a number"),
        (("cash", "allow", "HKD", "5"), "holder: give exactly one of --private-key or --dev-account"),
        (("cash", "allow", "HKD", "5", "--private-key", "0xnot-a-key"), "--private-key: not a valid secp256k1 private key"),
        (("cash", "allow", "HKD", "5", "--dev-account", "12"), "dev account: index 12 is not between 0 and 9"),
        (("register", "holders", "XS0000000000"), "ISIN: XS0000000000 is not an instrument in this register"),
    ],
)
def test_bad_command_arguments(refuses, args, expect):
    line = refuses(*args, expect=expect)
    assert "not-a-key" not in line


def test_an_investor_file_with_a_bad_row(refuses, tmp_path):
    bad = tmp_path / "investors.csv"
    bad.write_text((EXAMPLES / "investors.csv").read_text() + "new_fund,New Fund,0xabc,HK,retail,2030-01-01\n")
    refuses("investors", "import", bad, expect="investors.csv line 9: wallet: '0xabc' is not a 20-byte hex address")


def test_a_wallet_already_registered_to_another_investor(refuses, tmp_path):
    clash = tmp_path / "investors.csv"
    clash.write_text(
        "investor_id,name,wallet,country,category,kyc_expiry\n"
        f"new_fund,New Fund,{dev_address(8)},HK,retail,2030-01-01\n"
        f"impostor,Impostor,{dev_address(1)},HK,retail,2030-01-01\n"
    )
    refuses(
        "investors", "import", clash, expect=f"wallet {dev_address(1)} of impostor is registered on chain to another investor"
    )


def test_the_installed_command_prints_one_line_and_exits_2(funded, tmp_path):
    ts, _, alloc = files(tmp_path, TERMSHEET.replace("HK0000987658", "HK0000987651"))
    env = {**os.environ, "BONDLEDGER_RPC_URL": funded.rpc_url, "BONDLEDGER_DB": funded.db_url}
    bondledger = os.path.join(os.path.dirname(sys.executable), "bondledger")
    proc = subprocess.run([bondledger, "issue", ts, "--allocations", alloc], env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr == "error: termsheet.toml: bond.isin: bad check digit 1 (expected 8)\n"
    assert proc.stdout == ""


def test_a_missing_option_is_a_usage_error_with_exit_2(funded):
    r = funded.run("issue", EXAMPLES / "green_bond_hkd.toml")
    assert r.exit_code == 2 and "Missing option '--allocations'" in r.stderr
