"""Hostile input, file by file: each file kind an issuer hands bondledger (bond and ETF term
sheets, investor, authorized-participant and allocation CSV files) is generated here in every
malformed way the fault fuzz found, and each must be refused with InputError in one line, with
no other exception and no warning on the way. No chain: this is parsing alone."""

import gc
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import EXAMPLES
from issuance.inputs import read_allocations, read_investors
from issuance.termsheet import load_etf_termsheet, load_termsheet
from ledger.errors import InputError

BOND = (EXAMPLES / "green_bond_hkd.toml").read_text()
ETF = (EXAMPLES / "etf_hkd.toml").read_text()
INVESTORS = (EXAMPLES / "investors.csv").read_text()
PARTICIPANTS = (EXAMPLES / "authorized_participants.csv").read_text()
ALLOCATIONS = (EXAMPLES / "allocations.csv").read_text()


def sub(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def latin1(text: str, old: str, new: str) -> bytes:
    """`text` with `new` in place of `old`, saved as Latin-1 (not UTF-8)."""
    return sub(text, old, new).encode("latin-1")


DEEP = "[" * 50_000 + "]" * 50_000
BIG_FIELD = "A" * 131_073

#: (file kind, reader, file name, malformed content, what the one line must say)
KINDS = {
    "bond": (load_termsheet, "termsheet.toml"),
    "etf": (load_etf_termsheet, "etf.toml"),
    "investors": (read_investors, "investors.csv"),
    "participants": (read_investors, "authorized_participants.csv"),
    "allocations": (read_allocations, "allocations.csv"),
}
CASES = [
    # numbers beyond what Decimal arithmetic takes
    ("bond", "huge number", sub(BOND, '"2000000000"', "1e400"), "bond.issue_size: 1E+400 is too large"),
    ("bond", "huge integer", sub(BOND, '"50000" ', "1" + "0" * 400 + " "), "bond.denomination: 1.000000E+400 is too large"),
    ("bond", "tiny number", sub(BOND, '"3.800"', '"1e-400"'), "bond.coupon_rate: 1E-400 has more than 8 decimal places"),
    ("bond", "NaN", sub(BOND, '"3.800"', "nan"), "bond.coupon_rate: Input should be a finite number"),
    ("etf", "huge number", sub(ETF, '"25.4321"', "1e400"), "etf.initial_nav: 1E+400 is too large"),
    ("etf", "huge integer", sub(ETF, "creation_unit = 50000", "creation_unit = " + "9" * 30), "etf.creation_unit: "),
    (
        "allocations",
        "huge number",
        sub(ALLOCATIONS, "600000000", "1e400"),
        "allocations.csv line 2: principal: 1E+400 is too large",
    ),
    (
        "allocations",
        "infinity",
        sub(ALLOCATIONS, "600000000", "Infinity"),
        "allocations.csv line 2: principal: Input should be a finite number",
    ),
    # dates outside QuantLib's 1901-2199 (and KYC expiries beyond the registry's uint40)
    (
        "bond",
        "date before 1901",
        sub(BOND, "issue_date = 2024-02-07", "issue_date = 1800-02-07"),
        "bond.issue_date: 1800-02-07 is outside 1901-01-01 to 2199-12-31",
    ),
    (
        "bond",
        "date after 2199",
        sub(BOND, "maturity_date = 2026-02-07", "maturity_date = 9999-12-31"),
        "bond.maturity_date: 9999-12-31 is outside",
    ),
    (
        "bond",
        "maturity at QuantLib's edge",
        sub(BOND, "maturity_date = 2026-02-07", "maturity_date = 2199-12-31"),
        "bond.maturity_date: 2199-12-31 is outside 1902-01-01 to 2198-12-31",
    ),
    (
        "investors",
        "KYC expiry beyond uint40",
        sub(INVESTORS, "2030-12-31", "9999-12-31"),
        "investors.csv line 2: kyc_expiry: 9999-12-31 is outside 1901-01-01 to 2199-12-31",
    ),
    (
        "participants",
        "KYC expiry beyond uint40",
        sub(PARTICIPANTS, "2030-12-31", "9999-12-31"),
        "line 2: kyc_expiry: 9999-12-31 is outside",
    ),
    ("investors", "KYC expiry before 1901", sub(INVESTORS, "2030-12-31", "0001-01-01"), "kyc_expiry: 0001-01-01 is outside"),
    # a datetime where a date belongs
    (
        "bond",
        "datetime at midnight",
        sub(BOND, "issue_date = 2024-02-07", "issue_date = 2024-02-07T00:00:00"),
        "bond.issue_date: 2024-02-07T00:00:00 is a date and time",
    ),
    (
        "bond",
        "datetime with zone",
        sub(BOND, "issue_date = 2024-02-07", "issue_date = 2024-02-07T00:00:00Z"),
        "bond.issue_date: 2024-02-07T00:00:00+00:00 is a date and time",
    ),
    (
        "investors",
        "datetime",
        sub(INVESTORS, "2030-12-31", "2030-12-31T00:00:00"),
        "kyc_expiry: '2030-12-31T00:00:00' is not a date (YYYY-MM-DD)",
    ),
    (
        "participants",
        "datetime",
        sub(PARTICIPANTS, "2030-12-31", "2030-12-31 00:00"),
        "kyc_expiry: '2030-12-31 00:00' is not a date",
    ),
    # files not in UTF-8
    ("bond", "Latin-1", latin1(BOND, "(sample)", "(caf\xe9)"), "termsheet.toml: not UTF-8 text (byte 0xe9"),
    ("etf", "Latin-1", latin1(ETF, "(sample)", "(caf\xe9)"), "etf.toml: not UTF-8 text (byte 0xe9"),
    ("investors", "Latin-1", latin1(INVESTORS, "(sample)", "(caf\xe9)"), "investors.csv: not UTF-8 text (byte 0xe9)"),
    ("participants", "Latin-1", latin1(PARTICIPANTS, "(sample", "(caf\xe9"), "authorized_participants.csv: not UTF-8 text"),
    ("allocations", "Latin-1", latin1(ALLOCATIONS, "harbour_pension", "harbour_pensi\xf3n"), "allocations.csv: not UTF-8 text"),
    ("bond", "UTF-16", BOND.encode("utf-16"), "termsheet.toml: not UTF-8 text (byte 0xff at offset 0)"),
    # nesting that would exhaust the parser's recursion
    (
        "bond",
        "50,000-deep array",
        BOND + f"\n[extra]\nx = {DEEP}\n",
        "termsheet.toml: not a term sheet: values nested too deeply",
    ),
    (
        "etf",
        "50,000-deep array",
        sub(ETF, "[restrictions]", f"deep = {DEEP}\n\n[restrictions]"),
        "etf.toml: not a term sheet: values nested too deeply",
    ),
    ("bond", "deep inline tables", BOND + "\nx = " + "{a = " * 50_000 + "1" + "}" * 50_000 + "\n", "values nested too deeply"),
    # a CSV field over csv.field_size_limit()
    (
        "investors",
        "131,073-character field",
        INVESTORS + f"big,{BIG_FIELD},0x14dC79964da2C08b23698B3D3cc7Ca32193d9955,HK,retail,2030-12-31\n",
        "investors.csv line 9: not a valid CSV row: field larger than field limit (131072)",
    ),
    (
        "participants",
        "131,073-character field",
        sub(PARTICIPANTS, "(sample participating dealer)", BIG_FIELD),
        "line 2: not a valid CSV row: field larger than field limit",
    ),
    (
        "allocations",
        "131,073-character field",
        sub(ALLOCATIONS, "600000000", BIG_FIELD),
        "allocations.csv line 2: not a valid CSV row: field larger than field limit",
    ),
    # bools are not ints, and a string is not a bool
    (
        "bond",
        "true as coupon frequency",
        sub(BOND, "coupon_frequency = 2 ", "coupon_frequency = true "),
        "bond.coupon_frequency: Input should be a valid integer",
    ),
    (
        "bond",
        "2.0 as coupon frequency",
        sub(BOND, "coupon_frequency = 2 ", "coupon_frequency = 2.0 "),
        "bond.coupon_frequency: Input should be a valid integer",
    ),
    ("bond", "true as a rate", sub(BOND, '"3.800"', "true"), "bond.coupon_rate: must be a number, not true or false"),
    (
        "bond",
        "true as record offset",
        sub(BOND, "calendar = ", "record_date_offset = true\ncalendar = "),
        "bond.record_date_offset: Input should be a valid integer",
    ),
    (
        "bond",
        '"yes" as a bool',
        sub(BOND, "professional_investors_only = true", 'professional_investors_only = "yes"'),
        "restrictions.professional_investors_only: Input should be a valid boolean",
    ),
    (
        "bond",
        "1 as a bool",
        sub(BOND, "professional_investors_only = true", "professional_investors_only = 1"),
        "restrictions.professional_investors_only: Input should be a valid boolean",
    ),
    (
        "etf",
        "true as creation unit",
        sub(ETF, "creation_unit = 50000", "creation_unit = true"),
        "etf.creation_unit: Input should be a valid integer",
    ),
    (
        "etf",
        "true as NAV age",
        sub(ETF, "nav_max_age = 86400", "nav_max_age = true"),
        "etf.nav_max_age: Input should be a valid integer",
    ),
    (
        "etf",
        '"yes" as a bool',
        sub(ETF, "professional_investors_only = true", 'professional_investors_only = "yes"'),
        "restrictions.professional_investors_only: Input should be a valid boolean",
    ),
    # an extra CSV column, named or not, is refused rather than dropped
    (
        "investors",
        "unnamed extra field",
        sub(INVESTORS, "2030-12-31\n", "2030-12-31,surplus\n"),
        "investors.csv line 2: 7 fields, more than the header's 6",
    ),
    (
        "participants",
        "unnamed extra field",
        sub(PARTICIPANTS, "2030-12-31", "2030-12-31,"),
        "line 2: 7 fields, more than the header's 6",
    ),
    (
        "allocations",
        "unnamed extra field",
        sub(ALLOCATIONS, "600000000", "600000000,5"),
        "allocations.csv line 2: 4 fields, more than the header's 3",
    ),
    (
        "allocations",
        "unknown column",
        sub(ALLOCATIONS, "principal\n", "principal,currency\n").replace("000\n", "000,HKD\n"),
        "allocations.csv: unknown column(s) 'currency'",
    ),
    (
        "investors",
        "unknown column",
        sub(INVESTORS, "kyc_expiry\n", "kyc_expiry,notes\n").replace("2030-12-31\n", "2030-12-31,x\n"),
        "investors.csv: unknown column(s) 'notes'",
    ),
    (
        "allocations",
        "column named twice",
        sub(ALLOCATIONS, "principal\n", "principal,principal\n").replace("000\n", "000,1\n"),
        "allocations.csv: a column named twice",
    ),
    (
        "allocations",
        "missing field",
        sub(ALLOCATIONS, ",600000000", ""),
        "allocations.csv line 2: 2 fields, fewer than the header's 3",
    ),
    # control characters in text
    ("bond", "NUL in the name", sub(BOND, '(sample)"', '(sample)\\u0000"'), "bond.name: contains the control character U+0000"),
    (
        "bond",
        "escape in the issuer",
        sub(BOND, 'Region (sample)"', 'Region\\u001b[2J"'),
        "bond.issuer: contains the control character U+001B",
    ),
    (
        "bond",
        "newline in the framework URI",
        sub(BOND, 'framework.html"', 'framework.html\\n"'),
        "green.framework_uri: contains the control character U+000A",
    ),
    ("etf", "NUL in the name", sub(ETF, '(sample)"', '(sample)\\u0000"'), "etf.name: contains the control character U+0000"),
    (
        "etf",
        "NUL in the manager",
        sub(ETF, 'Management (sample)"', 'Management\\u0000"'),
        "etf.manager: contains the control character U+0000",
    ),
    (
        "investors",
        "NUL in a name",
        sub(INVESTORS, "(sample retail investor)", "(sample\x00)"),
        "investors.csv line 8: name: contains the control character U+0000",
    ),
    (
        "participants",
        "NUL in a name",
        sub(PARTICIPANTS, "(sample participating dealer)", "dealer\x00"),
        "line 2: name: contains the control character U+0000",
    ),
    (
        "participants",
        "bell in a name",
        sub(PARTICIPANTS, "(sample participating dealer)", "dealer\x07"),
        "line 2: name: contains the control character U+0007",
    ),
    (
        "allocations",
        "NUL in an id",
        sub(ALLOCATIONS, "harbour_pension", "harbour\x00pension"),
        "allocations.csv line 2: investor_id: String should match pattern",
    ),
    # more wallets for one investor than the registry keeps (a revert, if it reached the chain)
    (
        "investors",
        "17 wallets",
        INVESTORS + "".join(f"many,Many,0x{i + 1:040x},HK,retail,2030-12-31\n" for i in range(17)),
        "investors.csv: investor many has 17 wallets; the registry keeps at most 16",
    ),
]


@pytest.mark.parametrize("kind, name, content, expect", CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_a_malformed_file_is_refused_in_one_line(tmp_path, kind, name, content, expect):
    reader, filename = KINDS[kind]
    path = tmp_path / filename
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    message = refused(reader, path)
    assert expect in message
    assert "\n" not in message and len(message) < 400, message


def refused(reader: Callable, path: Path) -> str:
    """The InputError `reader` raises for `path`; no other exception and no warning is acceptable."""
    gc.collect()  # what earlier tests left (an unclosed connection) warns now, not while reading
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(InputError) as exc:
            reader(path)
    caught = [w for w in caught if not issubclass(w.category, ResourceWarning)]
    assert not caught, [str(w.message) for w in caught]
    return str(exc.value)


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_samples_still_parse(kind, tmp_path):
    reader, filename = KINDS[kind]
    source = {"bond": BOND, "etf": ETF, "investors": INVESTORS, "participants": PARTICIPANTS, "allocations": ALLOCATIONS}[kind]
    (tmp_path / filename).write_text(source)
    assert reader(tmp_path / filename)
