"""Hong Kong stamp duty on transfers, from one table.

Each rule gives, for a class of instrument and a span of dates, the treatment, the rate each
side would pay without relief, and the legal basis. An assessment picks the rule in force on the
trade date (the date of the contract of sale, which is what the Stamp Duty Ordinance charges),
computes the duty per side rounded up to the next whole dollar, and what each side pays after
relief. "duty_without_relief" is both sides together, so the register shows what each waiver
saved. Rule versions are part of every assessment; an assessment, once written, never changes,
and a new rule applies from its effective date only.

Classes: bond (loan capital), etf (units of an exchange traded fund, secondary transfers),
etf_creation_redemption (allotment and cancellation of ETF units for market makers / authorized
participants), hk_stock (other Hong Kong stock: the charged case).
"""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, Decimal

from ledger.errors import BondledgerError

TREATMENTS = ("not_chargeable", "waived", "chargeable")


@dataclass(frozen=True)
class DutyRule:
    version: str
    instrument_class: str
    treatment: str  # not_chargeable | waived | chargeable
    effective_from: date
    effective_to: date | None  # inclusive; None: still in force
    basis: str
    rate_per_side: Decimal | None = None  # None: the hk_stock rate on the date (what relief saved)

    def in_force(self, on: date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)


_BOND = (
    "Loan capital is not 'Hong Kong stock' under the Stamp Duty Ordinance (Cap. 117), s.2(1): "
    "transfers of bonds are not chargeable"
)
_STOCK_2001 = "Stamp Duty Ordinance (Cap. 117), First Schedule head 2(1): 0.1% of the consideration, each of buyer and seller"
_STOCK_2021 = "Stamp Duty (Amendment) Ordinance 2021: 0.13% of the consideration, each of buyer and seller, from 1 Aug 2021"
_STOCK_2023 = (
    "Stamp Duty (Amendment) (Stock Transfers) Ordinance 2023: 0.1% of the consideration, "
    "each of buyer and seller, from 17 Nov 2023"
)
_ETF = "Stamp Duty (Amendment) Ordinance 2015: transfers of ETF units are exempt (waived), in force 13 Feb 2015"
_ETF_MM = (
    "Stamp Duty (Amendment) Ordinance 2020 (Schedule 8): allotment and cancellation of ETF units by market "
    "makers in creation and redemption are exempt (waived), in force 1 Aug 2020"
)

#: The table. Spans of one class never overlap; `test_stampduty` holds that.
RULES: tuple[DutyRule, ...] = (
    DutyRule("bond/1", "bond", "not_chargeable", date(1900, 1, 1), None, _BOND, Decimal(0)),
    DutyRule("hk_stock/2001", "hk_stock", "chargeable", date(2001, 9, 1), date(2021, 7, 31), _STOCK_2001, Decimal("0.001")),
    DutyRule("hk_stock/2021", "hk_stock", "chargeable", date(2021, 8, 1), date(2023, 11, 16), _STOCK_2021, Decimal("0.0013")),
    DutyRule("hk_stock/2023", "hk_stock", "chargeable", date(2023, 11, 17), None, _STOCK_2023, Decimal("0.001")),
    DutyRule("etf/2015", "etf", "waived", date(2015, 2, 13), None, _ETF),
    DutyRule("etf_creation_redemption/2020", "etf_creation_redemption", "waived", date(2020, 8, 1), None, _ETF_MM),
)


@dataclass(frozen=True)
class Assessment:
    instrument_class: str
    treatment: str
    consideration: int  # minor units of the trade currency
    duty_without_relief: int  # both sides, minor units, whole dollars
    duty_buyer: int
    duty_seller: int
    basis: str
    rule_version: str
    assessed_on: date


class NoDutyRule(BondledgerError):
    """No rule in the table covers this class on this date."""


def rule_for(instrument_class: str, on: date, rules: tuple[DutyRule, ...] = RULES) -> DutyRule:
    matches = [r for r in rules if r.instrument_class == instrument_class and r.in_force(on)]
    if not matches:
        raise NoDutyRule(f"stamp duty: no rule for {instrument_class} on {on.isoformat()}")
    return matches[0]


def _per_side(consideration: int, rate: Decimal, minor_per_unit: int) -> int:
    """One side's duty in minor units: the consideration times the rate, up to the next whole dollar."""
    dollars = (Decimal(consideration) / minor_per_unit * rate).to_integral_value(ROUND_CEILING)
    return int(dollars) * minor_per_unit


def assess(
    instrument_class: str, consideration: int, on: date, minor_per_unit: int = 100, rules: tuple[DutyRule, ...] = RULES
) -> Assessment:
    """The duty on one transfer of `consideration` (minor units) traded on `on`."""
    rule = rule_for(instrument_class, on, rules)
    rate = rule.rate_per_side if rule.rate_per_side is not None else rule_for("hk_stock", on, rules).rate_per_side
    per_side = _per_side(consideration, rate, minor_per_unit)
    payable = per_side if rule.treatment == "chargeable" else 0
    return Assessment(
        instrument_class=instrument_class,
        treatment=rule.treatment,
        consideration=consideration,
        duty_without_relief=2 * per_side,
        duty_buyer=payable,
        duty_seller=payable,
        basis=rule.basis,
        rule_version=rule.version,
        assessed_on=on,
    )


def instrument_class(kind: str) -> str:
    """The duty class of a register instrument kind (secondary transfers)."""
    return {"bond": "bond", "fund": "etf"}.get(kind, "hk_stock")
