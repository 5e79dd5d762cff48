"""The issuer's CSV files: investors and allocations, validated row by row.

A bad row raises InputError naming the file, the line and the field, e.g.
`allocations.csv line 4: principal: 120000 is not a multiple of the denomination 50000`.
"""

import csv
import re
from collections import Counter
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from issuance.fields import Day, Number, Text
from issuance.termsheet import Country, describe_validation_error
from ledger.chain.addresses import checksum
from ledger.codes import Category
from ledger.errors import InputError


def parse_address(value: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", value):
        raise ValueError(f"{value!r} is not a 20-byte hex address")
    # Mixed case is an EIP-55 checksum: a typo there must not pass.
    if value[2:] != value[2:].lower() and value[2:] != value[2:].upper() and checksum(value) != value:
        raise ValueError(f"{value} has a bad EIP-55 checksum")
    return checksum(value)


Address = Annotated[str, AfterValidator(parse_address)]
MAX_WALLETS_PER_INVESTOR = 16  # InvestorRegistry.MAX_WALLETS_PER_INVESTOR
InvestorId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class InvestorRow(Row):
    investor_id: InvestorId
    name: Text = Field(min_length=1, max_length=200)
    wallet: Address
    country: Country
    category: Category
    kyc_expiry: Day  # at most 2199-12-31: its timestamp fits the registry's uint40


class AllocationRow(Row):
    investor_id: InvestorId
    wallet: Address
    principal: Number = Field(gt=0)


def read_rows(path: str | Path, model: type[Row]) -> list:
    """Every row of a CSV file as `model`; the header names exactly the model's columns (in any
    order), and every row has exactly the header's fields."""
    path = Path(path)
    expected = ",".join(model.model_fields)
    try:
        with path.open(newline="", encoding="utf-8-sig", errors="strict") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            missing = [c for c in model.model_fields if c not in header]
            if missing:
                raise InputError(f"{path.name}: missing column(s) {', '.join(missing)} (expected {expected})")
            unknown = [c for c in header if c not in model.model_fields]
            if unknown or len(set(header)) != len(header):
                what = f"unknown column(s) {', '.join(repr(c) for c in unknown)}" if unknown else "a column named twice"
                raise InputError(f"{path.name}: {what} (expected {expected})")
            rows = []
            for raw in reader:
                where = f"{path.name} line {reader.line_num}"
                if None in raw:  # DictReader's key for fields beyond the header
                    raise InputError(f"{where}: {len(header) + len(raw[None])} fields, more than the header's {len(header)}")
                if not any((v or "").strip() for v in raw.values()):
                    continue  # blank line
                if None in raw.values():
                    raise InputError(
                        f"{where}: {sum(v is not None for v in raw.values())} fields, fewer than the header's {len(header)}"
                    )
                rows.append(_validate(model, raw, where))
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path.name}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x})") from None
    except csv.Error as exc:  # e.g. a field over csv.field_size_limit() (131,072 characters)
        # line_num counts the lines read before the one that failed
        raise InputError(f"{path.name} line {reader.line_num + 1}: not a valid CSV row: {exc}") from None
    if not rows:
        raise InputError(f"{path.name}: no rows")
    return rows


def _validate(model: type[Row], raw: dict, where: str):
    if "category" in raw and raw["category"] is not None:
        name = raw["category"].strip()
        if name not in Category.__members__:
            raise InputError(f"{where}: category: {name!r} is not one of {', '.join(Category.__members__)}")
        raw = {**raw, "category": Category[name]}
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InputError(f"{where}: {describe_validation_error(exc)}") from None


def read_investors(path: str | Path) -> list[InvestorRow]:
    rows = read_rows(path, InvestorRow)
    seen: dict[str, InvestorRow] = {}
    owners: dict[str, str] = {}
    for i, row in enumerate(rows):
        first = seen.setdefault(row.investor_id, row)
        if (first.name, first.country, first.category, first.kyc_expiry) != (row.name, row.country, row.category, row.kyc_expiry):
            raise InputError(
                f"{Path(path).name}: investor {row.investor_id} has rows that disagree on name, country, category or kyc_expiry"
            )
        owner = owners.setdefault(row.wallet, row.investor_id)
        if owner != row.investor_id:
            raise InputError(f"{Path(path).name}: wallet {row.wallet} is listed for both {owner} and {row.investor_id}")
    # wallets per investor, counted in one pass (a scan of every wallet per investor is
    # quadratic: ten seconds at 10,000 investors)
    for investor_id, count in Counter(owners.values()).items():
        if count > MAX_WALLETS_PER_INVESTOR:
            raise InputError(
                f"{Path(path).name}: investor {investor_id} has {count} wallets; the registry keeps at most {MAX_WALLETS_PER_INVESTOR}"
            )
    return rows


def read_allocations(path: str | Path) -> list[AllocationRow]:
    rows = read_rows(path, AllocationRow)
    seen = set()
    for row in rows:
        key = (row.investor_id, row.wallet)
        if key in seen:
            raise InputError(
                f"{Path(path).name}: investor {row.investor_id} has two allocations to wallet {row.wallet}; merge them"
            )
        seen.add(key)
    return rows
