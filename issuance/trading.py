"""Secondary trades: capture, affirmation by both parties, DvP settlement, cancellation.

A trade is captured once (price, parties, dates) into a settlement instruction: the EIP-712
message both investors sign. Affirming stores one party's signature; investors never pay gas.
`settle` submits every fully affirmed, due instruction to the DvP venue in batches, all or
nothing per batch (an instruction that cannot settle refuses its batch; the register says which
and why, and a retry can settle the rest) or best effort (it is skipped on chain with its
reason). The register's statuses come from the venue's events, once indexed.
"""

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

import QuantLib as ql
from sqlalchemy import update
from sqlmodel import select

from issuance.context import Context
from issuance.issue import unix_midnight
from issuance.schedule import _py, _ql, accrued_per_denomination, calendar
from issuance.termsheet import TermSheet
from ledger.chain import eip712
from ledger.register import indexer, models, views
from ledger.chain import read_many
from ledger.chain.codec import decode_error, describe_revert
from ledger.codes import Reason, SettlementFailure
from ledger.register.db import Register, writes_register
from ledger.errors import ChainError, InputError
from ledger.instructions import (
    InstructionData,
    Venue,
    instruction_digest,
    instruction_id,
    settle_batch_calldata,
    sign_cancel,
    sign_instruction,
    typed_instruction,
)
from ledger.money import minor_exponent

SETTLEMENT_DAYS = 2  # T+2 business days on the instrument's calendar, unless a date is given
EXPIRY_DAYS = 5  # an instruction expires this many days after its settlement date


@dataclass
class Outcome:
    instruction_id: str
    status: str
    reason: str | None
    tx_hash: str | None = None


def venue(ctx: Context) -> Venue:
    return Venue(ctx.chain.chain_id, ctx.register.require_contract("dvp").address)


def register_venue(register: Register) -> Venue:
    """The venue as the register records it (no chain needed: for printing what to sign)."""
    dvp = register.require_contract("dvp")
    with register.session() as s:
        network = s.get(models.Network, 1)
    return Venue(network.chain_id, dvp.address)


def data_of(row: models.Instruction) -> InstructionData:
    return InstructionData(
        row.seller,
        row.buyer,
        row.security_token,
        row.quantity,
        row.cash_token,
        row.cash_amount,
        unix_midnight(row.trade_date),
        unix_midnight(row.settlement_date),
        row.expiry,
        row.nonce,
    )


# ---------------------------------------------------------------------- capture


def _allowed_asset(ctx: Context, inst: models.Instrument, ts: TermSheet | None, label: str) -> models.SettlementAsset:
    from issuance.cash import asset, check_asset

    row = asset(ctx, label)
    if ts is None:
        raise InputError(f"--asset: {inst.isin} is a fund; it settles in its own cash token only")
    if row.currency != inst.currency:
        raise InputError(f"--asset: {label} is {row.currency} cash, not {inst.currency}")
    if not ts.terms.allows(label, row.kind):
        raise InputError(f"--asset: {label} ({row.kind}) is not allowed for {inst.isin} (allowed: {', '.join(ts.terms.assets)})")
    check_asset(row, "--asset")
    return row


def _wallets_of(session, investor_id: str) -> list[str]:
    investor = session.get(models.Investor, investor_id)
    if investor is None:
        raise InputError(f"investor: {investor_id} is not a known investor")
    w = models.Wallet
    return sorted(session.exec(select(w.address).where(w.id_hash == investor.id_hash, w.active)).all())


def _pick_wallet(wallets: list[str], given: str | None, who: str, investor_id: str) -> str:
    if given is not None:
        if given not in wallets:
            raise InputError(f"--{who}-wallet: {given} is not a registered wallet of {investor_id}")
        return given
    if not wallets:
        raise InputError(f"--{who}: {investor_id} has no registered wallet")
    return wallets[0]


def cash_for(ts: TermSheet, quantity: int, price: Decimal, settlement_date: date) -> tuple[int, int]:
    """(cash, accrued) in minor units for `quantity` bonds at a clean `price` per 100 of principal:
    the dirty amount, rounded half up to the minor unit once, on the total."""
    bond = ts.bond
    if settlement_date < bond.issue_date or settlement_date >= bond.maturity_date:
        raise InputError(
            f"settlement date: {settlement_date} is outside the bond's life ({bond.issue_date} to {bond.maturity_date})"
        )
    scale = Decimal(10) ** minor_exponent(bond.currency)
    accrued = accrued_per_denomination(bond, settlement_date) * quantity * scale
    clean = bond.denomination * quantity * price / 100 * scale
    cash = int((clean + accrued).to_integral_value(ROUND_HALF_UP))
    return cash, int(accrued.to_integral_value(ROUND_HALF_UP))


def capture_trade(
    ctx: Context,
    isin: str,
    seller_id: str,
    buyer_id: str,
    quantity: int,
    price: Decimal,
    trade_date: date | None = None,
    settlement_date: date | None = None,
    seller_wallet: str | None = None,
    buyer_wallet: str | None = None,
    expiry_days: int = EXPIRY_DAYS,
    asset_label: str | None = None,
) -> models.Instruction:
    """Records a trade and its settlement instruction (status pending, nothing on chain yet);
    the cash leg in `asset_label` (a settlement asset the bond's term sheet allows) or, by
    default, in the instrument's own settlement asset."""
    inst = ctx.register.instrument(isin)
    if quantity <= 0:
        raise InputError(f"--quantity: {quantity} must be a positive number of tokens")
    if price <= 0:
        raise InputError(f"--price: {price} must be positive")
    if seller_id == buyer_id:
        raise InputError(f"--buyer: {buyer_id} is also the seller")
    trade_date = trade_date or ctx.chain_date()
    ts = TermSheet.model_validate_json(inst.termsheet) if inst.kind == "bond" else None
    cal = calendar(ts.bond.calendar if ts else "HK")
    if settlement_date is None:
        days = ts.terms.secondary_settlement_days if ts and ts.settlement else SETTLEMENT_DAYS
        settlement_date = _py(cal.advance(_ql(trade_date), days, ql.Days))
    if settlement_date < trade_date:
        raise InputError(f"--settlement-date: {settlement_date} is before the trade date {trade_date}")
    if expiry_days < 1:
        raise InputError(f"--expiry-days: {expiry_days} must be at least 1")
    if ts:  # bonds: a clean price per 100 of principal, plus accrued interest
        cash, accrued = cash_for(ts, quantity, price, settlement_date)
    else:  # fund units: a price per unit
        cash = int((price * quantity).scaleb(minor_exponent(inst.currency)).to_integral_value(ROUND_HALF_UP))
        accrued = 0

    with ctx.register.session() as s:
        seller_wallets = _wallets_of(s, seller_id)
        # By default the seller delivers from a wallet that holds enough, as the register knows it.
        held = views.balances(s, inst.address, ctx.register.indexed_block())
        stocked = [w for w in seller_wallets if held.get(w, 0) >= quantity]
        candidates = seller_wallets if seller_wallet else (stocked or seller_wallets)
        seller = _pick_wallet(candidates, seller_wallet, "seller", seller_id)
        buyer = _pick_wallet(_wallets_of(s, buyer_id), buyer_wallet, "buyer", buyer_id)
    token = ctx.chain.contract("BondToken" if inst.kind == "bond" else "FundToken", inst.address)
    reason = token.functions.detectTransferRestriction(seller, buyer, quantity).call()
    if reason != Reason.OK:
        raise InputError(f"trade: {inst.isin} cannot move from {seller_id} to {buyer_id} now: {Reason(reason).describe()}")

    expiry = unix_midnight(settlement_date + timedelta(days=expiry_days))
    # The instrument's own settlement asset (the cash token it is wired to on chain), or one its terms allow.
    cash_token = ctx.register.require_contract("cash", inst.settlement_asset or inst.currency).address
    if asset_label is not None:
        cash_token = _allowed_asset(ctx, inst, ts, asset_label).address
    data = InstructionData(
        seller,
        buyer,
        inst.address,
        quantity,
        cash_token,
        cash,
        unix_midnight(trade_date),
        unix_midnight(settlement_date),
        expiry,
        allocate_nonce(ctx),
    )
    row = models.Instruction(
        instruction_id=instruction_id(venue(ctx), data),
        isin=inst.isin,
        seller_investor_id=seller_id,
        buyer_investor_id=buyer_id,
        seller=seller,
        buyer=buyer,
        security_token=inst.address,
        cash_token=cash_token,
        currency=inst.currency,
        quantity=quantity,
        price=str(price),
        accrued=accrued,
        cash_amount=cash,
        trade_date=trade_date,
        settlement_date=settlement_date,
        expiry=expiry,
        nonce=data.nonce,
        status="pending",
    )
    ctx.record("trade", {"instruction_id": row.instruction_id, "isin": isin, "quantity": quantity, "price": str(price)},
               write=lambda s: s.add(row), sync=False)  # fmt: skip
    return row


def allocate_nonce(ctx: Context) -> int:
    """A nonce no other instruction of this register has and the venue has not used: the
    register's allocator is incremented in a transaction of its own (the row lock, or SQLite's
    write lock, makes concurrent captures take turns), then the venue is asked; a nonce used on
    chain (by a register restored from a backup, or another register on the venue) is skipped."""
    n = models.NonceAllocator
    dvp = ctx.chain.contract("DvPSettlement", venue(ctx).address)
    for _ in range(1000):
        with ctx.register.session() as s:
            s.execute(update(n).where(n.id == 1).values(last_nonce=n.last_nonce + 1))
            nonce = s.exec(select(n.last_nonce).where(n.id == 1)).one()
            s.commit()
        if not dvp.functions.isNonceUsed(nonce).call():
            return nonce
    raise ChainError(
        f"trade: the venue {dvp.address} has used the next 1000 nonces of this register; is it another register's venue?"
    )


# ---------------------------------------------------------------------- affirmation and cancellation


def instruction(ctx: Context, iid: str) -> models.Instruction:
    return find_instruction(ctx.register, iid)


def find_instruction(register: Register, iid: str) -> models.Instruction:
    with register.session() as s:
        row = s.get(models.Instruction, iid.lower())
    if row is None:
        raise InputError(f"instruction: {iid} is not in this register")
    return row


def affirmed_parties(register: Register, iid: str) -> dict[str, str]:
    """party (seller/buyer) -> wallet, for the affirmations stored so far."""
    a = models.Affirmation
    with register.session() as s:
        return dict(s.exec(select(a.party, a.wallet).where(a.instruction_id == iid)).all())


def typed_data(register: Register, iid: str) -> dict:
    """The instruction as the EIP-712 document a wallet signs (eth_signTypedData_v4)."""
    return typed_instruction(register_venue(register), data_of(find_instruction(register, iid)))


def affirm(ctx: Context, iid: str, account) -> str:
    """Stores `account`'s EIP-712 signature of the instruction; returns the party (seller/buyer)."""
    row = _affirmable(ctx, iid)
    if account.address not in (row.seller, row.buyer):
        raise InputError(f"key: {account.address} is neither the seller nor the buyer of {row.instruction_id}")
    signature = bytes.fromhex(sign_instruction(account, venue(ctx), data_of(row))[2:])
    party, wallet = check_signature(ctx, row, signature, account.address, "key")
    return _store(ctx, row, party, wallet, signature, "key")


def affirm_with_signature(ctx: Context, iid: str, signature: str, signer: str | None = None) -> str:
    """Stores a signature made elsewhere (a wallet, a device, a contract wallet) once it is checked
    as the venue will check it; returns the party. `signer`, if given, must be the party that signed."""
    row = _affirmable(ctx, iid)
    try:
        raw = eip712.parse_signature(signature)
    except ValueError as exc:
        raise InputError(f"--signature: {exc}") from None
    party, wallet = check_signature(ctx, row, raw, signer, "--signer")
    return _store(ctx, row, party, wallet, raw, "signature")


def _affirmable(ctx: Context, iid: str) -> models.Instruction:
    row = instruction(ctx, iid)
    if row.status not in ("pending", "failed"):
        raise InputError(f"instruction: {row.instruction_id} is {row.status}; nothing to affirm")
    return row


def check_signature(ctx: Context, row: models.Instruction, signature: bytes, signer: str | None, what: str) -> tuple[str, str]:
    """(party, wallet) that `signature` is a valid signature of the instruction by, checked as
    DvPSettlement checks it: ECDSA recovery for a wallet without code, ERC-1271 for a contract."""
    v = venue(ctx)
    digest = instruction_digest(v, data_of(row))
    parties = {"seller": row.seller, "buyer": row.buyer}
    if signer is not None:
        parties = {p: w for p, w in parties.items() if w == signer}
        if not parties:
            raise InputError(f"{what}: {signer} is neither the seller nor the buyer of {row.instruction_id}")
    recovered = eip712.recover(digest, signature)
    contracts = []
    for party, wallet in parties.items():
        if eip712.has_code(ctx.chain, wallet):
            if eip712.erc1271_accepts(ctx.chain, wallet, digest, signature, v.address):
                return party, wallet
            contracts.append(wallet)
        elif recovered == wallet:
            return party, wallet
    who = signer or "the seller or the buyer"
    if contracts and (signer or recovered is None):
        raise InputError(
            f"--signature: contract wallet {', '.join(contracts)} does not accept it as a signature of {row.instruction_id} (ERC-1271)"
        )
    if recovered is None:
        raise InputError(
            f"--signature: {len(signature)} bytes is not a signature the venue can recover (65 bytes r, s, v; s in the lower half; v 27 or 28)"
        )
    raise InputError(
        f"--signature: signed by {recovered}, not by {who} of {row.instruction_id} (another signer, or other data signed)"
    )


def _store(ctx: Context, row: models.Instruction, party: str, wallet: str, signature: bytes, source: str) -> str:
    with ctx.register.session() as s:
        existing = s.exec(
            select(models.Affirmation).where(
                models.Affirmation.instruction_id == row.instruction_id, models.Affirmation.party == party
            )
        ).first()
        if existing is None:
            s.add(
                models.Affirmation(
                    instruction_id=row.instruction_id, party=party, wallet=wallet, signature="0x" + signature.hex()
                )
            )
            ctx.register.audit(s, wallet, "affirm", {"instruction_id": row.instruction_id, "party": party, "source": source})
            s.commit()
    return party


def cancel(ctx: Context, iid: str, account) -> models.Instruction:
    """A party's signed cancellation, submitted by the operator so the party needs no gas."""
    row = instruction(ctx, iid)
    if row.status not in ("pending", "failed"):
        raise InputError(f"instruction: {row.instruction_id} is {row.status}; it cannot be cancelled")
    if account.address not in (row.seller, row.buyer):
        raise InputError(f"key: {account.address} is neither the seller nor the buyer of {row.instruction_id}")
    v = venue(ctx)
    dvp = ctx.chain.contract("DvPSettlement", v.address)
    signature = sign_cancel(account, v, row.instruction_id)
    ctx.signer.transact(
        dvp.functions.cancelBySig(data_of(row).as_tuple(), account.address, signature), f"cancel {row.instruction_id}"
    )
    indexer.sync(ctx.register, ctx.chain)
    return instruction(ctx, iid)


# ---------------------------------------------------------------------- settlement


def due(ctx: Context) -> list[tuple[models.Instruction, str, str]]:
    """Instructions both parties affirmed whose settlement date has come: (row, seller sig, buyer sig)."""
    now = ctx.chain.now()
    # Due as the venue sees it: from 00:00 UTC of the settlement date (08:00 in Hong Kong).
    last_due = datetime.fromtimestamp(now, timezone.utc).date()
    i, a = models.Instruction, models.Affirmation
    with ctx.register.session() as s:
        rows = s.exec(
            select(i).where(i.status.in_(["pending", "failed"]), i.settlement_date <= last_due, i.expiry > now).order_by(i.nonce)
        ).all()
        sigs: dict[str, dict[str, str]] = {}
        pending = select(i.instruction_id).where(i.status.in_(["pending", "failed"]))
        for iid, party, signature in s.exec(select(a.instruction_id, a.party, a.signature).where(a.instruction_id.in_(pending))):
            sigs.setdefault(iid, {})[party] = signature
    return [
        (r, sigs[r.instruction_id]["seller"], sigs[r.instruction_id]["buyer"])
        for r in rows
        if len(sigs.get(r.instruction_id, {})) == 2
    ]


def pending_summary(ctx: Context) -> str:
    """What `settle` says when nothing is due: how many instructions wait, and the next due date."""
    today = ctx.chain_date()  # Hong Kong's day, as settlement dates are
    i = models.Instruction
    with ctx.register.session() as s:
        rows = s.exec(select(i.settlement_date).where(i.status.in_(["pending", "failed"]), i.expiry > ctx.chain.now())).all()
    if not rows:
        return f"nothing due today ({today}); no instructions pending"
    later = sorted(d for d in rows if d > today)
    due_now = len(rows) - len(later)
    what = f"nothing due today ({today}); {len(rows)} instruction(s) pending"
    if due_now:
        what += f", {due_now} due but not affirmed by both parties"
    if later:
        what += f", next due {later[0]}"
    return what


IN_FLIGHT = 200  # instructions sent and not yet confirmed, at most (but two batches at least)
INDEX_EVERY = 100  # confirmed instructions indexed while later batches are mined


@writes_register("settle")
def settle(
    ctx: Context, batch_size: int = 50, best_effort: bool = False, progress: Callable[[int, int], None] | None = None
) -> list[Outcome]:
    """Submits every due, fully affirmed instruction; returns what became of each. Runs under the
    register's writer lock: a second `settle` waits, then finds what this one settled settled.

    An instruction that can never settle (its nonce used by another instruction, cancelled or
    expired on chain) leaves its batch: it is found before sending where the venue's state says
    so, and an all-or-nothing batch it refuses anyway is sent again without it."""
    indexer.sync(ctx.register, ctx.chain)
    work = due(ctx)
    if not work:
        return []
    ids = [r.instruction_id for r, _, _ in work]
    refused: dict[str, tuple[str, dict | None]] = {}
    work = _settleable(ctx, work, refused)
    dvp = venue(ctx).address
    fees = ctx.signer.fees()

    def send(batch):
        data = settle_batch_calldata(
            [data_of(r) for r, _, _ in batch], [_b(s) for _, s, _ in batch], [_b(b) for _, _, b in batch], best_effort
        )
        # No dry run: an all-or-nothing batch that cannot settle reverts on chain, which moves
        # nothing, costs its gas, and leaves the reverted transaction as the proof of the attempt.
        return ctx.signer.send_data(dvp, data, _gas_limit(len(batch)), fees), batch

    # A few batches in flight at a time (about IN_FLIGHT instructions), the register indexing
    # each confirmed run of INDEX_EVERY while the node mines the next: the register's work then
    # hides behind the chain's instead of following it (about a third of a large settle).
    unsent = deque(work[i : i + batch_size] for i in range(0, len(work), batch_size))
    in_flight: deque = deque()
    depth = max(2, IN_FLIGHT // batch_size)

    def top_up():
        while unsent and len(in_flight) < depth:
            in_flight.append(send(unsent.popleft()))

    top_up()
    done = unindexed = 0
    while in_flight:
        tx_hash, batch = in_flight.popleft()
        receipt = ctx.signer.wait_raw(tx_hash, "settle", check=False)
        if receipt["status"] != "0x1":
            data = ctx.signer.revert_data(receipt)
            outcome = _refusal(data, batch, receipt)
            culprit = _permanent_culprit(data)
            if culprit in outcome and len(batch) > 1:
                # it will refuse every batch it sits in: the others go again without it
                refused[culprit] = outcome[culprit]
                unsent.append([w for w in batch if w[0].instruction_id != culprit])
                top_up()
                done += 1
                continue
            refused.update(outcome)
        top_up()  # the node has the next batch before the register catches up
        done += len(batch)
        unindexed += len(batch)
        if progress:
            progress(done, len(work))
        if in_flight and unindexed >= INDEX_EVERY:
            indexer.sync(ctx.register, ctx.chain, to_block=int(receipt["blockNumber"], 16))
            unindexed = 0
    if refused:
        _record_refusals(ctx, refused)
    indexer.sync(ctx.register, ctx.chain)
    i = models.Instruction
    with ctx.register.session() as s:
        rows = {r[0]: r for r in s.exec(select(i.instruction_id, i.status, i.reason, i.tx_hash).where(i.instruction_id.in_(ids)))}
    return [Outcome(*rows[iid]) for iid in ids]


#: refusals no retry can cure: an instruction refused for one of them leaves its batch
PERMANENT_FAILURES = (
    SettlementFailure.EXPIRED,
    SettlementFailure.NONCE_USED,
    SettlementFailure.CANCELLED,
    SettlementFailure.INVALID_INSTRUCTION,
)


def _permanent_culprit(data: str | None) -> str | None:
    """The instruction that refused an all-or-nothing batch for a reason no retry cures, if so."""
    refusal = _refused_by(data)
    return "0x" + refusal["instructionId"].hex() if refusal and refusal["reason"] in PERMANENT_FAILURES else None


def _refused_by(data: str | None) -> dict | None:
    """The arguments of the venue's SettlementRefused error, if that is what `data` is."""
    decoded = decode_error(data) if data else None
    return decoded[1] if decoded and decoded[0] == "SettlementRefused" else None


def _settleable(ctx: Context, work: list, refused: dict) -> list:
    """`work` less the instructions the venue's state says can never settle (their nonce used or
    they cancelled); those whose nonce some other instruction used go to `refused`. An instruction
    whose own settlement used its nonce is not one of them: the register, synced under the writer
    lock, already has it settled, and a sync now would give it its status from the event."""
    dvp = venue(ctx).address
    calls = []
    for row, _, _ in work:  # encoded directly: web3's encode_abi costs about 5 ms a call, most of a batch of 100's settle
        calls.append((dvp, "isNonceUsed", [row.nonce]))
        calls.append((dvp, "isCancelled", [bytes.fromhex(row.instruction_id[2:])]))
    answers = read_many(ctx.chain, "DvPSettlement", calls)
    used = {row.instruction_id for n, (row, _, _) in enumerate(work) if answers[2 * n]}
    cancelled = {row.instruction_id for n, (row, _, _) in enumerate(work) if answers[2 * n + 1]}
    if used or cancelled:
        indexer.sync(ctx.register, ctx.chain)  # whatever settled or cancelled them is an event by now
        i = models.Instruction
        with ctx.register.session() as s:
            open_ = set(
                s.exec(
                    select(i.instruction_id).where(i.instruction_id.in_(used | cancelled), i.status.in_(indexer.OPEN_STATUSES))
                )
            )
        for row, _, _ in work:
            if row.instruction_id in used & open_ and row.instruction_id not in cancelled:
                refused[row.instruction_id] = (
                    f"nonce {row.nonce} is used on the venue by another instruction: it can never settle",
                    None,
                )
    return [w for w in work if w[0].instruction_id not in used | cancelled]


def _b(hex_signature: str) -> bytes:
    return bytes.fromhex(hex_signature[2:])


def _gas_limit(instructions: int) -> int:
    # About 75k gas an instruction settles in; the limit leaves room for cold slots, new holders and
    # the first transfer after a record date (which opens the snapshot and records both balances).
    return min(250_000 * instructions + 200_000, 29_000_000)


def _refusal(data: str | None, batch, receipt: dict) -> dict[str, tuple[str, dict]]:
    """Which instruction refused an all-or-nothing batch, and why; the rest were held back by it.
    Each gets the reverted transaction as the proof of the attempt."""
    culprit, why = None, describe_revert(data)
    refusal = _refused_by(data)
    if refusal:
        culprit, why = (
            "0x" + refusal["instructionId"].hex(),
            SettlementFailure(refusal["reason"]).describe(refusal["tokenReason"]),
        )
    proof = {
        "tx_hash": receipt["transactionHash"],
        "block_number": int(receipt["blockNumber"], 16),
        "block_hash": receipt["blockHash"],
    }
    result = {}
    for row, _, _ in batch:
        if row.instruction_id == culprit:
            result[row.instruction_id] = (why, proof)
        elif culprit:
            result[row.instruction_id] = (f"batch refused: {culprit} {why}", proof)
        else:
            result[row.instruction_id] = (f"batch refused: {why}", proof)
    return result


def _record_refusals(ctx: Context, refused: dict[str, tuple[str, dict | None]]) -> None:
    """Records why instructions did not settle (the reverted receipts), through the indexer: an
    instruction the register already has settled or cancelled (from the venue's events) keeps that status."""
    indexer.record_refusals(ctx.register, ctx.chain.chain_id, refused, ctx.signer.address)
