"""The `bondledger` command line.

Global options (also from the environment): --rpc-url (BONDLEDGER_RPC_URL, else the devnet
`devnet up` started, else http://127.0.0.1:8545), --db (BONDLEDGER_DB, a SQLAlchemy URL or a
SQLite path; default .bondledger/register.db), --keystore (BONDLEDGER_KEYSTORE) for the
operator's key unless BONDLEDGER_PRIVATE_KEY is set; on chain id 31337 only, the first anvil
account signs when no key is given. Errors print one line to stderr: exit 2 for bad input
(nothing sent or written), 1 for everything else (including reconciliation breaks).
"""

import csv
import io
import json
import sys
import warnings
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import click
from sqlalchemy.exc import StatementError
from tabulate import tabulate

from issuance import cash as cash_ops
from issuance import etf as etf_ops
from issuance import green as green_ops
from issuance import lifecycle, trading
from issuance.context import Context
from issuance.deploy import deploy_base
from issuance.inputs import parse_address, read_allocations, read_investors
from issuance.investors import import_investors
from issuance.issue import issue_bond
from issuance.schedule import coupon_schedule
from issuance.termsheet import load_etf_termsheet, load_termsheet
from ledger import devnet as devnet_ops
from ledger import indexer, keys, views
from ledger.db import Register
from ledger.errors import BondledgerError, InputError
from ledger.money import from_minor, parse_amount
from ledger.reconcile import reconcile as reconcile_register

FORMATS = click.Choice(["table", "json", "csv"])
WRAPPED = {"basis": 48, "reason": 40, "name": 40}
TABLE_OR_JSON = click.Choice(["table", "json"])


# ---------------------------------------------------------------------- plumbing


class Options:
    def __init__(self, rpc_url, db, keystore):
        self.rpc_url, self.db, self.keystore = rpc_url, db, keystore
        self._ctx = None

    def context(self) -> Context:
        if self._ctx is None:
            self._ctx = Context.open(self.rpc_url, self.db, keystore=self.keystore)
        return self._ctx

    def register(self) -> Register:
        """The register alone, read-only: reading needs neither the chain nor write access."""
        return Register(self.db, read_only=True)


pass_options = click.make_pass_decorator(Options)


def emit(rows: list[dict], fmt: str, title: str | None = None) -> None:
    """Rows as a table (default), JSON (a list of objects) or CSV, on stdout."""
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
    elif fmt == "csv":
        if rows:
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            click.echo(out.getvalue(), nl=False)
    else:
        if title:
            click.echo(title)
        # Long prose (a legal basis, a reason) wraps; hashes and amounts never do.
        widths = [WRAPPED.get(k) for k in rows[0]] if rows else None
        click.echo(tabulate(rows, headers="keys", disable_numparse=True, maxcolwidths=widths) if rows else "(none)")


class Progress:
    """A progress bar on stderr that appears only once work starts: `progress(done, total)`.
    A command refused before any work prints nothing but its error."""

    def __init__(self, label: str):
        self.label, self.bar = label, None

    def __call__(self, done: int, total: int) -> None:
        if not sys.stderr.isatty():
            return  # logs and pipes get the result, not a bar
        if self.bar is None:
            self.bar = click.progressbar(length=max(total, 1), label=self.label, file=sys.stderr, show_pos=True)
            self.bar.__enter__()
        self.bar.length = max(total, 1)
        self.bar.update(done - self.bar.pos)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)


def address_arg(value: str, what: str) -> str:
    try:
        return parse_address(value)
    except ValueError as exc:
        raise InputError(f"{what}: {exc}") from None


def amount_arg(value: str) -> Decimal:
    return parse_amount(value, "AMOUNT")


class Group(click.Group):
    """Turns bondledger errors into one line on stderr and the right exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BondledgerError as exc:
            self._fail(ctx, exc)
        except StatementError as exc:  # a register type refusing a value arrives wrapped
            if not isinstance(exc.orig, BondledgerError):
                raise
            self._fail(ctx, exc.orig)

    @staticmethod
    def _fail(ctx, exc: BondledgerError):
        click.echo(f"error: {exc}", err=True)
        ctx.exit(exc.exit_code)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--rpc-url", envvar="BONDLEDGER_RPC_URL", help="EVM JSON-RPC endpoint [env BONDLEDGER_RPC_URL].")
@click.option("--db", envvar="BONDLEDGER_DB", help="Register: SQLAlchemy URL or SQLite path [env BONDLEDGER_DB].")
@click.option(
    "--keystore",
    envvar="BONDLEDGER_KEYSTORE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Operator's encrypted keystore (password from BONDLEDGER_KEYSTORE_PASSWORD or a prompt).",
)
@click.version_option(package_name="bondledger")
@click.pass_context
def cli(ctx, rpc_url, db, keystore):
    """bondledger: tokenized green bonds on an EVM chain, with an auditable register."""
    ctx.obj = Options(rpc_url, db, keystore)


# ---------------------------------------------------------------------- devnet


@cli.group()
def devnet():
    """Run a local anvil devnet (chain id 31337) in the background."""


@devnet.command("up")
@click.option("--port", type=int, default=8545, show_default=True, help="Port to listen on; 0 picks a free one.")
@click.option("--at", "at", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), help="Start the chain's clock at this UTC date/time.")
def devnet_up(port, at):
    """Start anvil and remember it (later commands use it by default)."""
    extra = []
    if at is not None:
        extra = ["--timestamp", str(int(at.replace(tzinfo=timezone.utc).timestamp()))]
    running = devnet_ops.up(port or None, extra)
    click.echo(running.rpc_url)


@devnet.command("down")
def devnet_down():
    """Stop the devnet `devnet up` started."""
    stopped = devnet_ops.down()
    click.echo(f"stopped {stopped.rpc_url}" if stopped else "no devnet running")


@devnet.command("warp")
@click.argument("to", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]))
@pass_options
def devnet_warp(opts, to):
    """Move the devnet's clock forward to TO (a UTC date, 00:00, or date and time) and mine a
    block there: how coupon dates and maturity arrive on a devnet."""
    from issuance.context import resolve_rpc_url
    from ledger.chain import connect

    chain = connect(resolve_rpc_url(opts.rpc_url))
    block = devnet_ops.warp(chain, int(to.replace(tzinfo=timezone.utc).timestamp()))
    click.echo(f"chain time {to.replace(tzinfo=timezone.utc).isoformat()} (block {block})")


@devnet.command("status")
def devnet_status():
    """Show the running devnet, if any."""
    running = devnet_ops.recorded()
    click.echo(f"{running.rpc_url} (pid {running.pid})" if running else "no devnet running")


# ---------------------------------------------------------------------- set-up


@cli.command()
@pass_options
def deploy(opts):
    """Deploy the investor registry, DvP settlement and cash tokens (HKD, CNH, USD, EUR)."""
    ctx = opts.context()
    deployed = deploy_base(ctx)
    indexer.sync(ctx.register, ctx.chain)
    emit([{"contract": k, "address": v} for k, v in deployed.items()], "table")


@cli.group()
def investors():
    """Investor onboarding."""


@investors.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@pass_options
def investors_import(opts, file):
    """Import investors from CSV: investor_id,name,wallet,country,category,kyc_expiry.

    Categories: retail, professional_investor, corporate_professional_investor,
    institutional_professional_investor, authorized_participant. Several rows may share an
    investor_id (one per wallet).
    """
    rows = read_investors(file)
    ctx = opts.context()
    with Progress("registering") as progress:
        result = import_investors(ctx, rows, progress=progress)
    click.echo(
        f"{result.investors} investors, {result.wallets} wallets: "
        f"{result.investor_writes} investor records and {result.wallet_writes} wallets written on chain"
    )


@investors.command("list")
@click.option("--format", "fmt", type=FORMATS, default="table")
@pass_options
def investors_list(opts, fmt):
    """Investors in the register, with their wallets."""
    from sqlmodel import select

    from ledger import models

    reg = opts.context().register
    with reg.session() as s:
        wallets: dict[str, list[str]] = {}
        for w in s.exec(select(models.Wallet).where(models.Wallet.active)).all():
            wallets.setdefault(w.id_hash, []).append(w.address)
        rows = [
            {
                "investor_id": i.investor_id,
                "name": i.name,
                "country": i.country,
                "category": i.category,
                "kyc_expiry": i.kyc_expiry.isoformat(),
                "wallets": " ".join(sorted(wallets.get(i.id_hash, []))),
            }
            for i in s.exec(select(models.Investor).order_by(models.Investor.investor_id)).all()
        ]
    emit(rows, fmt)


# ---------------------------------------------------------------------- cash


@cli.group()
def cash():
    """Tokenized cash (the cash leg of settlements)."""


@cash.command("mint")
@click.argument("currency")
@click.argument("wallet")
@click.argument("amount")
@pass_options
def cash_mint(opts, currency, wallet, amount):
    """Mint AMOUNT (currency units, e.g. 1000000.50) of CURRENCY to WALLET."""
    wallet = address_arg(wallet, "WALLET")
    value = amount_arg(amount)
    cash_ops.mint(opts.context(), currency.upper(), wallet, value)
    click.echo(f"minted {value} {currency.upper()} to {wallet}")


def holder_key_options(f):
    """--private-key / --dev-account: whose signature (an investor's, not the operator's)."""
    f = click.option("--dev-account", type=int, help="On a devnet (chain id 31337): anvil account N.")(f)
    f = click.option("--private-key", envvar="BONDLEDGER_HOLDER_PRIVATE_KEY", help="The holder's key [env BONDLEDGER_HOLDER_PRIVATE_KEY].")(f)
    return f


def holder_account(ctx: Context, private_key: str | None, dev_account: int | None):
    if (private_key is None) == (dev_account is None):
        raise InputError("holder: give exactly one of --private-key or --dev-account")
    if private_key:
        return keys.from_private_key(private_key, ctx.chain.chain_id, "--private-key")
    return keys.dev_account_for(dev_account, ctx.chain.chain_id)


@cash.command("allow")
@click.argument("currency")
@click.argument("amount")
@holder_key_options
@pass_options
def cash_allow(opts, currency, amount, private_key, dev_account):
    """Authorize DvP settlement to take up to AMOUNT of the holder's CURRENCY."""
    value = amount_arg(amount)
    ctx = opts.context()
    holder = holder_account(ctx, private_key, dev_account)
    cash_ops.allow(ctx, currency.upper(), value, holder)
    click.echo(f"{holder.address} authorized settlement to take up to {value} {currency.upper()}")


@cash.command("balance")
@click.argument("currency")
@click.argument("wallet")
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def cash_balance(opts, currency, wallet, fmt):
    """WALLET's CURRENCY balance and what it has authorized for settlement."""
    wallet = address_arg(wallet, "WALLET")
    balance, allowed = cash_ops.position(opts.context(), currency.upper(), wallet)
    emit([{"wallet": wallet, "currency": currency.upper(), "balance": str(balance), "authorized": str(allowed)}], fmt)


# ---------------------------------------------------------------------- issuance


@cli.command()
@click.argument("termsheet", type=click.Path(path_type=Path))
@click.option("--allocations", "allocations_file", required=True, type=click.Path(path_type=Path), help="CSV: investor_id,wallet,principal.")
@click.option("--batch-size", type=click.IntRange(1, 500), default=50, show_default=True, help="Allocations per settlement transaction.")
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def issue(opts, termsheet, allocations_file, batch_size, fmt):
    """Issue the bond in TERMSHEET and settle its allocations delivery-versus-payment.

    Every allocation's eligibility, cash and authorization is checked before anything is sent.
    Re-running after an interruption settles only what is left.
    """
    ts = load_termsheet(termsheet)
    rows = read_allocations(allocations_file)
    ctx = opts.context()
    with Progress("settling") as progress:
        result = issue_bond(ctx, ts, rows, allocations_file.name, batch_size, progress=progress)
    if fmt == "json":
        click.echo(json.dumps({"isin": result.isin, "address": result.address, "settled": result.settled, "already_settled": result.already_settled}))
    else:
        click.echo(f"{result.isin} {result.address}")
        click.echo(f"settled {result.settled} allocation(s), {result.already_settled} already settled", err=True)


@cli.command()
@click.argument("termsheet", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=FORMATS, default="table")
def schedule(termsheet, fmt):
    """The coupon schedule of TERMSHEET (amounts per denomination, in currency units)."""
    ts = load_termsheet(termsheet)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = [p.as_dict() for p in coupon_schedule(ts.bond)]
    for w in caught:
        click.echo(f"warning: {w.message}", err=True)
    emit(rows, fmt)


# ---------------------------------------------------------------------- bond lifecycle


def _run_out(run) -> dict:
    return {
        "isin": run.isin,
        "kind": run.kind,
        "coupon": run.coupon_id or None,
        "payment_date": run.payment_date.isoformat() if run.payment_date else None,
        "holders_paid": run.holders_paid,
        "paid": str(run.paid),
        "total_paid": str(run.total_paid),
        "complete": run.complete,
        "residue": str(run.residue),
        "currency": run.currency,
    }


@cli.group()
def coupon():
    """Coupons: paid on chain to the holders of record."""


@coupon.command("pay")
@click.argument("isin")
@click.option("--date", "on", type=click.DateTime(["%Y-%m-%d"]), help="The coupon paying on this date (default: the earliest due and unpaid).")
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def coupon_pay(opts, isin, on, fmt):
    """Pay one coupon of ISIN to its holders of record, in batches; safe to re-run."""
    with Progress("paying") as progress:
        run = lifecycle.pay_coupon(opts.context(), isin.upper(), on.date() if on else None, progress)
    out = _run_out(run)
    click.echo(json.dumps(out) if fmt == "json" else tabulate([out], headers="keys", disable_numparse=True))


@cli.command()
@click.argument("isin")
@click.option("--call", is_flag=True, help="Redeem before maturity on the issuer's call (at the term sheet's call price plus accrued interest).")
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def redeem(opts, isin, call, fmt):
    """Redeem ISIN: pay every holder its principal and burn its bonds; mark the bond redeemed."""
    with Progress("redeeming") as progress:
        run = lifecycle.redeem(opts.context(), isin.upper(), call, progress)
    out = _run_out(run)
    click.echo(json.dumps(out) if fmt == "json" else tabulate([out], headers="keys", disable_numparse=True))


@cli.group()
def green():
    """Green bond reporting: allocation of proceeds to the framework's categories."""


@green.command("allocate")
@click.argument("isin")
@click.option("--category", required=True, help="One of the bond's use-of-proceeds categories.")
@click.option("--amount", required=True, help="Currency units.")
@click.option("--project", required=True, help="The project funded.")
@click.option("--date", "on", type=click.DateTime(["%Y-%m-%d"]), help="Default: the chain's date.")
@pass_options
def green_allocate(opts, isin, category, amount, project, on):
    """Record an allocation of ISIN's proceeds to a project."""
    value = parse_amount(amount, "--amount")
    row = green_ops.allocate(opts.context(), isin.upper(), category, value, project, on.date() if on else None)
    click.echo(f"allocated {value} to {row.project} ({row.category})")


@green.command("report")
@click.argument("isin")
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def green_report(opts, isin, fmt):
    """The allocation report of ISIN (ICMA Green Bond Principles): allocated vs unallocated per category."""
    report = green_ops.report(opts.context(), isin.upper())
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{report['isin']} green bond allocation report ({report['currency']})")
    click.echo(f"framework: {report['framework_uri']} (sha256 {report['framework_sha256']})")
    emit(report["categories"], "table")
    click.echo(
        f"net proceeds {report['net_proceeds']}; allocated {report['allocated']} ({report['allocated_percent']}%); "
        f"unallocated {report['unallocated']}"
    )
    if report["allocations"]:
        emit(report["allocations"], "table")


# ---------------------------------------------------------------------- ETFs


@cli.group()
def etf():
    """Tokenized ETFs: launch, NAV, creation and redemption by authorized participants."""


@etf.command("launch")
@click.argument("termsheet", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def etf_launch(opts, termsheet, fmt):
    """Launch the fund in TERMSHEET ([etf] and [restrictions]) and list it for settlement."""
    ts = load_etf_termsheet(termsheet)
    inst = etf_ops.launch(opts.context(), ts)
    if fmt == "json":
        click.echo(json.dumps({"fund_code": inst.isin, "address": inst.address}))
    else:
        click.echo(f"{inst.isin} {inst.address}")


@etf.command("nav")
@click.argument("fund")
@click.argument("value")
@pass_options
def etf_nav(opts, fund, value):
    """Publish FUND's NAV per unit, VALUE in currency units (e.g. 25.4321)."""
    nav = parse_amount(value, "VALUE")
    block = etf_ops.publish_nav(opts.context(), fund.upper(), nav)
    click.echo(f"{fund.upper()} NAV {nav} published at block {block}")


def _flow_command(kind: str):
    @click.argument("fund")
    @click.option("--ap", "ap", required=True, help="The authorized participant's investor id.")
    @click.option("--units", type=int, required=True, help="Units: a whole number of creation units.")
    @click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
    @pass_options
    def command(opts, fund, ap, units, fmt):
        result = (etf_ops.create if kind == "create" else etf_ops.redeem)(opts.context(), fund.upper(), ap, units)
        out = {
            "fund_code": result.fund_code,
            "participant": ap,
            "units": result.units,
            "cash_amount": str(result.cash),
            "currency": result.currency,
            "nav": str(result.nav),
            "tx_hash": result.tx_hash,
        }
        if fmt == "json":
            click.echo(json.dumps(out))
        else:
            emit([out], "table")

    return command


etf.command("create", help="An authorized participant creates UNITS of FUND, paying cash at the latest NAV.")(
    _flow_command("create")
)
etf.command("redeem", help="An authorized participant redeems UNITS of FUND for cash at the latest NAV.")(
    _flow_command("redeem")
)


# ---------------------------------------------------------------------- secondary trades


@cli.command()
@click.argument("isin")
@click.option("--seller", required=True, help="Seller's investor id.")
@click.option("--buyer", required=True, help="Buyer's investor id.")
@click.option("--quantity", required=True, type=int, help="Tokens (bonds: denominations).")
@click.option("--price", required=True, help="Clean price per 100 of principal (bonds) or price per unit (funds).")
@click.option("--trade-date", type=click.DateTime(["%Y-%m-%d"]), help="Default: today on the chain's clock (Hong Kong).")
@click.option("--settlement-date", type=click.DateTime(["%Y-%m-%d"]), help="Default: trade date + 2 business days.")
@click.option("--seller-wallet", help="Default: the seller's first registered wallet.")
@click.option("--buyer-wallet", help="Default: the buyer's first registered wallet.")
@click.option("--expiry-days", type=int, default=5, show_default=True, help="Days after the settlement date the instruction expires.")
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def trade(opts, isin, seller, buyer, quantity, price, trade_date, settlement_date, seller_wallet, buyer_wallet, expiry_days, fmt):
    """Capture a trade of ISIN (or a fund code) and print its settlement instruction.

    Bonds: --price is clean, per 100 of principal; the cash adds accrued interest. Funds: --price is per unit.
    """
    value = parse_amount(price, "--price")
    wallets = [address_arg(w, f"--{who}-wallet") if w else None for w, who in ((seller_wallet, "seller"), (buyer_wallet, "buyer"))]
    row = trading.capture_trade(
        opts.context(), isin.upper(), seller, buyer, quantity, value,
        trade_date.date() if trade_date else None, settlement_date.date() if settlement_date else None,
        wallets[0], wallets[1], expiry_days,
    )
    out = {
        "instruction_id": row.instruction_id,
        "isin": row.isin,
        "seller": row.seller_investor_id,
        "buyer": row.buyer_investor_id,
        "seller_wallet": row.seller,
        "buyer_wallet": row.buyer,
        "quantity": row.quantity,
        "price": row.price,
        "accrued": str(from_minor(row.accrued, row.currency)),
        "cash_amount": str(from_minor(row.cash_amount, row.currency)),
        "currency": row.currency,
        "trade_date": row.trade_date.isoformat(),
        "settlement_date": row.settlement_date.isoformat(),
        "expiry": datetime.fromtimestamp(row.expiry, timezone.utc).isoformat(),
        "nonce": row.nonce,
        "status": row.status,
    }
    if fmt == "json":
        click.echo(json.dumps(out))
    else:
        emit([{"field": k, "value": v} for k, v in out.items()], "table")


@cli.command()
@click.argument("instruction_id")
@holder_key_options
@pass_options
def affirm(opts, instruction_id, private_key, dev_account):
    """Sign INSTRUCTION_ID as its seller or buyer (EIP-712; no gas needed)."""
    ctx = opts.context()
    party = trading.affirm(ctx, instruction_id, holder_account(ctx, private_key, dev_account))
    click.echo(f"{instruction_id} affirmed by the {party}")


@cli.command()
@click.option("--batch-size", type=click.IntRange(1, 200), default=50, show_default=True, help="Instructions per transaction (at most 200: a block holds about 300).")
@click.option("--best-effort", is_flag=True, help="Skip instructions that cannot settle instead of refusing their batch.")
@click.option("--format", "fmt", type=FORMATS, default="table")
@pass_options
def settle(opts, batch_size, best_effort, fmt):
    """Settle every fully affirmed, due instruction delivery-versus-payment, in batches."""
    with Progress("settling") as progress:
        outcomes = trading.settle(opts.context(), batch_size, best_effort, progress)
    emit([{"instruction_id": o.instruction_id, "status": o.status, "reason": o.reason, "tx_hash": o.tx_hash} for o in outcomes], fmt)


@cli.command()
@click.argument("instruction_id")
@holder_key_options
@pass_options
def cancel(opts, instruction_id, private_key, dev_account):
    """Cancel INSTRUCTION_ID as its seller or buyer (signed; the operator submits it)."""
    ctx = opts.context()
    row = trading.cancel(ctx, instruction_id, holder_account(ctx, private_key, dev_account))
    click.echo(f"{row.instruction_id} {row.status}")


# ---------------------------------------------------------------------- register


@cli.command()
@pass_options
def sync(opts):
    """Index new chain events into the register."""
    ctx = opts.context()
    with Progress("indexing blocks") as progress:
        result = indexer.sync(ctx.register, ctx.chain, progress=progress)
    click.echo(f"indexed to block {result.to_block}: {result.events} new event(s)")


@cli.group()
def register():
    """Read the register (what `sync` has indexed)."""


@register.command("holders")
@click.argument("isin")
@click.option("--as-of-block", type=int, help="Holders after this block (default: the indexed block).")
@click.option("--as-of-date", type=click.DateTime(["%Y-%m-%d"]), help="Holders at the end of this day (Hong Kong).")
@click.option("--format", "fmt", type=FORMATS, default="table")
@pass_options
def register_holders(opts, isin, as_of_block, as_of_date, fmt):
    """Holders of ISIN: investor, wallet, quantity (tokens) and principal (currency units)."""
    register = opts.register()
    if as_of_date is not None:
        if as_of_block is not None:
            raise InputError("--as-of-date: give --as-of-block or --as-of-date, not both")
        as_of_block = views.block_at(register, as_of_date.date())
    block, rows = views.holders(register, isin.upper(), as_of_block)
    emit(
        [
            {"investor_id": h.investor_id, "wallet": h.wallet, "quantity": h.quantity, "principal": None if h.principal is None else str(h.principal)}
            for h in rows
        ],
        fmt,
        title=f"{isin.upper()} holders as of block {block}",
    )


@register.command("transfers")
@click.argument("isin")
@click.option("--format", "fmt", type=FORMATS, default="table")
@pass_options
def register_transfers(opts, isin, fmt):
    """Every transfer of ISIN with its chain proof (mints are from 0x0…0)."""
    emit(views.transfer_rows(opts.register(), isin.upper()), fmt)


@register.command("instruments")
@click.option("--format", "fmt", type=FORMATS, default="table")
@pass_options
def register_instruments(opts, fmt):
    """Every bond and fund in the register, with its units outstanding at the indexed block."""
    emit(views.instruments(opts.register()), fmt)


@register.command("nav")
@click.argument("fund")
@click.option("--format", "fmt", type=FORMATS, default="table")
@pass_options
def register_nav(opts, fund, fmt):
    """FUND's NAV history, as published on chain."""
    emit(views.nav_history(opts.register(), fund.upper()), fmt)


@register.command("flows")
@click.argument("fund")
@click.option("--format", "fmt", type=FORMATS, default="table")
@pass_options
def register_flows(opts, fund, fmt):
    """FUND's creations and redemptions by authorized participants."""
    emit(views.fund_flows(opts.register(), fund.upper()), fmt)


@register.command("payments")
@click.argument("isin")
@click.option("--format", "fmt", type=FORMATS, default="table")
@pass_options
def register_payments(opts, isin, fmt):
    """Every coupon and principal payment of ISIN to each holder, with its proof."""
    emit(views.payments(opts.register(), isin.upper()), fmt)


@register.command("coupons")
@click.argument("isin")
@click.option("--format", "fmt", type=FORMATS, default="table")
@pass_options
def register_coupons(opts, isin, fmt):
    """ISIN's coupons: due on the holdings of record vs declared and paid, and the rounding residue."""
    emit(views.coupons(opts.register(), isin.upper()), fmt)


@register.command("settlements")
@click.argument("isin", required=False)
@click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), help="First trade date (inclusive).")
@click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), help="Last trade date (inclusive).")
@click.option("--format", "fmt", type=FORMATS, default="table")
@pass_options
def register_settlements(opts, isin, date_from, date_to, fmt):
    """Every settlement instruction (of ISIN, traded in a period), with its status and reason."""
    emit(
        views.settlements(
            opts.register(), isin.upper() if isin else None, date_from.date() if date_from else None, date_to.date() if date_to else None
        ),
        fmt,
    )


@register.command("movements")
@click.argument("investor")
@click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), help="First day (inclusive, Hong Kong).")
@click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), help="Last day (inclusive, Hong Kong).")
@click.option("--format", "fmt", type=FORMATS, default="table")
@pass_options
def register_movements(opts, investor, date_from, date_to, fmt):
    """Every movement of INVESTOR's securities and cash, with its chain proof."""
    emit(views.movements(opts.register(), investor, date_from.date() if date_from else None, date_to.date() if date_to else None), fmt)


@register.command("stamp-duty")
@click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), help="First trade date (inclusive).")
@click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), help="Last trade date (inclusive).")
@click.option("--format", "fmt", type=FORMATS, default="table")
@pass_options
def register_stamp_duty(opts, date_from, date_to, fmt):
    """The stamp duty treatment of every settled transfer (amounts in currency units)."""
    rows = views.stamp_duty(opts.register(), date_from.date() if date_from else None, date_to.date() if date_to else None)
    emit(rows, fmt)


@cli.command()
@click.argument("isin")
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def reconcile(opts, isin, fmt):
    """Compare the register with the chain at the indexed block; exit 1 on any break."""
    ctx = opts.context()
    result = reconcile_register(ctx.register, ctx.chain, isin.upper())
    breaks = result.as_json()["breaks"]
    if fmt == "json":
        click.echo(json.dumps(result.as_json(), indent=2))
    else:
        status = "OK" if result.ok else f"{len(breaks)} BREAK(S)"
        click.echo(
            f"{result.isin} at block {result.block}: {status} "
            f"({result.wallets_checked} wallets, supply register {result.supply_register} / chain {result.supply_chain})"
        )
        if breaks:
            emit(breaks, "table")
    if not result.ok:
        sys.exit(1)


@cli.command()
@click.option("--format", "fmt", type=TABLE_OR_JSON, default="table")
@pass_options
def verify(opts, fmt):
    """Prove the register against the chain: re-read every row's log (catches an edited row),
    every log of every followed contract (catches a deleted row), and the audit log's hash chain.
    Exit 1 on any problem."""
    from issuance.context import resolve_rpc_url
    from ledger.chain import connect
    from ledger.verify import verify as verify_register

    register = opts.register()
    with Progress("verifying") as progress:
        result = verify_register(register, connect(resolve_rpc_url(opts.rpc_url)), progress)
    problems = result.as_json()["problems"]
    if fmt == "json":
        click.echo(json.dumps(result.as_json(), indent=2))
    else:
        status = "OK" if result.ok else f"{len(problems)} PROBLEM(S)"
        click.echo(
            f"register at block {result.block}: {status} ({result.rows_checked} rows against their logs, "
            f"{result.logs_checked} logs against the register, {result.audit_entries} audit entries)"
        )
        click.echo(f"audit log head {result.audit_head or '(empty)'}: compare it with the one noted at the last audit")
        if problems:
            emit(problems, "table")
    if not result.ok:
        sys.exit(1)


@cli.command()
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="A new or empty directory.")
@pass_options
def export(opts, out):
    """Write the whole register (every table and every view, CSV and JSON) with a manifest of sha256 sums."""
    from ledger.export import export as export_register

    with Progress("exporting") as progress:
        manifest = export_register(opts.register(), out, progress)
    click.echo(f"exported {len(manifest['files'])} files to {out} (manifest.json, SHA256SUMS)")


@cli.command()
@click.option("--read-only", "read_only", is_flag=True, required=True, help="Required: the server never writes.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@pass_options
def serve(opts, read_only, host, port):
    """Serve the register read-only over HTTP: an auditor's web page at / and a JSON API (/openapi.json)."""
    import uvicorn

    from issuance.context import resolve_rpc_url
    from ledger.web import create_app

    app = create_app(opts.register().url, resolve_rpc_url(opts.rpc_url))
    click.echo(f"serving the register read-only at http://{host}:{port}/ (API docs: /docs, /openapi.json)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def main() -> None:
    cli(prog_name="bondledger")


if __name__ == "__main__":
    main()
