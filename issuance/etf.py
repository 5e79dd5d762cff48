"""Tokenized ETFs: launch, NAV, creation and redemption by authorized participants.

A fund is a FundToken listed on the DvP venue. Its cash account (the operator's wallet here)
receives creation cash and pays redemptions, so at launch it authorizes the venue for those
payouts. Creations and redemptions are in whole creation units at the fund's latest NAV, and
only while that NAV is fresh; the venue moves units and cash in one transaction. An investor
registered as an authorized participant becomes one of the fund's authorized participants on
its first creation (the operator, as the fund's admin, grants the role).
"""

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from sqlmodel import select

from issuance.cash import MAX_ALLOWANCE, cash_contract
from issuance.context import Context
from issuance.deploy import dvp_contract, token_config
from issuance.termsheet import EtfTermSheet
from ledger.chain import create2
from ledger.register import indexer, models
from ledger.chain.codec import struct
from ledger.codes import Category
from ledger.errors import InputError
from ledger.money import from_minor, nav_from_e6, nav_to_e6


@dataclass
class FlowResult:
    fund_code: str
    participant: str
    units: int
    cash: Decimal
    currency: str
    nav: Decimal
    tx_hash: str


def fund_contract(ctx: Context, fund_code: str):
    inst = ctx.register.instrument(fund_code)
    if inst.kind != "fund":
        raise InputError(f"FUND: {fund_code} is a {inst.kind}, not a fund")
    return inst, ctx.chain.contract("FundToken", inst.address)


def launch(ctx: Context, ts: EtfTermSheet) -> models.Instrument:
    """Deploys the fund, lists it on the venue, and authorizes the venue to pay its redemptions."""
    etf, operator = ts.etf, ctx.signer.address
    with ctx.register.session() as s:
        existing = s.get(models.Instrument, etf.fund_code)
    if existing is not None:
        raise InputError(f"etf.fund_code: {etf.fund_code} is already an instrument in this register")
    # No paying agent and no record dates: the fund pays no coupons.
    config = token_config(ctx, etf.name, etf.token_symbol, etf.currency, ts.restrictions, False, [])
    terms = struct("FundToken.FundTerms")(
        fundCode=etf.fund_code,
        creationUnit=etf.creation_unit,
        navMaxAge=etf.nav_max_age,
        initialNav=nav_to_e6(etf.initial_nav, etf.currency, "initial_nav"),
    )
    # At an address fixed by the fund code and the term sheet (ledger.chain.create2): a re-run after an
    # interruption finds it instead of deploying a second fund.
    create2.prepare(ctx.signer)
    contract = create2.deploy(
        ctx.signer,
        "FundToken",
        config,
        terms,
        salt=create2.salt("fund", etf.fund_code, ts.sha256()),
        what=f"launch fund {etf.fund_code}",
    )
    instrument = models.Instrument(
        isin=etf.fund_code,
        kind="fund",
        name=etf.name,
        symbol=etf.token_symbol,
        issuer=etf.manager,
        currency=etf.currency,
        address=contract.address,
        creation_unit=etf.creation_unit,
        termsheet=ts.canonical_json(),
        termsheet_sha256=ts.sha256(),
    )

    def write(s):
        s.add(instrument)
        indexer.follow(s, ctx.chain, "fund", etf.fund_code, contract.address, contract.receipt())

    # synced below, once the venue lists the fund
    ctx.record("etf launch", {"fund_code": etf.fund_code, "address": contract.address}, actor=operator, write=write, sync=False)
    dvp, cash_token = dvp_contract(ctx), cash_contract(ctx, etf.currency)
    ctx.signer.transact_many(
        [
            (dvp.functions.setListed(contract.address, True), f"list {etf.fund_code} on the settlement venue"),
            (cash_token.functions.approve(dvp.address, MAX_ALLOWANCE), "authorize the venue to pay redemptions"),
        ]
    )
    indexer.sync(ctx.register, ctx.chain)
    return instrument


def publish_nav(ctx: Context, fund_code: str, value: Decimal) -> int:
    """The fund manager publishes the NAV per unit (currency units); returns its block."""
    inst, fund = fund_contract(ctx, fund_code)
    if value <= 0:
        raise InputError(f"VALUE: {value} must be positive")
    receipt = ctx.signer.transact(
        fund.functions.publishNav(nav_to_e6(value, inst.currency, "VALUE")), f"publish NAV of {fund_code}"
    )
    ctx.record("etf nav", {"fund_code": fund_code, "nav": str(value)})
    return receipt["blockNumber"]


def _participant_wallet(ctx: Context, ap_id: str) -> str:
    with ctx.register.session() as s:
        investor = s.get(models.Investor, ap_id)
        if investor is None:
            raise InputError(f"--ap: {ap_id} is not a known investor")
        if investor.category != Category.authorized_participant.name:
            raise InputError(f"--ap: {ap_id} is registered as {investor.category}, not as an authorized_participant")
        w = models.Wallet
        wallets = sorted(s.exec(select(w.address).where(w.id_hash == investor.id_hash, w.active)).all())
    if not wallets:
        raise InputError(f"--ap: {ap_id} has no registered wallet")
    return wallets[0]


def _creation_units(inst: models.Instrument, units: int) -> int:
    if units <= 0 or units % inst.creation_unit:
        raise InputError(f"--units: {units} is not a positive whole number of creation units of {inst.creation_unit}")
    return units // inst.creation_unit


def _fresh_nav(ctx: Context, fund, fund_code: str) -> int:
    nav_e6, published = fund.functions.nav().call()
    if not fund.functions.isNavFresh().call():
        at = datetime.fromtimestamp(published, timezone.utc).isoformat()
        raise InputError(f"{fund_code}: the NAV published at {at} is stale; publish a new one with `bondledger etf nav`")
    return nav_e6


def create(ctx: Context, fund_code: str, ap_id: str, units: int) -> FlowResult:
    """An authorized participant creates `units` (whole creation units), paying from authorized cash."""
    inst, fund = fund_contract(ctx, fund_code)
    wallet = _participant_wallet(ctx, ap_id)
    count = _creation_units(inst, units)
    nav_e6 = _fresh_nav(ctx, fund, fund_code)
    _, cash_due = fund.functions.creationCash(count).call()
    cash, dvp = cash_contract(ctx, inst.currency), dvp_contract(ctx)
    balance, allowance = cash.functions.balanceOf(wallet).call(), cash.functions.allowance(wallet, dvp.address).call()
    if balance < cash_due or allowance < cash_due:
        short = "holds" if balance < cash_due else "authorized settlement for"
        have = balance if balance < cash_due else allowance
        raise InputError(
            f"--ap: {ap_id} {short} {from_minor(have, inst.currency)} {inst.currency}, "
            f"needs {from_minor(cash_due, inst.currency)} for {units} units"
        )
    role = fund.functions.AUTHORIZED_PARTICIPANT_ROLE().call()
    if not fund.functions.hasRole(role, wallet).call():
        ctx.signer.transact(fund.functions.grantRole(role, wallet), f"make {ap_id} an authorized participant of {fund_code}")
    receipt = ctx.signer.transact(
        dvp.functions.settleCreation(inst.address, wallet, count), f"create {units} units of {fund_code}"
    )
    return _flow(ctx, "creation", inst, ap_id, wallet, units, cash_due, nav_e6, receipt)


def redeem(ctx: Context, fund_code: str, ap_id: str, units: int) -> FlowResult:
    """An authorized participant redeems `units` (whole creation units) for cash from the fund's account."""
    inst, fund = fund_contract(ctx, fund_code)
    wallet = _participant_wallet(ctx, ap_id)
    count = _creation_units(inst, units)
    held = fund.functions.balanceOf(wallet).call()
    if held < units:
        raise InputError(f"--units: {ap_id} holds {held} units of {fund_code}, fewer than {units}")
    nav_e6 = _fresh_nav(ctx, fund, fund_code)
    _, cash_due = fund.functions.redemptionCash(count).call()
    treasury = fund.functions.treasury().call()
    cash = cash_contract(ctx, inst.currency)
    if cash.functions.balanceOf(treasury).call() < cash_due:
        raise InputError(
            f"{fund_code}: the fund's cash account holds less than the {from_minor(cash_due, inst.currency)} {inst.currency} due"
        )
    dvp = dvp_contract(ctx)
    receipt = ctx.signer.transact(
        dvp.functions.settleRedemption(inst.address, wallet, count), f"redeem {units} units of {fund_code}"
    )
    return _flow(ctx, "redemption", inst, ap_id, wallet, units, cash_due, nav_e6, receipt)


def _flow(ctx, kind, inst, ap_id, wallet, units, cash_due, nav_e6, receipt) -> FlowResult:
    ctx.record(f"etf {kind}", {"fund_code": inst.isin, "participant": ap_id, "units": units})
    return FlowResult(
        inst.isin,
        wallet,
        units,
        from_minor(cash_due, inst.currency),
        inst.currency,
        nav_from_e6(nav_e6, inst.currency),
        receipt["transactionHash"].to_0x_hex(),
    )
