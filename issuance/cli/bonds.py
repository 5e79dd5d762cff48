"""A bond's life: `issue`, its coupon `schedule`, `coupon pay`, `redeem`, and green reporting."""

import json
import warnings
from pathlib import Path

import click

from issuance.cli.plumbing import DAY, FORMATS, TABLE_OR_JSON, Progress, emit, emit_record, pass_options
from ledger.money import parse_amount

# Workflow modules (web3, QuantLib, the register) are imported inside each command, so that
# `--help` and unrelated commands start at once.


@click.command()
@click.argument("termsheet", type=click.Path(path_type=Path))
@click.option(
    "--allocations", "allocations_file", required=True, type=click.Path(path_type=Path), help="CSV: investor_id,wallet,principal."
)
@click.option(
    "--batch-size", type=click.IntRange(1, 500), default=50, show_default=True, help="Allocations per settlement transaction."
)
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def issue(opts, termsheet, allocations_file, batch_size, fmt):
    """Issue the bond in TERMSHEET and settle its allocations delivery-versus-payment.

    Every allocation's eligibility, cash and authorization is checked before anything is sent.
    Re-running after an interruption settles only what is left.
    """
    from issuance.inputs import read_allocations
    from issuance.issue import issue_bond
    from issuance.termsheet import load_termsheet

    ts = load_termsheet(termsheet)
    rows = read_allocations(allocations_file)
    ctx = opts.context()
    with Progress("settling") as progress:
        result = issue_bond(ctx, ts, rows, allocations_file.name, batch_size, progress=progress)
    _issue_out(result, fmt)


def _issue_json(result) -> dict:
    settles_on = result.settles_on.isoformat() if result.settles_on else None
    return {
        "isin": result.isin,
        "address": result.address,
        "settled": result.settled,
        "already_settled": result.already_settled,
        "pending": result.pending,
        "settles_on": settles_on,
    }


def _issue_out(result, fmt: str) -> None:
    settles_on = result.settles_on.isoformat() if result.settles_on else None
    if fmt == "json":
        click.echo(json.dumps(_issue_json(result)))
    else:
        click.echo(f"{result.isin} {result.address}")
        if result.pending:
            click.echo(f"{result.pending} allocation(s) fixed, settling DvP on {settles_on}: run the issue again then", err=True)
        else:
            click.echo(f"settled {result.settled} allocation(s), {result.already_settled} already settled", err=True)


@click.group()
def programme():
    """Programmes: several tranches under one issuer (LEI) and one green framework."""


@programme.command("issue")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--allocations",
    "allocations_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory with one allocation CSV per tranche, named <ISIN>.csv.",
)
@click.option(
    "--batch-size", type=click.IntRange(1, 500), default=50, show_default=True, help="Allocations per settlement transaction."
)
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def programme_issue(opts, file, allocations_dir, batch_size, fmt):
    """Issue every tranche of the programme FILE with its own allocations.

    Every tranche, allocation file, settlement asset and investor is checked before anything is
    sent; re-running after an interruption issues only what is left.
    """
    from issuance.programme import issue_programme, load_programme

    loaded = load_programme(file)
    ctx = opts.context()
    with Progress("settling") as progress:
        results = issue_programme(ctx, loaded, allocations_dir, batch_size, progress)
    if fmt == "json":
        click.echo(json.dumps([_issue_json(r) for r in results]))
    else:
        for r in results:
            _issue_out(r, fmt)


@click.command("export-terms")
@click.argument("isin")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["icma-bdt"]),
    default="icma-bdt",
    show_default=True,
    help="icma-bdt: the ICMA Bond Data Taxonomy's element tree as JSON.",
)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write to this file (default: stdout).")
@pass_options
def export_terms(opts, isin, fmt, out):
    """The terms of ISIN in the ICMA Bond Data Taxonomy's shape, as JSON (from the register; read-only)."""
    from issuance.bdt import icma_bdt

    doc = json.dumps(icma_bdt(opts.register(), isin.upper()), indent=2)
    if out:
        out.write_text(doc + "\n")
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(doc)


@click.command()
@click.argument("termsheet", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=FORMATS, default="table")
def schedule(termsheet, fmt):
    """The coupon schedule of TERMSHEET (amounts per denomination, in currency units)."""
    from issuance.schedule import coupon_schedule
    from issuance.termsheet import load_termsheet

    ts = load_termsheet(termsheet)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = [p.as_dict() for p in coupon_schedule(ts.bond)]
    for w in caught:
        click.echo(f"warning: {w.message}", err=True)
    emit(rows, fmt)


def _run_out(run) -> dict:
    """A lifecycle.PaymentRun as one output record."""
    return {
        "isin": run.isin,
        "kind": run.kind,
        "coupon": run.coupon_id or None,
        "payment_date": run.payment_date.isoformat() if run.payment_date else None,
        "holders_paid": run.holders_paid,
        "paid": str(run.paid),
        "total_paid": str(run.total_paid),
        "complete": run.complete,
        "residue": str(run.residue),
        "currency": run.currency,
    }


@click.group()
def coupon():
    """Coupons: paid on chain to the holders of record."""


@coupon.command("pay")
@click.argument("isin")
@click.option("--date", "on", type=DAY, help="The coupon paying on this date (default: the earliest due and unpaid).")
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def coupon_pay(opts, isin, on, fmt):
    """Pay one coupon of ISIN to its holders of record, in batches; safe to re-run."""
    from issuance import lifecycle

    with Progress("paying") as progress:
        run = lifecycle.pay_coupon(opts.context(), isin.upper(), on, progress)
    emit_record(_run_out(run), fmt)


@click.command()
@click.argument("isin")
@click.option(
    "--call",
    is_flag=True,
    help="Redeem before maturity on the issuer's call (at the term sheet's call price plus accrued interest).",
)
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def redeem(opts, isin, call, fmt):
    """Redeem ISIN: pay every holder its principal and burn its bonds; mark the bond redeemed."""
    from issuance import lifecycle

    with Progress("redeeming") as progress:
        run = lifecycle.redeem(opts.context(), isin.upper(), call, progress)
    out = _run_out(run)
    out["coupons_paid"] = [_run_out(c) for c in run.coupons]  # the coupons paid first (the final one at maturity)
    if fmt != "json":
        for c in run.coupons:
            click.echo(
                f"paid coupon {c.coupon_id} ({c.payment_date}): {c.paid} {c.currency} to {c.holders_paid} holder(s)", err=True
            )
        del out["coupons_paid"]
    emit_record(out, fmt)


@click.group()
def green():
    """Green bond reporting: allocation of proceeds to the framework's categories."""


@green.command("allocate")
@click.argument("isin")
@click.option("--category", required=True, help="One of the bond's use-of-proceeds categories.")
@click.option("--amount", required=True, help="Currency units.")
@click.option("--project", required=True, help="The project funded.")
@click.option("--date", "on", type=DAY, help="Default: the chain's date.")
@pass_options
def green_allocate(opts, isin, category, amount, project, on):
    """Record an allocation of ISIN's proceeds to a project."""
    from issuance import green as green_ops

    value = parse_amount(amount, "--amount")
    row = green_ops.allocate(opts.context(), isin.upper(), category, value, project, on)
    click.echo(f"allocated {value} to {row.project} ({row.category})")


@green.command("report")
@click.argument("isin")
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def green_report(opts, isin, fmt):
    """The allocation report of ISIN (ICMA Green Bond Principles): allocated vs unallocated per category."""
    from issuance import green as green_ops

    report = green_ops.report(opts.context(), isin.upper())
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{report['isin']} green bond allocation report ({report['currency']})")
    click.echo(f"framework: {report['framework_uri']} (sha256 {report['framework_sha256']})")
    emit(report["categories"], "table")
    click.echo(
        f"net proceeds {report['net_proceeds']}; allocated {report['allocated']} ({report['allocated_percent']}%); "
        f"unallocated {report['unallocated']}"
    )
    if report["allocations"]:
        emit(report["allocations"], "table")
