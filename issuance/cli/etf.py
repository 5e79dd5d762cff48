"""`bondledger etf`: launch a fund, publish its NAV, creations and redemptions."""

import json
from pathlib import Path

import click

from issuance.cli.plumbing import TABLE_OR_JSON, WHOLE, emit_record, pass_options
from ledger.money import parse_amount

# issuance.etf (web3, the register) is imported inside each command: `--help` starts at once.


@click.group()
def etf():
    """Tokenized ETFs: launch, NAV, creation and redemption by authorized participants."""


@etf.command("launch")
@click.argument("termsheet", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def etf_launch(opts, termsheet, fmt):
    """Launch the fund in TERMSHEET ([etf] and [restrictions]) and list it for settlement."""
    from issuance import etf as etf_ops
    from issuance.termsheet import load_etf_termsheet

    ts = load_etf_termsheet(termsheet)
    inst = etf_ops.launch(opts.context(), ts)
    if fmt == "json":
        click.echo(json.dumps({"fund_code": inst.isin, "address": inst.address}))
    else:
        click.echo(f"{inst.isin} {inst.address}")


@etf.command("nav")
@click.argument("fund")
@click.argument("value")
@pass_options
def etf_nav(opts, fund, value):
    """Publish FUND's NAV per unit, VALUE in currency units (e.g. 25.4321)."""
    from issuance import etf as etf_ops

    nav = parse_amount(value, "VALUE")
    block = etf_ops.publish_nav(opts.context(), fund.upper(), nav)
    click.echo(f"{fund.upper()} NAV {nav} published at block {block}")


def _flow_command(flow: str):
    """`etf create` and `etf redeem`: the same options and output around etf.create or etf.redeem."""

    @click.argument("fund")
    @click.option("--ap", "ap", required=True, help="The authorized participant's investor id.")
    @click.option("--units", type=WHOLE, required=True, help="Units: a whole number of creation units.")
    @click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
    @pass_options
    def command(opts, fund, ap, units, fmt):
        from issuance import etf as etf_ops

        result = getattr(etf_ops, flow)(opts.context(), fund.upper(), ap, units)
        emit_record(
            {
                "fund_code": result.fund_code,
                "participant": ap,
                "units": result.units,
                "cash_amount": str(result.cash),
                "currency": result.currency,
                "nav": str(result.nav),
                "tx_hash": result.tx_hash,
            },
            fmt,
        )

    return command


etf.command("create", help="An authorized participant creates UNITS of FUND, paying cash at the latest NAV.")(
    _flow_command("create")
)
etf.command("redeem", help="An authorized participant redeems UNITS of FUND for cash at the latest NAV.")(_flow_command("redeem"))
