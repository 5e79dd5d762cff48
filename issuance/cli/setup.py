"""Setting up: the shared contracts (`deploy`), investors and tokenized cash."""

from pathlib import Path

import click
from sqlmodel import select

from issuance import cash as cash_ops
from issuance.cli.plumbing import (
    FORMATS,
    TABLE_OR_JSON,
    Progress,
    address_arg,
    amount_arg,
    emit,
    holder_account,
    holder_key_options,
    pass_options,
)
from issuance.context import resolve_rpc_url
from issuance.deploy import deploy_base
from issuance.inputs import read_investors
from issuance.investors import import_investors
from ledger import indexer, models
from ledger.chain import connect
from ledger.evm import require_cancun


@click.command()
@pass_options
def deploy(opts):
    """Deploy the investor registry, DvP settlement and cash tokens (HKD, CNH, USD, EUR).

    The node must run the Cancun EVM or later (checked first). Each contract lands at a
    deterministic address (CREATE2), and the register records the platform only once it is
    whole: after an interruption, run it again to finish."""
    # Before the register is opened (and made): a node that cannot run the contracts leaves no trace.
    require_cancun(connect(resolve_rpc_url(opts.rpc_url)))
    ctx = opts.context()
    deployed = deploy_base(ctx)
    indexer.sync(ctx.register, ctx.chain)
    emit([{"contract": k, "address": v} for k, v in deployed.items()], "table")


@click.group()
def investors():
    """Investor onboarding."""


@investors.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@pass_options
def investors_import(opts, file):
    """Import investors from CSV: investor_id,name,wallet,country,category,kyc_expiry.

    Categories: retail, professional_investor, corporate_professional_investor,
    institutional_professional_investor, authorized_participant. Several rows may share an
    investor_id (one per wallet).
    """
    rows = read_investors(file)
    ctx = opts.context()
    with Progress("registering") as progress:
        result = import_investors(ctx, rows, progress=progress)
    click.echo(
        f"{result.investors} investors, {result.wallets} wallets: "
        f"{result.investor_writes} investor records and {result.wallet_writes} wallets written on chain"
    )


@investors.command("list")
@click.option("--format", "fmt", type=FORMATS, default="table")
@pass_options
def investors_list(opts, fmt):
    """Investors in the register, with their wallets."""
    reg = opts.context().register
    with reg.session() as s:
        wallets: dict[str, list[str]] = {}
        for w in s.exec(select(models.Wallet).where(models.Wallet.active)).all():
            wallets.setdefault(w.id_hash, []).append(w.address)
        rows = [
            {
                "investor_id": i.investor_id,
                "name": i.name,
                "country": i.country,
                "category": i.category,
                "kyc_expiry": i.kyc_expiry.isoformat(),
                "wallets": " ".join(sorted(wallets.get(i.id_hash, []))),
            }
            for i in s.exec(select(models.Investor).order_by(models.Investor.investor_id)).all()
        ]
    emit(rows, fmt)


@click.group()
def cash():
    """Tokenized cash (the cash leg of settlements)."""


@cash.command("mint")
@click.argument("currency")
@click.argument("wallet")
@click.argument("amount")
@pass_options
def cash_mint(opts, currency, wallet, amount):
    """Mint AMOUNT (currency units, e.g. 1000000.50) of CURRENCY to WALLET."""
    wallet = address_arg(wallet, "WALLET")
    value = amount_arg(amount)
    cash_ops.mint(opts.context(), currency.upper(), wallet, value)
    click.echo(f"minted {value} {currency.upper()} to {wallet}")


@cash.command("allow")
@click.argument("currency")
@click.argument("amount")
@holder_key_options
@pass_options
def cash_allow(opts, currency, amount, private_key, dev_account):
    """Authorize DvP settlement to take up to AMOUNT of the holder's CURRENCY."""
    value = amount_arg(amount)
    ctx = opts.context()
    holder = holder_account(ctx, private_key, dev_account)
    cash_ops.allow(ctx, currency.upper(), value, holder)
    click.echo(f"{holder.address} authorized settlement to take up to {value} {currency.upper()}")


@cash.command("balance")
@click.argument("currency")
@click.argument("wallet")
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def cash_balance(opts, currency, wallet, fmt):
    """WALLET's CURRENCY balance and what it has authorized for settlement."""
    wallet = address_arg(wallet, "WALLET")
    balance, allowed = cash_ops.position(opts.context(), currency.upper(), wallet)
    emit([{"wallet": wallet, "currency": currency.upper(), "balance": str(balance), "authorized": str(allowed)}], fmt)
