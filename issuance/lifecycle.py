"""A bond's life after issue: coupons to the holders of record, and redemption.

Coupons follow `bondledger schedule`. Each coupon's record date is a snapshot the bond keeps on
chain (its record times are fixed at deployment), so the holders paid are those the chain says
held at the end of the record date, whatever traded since. `coupon pay` declares the coupon to
the paying agent (the amount per token, from the schedule), checks the issuer's cash covers
every holder before paying anyone, then pays in batches; the paying agent pays each holder at
most once and completes the coupon only when the quantities paid reach the record-date supply,
so a re-run after a crash pays exactly who is left.

Rounding: a holder's coupon is its quantity times the amount per denomination, rounded DOWN to
the currency's minor unit (a holder is never paid more than it is due); the issuer keeps the
residue, which the register records per coupon (due exactly, less paid).

Redemption at maturity pays the final coupon (as a coupon, to the holders of record, if it is not
paid yet) and then the principal, in one command; an issuer's call redeems early at the call price
plus accrued interest. Either closes the bond to transfers
first, then pays and burns each holding in the same transaction. All of it on the chain's clock.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_FLOOR, Decimal

from sqlmodel import select

from issuance.cash import cash_at
from issuance.context import Context
from issuance.issue import unix_midnight
from issuance.schedule import CouponPeriod, accrued_per_denomination, coupon_schedule, record_time
from issuance.termsheet import TermSheet
from ledger.register import indexer, models
from ledger.chain import read, read_many
from ledger.chain.codec import calldata
from ledger.register.db import writes_register
from ledger.errors import BondledgerError, InputError
from ledger.money import from_minor, minor_exponent
from ledger.register.views import AMOUNT_SCALE, ZERO_ADDRESS

PAYMENT_BATCH = 150  # holders per transaction: about 6-9M gas, under a third of a 30M block


@dataclass
class PaymentRun:
    isin: str
    kind: str  # coupon | redemption
    coupon_id: int
    payment_date: date | None
    holders_paid: int
    paid: Decimal  # this run, currency units
    total_paid: Decimal  # all runs
    complete: bool
    residue: Decimal  # due exactly less paid (coupons, once complete)
    currency: str
    coupons: list["PaymentRun"] = field(default_factory=list)  # a redemption: the coupons it paid first


def _bond(ctx: Context, isin: str):
    inst = ctx.register.instrument(isin)
    if inst.kind != "bond":
        raise InputError(f"ISIN: {isin} is a {inst.kind}, not a bond")
    return inst, TermSheet.model_validate_json(inst.termsheet), ctx.chain.contract("BondToken", inst.address)


def _agent(ctx: Context):
    return ctx.chain.contract("PayingAgent", ctx.register.require_contract("paying_agent").address)


def per_token(amount_per_denomination: Decimal, currency: str) -> int:
    """An amount per token (one denomination) as the paying agent takes it: base units x 10^10."""
    scaled = amount_per_denomination.scaleb(minor_exponent(currency)) * AMOUNT_SCALE
    if scaled != scaled.to_integral_value():
        raise InputError(f"amount per denomination {amount_per_denomination} is finer than the paying agent's scale")
    return int(scaled)


def _coupon_state(ctx: Context, agent, inst, coupon_id: int):
    """The paying agent's record of one coupon of the bond: a PayingAgent.Payment (codec.struct)."""
    return read(ctx.chain, "PayingAgent", agent.address, "coupon", [inst.address, coupon_id])


def _redemption_state(ctx: Context, agent, inst):
    """The paying agent's record of the bond's redemption: a PayingAgent.Payment."""
    return read(ctx.chain, "PayingAgent", agent.address, "redemption", [inst.address])


def _uint_calls(ctx: Context, artifact: str, address: str, calls: list[tuple[str, list]]) -> list[int]:
    """Many reads of one contract (function name, arguments) that each return one number or
    flag, in JSON-RPC batches rather than a round trip each."""
    return [int(v) for v in read_many(ctx.chain, artifact, [(address, fn, args) for fn, args in calls])]


def _holders_of_record(ctx: Context, inst, bond, snapshot: int | None) -> dict[str, int]:
    """Every wallet the register has seen receive the bond, with its balance on chain at the
    snapshot (or now); the quantities must add up to the chain's supply, or the register is
    missing someone and nothing is paid."""
    indexer.sync(ctx.register, ctx.chain)
    t = models.Transfer
    with ctx.register.session() as s:
        # Ascending by address (as numbers, not as mixed-case text): the paying agent pays a coupon's
        # holders in that order, above a cursor, so a re-run starts where the last batch ended.
        wallets = sorted(
            set(s.exec(select(t.to_address).where(t.token == inst.address)).all()) - {ZERO_ADDRESS}, key=lambda w: int(w, 16)
        )
    balance, supply, at = ("balanceOf", "totalSupply", []) if snapshot is None else ("balanceOfAt", "totalSupplyAt", [snapshot])
    results = _uint_calls(ctx, "BondToken", bond.address, [*((balance, [w, *at]) for w in wallets), (supply, at)])
    holdings = {w: q for w, q in zip(wallets, results[:-1]) if q}
    if sum(holdings.values()) != results[-1]:
        raise BondledgerError(
            f"{inst.isin}: the register's holders hold {sum(holdings.values())} but the chain {results[-1]}; run `bondledger sync`"
        )
    return holdings


def _prepare_agent(ctx: Context, inst, bond, agent, needed: int) -> None:
    """Checks, before anything is sent, that the issuer's cash account holds and authorizes what
    is due and that the paying agent may pay for this bond; then has the operator register the
    bond with the agent (its admin does, on the first run) and authorize exactly what this run
    pays: the agent pays only for registered bonds and can draw nothing beyond what is due (a
    re-run after a crash finds the rest still authorized)."""
    cash = cash_at(ctx, bond.functions.currency().call())  # the bond's settlement asset
    treasury = bond.functions.treasury().call()
    balance = cash.functions.balanceOf(treasury).call()
    if balance < needed:
        raise BondledgerError(
            f"{inst.isin}: the issuer's cash account holds {from_minor(balance, inst.currency)} {inst.currency}, "
            f"short of the {from_minor(needed, inst.currency)} due; nothing was paid"
        )
    allowance = cash.functions.allowance(treasury, agent.address).call()
    if treasury != ctx.signer.address and allowance < needed:
        raise BondledgerError(f"{inst.isin}: the issuer's cash account has not authorized the paying agent")
    registered = agent.functions.isBondRegistered(inst.address).call()
    if not registered and not agent.functions.hasRole(agent.functions.DEFAULT_ADMIN_ROLE().call(), ctx.signer.address).call():
        raise BondledgerError(f"{inst.isin}: not registered with the paying agent {agent.address}; its admin must register it")
    if not registered:
        ctx.signer.transact(agent.functions.setBondRegistered(inst.address, True), f"register {inst.isin} with the paying agent")
    if treasury == ctx.signer.address and allowance != needed:
        due = f"{from_minor(needed, inst.currency)} {inst.currency}"
        ctx.signer.transact(cash.functions.approve(agent.address, needed), f"authorize the paying agent for {due}")


def _pay_in_batches(ctx, agent: str, fn: str, args, holders: list[str], what: str, progress, after: str | None = None) -> None:
    """Pays `holders` through the paying agent's `fn(*args, batch)`: the batches pay distinct
    holders, so they are estimated together and sent back to back (Signer.send_many), not one
    round trip and receipt wait each. With `after` (coupons: the cursor), each batch names the
    holder it follows (`fn(*args, previous, batch)`): if one fails, the ones after it fail too
    instead of passing over its holders."""
    batches = [holders[i : i + PAYMENT_BATCH] for i in range(0, len(holders), PAYMENT_BATCH)] or [[]]
    sizes = [len(b) for b in batches]
    if after is None:
        calls = [(agent, calldata("PayingAgent", fn, [*args, batch]), what) for batch in batches]
    else:
        # Measured as the plain payCoupon of the same batch: against the state before the run, a
        # batch that names the one before it would be refused.
        follows = [after] + [b[-1] if b else after for b in batches[:-1]]
        calls = [
            (agent, calldata("PayingAgent", fn, [*args, prev, batch]), what, calldata("PayingAgent", "payCoupon", [*args, batch]))
            for prev, batch in zip(follows, batches)
        ]
    ctx.signer.send_many(
        calls,
        progress=(lambda done, _: progress(sum(sizes[:done]), len(holders))) if progress else None,
    )


# ---------------------------------------------------------------------- coupons


def _coupon_to_pay(ctx: Context, inst, ts: TermSheet, agent, on: date | None) -> tuple[int, CouponPeriod]:
    periods = coupon_schedule(ts.bond)
    if not periods:
        raise InputError(f"ISIN: {inst.isin} is a zero-coupon bond")
    today = ctx.chain_date()
    if on is not None:
        matches = [i for i, p in enumerate(periods) if on in (p.payment_date, p.accrual_end)]
        if not matches:
            raise InputError(f"--date: {on} is not a coupon payment date of {inst.isin}")
        index = matches[0]
    else:
        # The first coupon not yet complete: asking stops there.
        index = next((i for i in range(len(periods)) if not _coupon_state(ctx, agent, inst, i + 1).complete), None)
        if index is None:
            raise InputError(f"ISIN: every coupon of {inst.isin} is paid")
    period = periods[index]
    if period.payment_date > today:
        raise InputError(f"coupon {index + 1} of {inst.isin} is due {period.payment_date}; the chain's date is {today}")
    return index + 1, period


@writes_register("coupon pay")
def pay_coupon(ctx: Context, isin: str, on: date | None = None, progress: Callable[[int, int], None] | None = None) -> PaymentRun:
    """Pays one coupon (the earliest due and unpaid, or the one paying on `on`) to the holders of record."""
    inst, ts, bond = _bond(ctx, isin)
    agent = _agent(ctx)
    coupon_id, period = _coupon_to_pay(ctx, inst, ts, agent, on)
    state = _coupon_state(ctx, agent, inst, coupon_id)
    if state.complete:
        # A run killed after its last payment was mined left them unindexed: record what the
        # chain holds before saying so, so that the refusal leaves the register whole.
        indexer.sync(ctx.register, ctx.chain)
        raise InputError(f"coupon {coupon_id} of {isin} ({period.payment_date}) is already paid")
    amount = state.amountPerToken if state.declared else per_token(period.amount_per_denomination, inst.currency)
    # Who is paid, and whether the issuer's cash covers them all, before anything is sent.
    holdings = _holders_of_record(ctx, inst, bond, coupon_id)
    # Holders are paid in ascending order above the coupon's cursor: those at or below it are paid.
    cursor = read(ctx.chain, "PayingAgent", agent.address, "couponCursor", [inst.address, coupon_id])
    unpaid = [w for w in holdings if int(w, 16) > int(cursor, 16)]
    due = sum(holdings[w] * amount // AMOUNT_SCALE for w in unpaid)
    _prepare_agent(ctx, inst, bond, agent, due)
    if not state.declared:  # declare it to the paying agent
        ctx.signer.transact(
            agent.functions.declareCoupon(inst.address, coupon_id, amount, unix_midnight(period.payment_date)),
            f"declare coupon {coupon_id} of {isin}",
        )
    paid_before = state.paidAmount
    _pay_in_batches(
        ctx,
        agent.address,
        "payCouponAfter",
        [inst.address, coupon_id],
        unpaid,
        f"pay coupon {coupon_id} of {isin}",
        progress,
        after=cursor,
    )
    after = _coupon_state(ctx, agent, inst, coupon_id)
    exact = period.amount_per_denomination * sum(holdings.values())
    paid_total = from_minor(after.paidAmount, inst.currency)
    ctx.record("coupon pay", {"isin": isin, "coupon": coupon_id, "holders": len(unpaid)})
    return PaymentRun(
        isin,
        "coupon",
        coupon_id,
        period.payment_date,
        len(unpaid),
        from_minor(after.paidAmount - paid_before, inst.currency),
        paid_total,
        after.complete,
        (exact - paid_total).normalize() if after.complete else Decimal(0),
        inst.currency,
    )


# ---------------------------------------------------------------------- redemption


@writes_register("redeem")
def redeem(ctx: Context, isin: str, call: bool = False, progress: Callable[[int, int], None] | None = None) -> PaymentRun:
    """Redeems the bond: at maturity at par, or before it on the issuer's call (`call=True`)."""
    inst, ts, bond = _bond(ctx, isin)
    agent = _agent(ctx)
    today, bond_terms = ctx.chain_date(), ts.bond
    state = _redemption_state(ctx, agent, inst)
    if state.complete:
        indexer.sync(ctx.register, ctx.chain)  # as for a paid coupon: the register catches up first
        raise InputError(f"ISIN: {isin} is already redeemed")
    # Every coupon whose record date has passed is owed before principal: those already payable
    # (the final one at maturity) are paid here first, as coupons to their holders of record.
    now = ctx.chain.now()
    owed = [
        (i + 1, p)
        for i, p in enumerate(coupon_schedule(bond_terms))
        if now >= record_time(p.record_date) and not _coupon_state(ctx, agent, inst, i + 1).complete
    ]
    not_yet = [(n, p) for n, p in owed if p.payment_date > today]
    if not_yet:
        n, p = not_yet[0]
        raise InputError(f"coupon {n} of {isin} is payable on {p.payment_date}, after the chain's date {today}: redeem from then")
    denomination = Decimal(inst.denomination).scaleb(-minor_exponent(inst.currency))
    if call:
        if ts.call is None:
            raise InputError(f"--call: {isin} has no call in its term sheet")
        if today < ts.call.first_call_date:
            raise InputError(f"--call: {isin} is callable from {ts.call.first_call_date}; the chain's date is {today}")
        if today >= bond_terms.maturity_date:
            raise InputError(f"--call: {isin} has matured; redeem it without --call")
        price = denomination * ts.call.call_price / 100 + accrued_per_denomination(bond_terms, today)
        price = price.quantize(Decimal(1).scaleb(-10), rounding=ROUND_FLOOR)
    else:
        if today < bond_terms.maturity_date:
            raise InputError(
                f"ISIN: {isin} matures on {bond_terms.maturity_date}; the chain's date is {today} (use --call to redeem early)"
            )
        price = denomination
    amount = per_token(price, inst.currency) if not state.declared else state.amountPerToken
    if owed:
        # The coupons and the principal together, before any of them is paid: at most what each
        # coupon's record-date supply is due (rounding down only lowers it).
        supply = bond.functions.totalSupply().call()
        coupons_due = sum(
            bond.functions.totalSupplyAt(n).call() * per_token(p.amount_per_denomination, inst.currency) // AMOUNT_SCALE
            for n, p in owed
        )
        cash = cash_at(ctx, bond.functions.currency().call())
        balance = cash.functions.balanceOf(bond.functions.treasury().call()).call()
        if balance < coupons_due + supply * amount // AMOUNT_SCALE:
            need = from_minor(coupons_due + supply * amount // AMOUNT_SCALE, inst.currency)
            raise BondledgerError(
                f"{isin}: the issuer's cash account holds {from_minor(balance, inst.currency)} {inst.currency}, short of the "
                f"{need} due ({len(owed)} coupon(s) and the principal); nothing was paid"
            )
    coupon_runs = [pay_coupon(ctx, isin, p.payment_date, progress) for _, p in owed]
    holdings = _holders_of_record(ctx, inst, bond, None)
    due = sum(q * amount // AMOUNT_SCALE for q in holdings.values())
    _prepare_agent(ctx, inst, bond, agent, due)
    if not state.declared:  # declaring closes the bond to transfers
        ctx.signer.transact(agent.functions.declareRedemption(inst.address, amount), f"declare the redemption of {isin}")
    _pay_in_batches(ctx, agent.address, "redeem", [inst.address], list(holdings), f"redeem {isin}", progress)
    after = _redemption_state(ctx, agent, inst)
    ctx.record("redeem", {"isin": isin, "call": call, "holders": len(holdings)})
    return PaymentRun(
        isin,
        "redemption",
        0,
        today,
        len(holdings),
        from_minor(after.paidAmount - state.paidAmount, inst.currency),
        from_minor(after.paidAmount, inst.currency),
        after.complete,
        Decimal(0),
        inst.currency,
        coupon_runs,
    )
