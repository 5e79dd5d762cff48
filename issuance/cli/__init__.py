"""The `bondledger` command line.

Global options (also from the environment, see ledger/settings.py): --rpc-url (BONDLEDGER_RPC_URL, else the devnet
`devnet up` started, else http://127.0.0.1:8545), --db (BONDLEDGER_DB, a SQLAlchemy URL or a
SQLite path; default .bondledger/register.db), --keystore (BONDLEDGER_KEYSTORE) for the
operator's key unless BONDLEDGER_PRIVATE_KEY is set; on chain id 31337 only, the first anvil
account signs when no key is given. Errors print one line to stderr: exit 2 for bad input
(nothing sent or written), 1 for everything else (including reconciliation breaks). A node that
stops answering mid-command is exit 1 (the input was fine; the outcome may be partial), its line
naming the node and what was sent before it went (nothing, or how many transactions and the
last one's hash, or the one in flight): `bondledger sync` and a re-run then finish the work.

The commands live in one module per area (devnet, setup, bonds, etf, trading, register); what
they share (options, output formats, progress, errors) is in `plumbing`.
"""

from pathlib import Path

import click

from issuance.cli import bonds, devnet, etf, register, setup, trading
from issuance.cli.plumbing import Group, Options
from ledger.settings import settings


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
# Unset flags fall back to the environment through ledger.settings, its one reader.
@click.option("--rpc-url", default=lambda: settings().rpc_url, help="EVM JSON-RPC endpoint [env BONDLEDGER_RPC_URL].")
@click.option("--db", default=lambda: settings().db, help="Register: SQLAlchemy URL or SQLite path [env BONDLEDGER_DB].")
@click.option(
    "--keystore",
    default=lambda: settings().keystore,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Operator's encrypted keystore (password from BONDLEDGER_KEYSTORE_PASSWORD or a prompt).",
)
@click.version_option(package_name="bondledger")
@click.pass_context
def cli(ctx, rpc_url, db, keystore):
    """bondledger: tokenized green bonds on an EVM chain, with an auditable register."""
    ctx.obj = Options(rpc_url, db, keystore)


for command in (
    devnet.devnet,
    setup.deploy, setup.investors, setup.cash,
    bonds.issue, bonds.programme, bonds.export_terms, bonds.schedule, bonds.coupon, bonds.redeem, bonds.green,
    etf.etf,
    trading.trade, trading.instruction, trading.affirm, trading.settle, trading.cancel,
    register.sync, register.register, register.reconcile, register.verify, register.export, register.serve,
):  # fmt: skip
    cli.add_command(command)


def main() -> None:
    cli(prog_name="bondledger")
