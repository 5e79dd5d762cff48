"""Term sheets: the TOML an issuer writes, validated before anything touches the chain.

TOML floats are read as Decimal (`parse_float=Decimal`), so "3.8" and 3.8 mean exactly 3.8.
A bad term sheet raises InputError with one line naming the field, e.g.
`termsheet.toml: bond.isin: bad check digit 5 (expected 4)`.
"""

import hashlib
import json
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from issuance.fields import BOND_FIRST_DATE, BOND_LAST_DATE, Bool, Count, Day, Int, Number, Text
from ledger.errors import InputError
from ledger.money import nav_to_e6, to_minor

DAY_COUNTS = ("ACT/365F", "ACT/360", "30/360", "ACT/ACT")
#: ERC-7092 dayCountBasis: 0 ACT/ACT, 1 30/360, 2 ACT/360, 3 ACT/365, 4 30/365
DAY_COUNT_BASIS = {"ACT/ACT": 0, "30/360": 1, "ACT/360": 2, "ACT/365F": 3}
COUPON_FREQUENCIES = (0, 1, 2, 4, 12)


def isin_check_digit(body: str) -> int:
    """The ISIN check digit (ISO 6166) of its first 11 characters: Luhn over letters as 10..35."""
    digits = "".join(str(int(c, 36)) for c in body)
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return (10 - total % 10) % 10


def _isin(value: str) -> str:
    value = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}[A-Z0-9]{9}[0-9]", value):
        raise ValueError(f"{value!r} is not an ISIN (2 letters, 9 letters or digits, 1 check digit)")
    if pycountry.countries.get(alpha_2=value[:2]) is None and value[:2] not in ("XS", "EU"):
        raise ValueError(f"{value!r} does not start with a country code")
    expected = isin_check_digit(value[:11])
    if int(value[11]) != expected:
        raise ValueError(f"bad check digit {value[11]} (expected {expected})")
    return value


def _country(value: str) -> str:
    value = value.strip().upper()
    if pycountry.countries.get(alpha_2=value) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return value


def _sha256(value: str) -> str:
    value = value.strip().lower().removeprefix("0x")
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ValueError("must be 64 hex digits (a sha256)")
    return value


def lei_valid(value: str) -> bool:
    """ISO 17442: 18 letters or digits and 2 check digits; as a number (letters 10..35) it is 1 mod 97 (ISO 7064)."""
    return bool(re.fullmatch(r"[A-Z0-9]{18}[0-9]{2}", value)) and int("".join(str(int(c, 36)) for c in value)) % 97 == 1


def lei_check_digits(body: str) -> str:
    """The two check digits that make an 18-character LEI prefix valid."""
    return f"{98 - int(''.join(str(int(c, 36)) for c in body + '00')) % 97:02d}"


def _lei(value: str) -> str:
    value = value.strip().upper()
    if not re.fullmatch(r"[A-Z0-9]{18}[0-9]{2}", value):
        raise ValueError(f"{value!r} is not an LEI (18 letters or digits, 2 check digits)")
    if not lei_valid(value):
        raise ValueError(f"{value!r}: bad check digits {value[18:]} (expected {lei_check_digits(value[:18])})")
    return value


#: ISO 24165 DTI characters: digits and consonants (no vowels, no Y), so no word can be spelled.
DTI_CHARACTERS = "0123456789BCDFGHJKLMNPQRSTVWXZ"


def _dti(value: str) -> str:
    # The format only: ISO 24165's check-character algorithm is not publicly documented, so the
    # ninth character is not recomputed (the DTI Foundation's registry is the authority).
    value = value.strip().upper()
    if not (len(value) == 9 and all(c in DTI_CHARACTERS for c in value) and value[0] != "0"):
        raise ValueError(f"{value!r} is not a DTI (9 characters of {DTI_CHARACTERS}, not starting with 0)")
    return value


Isin = Annotated[str, AfterValidator(_isin)]
Lei = Annotated[str, AfterValidator(_lei)]
Dti = Annotated[str, AfterValidator(_dti)]
Country = Annotated[str, AfterValidator(_country)]
Sha256 = Annotated[str, AfterValidator(_sha256)]
Currency = Literal["HKD", "CNH", "USD", "EUR"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Document(Strict):
    """A whole term sheet: the register keeps its canonical JSON and that JSON's sha256."""

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


class Bond(Strict):
    isin: Isin
    name: Text = Field(min_length=1, max_length=100)
    issuer: Text = Field(min_length=1, max_length=200)
    currency: Currency
    denomination: Number = Field(gt=0)
    issue_size: Number = Field(gt=0)
    coupon_rate: Number = Field(ge=0, lt=100)  # percent a year
    coupon_frequency: Int
    day_count: Literal[DAY_COUNTS]
    business_day_convention: Literal["following", "modified_following"]
    calendar: Literal["HK"]
    issue_date: Day
    maturity_date: Day
    # Additions (optional): the issue price per 100 of principal, the token symbol, and how many
    # business days before a coupon payment its record date falls.
    issue_price: Number = Field(default=Decimal(100), gt=0, le=200)
    symbol: str | None = Field(default=None, pattern=r"^[A-Z0-9]{2,11}$")
    record_date_offset: Int = Field(default=1, ge=0, le=30)

    @model_validator(mode="after")
    def _consistent(self) -> "Bond":
        if self.coupon_frequency not in COUPON_FREQUENCIES:
            raise _field_error("coupon_frequency", f"{self.coupon_frequency} is not one of {COUPON_FREQUENCIES}")
        # A year's margin inside QuantLib's range: the schedule steps a tenor back from the first
        # coupon, rolls payments forward and record dates back.
        for name in ("issue_date", "maturity_date"):
            if not BOND_FIRST_DATE <= getattr(self, name) <= BOND_LAST_DATE:
                raise _field_error(name, f"{getattr(self, name)} is outside {BOND_FIRST_DATE} to {BOND_LAST_DATE}")
        if self.maturity_date <= self.issue_date:
            raise _field_error("maturity_date", f"{self.maturity_date} is not after issue_date {self.issue_date}")
        for name in ("denomination", "issue_size"):
            try:
                to_minor(getattr(self, name), self.currency, name)
            except InputError as exc:
                raise _field_error(name, str(exc).split(": ", 1)[1]) from None
        if self.issue_size % self.denomination != 0:
            raise _field_error("issue_size", f"{self.issue_size} is not a multiple of the denomination {self.denomination}")
        if self.coupon_frequency == 0 and self.coupon_rate != 0:
            raise _field_error("coupon_rate", "must be 0 for a zero-coupon bond (coupon_frequency = 0)")
        if self.coupon_frequency != 0 and self.coupon_rate == 0:
            raise _field_error("coupon_frequency", "must be 0 when coupon_rate is 0 (a zero-coupon bond)")
        if (self.coupon_rate * 10**4) % 1 != 0:
            raise _field_error("coupon_rate", f"{self.coupon_rate} has more than 4 decimal places")
        return self

    @property
    def token_symbol(self) -> str:
        return self.symbol or self.isin[-8:]

    @property
    def coupon_rate_e6(self) -> int:
        """The ERC-7092 couponRate: the annual rate x 10^6 (3.647% -> 36470)."""
        return int(self.coupon_rate * 10**4)


class Call(Strict):
    """An issuer's call: it may redeem the whole bond early, from a date, at a price."""

    first_call_date: Day
    call_price: Number = Field(gt=0, le=200)  # per 100 of principal


class Green(Strict):
    framework_uri: Text = Field(min_length=1, max_length=2000)
    framework_sha256: Sha256
    use_of_proceeds: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=100)]] = Field(min_length=1)


class Restrictions(Strict):
    professional_investors_only: Bool = False
    allowed_jurisdictions: list[Country] = Field(default_factory=list)


ASSET_KINDS = ("tokenised_central_bank_money", "tokenised_deposit", "licensed_stablecoin")


def _asset_name(value: str) -> str:
    """A cash token's label (upper case, as `cash add` records it) or a kind of settlement asset."""
    value = value.strip()
    if value.lower() in ASSET_KINDS:
        return value.lower()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,19}", value):
        raise ValueError(f"{value!r} is neither a cash token label nor one of {', '.join(ASSET_KINDS)}")
    return value.upper()


AssetName = Annotated[str, AfterValidator(_asset_name)]


class Settlement(Strict):
    """How the bond settles: in which cash tokens (labels) or kinds of settlement asset, on
    which one the bond pays (primary issue, coupons, principal), and its settlement cycles."""

    asset: AssetName | None = None  # the cash token the bond is wired to; default: the currency's own
    assets: list[AssetName] = Field(default_factory=list)  # labels or kinds allowed; empty: any
    settlement_days: Int = Field(default=1, ge=0, le=10)  # primary: T+n business days after pricing
    secondary_settlement_days: Int = Field(default=2, ge=0, le=10)  # trades: T+n unless a date is given
    pricing_date: Day | None = None  # the allocations are fixed; the issue settles T+n after it

    def allows(self, label: str, kind: str) -> bool:
        return not self.assets or label in self.assets or kind in self.assets


class Identifiers(Strict):
    dti: Dti | None = None  # ISO 24165 Digital Token Identifier of the bond token
    issuer_lei: Lei | None = None  # ISO 17442 Legal Entity Identifier of the issuer
    programme: Text | None = Field(default=None, max_length=200)  # the programme the bond is a tranche of


class TermSheet(Document):
    bond: Bond
    green: Green | None = None
    restrictions: Restrictions = Restrictions()
    call: Call | None = None
    settlement: Settlement | None = None
    identifiers: Identifiers | None = None

    def canonical_json(self) -> str:
        # Sections added later are left out when absent, so older term sheets keep their hash
        # (and their bonds their deterministic addresses).
        data = self.model_dump(mode="json")
        for section in ("settlement", "identifiers"):
            if data[section] is None:
                del data[section]
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @property
    def terms(self) -> Settlement:
        return self.settlement or Settlement()

    @property
    def settlement_asset(self) -> str:
        return self.terms.asset or self.bond.currency

    @model_validator(mode="after")
    def _call_within_life(self) -> "TermSheet":
        if self.call and not self.bond.issue_date < self.call.first_call_date < self.bond.maturity_date:
            raise _field_error("call.first_call_date", f"{self.call.first_call_date} is not between issue and maturity")
        if self.settlement and self.settlement.pricing_date:
            from issuance.schedule import business_days_after  # the HK calendar (QuantLib), only when asked

            due = business_days_after(self.bond.calendar, self.settlement.pricing_date, self.settlement.settlement_days)
            if self.bond.issue_date != due:
                raise _field_error(
                    "bond.issue_date",
                    f"{self.bond.issue_date} is not T+{self.settlement.settlement_days} after pricing_date {self.settlement.pricing_date} ({due})",
                )
        return self


class Etf(Strict):
    fund_code: str = Field(pattern=r"^[A-Z0-9][A-Z0-9.\-]{1,19}$")
    name: Text = Field(min_length=1, max_length=100)
    currency: Currency
    creation_unit: Count = Field(gt=0)  # units per creation unit
    nav_max_age: Int = Field(gt=0, le=31 * 86_400)  # seconds a published NAV stays usable
    initial_nav: Number = Field(gt=0)  # per unit, currency units
    # Additions (optional): the token symbol and the fund manager's name.
    symbol: str | None = Field(default=None, pattern=r"^[A-Z0-9]{2,11}$")
    manager: Text = Field(default="the fund manager", min_length=1, max_length=200)

    @model_validator(mode="after")
    def _nav_precision(self) -> "Etf":
        try:
            nav_to_e6(self.initial_nav, self.currency, "initial_nav")
        except InputError as exc:
            raise _field_error("initial_nav", str(exc).split(": ", 1)[1]) from None
        return self

    @property
    def token_symbol(self) -> str:
        return self.symbol or "ETF" + "".join(c for c in self.fund_code if c.isalnum())[:8]


class EtfTermSheet(Document):
    etf: Etf
    restrictions: Restrictions = Restrictions()


class _FieldError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _field_error(field: str, message: str) -> _FieldError:
    return _FieldError(field, message)


def describe_validation_error(exc: ValidationError) -> str:
    """The first problem of a pydantic error as `section.field: message`."""
    err = exc.errors()[0]
    loc = [f"[{p}]" if isinstance(p, int) else str(p) for p in err["loc"]]
    cause = err.get("ctx", {}).get("error")
    if isinstance(cause, _FieldError):
        loc.append(cause.field)
        message = str(cause)
    else:
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            message = "missing"
        elif err["type"] == "extra_forbidden":
            message = "unknown field"
    return f"{'.'.join(loc).replace('.[', '[')}: {message}"


def _parse(text: str, source: str, model):
    try:
        raw = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise InputError(f"{source}: not a term sheet: values nested too deeply") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InputError(f"{source}: {describe_validation_error(exc)}") from None


def _read(path: str | Path) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read term sheet: {exc.strerror}") from None
    try:
        return data.decode("utf-8")  # TOML is UTF-8, whatever the machine's locale
    except UnicodeDecodeError as exc:
        raise InputError(f"{Path(path).name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def parse_termsheet(text: str, source: str = "termsheet") -> TermSheet:
    return _parse(text, source, TermSheet)


def load_termsheet(path: str | Path) -> TermSheet:
    """A bond term sheet ([bond], [green], [restrictions])."""
    return parse_termsheet(_read(path), Path(path).name)


def parse_etf_termsheet(text: str, source: str = "termsheet") -> EtfTermSheet:
    return _parse(text, source, EtfTermSheet)


def load_etf_termsheet(path: str | Path) -> EtfTermSheet:
    """An ETF term sheet ([etf], [restrictions])."""
    return parse_etf_termsheet(_read(path), Path(path).name)
