"""The same issue flow with the register on PostgreSQL: deploy, onboard, fund, issue; the
register then reads exactly as the SQLite one does, reconciles, and a second sync adds nothing.

The module gets a database of its own on the local server (created here, dropped at the end)
and an anvil of its own; it is skipped, visibly, when no server listens on 127.0.0.1:5432."""

import pytest
from sqlalchemy import inspect, text

from conftest import ISSUE_DAY, SAMPLE_FUNDING, World
from helpers import EXAMPLES, dev_address, fund, register_counts
from ledger.chain import devnet
from ledger.register.db import Register

ISIN = "HK0000987658"
TERMSHEET = EXAMPLES / "green_bond_hkd.toml"
ALLOCATIONS = EXAMPLES / "allocations.csv"


@pytest.fixture(scope="module")
def pg_url(postgres):
    """A fresh database for this module, dropped afterwards (its connections terminated first)."""
    url = postgres.create()
    try:
        yield url
    finally:
        postgres.drop(url)


@pytest.fixture(scope="module")
def pg_issued(pg_url, tmp_path_factory):
    """On a fresh anvil with the register on PostgreSQL: what `funded` and `issued` do on SQLite."""
    base = tmp_path_factory.mktemp("postgres")
    with devnet.running(log_dir=base, extra_args=["--timestamp", ISSUE_DAY]) as node:
        world = World(node.rpc_url, pg_url)
        steps = {
            "deploy": world.run("deploy"),
            "investors import": world.run("investors", "import", EXAMPLES / "investors.csv"),
        }
        for index, amount in SAMPLE_FUNDING:
            fund(world.run, index, amount)
        steps["issue"] = world.run("issue", TERMSHEET, "--allocations", ALLOCATIONS, "--format", "json")
        yield world, steps


def test_the_issue_flow_runs_with_the_register_on_postgresql(pg_issued):
    world, steps = pg_issued
    for step, result in steps.items():
        assert result.exit_code == 0, (step, result.stderr)
    assert steps["investors import"].stdout.startswith("6 investors, 7 wallets")
    assert steps["issue"].json()["settled"] == 5
    reg = Register(world.db_url)
    assert reg.engine.dialect.name == "postgresql"
    assert {"transfers", "issuances", "registrations", "checkpoint", "audit_log"} <= set(inspect(reg.engine).get_table_names())
    with reg.engine.connect() as conn:
        assert (
            conn.execute(
                text(
                    "SELECT data_type FROM information_schema.columns WHERE table_name = 'transfers' AND column_name = 'quantity'"
                )
            ).scalar()
            == "numeric"
        )


def test_the_postgresql_register_reads_as_the_sqlite_one(pg_issued, issued):
    pg, _ = pg_issued
    sqlite, _ = issued
    for args in (
        ("register", "holders", ISIN, "--format", "json"),
        ("register", "holders", ISIN, "--format", "csv"),
        ("investors", "list", "--format", "json"),
    ):
        on_pg, on_sqlite = pg.run(*args), sqlite.run(*args)
        assert on_pg.exit_code == on_sqlite.exit_code == 0
        assert on_pg.stdout == on_sqlite.stdout, args
    holders = pg.run("register", "holders", ISIN, "--format", "json").json()
    assert [(h["investor_id"], h["quantity"], h["principal"]) for h in holders][0] == ("harbour_pension", 12000, "600000000.00")

    def moves(world):
        return [
            (t["from"], t["to"], t["quantity"], t["log_index"])
            for t in world.run("register", "transfers", ISIN, "--format", "json").json()
        ]

    assert moves(pg) == moves(sqlite)


def test_reconcile_is_ok_on_postgresql(pg_issued):
    world, _ = pg_issued
    r = world.run("reconcile", ISIN, "--format", "json")
    assert r.exit_code == 0, r.stdout
    report = r.json()
    assert report["ok"] and report["breaks"] == []
    assert report["supply_register"] == report["supply_chain"] == 40_000


def test_syncing_twice_changes_nothing_on_postgresql(pg_issued):
    world, _ = pg_issued
    counts, cp = register_counts(world.db_url), Register(world.db_url).checkpoint()
    for _ in range(2):
        r = world.run("sync")
        assert r.exit_code == 0, r.stderr
        assert r.stdout == f"indexed to block {cp.block_number}: 0 new event(s)\n"
    assert register_counts(world.db_url) == counts
    assert Register(world.db_url).checkpoint() == cp


def test_the_audit_log_is_hash_chained_on_postgresql(pg_issued):
    from sqlmodel import select

    from ledger.register import models
    from ledger.register.db import GENESIS_AUDIT_HASH, audit_hash

    world, _ = pg_issued
    with Register(world.db_url).session() as s:
        rows = s.exec(select(models.AuditLog).order_by(models.AuditLog.id)).all()
    prev = GENESIS_AUDIT_HASH
    for row in rows:
        assert (row.prev_hash, audit_hash(row)) == (prev, row.hash)
        prev = row.hash


def test_a_postgresql_register_stores_amounts_beyond_64_bits_exactly(pg_issued):
    world, _ = pg_issued
    r = world.run("cash", "mint", "USD", dev_address(9), "100000000000000000000")  # 10**22 cents > 2**63
    assert r.exit_code == 0, r.stderr
    with Register(world.db_url).engine.connect() as conn:
        stored = conn.execute(text("SELECT quantity FROM transfers WHERE to_address = :w"), {"w": dev_address(9)}).scalar_one()
    assert int(stored) == 10**22
    usd = world.run("cash", "balance", "USD", dev_address(9), "--format", "json").json()[0]
    assert usd["balance"] == "100000000000000000000.00"
