"""`bondledger devnet`: a local anvil in the background, and its clock."""

from datetime import timezone

import click

from issuance.cli.plumbing import pass_options
from ledger.chain import devnet as devnet_ops

UTC_TIME = click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"])


@click.group()
def devnet():
    """Run a local anvil devnet (chain id 31337) in the background."""


@devnet.command("up")
@click.option("--port", type=int, default=8545, show_default=True, help="Port to listen on; 0 picks a free one.")
@click.option("--at", "at", type=UTC_TIME, help="Start the chain's clock at this UTC date/time.")
def devnet_up(port, at):
    """Start anvil and remember it (later commands use it by default)."""
    extra = []
    if at is not None:
        extra = ["--timestamp", str(int(at.replace(tzinfo=timezone.utc).timestamp()))]
    running = devnet_ops.up(port or None, extra)
    click.echo(running.rpc_url)


@devnet.command("down")
def devnet_down():
    """Stop the devnet `devnet up` started."""
    stopped = devnet_ops.down()
    click.echo(f"stopped {stopped.rpc_url}" if stopped else "no devnet running")


@devnet.command("warp")
@click.argument("to", type=UTC_TIME)
@pass_options
def devnet_warp(opts, to):
    """Move the devnet's clock forward to TO (a UTC date, 00:00, or date and time) and mine a
    block there: how coupon dates and maturity arrive on a devnet."""
    from ledger.chain.node import resolve_rpc_url
    from ledger.chain import connect

    to = to.replace(tzinfo=timezone.utc)
    block = devnet_ops.warp(connect(resolve_rpc_url(opts.rpc_url)), int(to.timestamp()))
    click.echo(f"chain time {to.isoformat()} (block {block})")


@devnet.command("status")
def devnet_status():
    """Show the running devnet, if any."""
    running = devnet_ops.recorded()
    click.echo(f"{running.rpc_url} (pid {running.pid})" if running else "no devnet running")
