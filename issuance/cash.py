"""Tokenized cash: minting to a wallet, and a holder authorizing DvP settlement to take cash,
by sending `approve` itself or, gas-free, by signing an ERC-2612 permit the operator submits."""

import re
from decimal import Decimal

from eth_account import Account
from eth_account.signers.local import LocalAccount

from issuance.context import Context
from issuance.termsheet import ASSET_KINDS
from ledger.chain import create2, eip712
from ledger.register import indexer, models
from ledger.errors import ChainError, InputError
from ledger.money import CURRENCIES, from_minor, minor_exponent, to_minor

MAX_ALLOWANCE = 2**256 - 1  # an authorization that never runs out (the operator's own accounts)
# An HKMA stablecoin licence number as we record it: letters, digits, dashes and slashes.
_LICENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/\-]{2,39}$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,19}$")


def asset(ctx_or_register, label: str) -> models.SettlementAsset:
    """The settlement asset (a cash token with its legal kind) called `label`."""
    register = getattr(ctx_or_register, "register", ctx_or_register)
    with register.session() as s:
        row = s.get(models.SettlementAsset, label)
    if row is None:
        raise InputError(f"settlement asset: {label} is not a cash token in this register (see `bondledger cash list`)")
    return row


def asset_currency(ctx: Context, label: str) -> str:
    """The currency of the cash token `label` (a currency code is its own platform token's label)."""
    if label in CURRENCIES or re.fullmatch(r"[A-Z]{3}", label):
        minor_exponent(label)  # a currency code: refuses one bondledger does not know, in one line
        return label
    return asset(ctx, label).currency


def cash_contract(ctx: Context, label: str):
    """The cash token `label`: a currency's platform token (HKD ...) or a settlement asset added since."""
    minor_exponent(asset_currency(ctx, label))  # refuses an unknown currency with one line
    record = ctx.register.require_contract("cash", label)
    return ctx.chain.contract("CashToken", record.address)


def cash_at(ctx: Context, address: str):
    return ctx.chain.contract("CashToken", address)


def check_asset(row: models.SettlementAsset, where: str) -> None:
    """A licensed stablecoin settles only with its HKMA licence on record (Stablecoins Ordinance, 1 Aug 2025)."""
    if row.kind == "licensed_stablecoin" and not row.licence:
        raise InputError(f"{where}: {row.label} is a stablecoin without an HKMA licence on record; it cannot settle")


def add_asset(
    ctx: Context, label: str, currency: str, kind: str, issuer: str | None, licence: str | None
) -> models.SettlementAsset:
    """Deploys (or finds) a cash token `label` in `currency`, lists it on the DvP venue, and
    records its legal kind. Safe to re-run with the same facts; refuses changed ones."""
    if not _LABEL.match(label):
        raise InputError(f"LABEL: {label!r} must be 1-20 letters, digits, dots or dashes")
    minor_exponent(currency)
    if currency not in CURRENCIES:
        raise InputError(f"--currency: {currency} is not one of {', '.join(CURRENCIES)}")
    if kind not in ASSET_KINDS:
        raise InputError(f"--kind: {kind} is not one of {', '.join(ASSET_KINDS)}")
    if kind == "licensed_stablecoin" and not licence:
        raise InputError("--licence: a licensed_stablecoin needs its HKMA licence number")
    if licence and kind != "licensed_stablecoin":
        raise InputError(f"--licence: only a licensed_stablecoin has an HKMA licence ({label} is a {kind})")
    if licence and not _LICENCE.match(licence):
        raise InputError(f"--licence: {licence!r} is not a licence number (3-40 letters, digits, / or -)")
    if kind in ("tokenised_deposit", "licensed_stablecoin") and not issuer:
        raise InputError(f"--issuer: a {kind} needs its issuer (the bank or the licensed issuer)")
    if re.fullmatch(r"[A-Z]{3}", label):  # currency codes name the platform's own tokens
        raise InputError(f"LABEL: {label}: three letters are kept for currency codes; choose a longer label (e.g. E-{currency})")
    with ctx.register.session() as s:
        existing = s.get(models.SettlementAsset, label)
    facts = (currency, kind, issuer, licence)
    if existing is not None:
        if (existing.currency, existing.kind, existing.issuer, existing.licence) != facts:
            raise InputError(
                f"LABEL: {label} is already a {existing.currency} {existing.kind} with other facts; choose another label"
            )
        return existing
    dvp = ctx.chain.contract("DvPSettlement", ctx.register.require_contract("dvp").address)
    record = ctx.register.contract("cash", label)
    operator = ctx.signer.address
    found = None
    if record is None:
        create2.prepare(ctx.signer)
        # The token's code is its label (its symbol); its currency is recorded here.
        found = create2.deploy(
            ctx.signer,
            "CashToken",
            label,
            f"{label} ({kind.replace('_', ' ')})",
            operator,
            salt=create2.salt("cash", label),
            what=f"deploy {label}",
        )
        address = found.address
    else:
        address = record.address
    if not dvp.functions.isCashListed(address).call():
        ctx.signer.transact(dvp.functions.setCashListed(address, True), f"list {label} on the settlement venue")
    row = models.SettlementAsset(label=label, address=address, currency=currency, kind=kind, issuer=issuer, licence=licence)

    def write(s):
        if found is not None:
            indexer.follow(s, ctx.chain, "cash", label, address, found.receipt())
        s.add(row)

    detail = {"label": label, "address": address, "currency": currency, "kind": kind, "issuer": issuer, "licence": licence}
    ctx.record("cash add", detail, actor=operator, write=write, sync=False)
    return row


def mint(ctx: Context, currency: str, wallet: str, amount: Decimal) -> dict:
    """Mints `amount` (currency units) of tokenized cash `currency` (a currency code or a settlement
    asset's label) to `wallet` (the operator is the minter)."""
    if amount <= 0:
        raise InputError(f"amount: {amount} must be positive")
    label, currency = currency, asset_currency(ctx, currency)
    minor = to_minor(amount, currency)
    token = cash_contract(ctx, label)
    limit = ctx.register.max_amount
    if limit is not None and token.functions.totalSupply().call() + minor > limit:
        raise InputError(
            f"amount: {amount} {currency} would take the {currency} supply beyond what a "
            f"{ctx.register.engine.dialect.name} register stores exactly; use PostgreSQL"
        )
    receipt = ctx.signer.transact(token.functions.mint(wallet, minor), f"mint {amount} {currency} to {wallet}")
    ctx.record(
        "cash mint",
        {
            "currency": currency,
            **({"asset": label} if label != currency else {}),
            "wallet": wallet,
            "amount": str(amount),
            "tx": receipt["transactionHash"].to_0x_hex(),
        },
    )
    return receipt


def allow(ctx: Context, currency: str, amount: Decimal, holder: LocalAccount) -> dict:
    """The holder authorizes the DvP settlement contract to take up to `amount` of its cash."""
    if amount < 0:
        raise InputError(f"amount: {amount} must not be negative")
    minor = to_minor(amount, asset_currency(ctx, currency))
    token = cash_contract(ctx, currency)
    dvp = ctx.register.require_contract("dvp").address
    receipt = ctx.signer_for(holder).transact(token.functions.approve(dvp, minor), f"authorize {amount} {currency}")
    ctx.record("cash allow", {"currency": currency, "holder": holder.address, "amount": str(amount), "tx": receipt["transactionHash"].to_0x_hex()},
               actor=holder.address)  # fmt: skip
    return receipt


# ---------------------------------------------------------------------- ERC-2612 permits

PERMIT_FIELDS = [
    ("owner", "address"),
    ("spender", "address"),
    ("value", "uint256"),
    ("nonce", "uint256"),
    ("deadline", "uint256"),
]
PERMIT_DEADLINE = 3600  # seconds after the chain's time a permit signed now stays valid, unless given
_DOMAIN_FIELDS_MASK = 0x0F  # ERC-5267: name, version, chainId, verifyingContract (no salt, no extensions)


def permit_typed_data(ctx: Context, currency: str, owner: str, amount: Decimal, deadline: int) -> dict:
    """The ERC-2612 permit `owner` signs to let the DvP venue take up to `amount`: the document
    `eth_signTypedData_v4` takes, its domain as the token reports it (ERC-5267) and its nonce the
    owner's current one on chain."""
    if amount < 0:
        raise InputError(f"amount: {amount} must not be negative")
    minor = to_minor(amount, asset_currency(ctx, currency))
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
        why = (
            "not a signature the token can recover (65 bytes r, s, v; s in the lower half; v 27 or 28)"
            if signer is None
            else (
                f"signed by {signer}, not by the owner {owner} (another signer, other data, or another nonce than {doc['message']['nonce']})"
            )
        )
        if eip712.has_code(ctx.chain, owner):
            why += "; a contract wallet cannot permit (the token checks EOA signatures only): let it call `approve`"
        raise InputError(f"--signature: {why}")
    token = cash_contract(ctx, currency)
    r, s, v = raw[:32], raw[32:64], raw[64]
    minor = int(doc["message"]["value"])
    receipt = ctx.signer.transact(
        token.functions.permit(owner, doc["message"]["spender"], minor, deadline, v, r, s),
        f"permit {amount} {currency} of {owner}",
    )
    detail = {
        "currency": currency,
        "holder": owner,
        "amount": str(amount),
        "permit": True,
        "tx": receipt["transactionHash"].to_0x_hex(),
    }
    ctx.record("cash allow", detail, actor=owner)
    return receipt


def position(ctx: Context, currency: str, wallet: str) -> tuple[Decimal, Decimal]:
    """(balance, amount authorized for DvP) of `wallet`, in currency units, from the chain."""
    token = cash_contract(ctx, currency)
    dvp = ctx.register.require_contract("dvp").address
    balance = token.functions.balanceOf(wallet).call()
    allowance = token.functions.allowance(wallet, dvp).call()
    currency = asset_currency(ctx, currency)
    return from_minor(balance, currency), from_minor(allowance, currency)
