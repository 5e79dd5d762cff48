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


#: Decimal's default context keeps 28 digits: numbers of up to 26 digits before the point (a
#: PostgreSQL register stores supplies beyond 64 bits) and 8 after, 28 in all, stay exact in what
#: bondledger computes with them (minor units, remainders); their minor units fit a uint256.
MAX_INTEGER_DIGITS, MAX_DECIMAL_PLACES, MAX_DIGITS = 26, 8, 28


def check_number(value: Decimal) -> Decimal:
    """Refuses what Decimal arithmetic cannot take exactly (1e400, 1e-400, NaN, Infinity)."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number")
    shown = str(value) if len(str(value)) <= 40 else f"{value:.6E}"  # the error stays one short line
    # Digits and places from the representation itself: arithmetic on such a value could trap.
    sign, digits, exponent = value.as_tuple()
    if not any(digits):
        return value  # zero, however written
    while len(digits) > 1 and digits[-1] == 0:
        digits, exponent = digits[:-1], exponent + 1
    places, whole = max(0, -exponent), max(0, len(digits) + exponent)
    if whole > MAX_INTEGER_DIGITS:
        raise ValueError(f"{shown} is too large (more than {MAX_INTEGER_DIGITS} digits before the decimal point)")
    if places > MAX_DECIMAL_PLACES:
        raise ValueError(f"{shown} has more than {MAX_DECIMAL_PLACES} decimal places")
    if whole + places > MAX_DIGITS:
        raise ValueError(f"{shown} has more than {MAX_DIGITS} significant digits")
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
