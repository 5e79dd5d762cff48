"""Opening the register: a SQLite file by default, any SQLAlchemy URL (PostgreSQL) by --db.

A register belongs to one chain. The first command records the chain id and its genesis block
hash, and every later one checks them; the indexer's checkpoint (a block number and its hash)
must also still be on the chain, which tells apart two devnets whose genesis is the same (anvil
started twice at one --timestamp) and catches a reorganisation below the checkpoint.

The schema is Alembic's (ledger/register/migrations): opening a register read-write brings it to the
newest revision, in one transaction under a lock, so two commands opening a new register at once
do not trip over each other; a read-only open migrates nothing and refuses a register that is not
at the revision this code needs.
"""

import contextlib
import fcntl
import functools
import hashlib
import json
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, create_engine, select

from ledger.register import models
from ledger.register.quick import MIGRATIONS, head_revision, resolve_url  # noqa: F401 (resolve_url: importable from here)
from ledger.errors import NotFound, RegisterError
from ledger.settings import settings

if TYPE_CHECKING:
    from alembic.config import Config

GENESIS_AUDIT_HASH = "0" * 64


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (auditors) never block the indexer
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str, read_only: bool = False) -> Engine:
    if url.startswith("sqlite"):
        if read_only:
            # SQLite's own read-only mode: the file cannot be written through this engine at all.
            path = url.removeprefix("sqlite:///")
            if not Path(path).exists():
                raise RegisterError(f"register {path} does not exist")
            engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", connect_args={"check_same_thread": False})
            return engine
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if read_only:
        return create_engine(url, pool_pre_ping=True, connect_args={"options": "-c default_transaction_read_only=on"})
    return create_engine(url, pool_pre_ping=True)


# ---------------------------------------------------------------------- schema migrations

#: the first revision: the schema registers made before migrations (by create_all) already have
BASELINE_REVISION = "0001"
#: PostgreSQL advisory lock key under which a register is migrated (any constant will do)
_PG_MIGRATION_LOCK = zlib.crc32(b"bondledger register migration")
#: Alembic's runtime context is process-global: one migration at a time in this process
_migrating = threading.Lock()
#: PostgreSQL advisory lock key held by a command that writes the register from the chain
_PG_WRITER_LOCK = zlib.crc32(b"bondledger register writer")
#: PostgreSQL advisory lock key held while appending to the audit log (until the transaction ends)
_PG_AUDIT_LOCK = zlib.crc32(b"bondledger audit log append")
#: how often a waiting writer tries the lock again (seconds)
_WRITER_POLL = 0.2


def alembic_config(connection: Connection | None = None) -> "Config":
    """Alembic's configuration for the register's migrations, without an ini file. With a
    connection, env.py runs the migrations on it, inside the caller's transaction. (Alembic loads
    only when a register is migrated: a register at the head revision is known without it.)"""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def schema_revision(connection: Connection) -> str | None:
    """The register's schema revision (None: no alembic_version table, or an empty one)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _display(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def migrate(engine: Engine) -> None:
    """Brings the register to the head revision: a new database gets every migration, an older
    register only those it lacks, one at head nothing (one cheap query, no lock).

    The upgrade runs in one transaction holding a lock (SQLite: BEGIN IMMEDIATE, the database's
    write lock; PostgreSQL: a transaction-scoped advisory lock), and the revision is read again
    under it: a second process opening the same new register waits, then finds it migrated. A
    failed migration rolls back whole: no half-migrated register."""
    head = head_revision()
    with engine.connect() as conn:
        if schema_revision(conn) == head:
            return
    with _migrating, engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        current = schema_revision(conn)
        if current == head:
            conn.rollback()
            return
        from alembic import command
        from alembic.util import CommandError

        config = alembic_config(conn)
        if current is None and inspect(conn).has_table("network"):
            # made by create_all before the register had migrations: it has the baseline schema
            command.stamp(config, BASELINE_REVISION)
        try:
            command.upgrade(config, "head")
        except CommandError as exc:  # e.g. a revision this code does not know: a newer bondledger's
            conn.rollback()
            raise RegisterError(
                f"register {_display(str(engine.url))} is at schema revision {current}, which this bondledger "
                f"(head {head}) cannot migrate: {exc}"
            ) from exc
        except SQLAlchemyError as exc:
            conn.rollback()
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise RegisterError(
                f"migrating register {_display(str(engine.url))} from schema revision {current or 'none'} to {head} "
                f"failed, nothing was changed: {reason}"
            ) from exc
        conn.commit()


def check_revision(engine: Engine, url: str) -> None:
    """Refuses, in one line, a register a read-only open cannot use as it is."""
    with engine.connect() as conn:
        current = schema_revision(conn)
    head = head_revision()
    if current != head:
        raise RegisterError(
            f"register {_display(url)} is at schema revision {current or 'none'}, this bondledger needs {head}: "
            "open it once read-write (as the operator, e.g. `bondledger sync`) to migrate it"
        )


class Register:
    """The off-chain register: a database plus the chain it belongs to. `read_only` opens it so
    that nothing can be written through it (what auditors and the web view use)."""

    def __init__(self, url: str | None = None, create: bool = True, read_only: bool = False):
        self.url = resolve_url(url)
        self.read_only = read_only
        self._writer_depth = 0
        self.engine = make_engine(self.url, read_only)
        if read_only:
            check_revision(self.engine, self.url)
        elif create:
            migrate(self.engine)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # ------------------------------------------------------------------ one writer at a time

    @contextlib.contextmanager
    def writer_lock(self, what: str):
        """Held by every command that sends to the chain or indexes it into the register (sync,
        settle, coupon pay, issue, redeem): two at once would send the same settlement twice, or
        insert the same events twice. The second one waits for the first to end (saying so once on
        stderr), and gives up after BONDLEDGER_LOCK_WAIT seconds (default 900) with one line, exit 1.
        Reentrant within a command (settle syncs). PostgreSQL: a session advisory lock on a
        connection held for the command; SQLite: an flock on a file beside the database. Both end
        with the process, so a killed command never leaves the register locked."""
        if self._writer_depth:
            self._writer_depth += 1
            try:
                yield
            finally:
                self._writer_depth -= 1
            return
        with self._acquire(what):
            self._writer_depth = 1
            try:
                yield
            finally:
                self._writer_depth = 0

    @contextlib.contextmanager
    def _acquire(self, what: str):
        if self.engine.dialect.name == "postgresql":
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                take = lambda: conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_WRITER_LOCK}).scalar()  # noqa: E731
                self._wait_for(take, what)
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_WRITER_LOCK})
            finally:
                conn.close()
            return
        path = self.url.removeprefix("sqlite:///")
        with open(f"{path}.writer-lock", "a+b") as handle:

            def take() -> bool:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    return False

            self._wait_for(take, what)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _wait_for(self, take, what: str) -> None:
        if take():
            return
        print(
            f"{what}: another bondledger command is writing register {_display(self.url)}; waiting for it to end", file=sys.stderr
        )
        wait = settings().lock_wait  # how long a writer waits for another to finish before giving up
        deadline = time.monotonic() + wait
        while not take():
            if time.monotonic() > deadline:
                raise RegisterError(
                    f"{what}: another bondledger command has been writing register {_display(self.url)} "
                    f"for over {wait:g} s; nothing was done (BONDLEDGER_LOCK_WAIT sets how long to wait)"
                )
            time.sleep(_WRITER_POLL)

    @property
    def max_amount(self) -> int | None:
        """The largest token amount this register stores exactly (None: any uint256)."""
        return None if self.engine.dialect.name == "postgresql" else 2**63 - 1

    # ------------------------------------------------------------------ chain binding

    def bind_chain(self, chain_id: int, genesis_hash: str) -> None:
        """Records the register's chain, or checks it is the one we are talking to."""
        with self.session() as s:
            network = s.get(models.Network, 1)
            if network is None:
                s.add(models.Network(chain_id=chain_id, genesis_hash=genesis_hash))
                s.commit()
                return
        if (network.chain_id, network.genesis_hash) != (chain_id, genesis_hash):
            raise RegisterError(
                f"register {self.url} belongs to chain id {network.chain_id} (genesis {network.genesis_hash[:10]}…), "
                f"not to the node at hand (chain id {chain_id}, genesis {genesis_hash[:10]}…); use another --db"
            )

    # ------------------------------------------------------------------ lookups

    def checkpoint(self) -> models.Checkpoint | None:
        with self.session() as s:
            return s.get(models.Checkpoint, 1)

    def indexed_block(self) -> int:
        cp = self.checkpoint()
        return -1 if cp is None else cp.block_number

    def contract(self, kind: str, label: str | None = None) -> models.ContractRecord | None:
        with self.session() as s:
            q = select(models.ContractRecord).where(models.ContractRecord.kind == kind)
            if label is not None:
                q = q.where(models.ContractRecord.label == label)
            return s.exec(q.limit(1)).first()

    def require_contract(self, kind: str, label: str | None = None) -> models.ContractRecord:
        record = self.contract(kind, label)
        if record is None:
            what = f"{kind} {label}" if label else kind
            raise RegisterError(f"no {what} contract in register {self.url}: run `bondledger deploy` first")
        return record

    def instrument(self, isin: str) -> models.Instrument:
        with self.session() as s:
            inst = s.get(models.Instrument, isin)
        if inst is None:
            raise NotFound(f"ISIN: {isin} is not an instrument in this register")
        return inst

    # ------------------------------------------------------------------ audit log

    def audit(self, session: Session, actor: str, action: str, detail: dict) -> models.AuditLog:
        """Appends to the hash-chained audit log inside the caller's transaction. On PostgreSQL a
        transaction-scoped advisory lock makes concurrent appenders (two `trade`s) take turns: each
        reads the last entry only once the other has committed, so both chain."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_AUDIT_LOCK})
        last = session.exec(select(models.AuditLog).order_by(models.AuditLog.id.desc()).limit(1)).first()
        prev = last.hash if last else GENESIS_AUDIT_HASH
        entry = models.AuditLog(actor=actor, action=action, detail=json.dumps(detail, sort_keys=True), prev_hash=prev, hash="")
        entry.hash = audit_hash(entry)
        session.add(entry)
        return entry


def writes_register(what: str):
    """Runs the decorated command under its register's writer lock (see Register.writer_lock);
    its first argument is the Register or a context with a `register`."""

    def decorate(fn):
        @functools.wraps(fn)
        def locked(first, *args, **kwargs):
            register = first if isinstance(first, Register) else first.register
            with register.writer_lock(what):
                return fn(first, *args, **kwargs)

        return locked

    return decorate


def audit_hash(entry: models.AuditLog) -> str:
    body = json.dumps([entry.prev_hash, entry.at.isoformat(), entry.actor, entry.action, entry.detail], separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()
