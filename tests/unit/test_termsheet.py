"""The term sheet: what is accepted, and one line naming the field for what is not."""

from decimal import Decimal

import pytest

from helpers import EXAMPLES
from issuance.termsheet import isin_check_digit, load_termsheet, parse_termsheet
from ledger.errors import InputError

SAMPLE = (EXAMPLES / "green_bond_hkd.toml").read_text()


def parse(text: str):
    return parse_termsheet(text, "ts.toml")


def refused(text: str) -> str:
    with pytest.raises(InputError) as exc:
        parse(text)
    assert exc.value.exit_code == 2
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_the_sample_term_sheet_is_valid():
    ts = load_termsheet(EXAMPLES / "green_bond_hkd.toml")
    assert ts.bond.isin == "HK0000987658"
    assert ts.bond.coupon_rate == Decimal("3.800")
    assert ts.bond.coupon_rate_e6 == 38_000
    assert ts.restrictions.professional_investors_only
    assert "clean_transportation" in ts.green.use_of_proceeds


def test_coupon_rate_maps_to_erc7092_units():
    ts = parse(SAMPLE.replace('coupon_rate = "3.800"', 'coupon_rate = "3.647"'))
    assert ts.bond.coupon_rate_e6 == 36_470


def test_toml_floats_are_read_as_exact_decimals():
    ts = parse(SAMPLE.replace('coupon_rate = "3.800"', "coupon_rate = 3.8"))
    assert ts.bond.coupon_rate == Decimal("3.8")


@pytest.mark.parametrize("body, valid", [("US037833100", 5), ("HK000098765", 8), ("XS123456789", 6)])
def test_isin_check_digit_follows_iso_6166(body, valid):
    assert isin_check_digit(body) == valid


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("HK0000987658", "HK0000987651", "bond.isin: bad check digit 1 (expected 8)"),
        ("HK0000987658", "HK00009876", "bond.isin: 'HK00009876' is not an ISIN"),
        ("maturity_date = 2026-02-07", "maturity_date = 2024-02-07", "bond.maturity_date: 2024-02-07 is not after issue_date"),
        (
            'denomination = "50000"',
            'denomination = "30000"',
            "bond.issue_size: 2000000000 is not a multiple of the denomination 30000",
        ),
        ('denomination = "50000"', 'denomination = "0"', "bond.denomination: Input should be greater than 0"),
        (
            'denomination = "50000"',
            'denomination = "50000.001"',
            "bond.denomination: 50000.001 HKD has more than 2 decimal places",
        ),
        ('currency = "HKD"', 'currency = "JPY"', "bond.currency: Input should be 'HKD', 'CNH', 'USD' or 'EUR'"),
        ("coupon_frequency = 2", "coupon_frequency = 3", "bond.coupon_frequency: 3 is not one of (0, 1, 2, 4, 12)"),
        ("coupon_frequency = 2", "coupon_frequency = 0", "bond.coupon_rate: must be 0 for a zero-coupon bond"),
        ('coupon_rate = "3.800"', 'coupon_rate = "3.80001"', "bond.coupon_rate: 3.80001 has more than 4 decimal places"),
        ('day_count = "ACT/365F"', 'day_count = "ACT/365"', "bond.day_count: Input should be"),
        ('calendar = "HK"', 'calendar = "NY"', "bond.calendar: Input should be 'HK'"),
        ('issuer = "The', 'issuer_name = "The', "bond.issuer: missing"),
        ('calendar = "HK"', 'calendar = "HK"\ncolour = "green"', "bond.colour: unknown field"),
        ('"SG"', '"XX"', "restrictions.allowed_jurisdictions[1]: 'XX' is not an ISO 3166-1 alpha-2 country code"),
        ('framework_sha256 = "', 'framework_sha256 = "zz', "green.framework_sha256: must be 64 hex digits"),
        ("use_of_proceeds = [", 'use_of_proceeds = ["Not Snake",', "green.use_of_proceeds[0]: String should match pattern"),
        ("issue_date = 2024-02-07", 'issue_date = "soon"', "bond.issue_date: 'soon' is not a date (YYYY-MM-DD)"),
    ],
)
def test_a_bad_field_is_named_in_one_line(old, new, expected):
    assert old in SAMPLE
    assert expected in refused(SAMPLE.replace(old, new, 1))


def test_broken_toml_is_refused_with_its_position():
    assert refused("[bond\nisin = 1").startswith("ts.toml: not valid TOML")


def test_a_missing_file_is_bad_input(tmp_path):
    with pytest.raises(InputError, match="cannot read term sheet"):
        load_termsheet(tmp_path / "nope.toml")


def test_green_and_restrictions_are_optional():
    bare = SAMPLE.split("[green]")[0]
    ts = parse(bare)
    assert ts.green is None
    assert not ts.restrictions.professional_investors_only
    assert ts.restrictions.allowed_jurisdictions == []


def test_the_term_sheet_hash_is_stable_and_sensitive():
    a, b = parse(SAMPLE), parse(SAMPLE.replace("# A sample", "# Another sample"))
    assert a.sha256() == b.sha256()  # comments do not count
    assert parse(SAMPLE.replace('"3.800"', '"3.900"')).sha256() != a.sha256()


# ---------------------------------------------------------------------- settlement and identifiers (issue 13)


def test_sections_added_later_keep_an_older_term_sheets_hash():
    # The sample's hash fixes its bond's CREATE2 address: the optional new sections must not move it.
    ts = parse(SAMPLE)
    assert "settlement" not in ts.canonical_json() and "identifiers" not in ts.canonical_json()
    assert ts.settlement_asset == "HKD" and ts.terms.settlement_days == 1 and ts.terms.secondary_settlement_days == 2


def test_settlement_assets_are_labels_or_kinds():
    ts = parse(SAMPLE + '\n[settlement]\nasset = "e-hkd"\nassets = ["Tokenised_Central_Bank_Money", "hkd"]\n')
    assert ts.settlement_asset == "E-HKD" and ts.terms.assets == ["tokenised_central_bank_money", "HKD"]
    assert ts.terms.allows("E-HKD", "tokenised_central_bank_money") and ts.terms.allows("HKD", "tokenised_deposit")
    assert not ts.terms.allows("USDHK", "licensed_stablecoin")
    assert "settlement.assets[0]: 'central_bank' is neither" in refused(SAMPLE + '\n[settlement]\nassets = ["central_bank"]\n')


def test_the_issue_date_is_t_plus_n_after_pricing():
    ok = parse(SAMPLE + "\n[settlement]\npricing_date = 2024-02-06\nsettlement_days = 1\n")
    assert ok.terms.pricing_date.isoformat() == "2024-02-06"
    assert "bond.issue_date: 2024-02-07 is not T+2 after pricing_date 2024-02-06 (2024-02-08)" in refused(
        SAMPLE + "\n[settlement]\npricing_date = 2024-02-06\nsettlement_days = 2\n"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5493HKSARGOVTGB25064", "bad check digits 64 (expected 63)"),
        ("5493HKSARGOVTGB2506", "is not an LEI"),
    ],
)
def test_an_lei_is_checked_by_its_iso_17442_check_digits(value, message):
    assert message in refused(SAMPLE + f'\n[identifiers]\nissuer_lei = "{value}"\n')


def test_known_leis_pass_and_a_dti_is_nine_characters_without_vowels():
    ts = parse(SAMPLE + '\n[identifiers]\nissuer_lei = "529900T8BM49AURSDO55"\ndti = "hkgb25hkd"\n')
    assert (ts.identifiers.issuer_lei, ts.identifiers.dti) == ("529900T8BM49AURSDO55", "HKGB25HKD")
    for bad in ("HKGB25HKA", "0KGB25HKD", "HKGB25HK"):
        assert "is not a DTI" in refused(SAMPLE + f'\n[identifiers]\ndti = "{bad}"\n')
