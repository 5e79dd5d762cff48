"""Primary issuance: a term sheet and an allocation file become a live bond, allocated
delivery-versus-payment against the investors' tokenized cash.

Order of work, so that bad input leaves no trace on chain or in the register:
1. validate the term sheet and allocations (sizes, denominations, sums);
2. check every allocation against the chain: the wallet is the investor's, the investor is
   eligible under the bond's restrictions at the chain's time, and its cash balance and DvP
   authorization cover what it pays;
3. only then deploy the bond (recorded in the register with its term sheet) and list it on
   the DvP venue, which settles only listed tokens;
4. settle the allocations in batches through DvPSettlement: per allocation, the investor's
   cash goes to the issuer and the bonds are minted to the investor in one transaction;
5. index the new events.
An allocation id settles once on chain, so re-running the same command after an interruption
finishes the issue without issuing anything twice.
"""

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import ROUND_HALF_UP, Decimal

from sqlmodel import select
from web3 import Web3

from issuance.cash import asset, cash_contract, check_asset
from issuance.context import Context
from issuance.deploy import dvp_contract, token_config
from issuance.inputs import AllocationRow
from issuance.investors import id_hash, registry_address
from issuance.schedule import coupon_schedule, record_time
from issuance.termsheet import DAY_COUNT_BASIS, TermSheet
from ledger.chain import create2
from ledger.register import indexer, models
from ledger.chain import read_many
from ledger.chain.codec import calldata, struct
from ledger.register.db import writes_register
from ledger.codes import MAX_RECORD_TIMES, Reason, category_mask
from ledger.eligibility import Policy, Record, receiver_reason
from ledger.errors import InputError
from ledger.money import from_minor, to_minor

SETTLEMENT_BATCH = 50
ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class Allocation:
    row: AllocationRow
    allocation_id: bytes
    quantity: int  # tokens
    cash: int  # minor units the investor pays

    def as_tuple(self) -> tuple:
        """DvPSettlement.Allocation."""
        return struct("DvPSettlement.Allocation")(
            allocationId=self.allocation_id, investor=self.row.wallet, quantity=self.quantity, cashAmount=self.cash
        )


@dataclass
class IssueResult:
    isin: str
    address: str
    settled: int
    already_settled: int
    deployed: bool
    settles_on: date | None = None  # allocations fixed, settling DvP on this date (T+n)
    pending: int = 0  # allocations waiting for it


def unix_midnight(d: date) -> int:
    return int(datetime.combine(d, time(0), tzinfo=timezone.utc).timestamp())


def allocation_id(isin: str, investor_id: str, wallet: str) -> bytes:
    return bytes(Web3.keccak(text=f"bondledger:allocation:{isin}:{investor_id}:{wallet.lower()}"))


def plan(ts: TermSheet, rows: list[AllocationRow], source: str = "allocations") -> list[Allocation]:
    """Allocations in tokens and cash; refuses wrong multiples and a total that is not the issue size."""
    bond = ts.bond
    denomination = to_minor(bond.denomination, bond.currency)
    plans, total = [], 0
    for row in rows:
        principal = to_minor(row.principal, bond.currency, f"{source}: {row.investor_id}: principal")
        if principal % denomination:
            raise InputError(
                f"{source}: {row.investor_id}: principal {row.principal} is not a multiple of the denomination {bond.denomination}"
            )
        # Issue price per 100 of principal; at par the cash is the principal exactly.
        cash = int((Decimal(principal) * bond.issue_price / 100).to_integral_value(ROUND_HALF_UP))
        plans.append(Allocation(row, allocation_id(bond.isin, row.investor_id, row.wallet), principal // denomination, cash))
        total += principal
    issue_size = to_minor(bond.issue_size, bond.currency)
    if total != issue_size:
        raise InputError(
            f"{source}: principal: allocations sum to {from_minor(total, bond.currency)} "
            f"but the issue size is {bond.issue_size} {bond.currency}"
        )
    return plans


def policy(ts: TermSheet) -> Policy:
    return Policy(category_mask(ts.restrictions.professional_investors_only), frozenset(ts.restrictions.allowed_jurisdictions))


def check_settlement_asset(ctx: Context, ts: TermSheet, source: str) -> None:
    """The bond's cash token is a registered settlement asset in its currency, allowed by its
    term sheet, and a stablecoin only with its licence on record."""
    label = ts.settlement_asset
    row = asset(ctx, label)
    if row.currency != ts.bond.currency:
        raise InputError(f"{source}: settlement.asset: {label} is {row.currency} cash, not {ts.bond.currency}")
    if not ts.terms.allows(label, row.kind):
        raise InputError(
            f"{source}: settlement.asset: {label} ({row.kind}) is not allowed for {ts.bond.isin} (allowed: {', '.join(ts.terms.assets)})"
        )
    check_asset(row, f"{source}: settlement.asset")


def preflight(
    ctx: Context,
    ts: TermSheet,
    allocations: list[Allocation],
    source: str = "allocations",
    committed: dict[tuple[str, str], int] | None = None,
) -> None:
    """Every check that can fail, against the register and the chain, before anything is sent.
    `committed`: cash per (settlement asset, wallet) that other issues checked in the same run
    will take first (a programme's tranches); this issue's needs are added to it."""
    currency = ts.bond.currency
    check_settlement_asset(ctx, ts, ts.bond.isin)
    now = ctx.chain.now()
    if now >= unix_midnight(ts.bond.maturity_date):
        chain_day = datetime.fromtimestamp(now, timezone.utc).date()
        raise InputError(f"bond.maturity_date: {ts.bond.maturity_date} is not after the chain's date {chain_day}")
    coupons = len(coupon_schedule(ts.bond))
    if coupons > MAX_RECORD_TIMES:
        raise InputError(
            f"bond.coupon_frequency: {coupons} coupons over the bond's life; a token keeps at most {MAX_RECORD_TIMES} record dates"
        )
    registry = registry_address(ctx)
    cash = cash_contract(ctx, ts.settlement_asset).address
    dvp = ctx.register.require_contract("dvp").address
    rules = policy(ts)
    problems: list[str] = []
    with ctx.register.session() as s:
        known = set(s.exec(select(models.Investor.investor_id)).all())
    needs: dict[str, int] = defaultdict(int)
    for a in allocations:
        needs[a.row.wallet] += a.cash
    # Every read in JSON-RPC batches (ledger.chain.read_many), not one web3 call each.
    registered = [a for a in allocations if a.row.investor_id in known]
    owners = read_many(ctx.chain, "InvestorRegistry", [(registry, "investorOf", [a.row.wallet]) for a in registered])
    records = read_many(ctx.chain, "InvestorRegistry", [(registry, "eligibility", [a.row.wallet]) for a in registered])
    wallets = list(needs)
    balances = read_many(ctx.chain, "CashToken", [(cash, "balanceOf", [w]) for w in wallets])
    allowances = read_many(ctx.chain, "CashToken", [(cash, "allowance", [w, dvp]) for w in wallets])
    checked = {id(a): (owner, record) for a, owner, record in zip(registered, owners, records)}
    for a in allocations:
        who, wallet = a.row.investor_id, a.row.wallet
        if who not in known:
            problems.append(f"{source}: investor_id: {who} is not a known investor (run `bondledger investors import`)")
            continue
        owner, record = checked[id(a)]
        if bytes(owner) != id_hash(who):
            problems.append(f"{source}: wallet: {wallet} is not a registered wallet of {who}")
            continue
        reason = receiver_reason(Record.from_chain(record), rules, now)
        if reason != Reason.OK:
            problems.append(f"{source}: {who}: not eligible for {ts.bond.isin}: {reason.describe()}")
    for wallet, balance, allowance in zip(wallets, balances, allowances):
        need = needs[wallet]
        if committed is not None:
            need += committed.get((ts.settlement_asset, wallet), 0)
            committed[(ts.settlement_asset, wallet)] = need
        if balance < need:
            problems.append(
                f"{source}: {wallet}: cash balance {from_minor(balance, currency)} {currency} is short of {from_minor(need, currency)}"
            )
        elif allowance < need:
            problems.append(
                f"{source}: {wallet}: authorized {from_minor(allowance, currency)} {currency} for settlement, "
                f"needs {from_minor(need, currency)} (run `bondledger cash allow`)"
            )
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise InputError(problems[0] + more)


def _bond_constructor(ctx: Context, ts: TermSheet) -> tuple:
    """BondToken's constructor arguments for the term sheet, on this register's platform."""
    bond, green = ts.bond, ts.green
    # Coupon record dates: the bond keeps its holders of record on chain for each.
    record_times = [record_time(p.record_date) for p in coupon_schedule(bond)]
    config = token_config(ctx, bond.name, bond.token_symbol, ts.settlement_asset, ts.restrictions, True, record_times)
    terms = struct("BondToken.BondTerms")(
        isin=bond.isin,
        denomination=to_minor(bond.denomination, bond.currency),
        issueVolume=to_minor(bond.issue_size, bond.currency),
        couponRate=bond.coupon_rate_e6,
        couponType=0 if bond.coupon_frequency == 0 else 1,
        couponFrequency=bond.coupon_frequency,
        issueDate=unix_midnight(bond.issue_date),
        maturityDate=unix_midnight(bond.maturity_date),
        dayCountBasis=DAY_COUNT_BASIS[bond.day_count],
    )
    green_terms = struct("BondToken.GreenTerms")(
        frameworkUri=green.framework_uri if green else "",
        frameworkSha256=bytes.fromhex(green.framework_sha256) if green else b"\0" * 32,
        useOfProceeds=list(green.use_of_proceeds) if green else [],
    )
    return config, terms, green_terms


def _bond_salt(ts: TermSheet) -> bytes:
    return create2.salt("bond", ts.bond.isin, ts.sha256())


def bond_address(ctx: Context, ts: TermSheet) -> str:
    """Where the term sheet's bond is, or will be, deployed (ledger.chain.create2)."""
    return create2.address_of(_bond_salt(ts), create2.init_code(ctx.chain, "BondToken", *_bond_constructor(ctx, ts)))


def deploy_bond(ctx: Context, ts: TermSheet) -> str:
    """Deploys the term sheet's bond token, with nothing minted (allocations settle later); its address."""
    bond, operator = ts.bond, ctx.signer.address
    # At an address fixed by the ISIN and the term sheet (ledger.chain.create2): a re-run after an
    # interruption, even one while this deployment was unconfirmed, finds it instead of making a second.
    create2.prepare(ctx.signer)
    contract = create2.deploy(
        ctx.signer, "BondToken", *_bond_constructor(ctx, ts), salt=_bond_salt(ts), what=f"deploy bond {bond.isin}"
    )
    with ctx.register.session() as s:
        s.add(
            models.Instrument(
                isin=bond.isin,
                kind="bond",
                name=bond.name,
                symbol=bond.token_symbol,
                issuer=bond.issuer,
                currency=bond.currency,
                address=contract.address,
                denomination=to_minor(bond.denomination, bond.currency),
                issue_size=to_minor(bond.issue_size, bond.currency),
                issue_date=bond.issue_date,
                maturity_date=bond.maturity_date,
                termsheet=ts.canonical_json(),
                termsheet_sha256=ts.sha256(),
                settlement_asset=ts.settlement_asset,
                dti=ts.identifiers.dti if ts.identifiers else None,
                issuer_lei=ts.identifiers.issuer_lei if ts.identifiers else None,
            )
        )
        for n, period in enumerate(coupon_schedule(bond), start=1):
            s.add(
                models.ScheduledCoupon(
                    isin=bond.isin,
                    coupon_id=n,
                    accrual_start=period.accrual_start,
                    accrual_end=period.accrual_end,
                    record_date=period.record_date,
                    record_time=record_time(period.record_date),
                    payment_date=period.payment_date,
                    amount_per_denomination=str(period.amount_per_denomination),
                )
            )
        indexer.follow(s, ctx.chain, "bond", bond.isin, contract.address, contract.receipt())
        ctx.register.audit(
            s, operator, "deploy bond", {"isin": bond.isin, "address": contract.address, "termsheet_sha256": ts.sha256()}
        )
        s.commit()
    return contract.address


def documents(ts: TermSheet) -> dict[str, tuple[str, bytes]]:
    """The identifiers a bond carries on chain as ERC-1643 documents: name -> (URI, sha256 of the value)."""
    docs = {}
    ids = ts.identifiers
    if ids and ids.dti:
        docs["DTI"] = (f"urn:iso:std:iso:24165:dti:{ids.dti}", hashlib.sha256(ids.dti.encode()).digest())
    if ids and ids.issuer_lei:
        docs["LEI"] = (f"urn:iso:std:iso:17442:lei:{ids.issuer_lei}", hashlib.sha256(ids.issuer_lei.encode()).digest())
    docs["ISIN"] = (f"urn:iso:std:iso:6166:isin:{ts.bond.isin}", hashlib.sha256(ts.bond.isin.encode()).digest())
    if ts.settlement is not None:
        docs["SETTLEMENT_ASSET"] = (f"bondledger:settlement-asset:{ts.settlement_asset}", bytes.fromhex(ts.sha256()))
    return docs


def _set_documents(ctx: Context, ts: TermSheet, address: str) -> None:
    """Writes the identifiers the bond lacks (a re-run writes none twice)."""
    if ts.identifiers is None and ts.settlement is None:
        return  # term sheets from before identifiers: their bonds stay as they were
    token = ctx.chain.contract("BondToken", address)
    calls = []
    for name, (uri, digest) in documents(ts).items():
        key = name.encode().ljust(32, b"\0")
        if token.functions.getDocument(key).call()[1] != digest:
            calls.append((token.functions.setDocument(key, uri, digest), f"document {name} of {ts.bond.isin}"))
    ctx.signer.transact_many(calls)


@dataclass
class Prepared:
    """An issue checked against the register and the chain, ready to send."""

    ts: TermSheet
    allocations: list[Allocation]
    pending: list[Allocation]
    existing: models.Instrument | None
    address: str
    source: str


def prepare_issue(
    ctx: Context,
    ts: TermSheet,
    rows: list[AllocationRow],
    source: str = "allocations",
    committed: dict[tuple[str, str], int] | None = None,
) -> Prepared:
    """Every check of an issue, nothing sent."""
    allocations = plan(ts, rows, source)
    dvp = dvp_contract(ctx)
    with ctx.register.session() as s:
        existing = s.get(models.Instrument, ts.bond.isin)
    if existing is not None and existing.termsheet_sha256 != ts.sha256():
        raise InputError(f"bond.isin: {ts.bond.isin} is already issued in this register with a different term sheet")
    address = existing.address if existing else bond_address(ctx, ts)
    on_chain = existing is not None or bool(ctx.chain.w3.eth.get_code(address))
    settled = (
        read_many(
            ctx.chain, "DvPSettlement", [(dvp.address, "isAllocationSettled", [address, a.allocation_id]) for a in allocations]
        )
        if on_chain
        else []
    )
    pending = [a for i, a in enumerate(allocations) if not on_chain or not settled[i]]
    preflight(ctx, ts, pending, source, committed)
    return Prepared(ts, allocations, pending, existing, address, source)


@writes_register("issue")
def issue_bond(
    ctx: Context,
    ts: TermSheet,
    rows: list[AllocationRow],
    source: str = "allocations",
    batch_size: int = SETTLEMENT_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> IssueResult:
    return execute_issue(ctx, prepare_issue(ctx, ts, rows, source), batch_size, progress)


def execute_issue(
    ctx: Context, prepared: Prepared, batch_size: int = SETTLEMENT_BATCH, progress: Callable[[int, int], None] | None = None
) -> IssueResult:
    """Deploys (or finds) the bond and settles its pending allocations DvP, or, before its
    settlement date (T+n after pricing), fixes them and leaves them to settle on that date."""
    ts, allocations, pending, existing, address, source = (
        prepared.ts,
        prepared.allocations,
        prepared.pending,
        prepared.existing,
        prepared.address,
        prepared.source,
    )
    dvp = dvp_contract(ctx)
    # A bond this register lacks may still be on chain at its deterministic address (a run that
    # died before recording it): what settled there stays settled.
    if existing is None:
        deploy_bond(ctx, ts)  # or finds it, and records it
    _set_documents(ctx, ts, address)
    if not dvp.functions.isListed(address).call():
        ctx.signer.transact(dvp.functions.setListed(address, True), f"list {ts.bond.isin} on the settlement venue")
    # The token's own rule is the last word: ask it before settling anything (ERC-1404's reason
    # code for a mint, from the zero address; canTransfer answers only holders' transfers).
    reasons = read_many(
        ctx.chain,
        "BondToken",
        [(address, "detectTransferRestriction", [ZERO_ADDRESS, a.row.wallet, a.quantity]) for a in pending],
    )
    for a, reason in zip(pending, reasons):
        if reason != Reason.OK:
            raise InputError(f"{source}: {a.row.investor_id}: the bond refuses the allocation: {Reason(reason).describe()}")

    settles_on = ts.bond.issue_date if ts.settlement is not None else None
    if settles_on is not None and ctx.chain_date() < settles_on and pending:
        # Fixed on the pricing date, settled T+n: the bond exists and the allocations are checked;
        # running the same issue again on the settlement date settles them.
        ctx.record("allocations fixed", {
            "isin": ts.bond.isin, "allocations": len(pending), "settles_on": settles_on.isoformat(),
            "allocation_ids": ["0x" + a.allocation_id.hex() for a in pending],
        })  # fmt: skip
        return IssueResult(ts.bond.isin, address, 0, len(allocations) - len(pending), existing is None, settles_on, len(pending))
    batches = [pending[i : i + batch_size] for i in range(0, len(pending), batch_size)]
    # Batches are independent (distinct allocations, investors and cash), so they are estimated
    # together, sent back to back and their receipts collected in batches (Signer.send_many).
    ctx.signer.send_many(
        [
            (
                dvp.address,
                calldata("DvPSettlement", "settleIssuance", [address, [a.as_tuple() for a in batch]]),
                f"settle allocations of {ts.bond.isin}",
            )
            for batch in batches
        ],
        progress=(lambda done, _: progress(sum(len(b) for b in batches[:done]), len(pending))) if progress else None,
    )
    ctx.record("issue", {"isin": ts.bond.isin, "allocations_settled": len(pending), "address": address})
    return IssueResult(ts.bond.isin, address, len(pending), len(allocations) - len(pending), existing is None, settles_on)
