"""What a command can learn of a register without loading the ORM and Alembic (about half a
second of imports): where the register is, and whether `sync` has anything to do.

`nothing_to_sync` reads four rows with the database's own driver (sqlite3, psycopg) and asks the
node three things in one batch. It answers only when the full sync would change nothing: the
schema at this code's revision, the register's chain the node's, the checkpoint at the node's
head with the same hash, every followed contract indexed to it, and the finalized height it
would record the one recorded. In every other case (and on any doubt: a missing table, another
driver) it answers None and `sync` takes its full path, which repairs, indexes and reports.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from ledger.register import finality
from ledger.settings import settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Each migration's revision id is its file name's four-digit prefix (tests/unit/test_quick.py
# pins it against Alembic): the head is known without loading Alembic.
_REVISION_FILE = re.compile(r"^(\d{4})_\w+\.py$")


def resolve_url(value: str | None) -> str:
    """--db / BONDLEDGER_DB (ledger.settings) as a URL: a plain path means a SQLite file."""
    env = settings()
    value = value or env.db
    if not value:
        value = str(env.home / "register.db")
    if "://" in value:
        return value
    path = Path(value).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def head_revision() -> str:
    """The schema revision this code needs, from the migrations' file names."""
    return max(m.group(1) for p in (MIGRATIONS / "versions").iterdir() if (m := _REVISION_FILE.match(p.name)))


@dataclass(frozen=True)
class Idle:
    """A sync with nothing to do: indexed to the head, the finalized height unchanged."""

    to_block: int
    finalized: int
    head: int


def nothing_to_sync(db: str | None, rpc_url: str | None, confirmations: int | None) -> Idle | None:
    """An `Idle` when a full sync would index nothing and write nothing; else None."""
    from ledger.chain.node import Node, resolve_rpc_url

    try:
        facts = _register_facts(resolve_url(db))
        if facts is None:
            return None
        revision, network, checkpoint, contracts = facts
        if revision != head_revision() or network is None or checkpoint is None:
            return None
        node = Node(0, resolve_rpc_url(rpc_url))
        chain_id, genesis, latest = node.rpc_batch(
            [("eth_chainId", []), ("eth_getBlockByNumber", ["0x0", False]), ("eth_getBlockByNumber", ["latest", False])]
        )
        node.chain_id = int(chain_id, 16)
        block, block_hash, recorded_final = checkpoint
        head = int(latest["number"], 16)
        count, lowest = contracts
        if (node.chain_id, genesis["hash"]) != tuple(network) or (head, latest["hash"]) != (block, block_hash):
            return None
        if count and lowest != block:
            return None  # a contract followed since the last sync has blocks to read
        node_final, _ = finality.node_finalized(node, head, finality.confirmations(node.chain_id, confirmations))
        if recorded_final is None or finality.height_to_record(node_final, block, recorded_final) != recorded_final:
            return None
        return Idle(to_block=head, finalized=min(recorded_final, block), head=head)
    except Exception:  # any doubt is the full path's to report (it names the problem)
        return None


def _register_facts(url: str) -> tuple | None:
    """(schema revision, (chain id, genesis hash), (checkpoint block, hash, finalized block),
    (followed contracts, the lowest block one is indexed to)), read-only; None for a database
    this module does not open itself (it has no driver of its own for it)."""
    if url.startswith("sqlite:///"):
        import sqlite3

        path = url.removeprefix("sqlite:///")
        if not path or path.startswith("file:") or path == ":memory:":
            return None
        # read-only, and an error (not a new empty file) when it does not exist
        conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)
    elif url.startswith(("postgresql://", "postgresql+psycopg://")):
        import psycopg

        conn = psycopg.connect("postgresql://" + url.split("://", 1)[1], autocommit=True)
    else:
        return None
    try:
        cur = conn.cursor()

        def one(sql: str):
            cur.execute(sql)
            return cur.fetchone()

        return (
            (one("SELECT version_num FROM alembic_version") or (None,))[0],
            one("SELECT chain_id, genesis_hash FROM network WHERE id = 1"),
            one("SELECT block_number, block_hash, finalized_block FROM checkpoint WHERE id = 1"),
            one("SELECT COUNT(*), MIN(synced_block) FROM contracts"),
        )
    finally:
        conn.close()
