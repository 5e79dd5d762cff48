"""Onboarding investors: identities into the register, wallets and eligibility onto the chain.

The chain learns only an investor's id hash, country, category and KYC expiry; names stay
in the register. Everything is checked before anything is sent (a wallet registered on chain
to someone else stops the import), the registry writes go in Multicall batches, and the
register takes the identities only once the chain has accepted the writes.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from web3 import Web3

from issuance.context import Context
from issuance.inputs import MAX_WALLETS_PER_INVESTOR, InvestorRow
from ledger import indexer, models
from ledger.errors import InputError

MULTICALL_BATCH = 40
ZERO32 = b"\0" * 32


def id_hash(investor_id: str) -> bytes:
    """How the chain knows an investor: keccak256 of its register id."""
    return bytes(Web3.keccak(text=investor_id))


def kyc_expiry_timestamp(expiry: date) -> int:
    """KYC valid through `expiry`: the chain refuses from 00:00 UTC the day after."""
    if expiry >= date.max:
        raise InputError(f"kyc_expiry: {expiry} is beyond what the registry's uint40 holds")
    stamp = int(datetime.combine(expiry + timedelta(days=1), time(0), tzinfo=timezone.utc).timestamp())
    if not 0 < stamp < 2**40:
        raise InputError(f"kyc_expiry: {expiry} is beyond what the registry's uint40 holds")
    return stamp


@dataclass
class ImportResult:
    investors: int
    wallets: int
    investor_writes: int
    wallet_writes: int


def registry_contract(ctx: Context):
    return ctx.chain.contract("InvestorRegistry", ctx.register.require_contract("registry").address)


def import_investors(
    ctx: Context, rows: list[InvestorRow], progress: Callable[[int, int], None] | None = None
) -> ImportResult:
    registry = registry_contract(ctx)
    by_investor: dict[str, list[InvestorRow]] = {}
    for row in rows:
        by_investor.setdefault(row.investor_id, []).append(row)

    calls, investor_writes, wallet_writes = [], 0, 0
    for investor_id, own in by_investor.items():
        first, h = own[0], id_hash(investor_id)
        desired = (first.country.encode(), int(first.category), kyc_expiry_timestamp(first.kyc_expiry))
        if tuple(registry.functions.investor(h).call()) != desired:
            calls.append(registry.encode_abi("setInvestor", [h, *desired]))
            investor_writes += 1
        added = 0
        for row in own:
            owner = bytes(registry.functions.investorOf(row.wallet).call())
            if owner == ZERO32:
                calls.append(registry.encode_abi("addWallet", [h, row.wallet]))
                wallet_writes += 1
                added += 1
            elif owner != h:
                raise InputError(f"wallet {row.wallet} of {investor_id} is registered on chain to another investor")
        # The registry's own limit, checked here so that it is refused as input, before anything is sent.
        if added and len(registry.functions.walletsOf(h).call()) + added > MAX_WALLETS_PER_INVESTOR:
            raise InputError(f"investor {investor_id}: more than {MAX_WALLETS_PER_INVESTOR} wallets (the registry's limit)")

    batches = [calls[i : i + MULTICALL_BATCH] for i in range(0, len(calls), MULTICALL_BATCH)]
    ctx.signer.transact_many(
        ((registry.functions.multicall(batch), f"register investors (batch {n + 1})") for n, batch in enumerate(batches)),
        progress=progress,
    )

    with ctx.register.session() as s:
        for investor_id, own in by_investor.items():
            first = own[0]
            record = s.get(models.Investor, investor_id) or models.Investor(investor_id=investor_id, id_hash="0x" + id_hash(investor_id).hex())
            record.name, record.country, record.category = first.name, first.country, first.category.name
            record.kyc_expiry, record.updated_at = first.kyc_expiry, models.utcnow()
            s.add(record)
        ctx.register.audit(
            s, ctx.signer.address, "investors import", {"investors": sorted(by_investor), "chain_writes": len(calls)}
        )
        s.commit()
    indexer.sync(ctx.register, ctx.chain)
    return ImportResult(len(by_investor), len(rows), investor_writes, wallet_writes)
