"""Programmes: one issuer (name, LEI), one green framework, several tranches issued together.

A programme file is TOML:

    [issuer]        name, lei (ISO 17442, its check digits verified)
    [green]         the framework every tranche shares (as in a term sheet)
    [restrictions]  who may hold (as in a term sheet)
    [defaults]      bond fields every tranche shares unless it sets its own (issue_date, day_count ...)
    [settlement]    settlement terms every tranche shares (pricing_date, settlement_days, assets ...)
    [[tranche]]     one bond each: isin, dti, name, currency, issue_size, coupon_rate, and
                    tenor_years or maturity_date; [tranche.settlement] overrides the shared terms

Each tranche becomes a whole term sheet (its [identifiers] carry the DTI and the issuer's LEI),
validated as one. `programme issue` checks every tranche, every allocation file
(DIR/<ISIN>.csv), the settlement assets and every investor's eligibility and cash (summed over
the tranches that draw on the same cash token) before anything is sent, then issues the
tranches one after another; each issue is itself safe to re-run, so the programme is.
"""

import copy
import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from pydantic import Field, ValidationError

from issuance.context import Context
from issuance.inputs import read_allocations
from issuance.issue import IssueResult, execute_issue, prepare_issue
from ledger.register.db import writes_register
from issuance.termsheet import Green, Lei, Restrictions, Strict, TermSheet, describe_validation_error
from ledger.errors import InputError

_TRANCHE_ONLY = ("dti", "tenor_years", "settlement")


class Issuer(Strict):
    name: str = Field(min_length=1)
    lei: Lei


class Programme(Strict):
    name: str = Field(default="", max_length=200)
    issuer: Issuer
    green: Green | None = None
    restrictions: Restrictions = Restrictions()
    defaults: dict = Field(default_factory=dict)
    settlement: dict = Field(default_factory=dict)
    tranche: list[dict] = Field(min_length=1)


@dataclass
class Loaded:
    programme: Programme
    tranches: list[TermSheet]


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _tranche_termsheet(p: Programme, raw: dict, where: str) -> TermSheet:
    bond = {**p.defaults, **{k: v for k, v in raw.items() if k not in _TRANCHE_ONLY}}
    bond.setdefault("issuer", p.issuer.name)
    tenor = raw.get("tenor_years")
    if tenor is not None:
        if not isinstance(tenor, int) or isinstance(tenor, bool) or not 1 <= tenor <= 50:
            raise InputError(f"{where}: tenor_years: {tenor!r} is not a whole number of years from 1 to 50")
        if "maturity_date" in raw:
            raise InputError(f"{where}: tenor_years: give tenor_years or maturity_date, not both")
        if not isinstance(bond.get("issue_date"), date):
            raise InputError(f"{where}: issue_date: needed to work out the maturity from tenor_years")
        bond["maturity_date"] = _add_years(bond["issue_date"], tenor)
    sheet = {
        "bond": bond,
        "restrictions": p.restrictions.model_dump(mode="json"),
        "settlement": {**p.settlement, **raw.get("settlement", {})},
        "identifiers": {"dti": raw.get("dti"), "issuer_lei": p.issuer.lei, "programme": p.name or None},
    }
    if p.green is not None:
        sheet["green"] = p.green.model_dump(mode="json")
    try:
        return TermSheet.model_validate(sheet)
    except ValidationError as exc:
        raise InputError(f"{where}: {describe_validation_error(exc)}") from None


def parse_programme(text: str, source: str = "programme") -> Loaded:
    try:
        raw = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not valid TOML: {exc}") from None
    try:
        p = Programme.model_validate(raw)
    except ValidationError as exc:
        raise InputError(f"{source}: {describe_validation_error(exc)}") from None
    tranches, isins, dtis = [], set(), set()
    for i, t in enumerate(p.tranche):
        where = f"{source}: tranche[{i}]" + (f" ({t['isin']})" if isinstance(t.get("isin"), str) else "")
        if t.get("dti") is None:
            raise InputError(f"{where}: dti: missing (every tranche has its Digital Token Identifier)")
        ts = _tranche_termsheet(p, copy.deepcopy(t), where)
        if ts.bond.isin in isins:
            raise InputError(f"{where}: isin: {ts.bond.isin} is also another tranche's")
        if ts.identifiers.dti in dtis:
            raise InputError(f"{where}: dti: {ts.identifiers.dti} is also another tranche's")
        isins.add(ts.bond.isin)
        dtis.add(ts.identifiers.dti)
        tranches.append(ts)
    return Loaded(p, tranches)


def load_programme(path: str | Path) -> Loaded:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InputError(f"{path}: cannot read programme: {exc.strerror}") from None
    return parse_programme(text, Path(path).name)


@writes_register("programme issue")
def issue_programme(
    ctx: Context, loaded: Loaded, allocations_dir: Path, batch_size: int = 50, progress=None
) -> list[IssueResult]:
    """Checks every tranche, then issues them all (each safe to re-run)."""
    files = []
    for ts in loaded.tranches:
        f = Path(allocations_dir) / f"{ts.bond.isin}.csv"
        if not f.is_file():
            raise InputError(f"--allocations: {f} is missing (one allocation file per tranche, named by its ISIN)")
        files.append(f)
    rows = [read_allocations(f) for f in files]
    committed: dict[tuple[str, str], int] = {}
    prepared = [prepare_issue(ctx, ts, r, f.name, committed) for ts, r, f in zip(loaded.tranches, rows, files)]
    return [execute_issue(ctx, p, batch_size, progress) for p in prepared]
