"""What every command shares: the global options, output formats, the progress bar, argument
parsing and the error handling that turns a bondledger error into one line and an exit code."""

import csv
import functools
import io
import json
import re
import sys
import warnings
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

import click

from ledger.errors import BondledgerError, ChainError, InputError
from ledger.money import parse_amount
from ledger.settings import settings

# Nothing heavy at import time: `bondledger --help` must start at once. The chain (web3), the
# register (SQLAlchemy) and the workflows are imported where a command first needs them.
if TYPE_CHECKING:
    from issuance.context import Context
    from ledger.register.db import Register

FORMATS = click.Choice(["table", "json", "csv"])
WRAPPED = {"basis": 48, "reason": 40, "name": 40}
TABLE_OR_JSON = click.Choice(["table", "json"])


def _name(param) -> str:
    return param.opts[0] if param is not None and param.opts else (param.name.upper() if param is not None else "value")


class Day(click.ParamType):
    """A YYYY-MM-DD option, given to the command as a date (the time of day means nothing here),
    within the dates a schedule can be computed around; anything else is bad input (one line, exit 2)."""

    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx):
        if isinstance(value, date):
            return value
        try:
            from issuance.fields import BOND_FIRST_DATE, BOND_LAST_DATE, check_day, day_input

            return check_day(day_input(value), BOND_FIRST_DATE, BOND_LAST_DATE)
        except ValueError as exc:
            raise InputError(f"{_name(param)}: {exc}") from None


DAY = Day()


def lazy_module(name: str):
    """`name`, loaded on first attribute access (importlib's LazyLoader): a command module can
    name a workflow module at its top without paying for web3 or SQLAlchemy until a command
    actually runs."""
    import importlib.util

    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:  # as a real import does: `import ledger.register.models` then finds ledger.register.models
        setattr(sys.modules[parent], child, module)
    return module


class Whole(click.ParamType):
    """A whole number option: decimal digits, at most 2^63 (what the register and the chain's
    smaller integers hold); anything else is bad input (one line, exit 2)."""

    name = "INTEGER"

    def convert(self, value, param, ctx):
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"[-+]?\d{1,19}", value.strip()):
            number = int(value)
        else:
            raise InputError(f"{_name(param)}: {str(value)[:40]!r} is not a whole number")
        if abs(number) >= 2**63:
            raise InputError(f"{_name(param)}: {number} is too large")
        return number


WHOLE = Whole()


class Options:
    def __init__(self, rpc_url, db, keystore):
        self.rpc_url, self.db, self.keystore = rpc_url, db, keystore
        self._ctx = None

    def context(self, unwind: bool = False) -> "Context":
        from issuance.context import Context

        if self._ctx is None:
            self._ctx = Context.open(self.rpc_url, self.db, unwind=unwind, keystore=self.keystore)
        return self._ctx

    def register(self) -> "Register":
        """The register alone, read-only: reading needs neither the chain nor write access."""
        from ledger.register.db import Register

        return Register(self.db, read_only=True)


pass_options = click.make_pass_decorator(Options)


def emit(rows: list, fmt: str, title: str | None = None) -> None:
    """Rows (a view's models, ledger.register.rows, or dicts) as a table (default), JSON (a list of
    objects) or CSV, on stdout: each row's fields in order, as its JSON values."""
    if rows and not isinstance(rows[0], dict):
        from ledger.register.rows import as_json  # loaded already: the rows are its models

        rows = as_json(rows)
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
        from tabulate import tabulate

        click.echo(tabulate(rows, headers="keys", disable_numparse=True, maxcolwidths=widths) if rows else "(none)")


def emit_record(record: dict, fmt: str) -> None:
    """One result: a JSON object on one line, or a one-row table."""
    if fmt == "json":
        click.echo(json.dumps(record))
    else:
        emit([record], "table")


def emit_check(result, fmt: str, found: str, noun: str, subject: str, detail: str, *notes: str) -> None:
    """A check of the register against the chain (reconcile, verify): its JSON, or the line
    `SUBJECT at block N: OK|n NOUN(S) (DETAIL)`, notes, and the table of what it `found`; exit 1
    unless ok."""
    doc = result.as_json()
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2))
    else:
        status = "OK" if result.ok else f"{len(doc[found])} {noun}(S)"
        click.echo(f"{subject} at block {result.block}: {status} ({detail})")
        for note in notes:
            click.echo(note)
        if doc[found]:
            emit(doc[found], "table")
    if not result.ok:
        sys.exit(1)


def view(f):
    """Makes `f(register, ...) -> rows` the body of a read-only command with --format: the
    register is opened read-only and the rows printed. Put it under the command's own
    arguments and options, so --format stays the last option."""

    @click.option("--format", "fmt", type=FORMATS, default="table")
    @pass_options
    @functools.wraps(f)
    def command(opts, fmt, **kwargs):
        register = opts.register()
        emit(f(register, **kwargs), fmt)
        if fmt == "table":  # rows above the finalized block may still be taken back (on stderr: the table is stdout's)
            from ledger.register.finality import final_note

            click.echo(f"{final_note(register)}: rows of later blocks are provisional", err=True)

    return command


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
    from issuance.inputs import parse_address

    try:
        return parse_address(value)
    except ValueError as exc:
        raise InputError(f"{what}: {exc}") from None


def amount_arg(value: str) -> Decimal:
    return parse_amount(value, "AMOUNT")


def holder_key_options(f):
    """--private-key / --dev-account: whose signature (an investor's, not the operator's)."""
    f = click.option("--dev-account", type=WHOLE, help="On a devnet (chain id 31337): anvil account N.")(f)
    f = click.option(
        "--private-key",
        default=lambda: settings().holder_private_key,
        help="The holder's key [env BONDLEDGER_HOLDER_PRIVATE_KEY].",
    )(f)
    return f


def holder_account(ctx: "Context", private_key: str | None, dev_account: int | None):
    if (private_key is None) == (dev_account is None):
        raise InputError("holder: give exactly one of --private-key or --dev-account")
    from ledger.chain import keys

    if private_key:
        return keys.from_private_key(private_key, ctx.chain.chain_id, "--private-key")
    return keys.dev_account_for(dev_account, ctx.chain.chain_id)


def _node_lost_types() -> tuple[type[Exception], ...]:
    """How a lost or stalled node reaches us: requests' errors (refused, reset, read timeout) and
    web3's own (a receipt that never came). Looked up only among what is loaded: a command that
    never loaded web3 cannot have lost a node."""
    found: list[type[Exception]] = []
    if requests_exc := sys.modules.get("requests.exceptions"):
        found.append(requests_exc.RequestException)
    if web3_exc := sys.modules.get("web3.exceptions"):
        found += [web3_exc.ProviderConnectionError, web3_exc.RequestTimedOut, web3_exc.TimeExhausted]
    return tuple(found)


def _bondledger_cause(ctx, exc: Exception) -> BondledgerError | None:
    """The bondledger error a library's exception stands for, if any: a register type refusing a
    value (wrapped in SQLAlchemy's StatementError), or the node lost mid-command."""
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(exc, sa_exc.StatementError) and isinstance(exc.orig, BondledgerError):
        return exc.orig
    if isinstance(exc, _node_lost_types()):
        return ChainError(_node_lost(ctx, exc))
    return None


class Group(click.Group):
    """Turns bondledger errors into one line on stderr and the right exit code.

    A failed command prints that one line and nothing else: warnings raised on the way (a
    library's, QuantLib calendar coverage) are held back, and printed after the output of a
    command that succeeds. A node that stops answering mid-command is an error like any other
    (exit 1: not bad input), whose line says what was sent before it went away."""

    def invoke(self, ctx):
        failed = False
        with warnings.catch_warnings(record=True) as caught:
            try:
                return super().invoke(ctx)
            except BondledgerError as exc:
                failed = True
                self._fail(ctx, exc)
            except Exception as exc:
                cause = _bondledger_cause(ctx, exc)
                if cause is None:
                    raise
                failed = True
                self._fail(ctx, cause)
            finally:
                if not failed:
                    for w in caught:
                        click.echo(f"warning: {w.message}", err=True)

    @staticmethod
    def _fail(ctx, exc: BondledgerError):
        click.echo(f"error: {exc}", err=True)
        ctx.exit(exc.exit_code)


def _node_lost(ctx, exc: Exception) -> str:
    """One line: which node, and what this command is known to have sent before losing it."""
    from ledger.chain.node import resolve_rpc_url

    opts = ctx.find_object(Options)
    chain = opts._ctx.chain if opts is not None and opts._ctx is not None else None
    url = chain.rpc_url if chain else resolve_rpc_url(opts.rpc_url if opts else None)
    if chain is None or not (chain.sent or chain.sending):
        known = "nothing was sent to it"
    else:
        parts = []
        if chain.sent:
            parts.append(f"{len(chain.sent)} transaction(s) sent (last {chain.sent[-1]}), whether mined is unknown")
        if chain.sending:
            parts.append(f"whether it took {chain.sending} is unknown")
        known = "; ".join(parts)
    return (
        f"the node at {url} is unreachable ({type(exc).__name__}): {known}; "
        "when it is back, run `bondledger sync`, then this command again (it carries on from what the chain has)"
    )
