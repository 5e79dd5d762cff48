"""Opening the register: a SQLite file by default, any SQLAlchemy URL (PostgreSQL) by --db.

A register belongs to one chain. The first command records the chain id and its genesis block
hash, and every later one checks them; the indexer's checkpoint (a block number and its hash)
must also still be on the chain, which tells apart two devnets whose genesis is the same (anvil
started twice at one --timestamp) and catches a reorganisation below the checkpoint.
"""

import hashlib
import json
import os
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine, select

from ledger import models
from ledger.errors import InputError, RegisterError

GENESIS_AUDIT_HASH = "0" * 64


def resolve_url(value: str | None) -> str:
    """--db / BONDLEDGER_DB as a URL: a plain path means a SQLite file."""
    value = value or os.environ.get("BONDLEDGER_DB")
    if not value:
        value = str(Path(os.environ.get("BONDLEDGER_HOME", ".bondledger")) / "register.db")
    if "://" in value:
        return value
    path = Path(value).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


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


class Register:
    """The off-chain register: a database plus the chain it belongs to. `read_only` opens it so
    that nothing can be written through it (what auditors and the web view use)."""

    def __init__(self, url: str | None = None, create: bool = True, read_only: bool = False):
        self.url = resolve_url(url)
        self.read_only = read_only
        self.engine = make_engine(self.url, read_only)
        if create and not read_only:
            SQLModel.metadata.create_all(self.engine)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

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
            raise InputError(f"ISIN: {isin} is not an instrument in this register")
        return inst

    # ------------------------------------------------------------------ audit log

    def audit(self, session: Session, actor: str, action: str, detail: dict) -> models.AuditLog:
        """Appends to the hash-chained audit log inside the caller's transaction."""
        last = session.exec(select(models.AuditLog).order_by(models.AuditLog.id.desc()).limit(1)).first()
        prev = last.hash if last else GENESIS_AUDIT_HASH
        entry = models.AuditLog(actor=actor, action=action, detail=json.dumps(detail, sort_keys=True), prev_hash=prev, hash="")
        entry.hash = audit_hash(entry)
        session.add(entry)
        return entry


def audit_hash(entry: models.AuditLog) -> str:
    body = json.dumps(
        [entry.prev_hash, entry.at.isoformat(), entry.actor, entry.action, entry.detail], separators=(",", ":")
    )
    return hashlib.sha256(body.encode()).hexdigest()
