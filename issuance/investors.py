"""Onboarding investors: identities into the register, wallets and eligibility onto the chain.

The chain learns only an investor's id hash, country, category and KYC expiry; names stay
in the register. Everything is checked before anything is sent (a wallet registered on chain
to someone else stops the import), the registry writes go in Multicall batches, and the
register takes the identities only once the chain has accepted the writes.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from eth_hash.auto import keccak
from sqlalchemy import insert, update
from sqlmodel import select

from issuance.context import Context
from issuance.inputs import MAX_WALLETS_PER_INVESTOR, InvestorRow
from ledger.register import models
from ledger.chain import read_aggregated
from ledger.chain.codec import calldata
from ledger.errors import InputError

# The registry's writes go in multicalls of at most MULTICALL_GAS, counted with upper bounds of
# each write's gas (InvestorRegistry, measured: setInvestor 30,750 for a new investor and 6,160 more
# a wallet it refreshes; addWallet 96,151 for a first wallet). 12M keeps a multicall, with
# send_many's headroom (a fifth and 50,000), under EIP-7825's cap of 2^24 gas a transaction and
# two to a 30M block: 180 writes for new investors of one wallet each (90 of them). Fewer, larger
# transactions are fewer to sign, measure and mine (a 10,000 import was 200 of 100 writes).
MULTICALL_GAS = 12_000_000
# ... or less on a chain whose blocks are smaller (a permissioned chain, some L2s): two multicalls,
# with send_many's headroom, to a block (multicall_gas)
SET_INVESTOR_GAS = 32_000  # and SET_INVESTOR_WALLET_GAS a wallet already on chain
SET_INVESTOR_WALLET_GAS = 7_000
ADD_WALLET_GAS = 100_000
ZERO32 = b"\0" * 32


def id_hash(investor_id: str) -> bytes:
    """How the chain knows an investor: keccak256 of its register id."""
    return keccak(investor_id.encode())


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


def registry_address(ctx: Context) -> str:
    """The investor registry, as `deploy` recorded it. Reads and writes go through the raw path
    (read_aggregated, send_many), so an import never builds a web3 contract (nor loads web3)."""
    return ctx.register.require_contract("registry").address


def multicall_gas(ctx: Context) -> int:
    """The gas an import puts in one registry multicall on this chain: MULTICALL_GAS, or less where
    two of them, each with send_many's headroom (a fifth and 50,000), would not fit a block."""
    block_limit = int(ctx.chain.latest_block()["gasLimit"], 16)
    return min(MULTICALL_GAS, (block_limit - 100_000) * 5 // 12)


def registry_contract(ctx: Context):
    return ctx.chain.contract("InvestorRegistry", registry_address(ctx))


@dataclass
class ImportPlan:
    """What an import sends: the registry's multicalls (each a list of encoded writes), worked out
    from what the chain holds and checked before anything is sent."""

    by_investor: dict[str, list[InvestorRow]]
    hashes: dict[str, bytes]
    batches: list[list[bytes]]
    investor_writes: int
    wallet_writes: int

    def transactions(self, registry: str) -> list[tuple[str, str, str]]:
        """(to, call data, what) of each registry multicall, as Signer.send_many takes them."""
        return [
            (registry, calldata("InvestorRegistry", "multicall", [b]), f"register investors (batch {n + 1})")
            for n, b in enumerate(self.batches)
        ]


def plan_import(ctx: Context, registry: str, rows: list[InvestorRow]) -> ImportPlan:
    """Reads what the registry at `registry` holds for these rows and works out its writes;
    raises InputError for what the chain would refuse (a wallet registered to another investor,
    too many wallets). Sends nothing."""
    by_investor: dict[str, list[InvestorRow]] = {}
    for row in rows:
        by_investor.setdefault(row.investor_id, []).append(row)

    # What the chain holds, read through the registry's own multicall (hundreds of reads an
    # eth_call, those in JSON-RPC batches: one web3 call each costs 6-7 ms).
    ids = list(by_investor)
    hashes = {i: id_hash(i) for i in ids}
    records = read_aggregated(ctx.chain, "InvestorRegistry", registry, [("investor", [hashes[i]]) for i in ids])
    owners = iter(
        read_aggregated(
            ctx.chain, "InvestorRegistry", registry, [("investorOf", [r.wallet]) for i in ids for r in by_investor[i]]
        )
    )
    # Each investor's writes stay in one multicall, so the multicalls are independent of each
    # other and can be estimated together and sent back to back (Signer.send_many).
    batches: list[list[bytes]] = [[]]
    growing: list[tuple[str, bytes, int]] = []  # investors gaining wallets: (id, id hash, how many)
    investor_writes = wallet_writes = batch_gas = 0
    budget = multicall_gas(ctx)
    for investor_id, record in zip(ids, records):
        own = by_investor[investor_id]
        first, h = own[0], hashes[investor_id]
        desired = (first.country.encode(), int(first.category), kyc_expiry_timestamp(first.kyc_expiry))
        writes, gas = [], 0
        if tuple(record) != desired:
            writes.append(_encoded("setInvestor", [h, *desired]))
            investor_writes += 1
            # an investor already on chain has its wallets refreshed: counted at the registry's most
            gas += SET_INVESTOR_GAS + (SET_INVESTOR_WALLET_GAS * MAX_WALLETS_PER_INVESTOR if record.kycExpiry else 0)
        added = 0
        for row in own:
            owner = bytes(next(owners))
            if owner == ZERO32:
                writes.append(_encoded("addWallet", [h, row.wallet]))
                wallet_writes += 1
                added += 1
                gas += ADD_WALLET_GAS
            elif owner != h:
                raise InputError(f"wallet {row.wallet} of {investor_id} is registered on chain to another investor")
        if added:
            growing.append((investor_id, h, added))
        if writes and batch_gas + gas > budget:
            batches.append([])
            batch_gas = 0
        batches[-1] += writes
        batch_gas += gas
    # The registry's own limit on wallets, checked here so that it is refused as input, before anything is sent.
    held = read_aggregated(ctx.chain, "InvestorRegistry", registry, [("walletsOf", [h]) for _, h, _ in growing])
    for (investor_id, _, added), wallets in zip(growing, held):
        if len(wallets) + added > MAX_WALLETS_PER_INVESTOR:
            raise InputError(f"investor {investor_id}: more than {MAX_WALLETS_PER_INVESTOR} wallets (the registry's limit)")
    return ImportPlan(by_investor, hashes, [b for b in batches if b], investor_writes, wallet_writes)


def import_investors(ctx: Context, rows: list[InvestorRow], progress: Callable[[int, int], None] | None = None) -> ImportResult:
    registry = registry_address(ctx)
    plan = plan_import(ctx, registry, rows)
    ctx.signer.send_many(plan.transactions(registry), progress=progress)

    def write(s):
        # The register's identities in bulk: which are there, in one query a 500 rather than one
        # each, then one INSERT of the new and one UPDATE of the known (ORM objects cost about
        # 0.15 ms each to build and flush, a second and a half at 10,000).
        inv = models.Investor
        ids = list(plan.by_investor)
        present = {
            row[0]
            for part in (ids[k : k + 500] for k in range(0, len(ids), 500))
            for row in s.exec(select(inv.investor_id).where(inv.investor_id.in_(part)))
        }
        now = models.utcnow()
        new, known = [], []
        for investor_id, own in plan.by_investor.items():
            first = own[0]
            fields = {
                "investor_id": investor_id,
                "name": first.name,
                "country": first.country,
                "category": first.category.name,
                "kyc_expiry": first.kyc_expiry,
                "updated_at": now,
            }
            if investor_id in present:
                known.append(fields)
            else:
                new.append({**fields, "id_hash": "0x" + plan.hashes[investor_id].hex()})
        if new:
            s.execute(insert(inv.__table__), new)
        if known:
            s.execute(update(inv), known)  # by primary key, in executemany batches

    detail = {"investors": sorted(plan.by_investor), "chain_writes": sum(len(b) for b in plan.batches)}
    ctx.record("investors import", detail, write=write)
    return ImportResult(len(plan.by_investor), len(rows), plan.investor_writes, plan.wallet_writes)
