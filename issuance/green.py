"""Green bond reporting: where the proceeds went, in the form ICMA's Green Bond Principles ask
for (an allocation report: amounts allocated per eligible category and project, and the balance
of unallocated proceeds).

Allocations are off-chain facts the issuer records in the register; each names one of the
categories the bond's green bond framework lists on chain, and together they never exceed the
proceeds the bond raised.
"""

from datetime import date
from decimal import Decimal

from sqlmodel import select

from issuance.context import Context
from issuance.termsheet import TermSheet
from ledger.register import models
from ledger.errors import InputError
from ledger.money import from_minor, to_minor


def _green_bond(ctx: Context, isin: str) -> tuple[models.Instrument, TermSheet]:
    inst = ctx.register.instrument(isin)
    ts = TermSheet.model_validate_json(inst.termsheet) if inst.kind == "bond" else None
    if ts is None or ts.green is None:
        raise InputError(f"ISIN: {isin} is not a green bond")
    return inst, ts


def allocate(
    ctx: Context, isin: str, category: str, amount: Decimal, project: str, on: date | None = None
) -> models.GreenAllocation:
    inst, ts = _green_bond(ctx, isin)
    if category not in ts.green.use_of_proceeds:
        raise InputError(
            f"--category: {category!r} is not one of {isin}'s use-of-proceeds categories ({', '.join(ts.green.use_of_proceeds)})"
        )
    if not project.strip():
        raise InputError("--project: must name the project")
    if amount <= 0:
        raise InputError(f"--amount: {amount} must be positive")
    minor = to_minor(amount, inst.currency, "--amount")
    with ctx.register.session() as s:
        allocated = sum(a.amount for a in s.exec(select(models.GreenAllocation).where(models.GreenAllocation.isin == isin)))
        if allocated + minor > inst.issue_size:
            left = from_minor(inst.issue_size - allocated, inst.currency)
            raise InputError(f"--amount: {amount} {inst.currency} is more than the {left} of proceeds left to allocate")
        row = models.GreenAllocation(
            isin=isin, category=category, project=project.strip(), amount=minor, allocated_on=on or ctx.chain_date()
        )
        s.add(row)
        ctx.register.audit(
            s,
            ctx.signer.address,
            "green allocate",
            {"isin": isin, "category": category, "project": project, "amount": str(amount)},
        )
        s.commit()
    return row


def report(ctx: Context, isin: str) -> dict:
    """The allocation report: per framework category, allocated and its share of proceeds; the total
    allocated and the unallocated balance; and the projects."""
    inst, ts = _green_bond(ctx, isin)
    with ctx.register.session() as s:
        rows = s.exec(
            select(models.GreenAllocation).where(models.GreenAllocation.isin == isin).order_by(models.GreenAllocation.id)
        ).all()
    proceeds = inst.issue_size
    by_category = {c: 0 for c in ts.green.use_of_proceeds}
    projects: dict[str, set[str]] = {c: set() for c in ts.green.use_of_proceeds}
    for r in rows:
        by_category[r.category] += r.amount
        projects[r.category].add(r.project)
    allocated = sum(by_category.values())

    def share(minor: int) -> str:
        return f"{Decimal(minor * 100) / proceeds:.2f}"

    return {
        "isin": isin,
        "currency": inst.currency,
        "framework_uri": ts.green.framework_uri,
        "framework_sha256": ts.green.framework_sha256,
        "net_proceeds": str(from_minor(proceeds, inst.currency)),
        "allocated": str(from_minor(allocated, inst.currency)),
        "unallocated": str(from_minor(proceeds - allocated, inst.currency)),
        "allocated_percent": share(allocated),
        "categories": [
            {
                "category": c,
                "allocated": str(from_minor(v, inst.currency)),
                "percent_of_proceeds": share(v),
                "projects": len(projects[c]),
            }
            for c, v in by_category.items()
        ],
        "allocations": [
            {
                "category": r.category,
                "project": r.project,
                "amount": str(from_minor(r.amount, inst.currency)),
                "allocated_on": r.allocated_on.isoformat(),
            }
            for r in rows
        ],
    }
