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

from sqlmodel import select

from issuance.context import Context
from issuance.inputs import MAX_WALLETS_PER_INVESTOR, InvestorRow
from ledger import models
from ledger.chain import read_many
from ledger.codec import calldata
from ledger.errors import InputError

MULTICALL_BATCH = 100  # registry writes per multicall: about 6M gas, a fifth of a 30M block
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


def _encoded(fn: str, args: list) -> bytes:
    """One registry call's data, as a multicall item."""
    return bytes.fromhex(calldata("InvestorRegistry", fn, args)[2:])


def registry_contract(ctx: Context):
    return ctx.chain.contract("InvestorRegistry", ctx.register.require_contract("registry").address)


def import_investors(
    ctx: Context, rows: list[InvestorRow], progress: Callable[[int, int], None] | None = None
) -> ImportResult:
    registry = registry_contract(ctx).address
    by_investor: dict[str, list[InvestorRow]] = {}
    for row in rows:
        by_investor.setdefault(row.investor_id, []).append(row)

    # What the chain holds, read in JSON-RPC batches (one web3 call each costs 6-7 ms).
    ids = list(by_investor)
    records = read_many(ctx.chain, "InvestorRegistry", [(registry, "investor", [id_hash(i)]) for i in ids])
    owners = iter(read_many(ctx.chain, "InvestorRegistry", [(registry, "investorOf", [r.wallet]) for i in ids for r in by_investor[i]]))
    # Each investor's writes stay in one multicall, so the multicalls are independent of each
    # other and can be estimated together and sent back to back (Signer.send_many).
    batches: list[list[bytes]] = [[]]
    growing: list[tuple[str, bytes, int]] = []  # investors gaining wallets: (id, id hash, how many)
    investor_writes = wallet_writes = 0
    for investor_id, record in zip(ids, records):
        own = by_investor[investor_id]
        first, h = own[0], id_hash(investor_id)
        desired = (first.country.encode(), int(first.category), kyc_expiry_timestamp(first.kyc_expiry))
        writes = []
        if tuple(record) != desired:
            writes.append(_encoded("setInvestor", [h, *desired]))
            investor_writes += 1
        added = 0
        for row in own:
            owner = bytes(next(owners))
            if owner == ZERO32:
                writes.append(_encoded("addWallet", [h, row.wallet]))
                wallet_writes += 1
                added += 1
            elif owner != h:
                raise InputError(f"wallet {row.wallet} of {investor_id} is registered on chain to another investor")
        if added:
            growing.append((investor_id, h, added))
        if writes and len(batches[-1]) + len(writes) > MULTICALL_BATCH:
            batches.append([])
        batches[-1] += writes
    batches = [b for b in batches if b]
    # The registry's own limit on wallets, checked here so that it is refused as input, before anything is sent.
    held = read_many(ctx.chain, "InvestorRegistry", [(registry, "walletsOf", [h]) for _, h, _ in growing])
    for (investor_id, _, added), wallets in zip(growing, held):
        if len(wallets) + added > MAX_WALLETS_PER_INVESTOR:
            raise InputError(f"investor {investor_id}: more than {MAX_WALLETS_PER_INVESTOR} wallets (the registry's limit)")
    calls = [c for b in batches for c in b]
    ctx.signer.send_many(
        [(registry, calldata("InvestorRegistry", "multicall", [b]), f"register investors (batch {n + 1})") for n, b in enumerate(batches)],
        progress=progress,
    )


    def write(s):
        # the investors already in the register, in one query rather than one each
        present = {
            i.investor_id: i
            for part in (ids[k : k + 500] for k in range(0, len(ids), 500))
            for i in s.exec(select(models.Investor).where(models.Investor.investor_id.in_(part))).all()
        }
        for investor_id, own in by_investor.items():
            first = own[0]
            record = present.get(investor_id) or models.Investor(investor_id=investor_id, id_hash="0x" + id_hash(investor_id).hex())
            record.name, record.country, record.category = first.name, first.country, first.category.name
            record.kyc_expiry, record.updated_at = first.kyc_expiry, models.utcnow()
            s.add(record)

    ctx.record("investors import", {"investors": sorted(by_investor), "chain_writes": len(calls)}, write=write)
    return ImportResult(len(by_investor), len(rows), investor_writes, wallet_writes)
