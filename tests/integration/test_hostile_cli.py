"""Hostile input through the installed `bondledger` command, end to end: each refused with exit 2
and exactly one line on stderr (no traceback, no warning before it), with nothing sent to the
chain and nothing written to the register. The malformed files are generated here from the
samples. Run as a subprocess, so that what reaches stderr is exactly what a user would see."""

import os
import subprocess
import sys

import pytest

from conftest import both_backends
from helpers import EXAMPLES, chain_state, dev_address, register_counts

BOND = (EXAMPLES / "green_bond_hkd.toml").read_text()
ETF = (EXAMPLES / "etf_hkd.toml").read_text()
INVESTORS_HEADER = "investor_id,name,wallet,country,category,kyc_expiry\n"
ALLOCATIONS = (EXAMPLES / "allocations.csv").read_text()
BONDLEDGER = os.path.join(os.path.dirname(sys.executable), "bondledger")


def run(world, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "BONDLEDGER_RPC_URL": world.rpc_url, "BONDLEDGER_DB": world.db_url}
    return subprocess.run([BONDLEDGER, *map(str, args)], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def refuses(funded):
    def check(*args, expect: str) -> str:
        before = chain_state(funded.rpc_url), register_counts(funded.db_url)
        proc = run(funded, *args)
        assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
        assert "Traceback" not in proc.stderr and "warning" not in proc.stderr.lower()
        assert expect in lines[0], lines[0]
        assert (chain_state(funded.rpc_url), register_counts(funded.db_url)) == before, "something was sent or written"
        return lines[0]

    return check


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


def issue_args(tmp_path, termsheet: str | bytes = BOND, allocations: str = ALLOCATIONS):
    return "issue", write(tmp_path, "termsheet.toml", termsheet), "--allocations", write(tmp_path, "allocations.csv", allocations)


TERM_SHEETS = [
    ("coupon_frequency = 2 ", "coupon_frequency = true ", "bond.coupon_frequency: Input should be a valid integer"),
    ("professional_investors_only = true", 'professional_investors_only = "yes"', "restrictions.professional_investors_only"),
    ('"2000000000"', "1e400", "bond.issue_size: 1E+400 is too large"),
    ("maturity_date = 2026-02-07", "maturity_date = 2300-02-07", "bond.maturity_date: 2300-02-07 is outside"),
    ("issue_date = 2024-02-07", "issue_date = 2024-02-07T00:00:00", "bond.issue_date: 2024-02-07T00:00:00 is a date and time"),
    ('(sample)"', '(sample)\\u0000"', "bond.name: contains the control character U+0000"),
    (
        "[restrictions]",
        "deep = " + "[" * 50_000 + "]" * 50_000 + "\n[restrictions]",
        "not a term sheet: values nested too deeply",
    ),
]


@pytest.mark.parametrize("old, new, expect", TERM_SHEETS, ids=[t[2].split(":")[0] + " " + t[1][:20] for t in TERM_SHEETS])
def test_a_hostile_term_sheet(refuses, tmp_path, old, new, expect):
    refuses(*issue_args(tmp_path, BOND.replace(old, new, 1)), expect=expect)


def test_a_term_sheet_not_in_utf8(refuses, tmp_path):
    refuses(
        *issue_args(tmp_path, BOND.replace("(sample)", "(caf\xe9)").encode("latin-1")), expect="termsheet.toml: not UTF-8 text"
    )


@pytest.mark.parametrize(
    "old, new, expect",
    [
        ("600000000", "1e400", "allocations.csv line 2: principal: 1E+400 is too large"),
        ("600000000", "600000000,", "allocations.csv line 2: 4 fields, more than the header's 3"),
        ("600000000", "A" * 131_073, "allocations.csv line 2: not a valid CSV row: field larger than field limit (131072)"),
    ],
    ids=["huge number", "unnamed extra column", "field over the csv limit"],
)
def test_a_hostile_allocation_file(refuses, tmp_path, old, new, expect):
    refuses(*issue_args(tmp_path, allocations=ALLOCATIONS.replace(old, new, 1)), expect=expect)


def test_a_library_warning_never_precedes_the_error_line(refuses, tmp_path):
    # Monthly coupons to 2046: QuantLib's Hong Kong calendar warns about the years it lacks, then
    # the bond is refused for having more coupons than a token keeps record dates for.
    ts = BOND.replace("coupon_frequency = 2 ", "coupon_frequency = 12").replace(
        "maturity_date = 2026-02-07", "maturity_date = 2046-02-07"
    )
    refuses(*issue_args(tmp_path, ts), expect="bond.coupon_frequency: 264 coupons over the bond's life")


def investors_file(tmp_path, *rows: str):
    return write(tmp_path, "investors.csv", INVESTORS_HEADER + "".join(r + "\n" for r in rows))


@both_backends
@pytest.mark.parametrize(
    "row, expect",
    [
        (
            f"nul_fund,Nul\x00 Fund,{dev_address(8)},HK,retail,2030-12-31",
            "investors.csv line 2: name: contains the control character U+0000",
        ),
        (
            f"far_fund,Far Fund,{dev_address(8)},HK,retail,9999-12-31",
            "investors.csv line 2: kyc_expiry: 9999-12-31 is outside 1901-01-01 to 2199-12-31",
        ),
        (
            f"dt_fund,DT Fund,{dev_address(8)},HK,retail,2030-12-31T00:00:00",
            "kyc_expiry: '2030-12-31T00:00:00' is not a date (YYYY-MM-DD)",
        ),
        (
            f"extra_fund,Extra Fund,{dev_address(8)},HK,retail,2030-12-31,surplus",
            "investors.csv line 2: 7 fields, more than the header's 6",
        ),
    ],
    ids=["NUL in a name", "KYC expiry beyond uint40", "datetime for a date", "unnamed extra column"],
)
def test_a_hostile_investor_file_sends_nothing(refuses, tmp_path, row, expect):
    # On PostgreSQL a NUL used to reach the chain first (the registry transaction), then crash.
    refuses("investors", "import", investors_file(tmp_path, row), expect=expect)


def test_a_hostile_participant_file_in_latin1(refuses, tmp_path):
    text = (EXAMPLES / "authorized_participants.csv").read_text().replace("(sample", "(caf\xe9")
    refuses(
        "investors",
        "import",
        write(tmp_path, "authorized_participants.csv", text.encode("latin-1")),
        expect="authorized_participants.csv: not UTF-8 text",
    )


def test_more_wallets_than_the_registry_keeps_is_refused_before_sending(funded, refuses, tmp_path):
    """The registry's own limit (16 wallets an investor) is checked before sending: a revert on
    chain would be exit 1 with the chain already written to."""
    first = [f"many,Many Wallets,0x{i + 1:040x},HK,retail,2030-12-31" for i in range(10)]
    assert run(funded, "investors", "import", investors_file(tmp_path, *first)).returncode == 0
    more = [f"many,Many Wallets,0x{i + 101:040x},HK,retail,2030-12-31" for i in range(7)]
    refuses(
        "investors",
        "import",
        investors_file(tmp_path, *more),
        expect="investor many: more than 16 wallets (the registry's limit)",
    )


@pytest.mark.parametrize(
    "old, new, expect",
    [
        ("creation_unit = 50000", "creation_unit = true", "etf.creation_unit: Input should be a valid integer"),
        ('"25.4321"', "1e400", "etf.initial_nav: 1E+400 is too large"),
        ('ETF (sample)"', 'ETF\\u0000"', "etf.name: contains the control character U+0000"),
    ],
    ids=["bool as int", "huge number", "NUL in the name"],
)
def test_a_hostile_etf_term_sheet(refuses, tmp_path, old, new, expect):
    refuses("etf", "launch", write(tmp_path, "etf.toml", ETF.replace(old, new, 1)), expect=expect)


@pytest.mark.parametrize(
    "args, expect",
    [
        (("cash", "mint", "HKD", dev_address(1), "1e400"), "AMOUNT: 1E+400 is too large"),
        (("cash", "mint", "HKD", dev_address(1), "NaN"), "AMOUNT: NaN is not a finite number"),
        (
            ("register", "holders", "HK0000987658", "--as-of-date", "9999-12-31"),
            "--as-of-date: 9999-12-31 is outside 1902-01-01 to 2198-12-31",
        ),
        (
            ("register", "holders", "HK0000987658", "--as-of-date", "2024-02-07T00:00"),
            "--as-of-date: '2024-02-07T00:00' is not a date (YYYY-MM-DD)",
        ),
        (("register", "holders", "HK0000987658", "--as-of-block", "9" * 30), "--as-of-block: "),
        (("etf", "create", "03999", "--ap", "red_dot_securities", "--units", "1e400"), "--units: '1e400' is not a whole number"),
        (("cash", "allow", "HKD", "5", "--dev-account", "true"), "--dev-account: 'true' is not a whole number"),
    ],
    ids=["huge amount", "NaN amount", "date beyond QuantLib", "datetime for a date", "huge block", "float units", "bool index"],
)
def test_hostile_command_arguments(refuses, args, expect):
    refuses(*args, expect=expect)
