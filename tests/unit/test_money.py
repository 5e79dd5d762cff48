"""Money is integers in minor units on chain and Decimal in Python; floats are refused."""

from decimal import Decimal

import pytest

from ledger.errors import InputError
from ledger.money import from_minor, parse_amount, to_minor


def test_amounts_round_trip_through_minor_units():
    assert to_minor(Decimal("1234.56"), "HKD") == 123456
    assert from_minor(123456, "HKD") == Decimal("1234.56")
    assert str(from_minor(100, "USD")) == "1.00"


def test_amounts_finer_than_a_cent_are_refused():
    with pytest.raises(InputError, match="more than 2 decimal places"):
        to_minor(Decimal("0.001"), "HKD")


def test_user_amounts_accept_separators_and_refuse_nonsense():
    assert parse_amount("1,000,000.50") == Decimal("1000000.50")
    assert parse_amount("1_000") == Decimal(1000)
    for bad in ("ten", "NaN", "Infinity", ""):
        with pytest.raises(InputError):
            parse_amount(bad)


def test_floats_are_a_programming_error():
    with pytest.raises(TypeError):
        parse_amount(0.1)


def test_unknown_currencies_are_bad_input():
    with pytest.raises(InputError, match="currency: 'JPY'"):
        to_minor(Decimal(1), "JPY")
