"""Tokenized cash: minting to a wallet, and a holder authorizing DvP settlement to take cash."""

from decimal import Decimal

from eth_account.signers.local import LocalAccount

from issuance.context import Context
from ledger import indexer
from ledger.errors import InputError
from ledger.money import from_minor, minor_exponent, to_minor

MAX_ALLOWANCE = 2**256 - 1  # an authorization that never runs out (the operator's own accounts)


def cash_contract(ctx: Context, currency: str):
    minor_exponent(currency)  # refuses an unknown currency with one line
    record = ctx.register.require_contract("cash", currency)
    return ctx.chain.contract("CashToken", record.address)


def mint(ctx: Context, currency: str, wallet: str, amount: Decimal) -> dict:
    """Mints `amount` (currency units) of tokenized cash to `wallet` (the operator is the minter)."""
    if amount <= 0:
        raise InputError(f"amount: {amount} must be positive")
    minor = to_minor(amount, currency)
    token = cash_contract(ctx, currency)
    limit = ctx.register.max_amount
    if limit is not None and token.functions.totalSupply().call() + minor > limit:
        raise InputError(
            f"amount: {amount} {currency} would take the {currency} supply beyond what a "
            f"{ctx.register.engine.dialect.name} register stores exactly; use PostgreSQL"
        )
    receipt = ctx.signer.transact(token.functions.mint(wallet, minor), f"mint {amount} {currency} to {wallet}")
    _audit(ctx, "cash mint", {"currency": currency, "wallet": wallet, "amount": str(amount), "tx": receipt["transactionHash"].to_0x_hex()})
    indexer.sync(ctx.register, ctx.chain)
    return receipt


def allow(ctx: Context, currency: str, amount: Decimal, holder: LocalAccount) -> dict:
    """The holder authorizes the DvP settlement contract to take up to `amount` of its cash."""
    if amount < 0:
        raise InputError(f"amount: {amount} must not be negative")
    minor = to_minor(amount, currency)
    token = cash_contract(ctx, currency)
    dvp = ctx.register.require_contract("dvp").address
    receipt = ctx.signer_for(holder).transact(token.functions.approve(dvp, minor), f"authorize {amount} {currency}")
    _audit(ctx, "cash allow", {"currency": currency, "holder": holder.address, "amount": str(amount), "tx": receipt["transactionHash"].to_0x_hex()})
    indexer.sync(ctx.register, ctx.chain)
    return receipt


def _audit(ctx: Context, action: str, detail: dict) -> None:
    with ctx.register.session() as s:
        ctx.register.audit(s, detail.get("holder", ctx.signer.address), action, detail)
        s.commit()


def position(ctx: Context, currency: str, wallet: str) -> tuple[Decimal, Decimal]:
    """(balance, amount authorized for DvP) of `wallet`, in currency units, from the chain."""
    token = cash_contract(ctx, currency)
    dvp = ctx.register.require_contract("dvp").address
    balance = token.functions.balanceOf(wallet).call()
    allowance = token.functions.allowance(wallet, dvp).call()
    return from_minor(balance, currency), from_minor(allowance, currency)
