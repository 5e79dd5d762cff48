"""Field types for what an issuer writes (term sheets, CSV files, command arguments): strict, so
that a hostile or careless value is refused with one line instead of being read as something
else or crashing later (a bool taken for an int, a datetime for a date, a number too large for
Decimal arithmetic, a date QuantLib cannot hold, a control character in a name)."""

import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, StrictBool, StrictInt

from ledger.money import check_number

#: QuantLib's calendar runs from 1901-01-01 to 2199-12-31: every date bondledger may hand it.
FIRST_DATE, LAST_DATE = date(1901, 1, 1), date(2199, 12, 31)
#: A year's margin inside it for the dates a schedule is computed from or around (it steps a
#: tenor back from the first coupon, rolls payments forward and record dates back).
BOND_FIRST_DATE, BOND_LAST_DATE = date(1902, 1, 1), date(2198, 12, 31)


def check_text(value: str) -> str:
    """Refuses control characters (NUL, escapes, line breaks): a name is printed, stored and
    exported, and PostgreSQL cannot store a NUL at all."""
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise ValueError(f"contains the control character U+{ord(ch):04X}")
    return value


def _number_input(value):
    # TOML's true is a Python int subclass; pydantic's Decimal would read it as 1.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


def day_input(value):
    """A calendar date: a TOML date or YYYY-MM-DD text; never a date and time."""
    if isinstance(value, datetime):
        raise ValueError(f"{value.isoformat()} is a date and time; a date (YYYY-MM-DD) is expected")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(f"{text[:40]!r} is not a date (YYYY-MM-DD)")
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a valid date") from None
    raise ValueError("must be a date (YYYY-MM-DD)")


def check_day(value: date, first: date = FIRST_DATE, last: date = LAST_DATE) -> date:
    if not first <= value <= last:
        raise ValueError(f"{value} is outside {first} to {last}")
    return value


Text = Annotated[str, AfterValidator(check_text)]
Number = Annotated[Decimal, BeforeValidator(_number_input), AfterValidator(check_number)]
Day = Annotated[date, BeforeValidator(day_input), AfterValidator(check_day)]
Int = StrictInt
Bool = StrictBool
#: A count that must fit the chain's uint64 and mean something (units, seconds).
Count = Annotated[StrictInt, Field(ge=0, le=2**63)]
