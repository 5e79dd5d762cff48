"""Hong Kong stamp duty from one table: treatment, the duty relief saved, and the basis."""

from datetime import date

import pytest

from ledger import stampduty
from ledger.stampduty import RULES, NoDutyRule, assess

HKD = 100  # minor units per dollar


def test_bonds_are_loan_capital_and_not_chargeable():
    a = assess("bond", 4_975_000_00, date(2024, 2, 7))
    assert (a.treatment, a.duty_without_relief, a.duty_buyer, a.duty_seller) == ("not_chargeable", 0, 0, 0)
    assert "Loan capital" in a.basis and "Cap. 117" in a.basis
    assert a.rule_version == "bond/1"


def test_etf_units_are_chargeable_but_waived_and_show_what_the_waiver_saved():
    a = assess("etf", 1_000_000_00, date(2024, 3, 1))
    assert a.treatment == "waived"
    assert (a.duty_buyer, a.duty_seller) == (0, 0)
    assert a.duty_without_relief == 2 * 1_000_00  # 0.1% each side of HK$1m
    assert "2015" in a.basis and "13 Feb 2015" in a.basis


def test_etf_creation_and_redemption_carry_the_2020_market_maker_basis():
    a = assess("etf_creation_redemption", 500_000_00, date(2024, 3, 1))
    assert a.treatment == "waived" and a.duty_without_relief == 2 * 500_00
    assert "2020" in a.basis and "Schedule 8" in a.basis and "1 Aug 2020" in a.basis


def test_hong_kong_stock_pays_0_1_percent_each_side_from_17_november_2023():
    a = assess("hk_stock", 1_000_000_00, date(2023, 11, 17))
    assert a.treatment == "chargeable"
    assert (a.duty_buyer, a.duty_seller, a.duty_without_relief) == (1_000_00, 1_000_00, 2_000_00)
    assert a.rule_version == "hk_stock/2023"


def test_the_day_before_the_cut_the_rate_was_0_13_percent():
    a = assess("hk_stock", 1_000_000_00, date(2023, 11, 16))
    assert (a.duty_buyer, a.duty_seller) == (1_300_00, 1_300_00)
    assert a.rule_version == "hk_stock/2021"


def test_each_side_is_rounded_up_to_the_next_whole_dollar():
    # HK$1,000.01 at 0.1% is HK$1.00001 a side: HK$2 each
    a = assess("hk_stock", 1_000_01, date(2024, 1, 2))
    assert (a.duty_buyer, a.duty_seller, a.duty_without_relief) == (2 * HKD, 2 * HKD, 4 * HKD)
    exact = assess("hk_stock", 1_000_00, date(2024, 1, 2))
    assert exact.duty_buyer == 1 * HKD


def test_a_waiver_saves_the_rate_in_force_on_the_trade_date():
    assert assess("etf", 1_000_000_00, date(2022, 6, 1)).duty_without_relief == 2 * 1_300_00
    assert assess("etf", 1_000_000_00, date(2024, 6, 1)).duty_without_relief == 2 * 1_000_00


def test_before_the_2015_waiver_there_is_no_etf_rule_in_the_table():
    with pytest.raises(NoDutyRule, match="no rule for etf on 2015-02-12"):
        assess("etf", 100, date(2015, 2, 12))


def test_the_spans_of_one_class_never_overlap():
    for klass in {r.instrument_class for r in RULES}:
        spans = sorted((r.effective_from, r.effective_to or date.max) for r in RULES if r.instrument_class == klass)
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert end < start, klass


def test_every_treatment_is_one_of_the_three():
    assert {r.treatment for r in RULES} <= set(stampduty.TREATMENTS)


def test_register_kinds_map_to_duty_classes():
    assert stampduty.instrument_class("bond") == "bond"
    assert stampduty.instrument_class("fund") == "etf"
