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
