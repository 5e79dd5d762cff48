"""The register: `sync` it from the chain, read it (`register ...`), prove it against the chain
(`reconcile`, `verify`), `export` it and `serve` it to auditors."""

from pathlib import Path

import click

from issuance.cli.plumbing import DAY, FORMATS, TABLE_OR_JSON, WHOLE, Progress, emit, emit_check, pass_options, view

# The register, the chain client and the web stack are imported inside each command: reading
# the register never loads web3, and `--help` loads neither.


@click.command()
@click.option(
    "--confirmations",
    type=WHOLE,
    default=None,
    help="Blocks below the head before one counts as final where the node has no finalized block "
    "(default: BONDLEDGER_CONFIRMATIONS, else 0 on a devnet, 64 elsewhere).",
)
@pass_options
def sync(opts, confirmations):
    """Index new chain events into the register; unwind a reorganisation above the finalized block.

    With nothing new on the chain it says so after a quick look (ledger/register/quick.py),
    without loading the ORM."""
    from ledger.register import quick

    idle = quick.nothing_to_sync(opts.db, opts.rpc_url, confirmations)
    if idle is not None:
        _synced(idle.to_block, 0, idle.finalized, idle.head)
        return
    from ledger.register import indexer

    ctx = opts.context(unwind=True)
    with Progress("indexing blocks") as progress:
        result = indexer.sync(ctx.register, ctx.chain, progress=progress, confirmations=confirmations)
    if result.reorg:
        r = result.reorg
        click.echo(
            f"unwound a reorganisation of {r['depth']} block(s) after block {r['ancestor']} "
            f"(block {r['block']} was {r['old_hash'][:10]}…, now {(r['new_hash'] or 'gone')[:10]}): "
            f"{sum(r['removed'].values())} row(s) removed",
            err=True,
        )
    _synced(result.to_block, result.events, result.finalized, result.head)


def _synced(to_block: int, events: int, finalized: int, head: int) -> None:
    click.echo(f"indexed to block {to_block}: {events} new event(s)")
    # on stderr: the line above is what scripts read
    click.echo(f"final at block {finalized} (head {head}); rows above it are provisional", err=True)


@click.group()
def register():
    """Read the register (what `sync` has indexed)."""


@register.command("holders")
@click.argument("isin")
@click.option("--as-of-block", type=WHOLE, help="Holders after this block (default: the indexed block).")
@click.option("--as-of-date", type=DAY, help="Holders at the end of this day (Hong Kong).")
@click.option("--format", "fmt", type=FORMATS, default="table")
@pass_options
def register_holders(opts, isin, as_of_block, as_of_date, fmt):
    """Holders of ISIN: investor, wallet, quantity (tokens) and principal (currency units)."""
    from ledger.register import finality, views

    block, rows = views.holders(opts.register(), isin.upper(), as_of_block, as_of_date=as_of_date)
    emit(rows, fmt, title=f"{isin.upper()} holders as of block {block} ({finality.final_note(opts.register())})")


# The rest read one view each: `view` opens the register read-only and prints the rows.


def _views():
    from ledger.register import views

    return views


@register.command("transfers")
@click.argument("isin")
@view
def register_transfers(register, isin):
    """Every transfer of ISIN with its chain proof (mints are from 0x0…0)."""
    from ledger.register import movements

    return movements.transfer_rows(register, isin.upper())


@register.command("instruments")
@view
def register_instruments(register):
    """Every bond and fund in the register, with its units outstanding at the indexed block."""
    return _views().instruments(register)


@register.command("nav")
@click.argument("fund")
@view
def register_nav(register, fund):
    """FUND's NAV history, as published on chain."""
    return _views().nav_history(register, fund.upper())


@register.command("flows")
@click.argument("fund")
@view
def register_flows(register, fund):
    """FUND's creations and redemptions by authorized participants."""
    return _views().fund_flows(register, fund.upper())


@register.command("payments")
@click.argument("isin")
@view
def register_payments(register, isin):
    """Every coupon and principal payment of ISIN to each holder, with its proof."""
    return _views().payments(register, isin.upper())


@register.command("coupons")
@click.argument("isin")
@view
def register_coupons(register, isin):
    """ISIN's coupons: due on the holdings of record vs declared and paid, and the rounding residue."""
    return _views().coupons(register, isin.upper())


@register.command("settlements")
@click.argument("isin", required=False)
@click.option("--from", "date_from", type=DAY, help="First trade date (inclusive).")
@click.option("--to", "date_to", type=DAY, help="Last trade date (inclusive).")
@view
def register_settlements(register, isin, date_from, date_to):
    """Every settlement instruction (of ISIN, traded in a period), with its status and reason."""
    return _views().settlements(register, isin.upper() if isin else None, date_from, date_to)


@register.command("issuances")
@click.argument("isin", required=False)
@click.option(
    "--kind",
    type=click.Choice(["tokenised_central_bank_money", "tokenised_deposit", "licensed_stablecoin"]),
    help="Only primary settlements in this kind of settlement asset.",
)
@view
def register_issuances(register, isin, kind):
    """Every primary allocation settled DvP (of ISIN), with its settlement asset and its legal kind."""
    return _views().issuances(register, isin.upper() if isin else None, kind)


@register.command("movements")
@click.argument("investor")
@click.option("--from", "date_from", type=DAY, help="First day (inclusive, Hong Kong).")
@click.option("--to", "date_to", type=DAY, help="Last day (inclusive, Hong Kong).")
@view
def register_movements(register, investor, date_from, date_to):
    """Every movement of INVESTOR's securities and cash, with its chain proof."""
    from ledger.register import movements

    return movements.movements(register, investor, date_from, date_to)


@register.command("stamp-duty")
@click.option("--from", "date_from", type=DAY, help="First trade date (inclusive).")
@click.option("--to", "date_to", type=DAY, help="Last trade date (inclusive).")
@view
def register_stamp_duty(register, date_from, date_to):
    """The stamp duty treatment of every settled transfer (amounts in currency units)."""
    return _views().stamp_duty(register, date_from, date_to)


@click.command()
@click.argument("isin")
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def reconcile(opts, isin, fmt):
    """Compare the register with the chain at the indexed block and record the result (the web
    page shows the last one); exit 1 on any break."""
    from ledger.proofs.reconcile import reconcile as reconcile_register
    from ledger.proofs.reconcile import record

    ctx = opts.context()
    result = reconcile_register(ctx.register, ctx.chain, isin.upper())
    record(ctx.register, result)
    click.echo(f"final at block {result.final_block}: rows above it are provisional", err=True)
    emit_check(
        result,
        fmt,
        "breaks",
        "BREAK",
        result.isin,
        f"{result.wallets_checked} wallets, supply register {result.supply_register} / chain {result.supply_chain}",
    )


@click.command()
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def verify(opts, fmt):
    """Prove the register against the chain: re-read every row's log (catches an edited row),
    every log of every followed contract (catches a deleted row), and the audit log's hash chain.
    Exit 1 on any problem."""
    from ledger.chain.node import resolve_rpc_url
    from ledger.chain import connect
    from ledger.proofs.verify import verify as verify_register

    with Progress("verifying") as progress:
        result = verify_register(opts.register(), connect(resolve_rpc_url(opts.rpc_url)), progress)
    emit_check(
        result,
        fmt,
        "problems",
        "PROBLEM",
        "register",
        f"{result.rows_checked} rows against their logs, {result.logs_checked} logs against the register, "
        f"{result.audit_entries} audit entries",
        f"audit log head {result.audit_head or '(empty)'}: compare it with the one noted at the last audit",
        f"final at block {result.final_block}: rows above it are provisional (a reorganisation may still take them back)",
    )


@click.command()
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="A new or empty directory.")
@pass_options
def export(opts, out):
    """Write the whole register (every table and every view, CSV and JSON) with a manifest of sha256 sums."""
    from ledger.proofs.export import export as export_register

    with Progress("exporting") as progress:
        manifest = export_register(opts.register(), out, progress)
    click.echo(f"exported {len(manifest['files'])} files to {out} (manifest.json, SHA256SUMS)")


@click.command()
@click.option("--read-only", "read_only", is_flag=True, required=True, help="Required: the server never writes.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@pass_options
def serve(opts, read_only, host, port):
    """Serve the register read-only over HTTP: an auditor's web page at / and a JSON API (/openapi.json)."""
    # The web stack loads only for the command that serves it.
    import uvicorn

    from ledger.chain.node import resolve_rpc_url
    from ledger.web import create_app

    app = create_app(opts.register().url, resolve_rpc_url(opts.rpc_url))
    click.echo(f"serving the register read-only at http://{host}:{port}/ (API docs: /docs, /openapi.json)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
