"""Coupon schedules: bond market conventions on QuantLib's calendar, amounts in Decimal."""

from datetime import date
from decimal import Decimal

import pytest
import QuantLib as ql

from helpers import EXAMPLES
from issuance.schedule import coupon_schedule, year_fraction
from issuance.termsheet import load_termsheet

SAMPLE = load_termsheet(EXAMPLES / "green_bond_hkd.toml").bond


def bond(**changes):
    return SAMPLE.model_copy(update=changes)


def test_the_sample_pays_semi_annually_rolling_back_from_maturity():
    periods = coupon_schedule(SAMPLE)
    assert [(p.accrual_start, p.accrual_end) for p in periods] == [
        (date(2024, 2, 7), date(2024, 8, 7)),
        (date(2024, 8, 7), date(2025, 2, 7)),
        (date(2025, 2, 7), date(2025, 8, 7)),
        (date(2025, 8, 7), date(2026, 2, 7)),
    ]


def test_payment_dates_move_to_a_hong_kong_business_day_accruals_do_not():
    last = coupon_schedule(SAMPLE)[-1]
    assert last.accrual_end == date(2026, 2, 7)  # a Saturday
    assert last.payment_date == date(2026, 2, 9)  # the Monday after


def test_act_365f_amounts_are_exact_decimals():
    first = coupon_schedule(SAMPLE)[0]
    # 182 days of 3.8% on HK$50,000: 50000 * 0.038 * 182 / 365
    assert first.amount_per_denomination == (Decimal(50000) * Decimal("0.038") * 182 / 365).quantize(Decimal("1e-9"))
    assert isinstance(first.amount_per_denomination, Decimal)


def test_icma_act_act_pays_exactly_rate_over_frequency_each_regular_period():
    for p in coupon_schedule(bond(day_count="ACT/ACT")):
        assert p.amount_per_denomination == Decimal("950.00")


def test_icma_short_first_period_is_its_share_of_the_notional_period():
    first = coupon_schedule(bond(day_count="ACT/ACT", issue_date=date(2024, 3, 20)))[0]
    assert (first.accrual_start, first.accrual_end) == (date(2024, 3, 20), date(2024, 8, 7))
    assert first.amount_per_denomination == (Decimal(950) * 140 / 182).quantize(Decimal("1e-10"))


@pytest.mark.parametrize(
    "day_count, ql_day_counter",
    [
        ("ACT/365F", ql.Actual365Fixed()),
        ("ACT/360", ql.Actual360()),
        ("30/360", ql.Thirty360(ql.Thirty360.BondBasis)),
    ],
)
def test_year_fractions_agree_with_quantlib(day_count, ql_day_counter):
    b = bond(day_count=day_count)
    for start, end in [
        (date(2024, 1, 31), date(2024, 7, 31)),
        (date(2024, 2, 29), date(2025, 2, 28)),
        (date(2024, 8, 7), date(2025, 2, 7)),
    ]:
        exact = year_fraction(b, start, end)
        expected = ql_day_counter.yearFraction(ql.Date(start.day, start.month, start.year), ql.Date(end.day, end.month, end.year))
        assert abs(float(exact) - expected) < 1e-12


def test_icma_fraction_agrees_with_quantlib_on_a_stub():
    b = bond(day_count="ACT/ACT", issue_date=date(2024, 3, 20))
    ql_schedule = ql.Schedule(
        ql.Date(20, 3, 2024),
        ql.Date(7, 2, 2026),
        ql.Period(6, ql.Months),
        ql.HongKong(ql.HongKong.HKEx),
        ql.Unadjusted,
        ql.Unadjusted,
        ql.DateGeneration.Backward,
        False,
    )
    expected = ql.ActualActual(ql.ActualActual.ISMA, ql_schedule).yearFraction(ql.Date(20, 3, 2024), ql.Date(7, 8, 2024))
    assert abs(float(year_fraction(b, date(2024, 3, 20), date(2024, 8, 7), date(2024, 2, 7))) - expected) < 1e-12


def test_modified_following_stays_in_the_month():
    b = bond(
        issue_date=date(2024, 8, 31),
        maturity_date=date(2025, 8, 31),
        coupon_frequency=1,
        business_day_convention="modified_following",
    )
    assert coupon_schedule(b)[0].payment_date == date(2025, 8, 29)  # 31 Aug 2025 is a Sunday


def test_quarterly_and_annual_schedules_have_the_right_count():
    assert len(coupon_schedule(bond(coupon_frequency=4))) == 8
    assert len(coupon_schedule(bond(coupon_frequency=1))) == 2


def test_a_zero_coupon_bond_has_no_coupons():
    assert coupon_schedule(bond(coupon_frequency=0, coupon_rate=Decimal(0))) == []


def test_years_without_lunar_holidays_in_quantlib_are_flagged():
    with pytest.warns(UserWarning, match="no lunar-calendar holidays for 2027, 2028, 2029"):
        coupon_schedule(bond(issue_date=date(2027, 3, 1), maturity_date=date(2029, 3, 1)))
