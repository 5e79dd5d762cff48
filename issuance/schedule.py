"""Coupon schedules, by bond market convention, on QuantLib's dates and calendars.

Periods roll back from maturity (a short first period if the tenor does not divide evenly);
accrual dates stay unadjusted; payment dates move to a business day of the bond's calendar by
its business day convention. QuantLib supplies the schedule, the Hong Kong calendar and the
day counts (as whole days); the fractions and amounts are computed in Decimal so no binary
floating point reaches a cash flow. "ACT/ACT" is ICMA: a regular period is exactly
1/frequency of a year; a short first period is its days over the days of the notional
regular period it belongs to, divided by the frequency.
"""

import warnings
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import QuantLib as ql

from issuance.termsheet import Bond
from ledger.clock import end_of_day
from ledger.money import minor_exponent

#: decimal places kept in amount_per_denomination (per-holder amounts round from it)
AMOUNT_PLACES = 10


@dataclass(frozen=True)
class CouponPeriod:
    accrual_start: date
    accrual_end: date
    payment_date: date
    amount_per_denomination: Decimal  # currency units
    record_date: date  # holders at the end of this day (Hong Kong time) are paid

    def as_dict(self) -> dict:
        return {
            "accrual_start": self.accrual_start.isoformat(),
            "accrual_end": self.accrual_end.isoformat(),
            "payment_date": self.payment_date.isoformat(),
            "amount_per_denomination": str(self.amount_per_denomination),
            "record_date": self.record_date.isoformat(),
        }


def record_time(record_date: date) -> int:
    """The unix time holdings are fixed for a record date: the end of that day in Hong Kong."""
    return end_of_day(record_date)


def _ql(d: date) -> ql.Date:
    return ql.Date(d.day, d.month, d.year)


def _py(d: ql.Date) -> date:
    return date(d.year(), d.month(), d.dayOfMonth())


def calendar(name: str) -> ql.Calendar:
    if name == "HK":
        return ql.HongKong(ql.HongKong.HKEx)
    raise ValueError(f"unknown calendar {name!r}")


_CONVENTIONS = {"following": ql.Following, "modified_following": ql.ModifiedFollowing}


def _months(frequency: int) -> int:
    return 12 // frequency


def year_fraction(bond: Bond, start: date, end: date, regular_start: date | None = None) -> Decimal:
    """The accrual fraction of [start, end] under the bond's day count, exactly.

    `regular_start` is where the regular (notional) period ending at `end` starts; ICMA needs
    it for a short period. It defaults to `start` (a regular period).
    """
    if bond.day_count == "ACT/365F":
        return Decimal((end - start).days) / 365
    if bond.day_count == "ACT/360":
        return Decimal((end - start).days) / 360
    if bond.day_count == "30/360":
        days = ql.Thirty360(ql.Thirty360.BondBasis).dayCount(_ql(start), _ql(end))
        return Decimal(days) / 360
    # ACT/ACT (ICMA)
    regular_start = regular_start or start
    return Decimal((end - start).days) / (Decimal((end - regular_start).days) * bond.coupon_frequency)


def _quantize(amount: Decimal, currency: str) -> Decimal:
    exact = amount.quantize(Decimal(1).scaleb(-AMOUNT_PLACES), rounding=ROUND_HALF_EVEN).normalize()
    places = max(-exact.as_tuple().exponent, minor_exponent(currency))
    return exact.quantize(Decimal(1).scaleb(-places))


def coupon_schedule(bond: Bond) -> list[CouponPeriod]:
    """Every coupon of `bond`, first to last (empty for a zero-coupon bond)."""
    if bond.coupon_frequency == 0:
        return []
    cal = calendar(bond.calendar)
    tenor = ql.Period(_months(bond.coupon_frequency), ql.Months)
    schedule = ql.Schedule(
        _ql(bond.issue_date),
        _ql(bond.maturity_date),
        tenor,
        cal,
        ql.Unadjusted,
        ql.Unadjusted,
        ql.DateGeneration.Backward,
        False,
    )
    dates = [_py(d) for d in schedule]
    convention = _CONVENTIONS[bond.business_day_convention]
    rate = bond.coupon_rate / 100
    periods = []
    for start, end in zip(dates, dates[1:]):
        regular_start = _py(cal.advance(_ql(end), -tenor, ql.Unadjusted)) if start == dates[0] else start
        fraction = year_fraction(bond, start, end, regular_start)
        payment = _py(cal.adjust(_ql(end), convention))
        amount = bond.denomination * rate * fraction
        record = _py(cal.advance(_ql(payment), -bond.record_date_offset, ql.Days))
        periods.append(CouponPeriod(start, end, payment, _quantize(amount, bond.currency), record))
    _warn_calendar_coverage(cal, [p.payment_date for p in periods])
    return periods


def _warn_calendar_coverage(cal: ql.Calendar, payment_dates: list[date]) -> None:
    """QuantLib lists Hong Kong's lunar-calendar holidays only for the years it has been told
    of; a payment date in a later year may land on one of them."""
    uncovered = [
        year
        for year in sorted({d.year for d in payment_dates})
        if len(ql.Calendar.holidayList(cal, ql.Date(1, 1, year), ql.Date(31, 12, year))) < 10
    ]
    if uncovered:
        warnings.warn(
            f"QuantLib's Hong Kong calendar has no lunar-calendar holidays for {', '.join(map(str, uncovered))}; "
            "payment dates then are adjusted for weekends and fixed holidays only",
            stacklevel=3,
        )


def accrued_per_denomination(bond: Bond, on: date) -> Decimal:
    """Interest accrued on one denomination from the start of the current period to `on`
    (exclusive of `on`, as settlement conventions count it), by the bond's day count."""
    if bond.coupon_frequency == 0 or on <= bond.issue_date:
        return Decimal(0)
    if on >= bond.maturity_date:
        raise ValueError(f"{on} is on or after maturity {bond.maturity_date}")
    cal = calendar(bond.calendar)
    tenor = ql.Period(_months(bond.coupon_frequency), ql.Months)
    periods = coupon_schedule(bond)
    for i, p in enumerate(periods):
        if p.accrual_start <= on < p.accrual_end:
            regular_start = _py(cal.advance(_ql(p.accrual_end), -tenor, ql.Unadjusted)) if i == 0 else p.accrual_start
            if bond.day_count == "ACT/ACT":
                fraction = Decimal((on - p.accrual_start).days) / (
                    Decimal((p.accrual_end - regular_start).days) * bond.coupon_frequency
                )
            else:
                fraction = year_fraction(bond, p.accrual_start, on)
            return bond.denomination * bond.coupon_rate / 100 * fraction
    return Decimal(0)


def business_days_after(calendar_name: str, start: date, days: int) -> date:
    """`days` business days after `start` on the calendar (T+n settlement)."""
    return _py(calendar(calendar_name).advance(_ql(start), days, ql.Days))
