"""Secondary trades: `trade` (capture), `instruction show`, `affirm`, `settle` and `cancel`."""

import json
from datetime import datetime, timezone

import click
from click.core import ParameterSource

from issuance.cli.plumbing import (
    DAY,
    FORMATS,
    TABLE_OR_JSON,
    WHOLE,
    Progress,
    address_arg,
    emit,
    holder_account,
    holder_key_options,
    lazy_module,
    pass_options,
)
from ledger.errors import InputError
from ledger.money import from_minor, parse_amount

trading = lazy_module("issuance.trading")  # web3 and the register load when a command runs


@click.command()
@click.argument("isin")
@click.option("--seller", required=True, help="Seller's investor id.")
@click.option("--buyer", required=True, help="Buyer's investor id.")
@click.option("--quantity", required=True, type=WHOLE, help="Tokens (bonds: denominations).")
@click.option("--price", required=True, help="Clean price per 100 of principal (bonds) or price per unit (funds).")
@click.option("--trade-date", type=DAY, help="Default: today on the chain's clock (Hong Kong).")
@click.option(
    "--settlement-date", type=DAY, help="Default: trade date + the term sheet's secondary settlement days (2 unless it says)."
)
@click.option(
    "--asset", help="Bonds: the cash token to settle in (a settlement asset the term sheet allows); default: the bond's own."
)
@click.option("--seller-wallet", help="Default: the seller's first registered wallet.")
@click.option("--buyer-wallet", help="Default: the buyer's first registered wallet.")
@click.option(
    "--expiry-days", type=WHOLE, default=5, show_default=True, help="Days after the settlement date the instruction expires."
)
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def trade(
    opts, isin, seller, buyer, quantity, price, trade_date, settlement_date, asset, seller_wallet, buyer_wallet, expiry_days, fmt
):
    """Capture a trade of ISIN (or a fund code) and print its settlement instruction.

    Bonds: --price is clean, per 100 of principal; the cash adds accrued interest. Funds: --price is per unit.
    """
    value = parse_amount(price, "--price")
    wallets = [
        address_arg(w, f"--{who}-wallet") if w else None for w, who in ((seller_wallet, "seller"), (buyer_wallet, "buyer"))
    ]
    row = trading.capture_trade(
        opts.context(),
        isin.upper(),
        seller,
        buyer,
        quantity,
        value,
        trade_date,
        settlement_date,
        wallets[0],
        wallets[1],
        expiry_days,
        asset.upper() if asset else None,
    )
    _print_instruction(_record(row), fmt)


def _record(row) -> dict:
    return {
        "instruction_id": row.instruction_id,
        "isin": row.isin,
        "seller": row.seller_investor_id,
        "buyer": row.buyer_investor_id,
        "seller_wallet": row.seller,
        "buyer_wallet": row.buyer,
        "quantity": row.quantity,
        "price": row.price,
        "accrued": str(from_minor(row.accrued, row.currency)),
        "cash_amount": str(from_minor(row.cash_amount, row.currency)),
        "currency": row.currency,
        "trade_date": row.trade_date.isoformat(),
        "settlement_date": row.settlement_date.isoformat(),
        "expiry": datetime.fromtimestamp(row.expiry, timezone.utc).isoformat(),
        "nonce": row.nonce,
        "status": row.status,
    }


def _print_instruction(out: dict, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(out))
    else:  # one instruction has too many fields for a row: one line per field
        emit([{"field": k, "value": v} for k, v in out.items()], "table")


@click.group()
def instruction():
    """Settlement instructions: what the parties of a trade sign."""


@instruction.command("show")
@click.argument("instruction_id")
@click.option(
    "--typed-data",
    is_flag=True,
    help="Print the EIP-712 typed data to sign instead: the JSON eth_signTypedData_v4 takes "
    "(domain, types, primaryType, message; amounts in minor units, times in unix seconds).",
)
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def instruction_show(opts, instruction_id, typed_data, fmt):
    """Print INSTRUCTION_ID from the register (read-only; no chain needed).

    With --typed-data, sign the printed JSON with any wallet, then record the signature with
    `bondledger affirm INSTRUCTION_ID --signature 0x...`.
    """
    register = opts.register()
    if typed_data:
        click.echo(json.dumps(trading.typed_data(register, instruction_id), indent=2))
        return
    row = trading.find_instruction(register, instruction_id)
    out = _record(row)
    affirmed = trading.affirmed_parties(register, row.instruction_id)
    out |= {
        "seller_affirmed": "seller" in affirmed,
        "buyer_affirmed": "buyer" in affirmed,
        "reason": row.reason,
        "tx_hash": row.tx_hash,
    }
    _print_instruction(out, fmt)


@click.command()
@click.argument("instruction_id")
@holder_key_options
@click.option(
    "--signature", help="A signature made elsewhere (0x hex) of the instruction's typed data (`instruction show --typed-data`)."
)
@click.option(
    "--signer",
    help="With --signature: the wallet that signed, the seller's or the buyer's (default: whichever party it is valid for).",
)
@pass_options
def affirm(opts, instruction_id, private_key, dev_account, signature, signer):
    """Affirm INSTRUCTION_ID as its seller or buyer (EIP-712; no gas needed).

    Either bondledger signs with the party's key (--private-key / --dev-account), or it records
    a signature made by any wallet (--signature): checked before it is stored, by recovery for a
    wallet without code and by ERC-1271 (isValidSignature on chain) for a contract wallet.
    """
    if signature is None:
        if signer is not None:
            raise InputError("--signer: only with --signature")
        ctx = opts.context()
        party = trading.affirm(ctx, instruction_id, holder_account(ctx, private_key, dev_account))
    else:
        if (
            dev_account is not None
            or click.get_current_context().get_parameter_source("private_key") == ParameterSource.COMMANDLINE
        ):
            raise InputError("--signature: give either a signature or a key (--private-key / --dev-account), not both")
        signer = address_arg(signer, "--signer") if signer is not None else None
        party = trading.affirm_with_signature(opts.context(), instruction_id, signature, signer)
    click.echo(f"{instruction_id} affirmed by the {party}")


@click.command()
@click.option(
    "--batch-size",
    type=click.IntRange(1, 200),
    default=50,
    show_default=True,
    help="Instructions per transaction (at most 200: a block holds about 300).",
)
@click.option("--best-effort", is_flag=True, help="Skip instructions that cannot settle instead of refusing their batch.")
@click.option("--format", "fmt", type=FORMATS, default="table")
@pass_options
def settle(opts, batch_size, best_effort, fmt):
    """Settle every fully affirmed, due instruction delivery-versus-payment, in batches."""
    ctx = opts.context()
    with Progress("settling") as progress:
        outcomes = trading.settle(ctx, batch_size, best_effort, progress)
    if not outcomes:  # say what waits, and when, rather than nothing
        click.echo(trading.pending_summary(ctx), err=True)
    emit(
        [{"instruction_id": o.instruction_id, "status": o.status, "reason": o.reason, "tx_hash": o.tx_hash} for o in outcomes],
        fmt,
    )


@click.command()
@click.argument("instruction_id")
@holder_key_options
@pass_options
def cancel(opts, instruction_id, private_key, dev_account):
    """Cancel INSTRUCTION_ID as its seller or buyer (signed; the operator submits it)."""
    ctx = opts.context()
    row = trading.cancel(ctx, instruction_id, holder_account(ctx, private_key, dev_account))
    click.echo(f"{row.instruction_id} {row.status}")
