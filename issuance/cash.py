"""Tokenized cash: minting to a wallet, and a holder authorizing DvP settlement to take cash,
by sending `approve` itself or, gas-free, by signing an ERC-2612 permit the operator submits."""

from decimal import Decimal

from eth_account import Account
from eth_account.signers.local import LocalAccount

from issuance.context import Context
from ledger import eip712, indexer
from ledger.errors import ChainError, InputError
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


# ---------------------------------------------------------------------- ERC-2612 permits

PERMIT_FIELDS = [("owner", "address"), ("spender", "address"), ("value", "uint256"), ("nonce", "uint256"), ("deadline", "uint256")]
PERMIT_DEADLINE = 3600  # seconds after the chain's time a permit signed now stays valid, unless given
_DOMAIN_FIELDS_MASK = 0x0F  # ERC-5267: name, version, chainId, verifyingContract (no salt, no extensions)


def permit_typed_data(ctx: Context, currency: str, owner: str, amount: Decimal, deadline: int) -> dict:
    """The ERC-2612 permit `owner` signs to let the DvP venue take up to `amount`: the document
    `eth_signTypedData_v4` takes, its domain as the token reports it (ERC-5267) and its nonce the
    owner's current one on chain."""
    if amount < 0:
        raise InputError(f"amount: {amount} must not be negative")
    minor = to_minor(amount, currency)
    token = cash_contract(ctx, currency)
    fields, name, version, chain_id, verifying, _salt, _ext = token.functions.eip712Domain().call()
    if fields != bytes([_DOMAIN_FIELDS_MASK]):
        raise ChainError(f"{currency} cash token: unexpected EIP-712 domain fields 0x{fields.hex()}")
    domain = {"name": name, "version": version, "chainId": chain_id, "verifyingContract": verifying}
    message = {
        "owner": owner,
        "spender": ctx.register.require_contract("dvp").address,
        "value": str(minor),
        "nonce": str(token.functions.nonces(owner).call()),
        "deadline": str(deadline),
    }
    return eip712.typed_data(domain, "Permit", PERMIT_FIELDS, message)


def default_deadline(ctx: Context) -> int:
    return ctx.chain.now() + PERMIT_DEADLINE


def check_deadline(ctx: Context, deadline: int) -> int:
    now = ctx.chain.now()
    if not now < deadline < 2**256:
        raise InputError(f"--deadline: {deadline} is not after the chain's time {now}")
    return deadline


def sign_permit(ctx: Context, currency: str, amount: Decimal, holder: LocalAccount, deadline: int) -> str:
    """The holder's permit signature (bondledger signing with the holder's key)."""
    doc = permit_typed_data(ctx, currency, holder.address, amount, deadline)
    return "0x" + bytes(Account.unsafe_sign_hash(eip712.digest(doc), holder.key).signature).hex()


def allow_by_permit(ctx: Context, currency: str, amount: Decimal, owner: str, deadline: int, signature: str) -> dict:
    """Submits `owner`'s permit for the DvP venue to take up to `amount` (the operator pays the
    gas), once the signature is checked as the token will check it."""
    try:
        raw = eip712.parse_signature(signature)
    except ValueError as exc:
        raise InputError(f"--signature: {exc}") from None
    check_deadline(ctx, deadline)
    doc = permit_typed_data(ctx, currency, owner, amount, deadline)
    signer = eip712.recover(eip712.digest(doc), raw)
    if signer != owner:
        why = "not a signature the token can recover (65 bytes r, s, v; s in the lower half; v 27 or 28)" if signer is None else (
            f"signed by {signer}, not by the owner {owner} (another signer, other data, or another nonce than {doc['message']['nonce']})"
        )
        if eip712.has_code(ctx.chain, owner):
            why += "; a contract wallet cannot permit (the token checks EOA signatures only): let it call `approve`"
        raise InputError(f"--signature: {why}")
    token = cash_contract(ctx, currency)
    r, s, v = raw[:32], raw[32:64], raw[64]
    minor = int(doc["message"]["value"])
    receipt = ctx.signer.transact(
        token.functions.permit(owner, doc["message"]["spender"], minor, deadline, v, r, s), f"permit {amount} {currency} of {owner}"
    )
    detail = {"currency": currency, "holder": owner, "amount": str(amount), "permit": True, "tx": receipt["transactionHash"].to_0x_hex()}
    _audit(ctx, "cash allow", detail)
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
