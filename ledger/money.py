"""Money: integers in minor units on chain, Decimal in Python, never floats."""

from decimal import Decimal, InvalidOperation

from ledger.errors import InputError

#: ISO 4217 codes of the cash tokens bondledger deploys, with their minor-unit exponent.
CURRENCIES: dict[str, int] = {"HKD": 2, "CNH": 2, "USD": 2, "EUR": 2}


def minor_exponent(currency: str) -> int:
    try:
        return CURRENCIES[currency]
    except KeyError:
        raise InputError(f"currency: {currency!r} is not one of {', '.join(CURRENCIES)}") from None


#: Decimal's default context keeps 28 digits: numbers up to 10^18 with up to 8 decimal places stay
#: exact in every sum, product and remainder bondledger computes (and their minor units fit a uint256).
MAX_INTEGER_DIGITS, MAX_DECIMAL_PLACES = 18, 8


def check_number(value: Decimal) -> Decimal:
    """Refuses what Decimal arithmetic cannot take exactly (1e400, 1e-400, NaN, Infinity)."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number")
    shown = str(value) if len(str(value)) <= 40 else f"{value:.6E}"  # the error stays one short line
    if value and value.adjusted() >= MAX_INTEGER_DIGITS:
        raise ValueError(f"{shown} is too large (more than {MAX_INTEGER_DIGITS} digits before the decimal point)")
    if value.as_tuple().exponent < -MAX_DECIMAL_PLACES and value != value.quantize(Decimal(1).scaleb(-MAX_DECIMAL_PLACES)):
        raise ValueError(f"{shown} has more than {MAX_DECIMAL_PLACES} decimal places")
    return value


def parse_amount(text: str | Decimal | int, field: str = "amount") -> Decimal:
    """A decimal amount from user input; floats are refused so no binary rounding sneaks in."""
    if isinstance(text, float):
        raise TypeError("amounts must not be floats")
    try:
        value = Decimal(str(text).replace("_", "").replace(",", "").strip())
    except InvalidOperation:
        raise InputError(f"{field}: {text!r} is not a number") from None
    try:
        return check_number(value)
    except ValueError as exc:
        raise InputError(f"{field}: {exc}") from None


def to_minor(amount: Decimal, currency: str, field: str = "amount") -> int:
    """Currency units -> minor units; refuses amounts finer than the minor unit."""
    exponent = minor_exponent(currency)
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise InputError(f"{field}: {amount} {currency} has more than {exponent} decimal places")
    return int(scaled)


def from_minor(minor: int, currency: str) -> Decimal:
    """Minor units -> currency units, with exactly the currency's decimal places."""
    exponent = minor_exponent(currency)
    return Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


#: A fund's NAV per unit is kept in base units of its cash token times this (FundToken.NAV_SCALE).
NAV_SCALE = 10**6


def nav_to_e6(nav: Decimal, currency: str, field: str = "NAV") -> int:
    """NAV per unit in currency units -> cash base units x NAV_SCALE; refuses finer precision."""
    scaled = nav.scaleb(minor_exponent(currency)) * NAV_SCALE
    if scaled != scaled.to_integral_value():
        raise InputError(f"{field}: {nav} {currency} has more than {minor_exponent(currency) + 6} decimal places")
    return int(scaled)


def nav_from_e6(nav_e6: int, currency: str) -> Decimal:
    return (Decimal(nav_e6) / NAV_SCALE).scaleb(-minor_exponent(currency)).normalize()

