"""Setting up: the shared contracts (`deploy`), investors and tokenized cash."""

import json
from pathlib import Path

import click
from click.core import ParameterSource

from issuance.cli.plumbing import (
    FORMATS,
    TABLE_OR_JSON,
    Progress,
    address_arg,
    amount_arg,
    emit,
    holder_account,
    holder_key_options,
    lazy_module,
    pass_options,
)
from ledger.errors import InputError

# Workflows load when a command runs (web3, the register): `--help` starts at once.
cash_ops = lazy_module("issuance.cash")
deploy_ops = lazy_module("issuance.deploy")
investor_ops = lazy_module("issuance.investors")
inputs = lazy_module("issuance.inputs")
indexer = lazy_module("ledger.register.indexer")
models = lazy_module("ledger.register.models")


@click.command()
@pass_options
def deploy(opts):
    """Deploy the investor registry, DvP settlement and cash tokens (HKD, CNH, USD, EUR).

    The node must run the Cancun EVM or later (checked first). Each contract lands at a
    deterministic address (CREATE2), and the register records the platform only once it is
    whole: after an interruption, run it again to finish."""
    from ledger.chain.node import resolve_rpc_url
    from ledger.chain import connect
    from ledger.chain.evm import require_cancun

    # Before the register is opened (and made): a node that cannot run the contracts leaves no trace.
    require_cancun(connect(resolve_rpc_url(opts.rpc_url)))
    ctx = opts.context()
    deployed = deploy_ops.deploy_base(ctx)
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

    Only what the registry lacks is written, in multicalls of at most 12M gas (less on a chain
    whose blocks hold under 29M gas: two to a block); an interrupted import, run again, writes the rest.
    """
    rows = inputs.read_investors(file)
    ctx = opts.context()
    with Progress("registering") as progress:
        result = investor_ops.import_investors(ctx, rows, progress=progress)
    click.echo(
        f"{result.investors} investors, {result.wallets} wallets: "
        f"{result.investor_writes} investor records and {result.wallet_writes} wallets written on chain"
    )


@investors.command("list")
@click.option("--format", "fmt", type=FORMATS, default="table")
@pass_options
def investors_list(opts, fmt):
    """Investors in the register, with their wallets (read-only)."""
    from ledger.register import views

    emit(views.investors(opts.register()), fmt)


@click.group()
def cash():
    """Tokenized cash (the cash leg of settlements)."""


@cash.command("add")
@click.argument("label")
@click.option("--currency", required=True, help="Its currency (HKD, CNH, USD, EUR).")
@click.option(
    "--kind",
    required=True,
    type=click.Choice(["tokenised_central_bank_money", "tokenised_deposit", "licensed_stablecoin"]),
    help="Its legal kind.",
)
@click.option("--issuer", help="Who issues it: the central bank, the deposit-taking bank, the licensed stablecoin issuer.")
@click.option("--licence", help="A licensed_stablecoin's HKMA licence number (required for one).")
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def cash_add(opts, label, currency, kind, issuer, licence, fmt):
    """Add a settlement asset: a cash token LABEL (e.g. e-HKD) with its legal kind, listed on the
    DvP venue. Safe to re-run with the same facts."""
    row = cash_ops.add_asset(opts.context(), label.upper(), currency.upper(), kind, issuer, licence)
    emit(
        [
            {
                "label": row.label,
                "currency": row.currency,
                "kind": row.kind,
                "issuer": row.issuer,
                "licence": row.licence,
                "address": row.address,
            }
        ],
        fmt,
    )


@cash.command("list")
@click.option("--format", "fmt", type=FORMATS, default="table")
@pass_options
def cash_list(opts, fmt):
    """Every cash token the register knows, with its currency and legal kind (read-only)."""
    from ledger.register import views

    emit(views.settlement_assets(opts.register()), fmt)


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
@click.option(
    "--permit", is_flag=True, help="Authorize by an ERC-2612 permit signature the operator submits: no gas for the holder."
)
@click.option("--owner", help="With --permit: the holder's wallet, when the permit is signed elsewhere.")
@click.option(
    "--deadline", type=int, help="With --permit: unix seconds the permit is valid until (default: the chain's time + 1 hour)."
)
@click.option(
    "--signature", help="With --permit: the owner's permit signature made elsewhere (0x hex); needs --owner and --deadline."
)
@click.option(
    "--typed-data",
    is_flag=True,
    help="With --permit and --owner: print the permit as EIP-712 typed data to sign (eth_signTypedData_v4); send nothing.",
)
@pass_options
def cash_allow(opts, currency, amount, private_key, dev_account, permit, owner, deadline, signature, typed_data):
    """Authorize DvP settlement to take up to AMOUNT of the holder's CURRENCY.

    The holder sends `approve` with its key; or, with --permit, signs an ERC-2612 permit (with
    its key here, or elsewhere: print it with --typed-data, sign it with any wallet, then pass
    --owner, --deadline and --signature) that the operator submits.
    """
    value = amount_arg(amount)
    currency = currency.upper()
    given = [
        name
        for name, v in (("--owner", owner), ("--deadline", deadline), ("--signature", signature), ("--typed-data", typed_data))
        if v not in (None, False)
    ]
    if not permit:
        if given:
            raise InputError(f"{given[0]}: only with --permit")
        ctx = opts.context()
        holder = holder_account(ctx, private_key, dev_account)
        cash_ops.allow(ctx, currency, value, holder)
        click.echo(f"{holder.address} authorized settlement to take up to {value} {currency}")
        return
    owner = address_arg(owner, "--owner") if owner is not None else None
    explicit_key = (
        dev_account is not None or click.get_current_context().get_parameter_source("private_key") == ParameterSource.COMMANDLINE
    )
    if explicit_key and (signature or typed_data):
        raise InputError(
            f"{'--signature' if signature else '--typed-data'}: not with a key (--private-key / --dev-account), which signs the permit here"
        )
    keyed = not (signature or typed_data) and (dev_account is not None or private_key is not None)
    if not keyed and owner is None:
        raise InputError(
            "--permit: give the holder's key (--private-key / --dev-account), or --owner with --typed-data or --signature"
        )
    if signature and deadline is None:
        raise InputError("--deadline: required with --signature (the deadline the permit was signed with)")
    if not (keyed or signature or typed_data):
        raise InputError("--permit: with --owner, give --typed-data (to sign elsewhere) or --signature")
    ctx = opts.context()
    if keyed:
        holder = holder_account(ctx, private_key, dev_account)
        if owner is not None and owner != holder.address:
            raise InputError(f"--owner: {owner} is not the key's address {holder.address}")
        owner = holder.address
    deadline = cash_ops.default_deadline(ctx) if deadline is None else cash_ops.check_deadline(ctx, deadline)
    if typed_data:
        click.echo(json.dumps(cash_ops.permit_typed_data(ctx, currency, owner, value, deadline), indent=2))
        return
    if keyed:
        signature = cash_ops.sign_permit(ctx, currency, value, holder, deadline)
    cash_ops.allow_by_permit(ctx, currency, value, owner, deadline, signature)
    click.echo(f"{owner} authorized settlement to take up to {value} {currency} (permit)")


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
