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


def parse_amount(text: str | Decimal | int, field: str = "amount") -> Decimal:
    """A decimal amount from user input; floats are refused so no binary rounding sneaks in."""
    if isinstance(text, float):
        raise TypeError("amounts must not be floats")
    try:
        value = Decimal(str(text).replace("_", "").replace(",", "").strip())
    except InvalidOperation:
        raise InputError(f"{field}: {text!r} is not a number") from None
    if not value.is_finite():
        raise InputError(f"{field}: {text!r} is not a finite number")
    return value


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

