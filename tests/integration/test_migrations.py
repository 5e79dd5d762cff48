"""The register's schema comes from Alembic migrations (ledger/register/migrations), on SQLite and on
PostgreSQL: a new register gets them all on its first read-write open, one at head gets nothing,
several processes opening a new register at once all succeed, and a read-only open refuses, in
one line, a register that is not at the revision this code needs.

The first test is the guard for later model changes: the migrated schema must be exactly what
ledger/register/models.py describes, so a model changed without a migration fails the suite."""

import multiprocessing

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel

from conftest import World, both_backends
from ledger.register import db, models
from ledger.register.db import Register
from ledger.errors import RegisterError

pytestmark = both_backends


def revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return db.schema_revision(conn)
    finally:
        engine.dispose()


def set_revision(url: str, rev: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :rev"), {"rev": rev})
    engine.dispose()


def schema(url: str) -> dict:
    """The schema as the database reports it, table by table (Alembic's own table aside)."""
    engine = create_engine(url)
    try:
        insp = inspect(engine)
        columns, pks = insp.get_multi_columns(), insp.get_multi_pk_constraint()
        indexes, uniques = insp.get_multi_indexes(), insp.get_multi_unique_constraints()
        return {
            table: {
                "columns": [(c["name"], str(c["type"]), c["nullable"], c.get("default")) for c in columns[key]],
                "primary_key": pks[key]["constrained_columns"],
                "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in indexes[key]),
                "unique": sorted((u["name"] or "", tuple(u["column_names"])) for u in uniques[key]),
            }
            for key in sorted(columns)
            if (table := key[1]) != "alembic_version"
        }
    finally:
        engine.dispose()


def test_the_migrated_schema_is_the_models_schema(registers):
    url = registers.new("migrated")
    reg = Register(url)
    with reg.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(context, SQLModel.metadata) == [], (
            "ledger/register/models.py and the migrations disagree: write a migration (see ledger/register/migrations/env.py)"
        )
    reg.engine.dispose()
    # and what Alembic's comparison does not look at (sequences, defaults): as create_all makes it
    made_by_create_all = registers.new("create_all")
    engine = create_engine(made_by_create_all)
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    assert schema(url) == schema(made_by_create_all)
    assert set(schema(url)) == set(SQLModel.metadata.tables)


def test_the_first_command_migrates_a_new_register_to_head(deployed):
    assert revision(deployed.db_url) == db.head_revision()
    assert deployed.run("investors", "list", "--format", "json").exit_code == 0


def test_a_register_at_head_is_not_migrated_again(registers, monkeypatch):
    url = registers.new()
    Register(url)

    def no_migration(*args, **kwargs):
        raise AssertionError("a register at head was migrated again")

    monkeypatch.setattr(command, "upgrade", no_migration)
    monkeypatch.setattr(command, "stamp", no_migration)
    Register(url)
    assert revision(url) == db.head_revision()


def test_migrations_go_down_to_nothing_and_up_again(registers):
    url = registers.new()
    Register(url).engine.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        command.downgrade(db.alembic_config(conn), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    assert revision(url) is None
    Register(url).engine.dispose()
    assert revision(url) == db.head_revision() and set(schema(url)) == set(SQLModel.metadata.tables)


def test_a_register_made_before_migrations_is_taken_over_with_its_rows(registers):
    """Registers made by create_all (before bondledger had migrations) are at the first revision."""
    url = registers.new()
    engine = create_engine(url)
    with engine.begin() as conn:  # the baseline schema, as create_all made it, without Alembic's table
        command.upgrade(db.alembic_config(conn), db.BASELINE_REVISION)
        conn.execute(text("DROP TABLE alembic_version"))
    with engine.begin() as conn:
        conn.execute(
            models.Network.__table__.insert(),
            {"id": 1, "chain_id": 31337, "genesis_hash": "0xabc", "created_at": models.utcnow()},
        )
    engine.dispose()
    reg = Register(url)
    assert revision(url) == db.head_revision()
    with reg.session() as s:
        assert s.get(models.Network, 1).genesis_hash == "0xabc"


def test_a_failed_migration_changes_nothing(registers):
    """Half-way through, a table the migration creates is in the way: it stops in one line and
    the register is as it was (the migration runs in one transaction, on SQLite too)."""
    url = registers.new()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE investors (investor_id VARCHAR PRIMARY KEY)"))  # not the register's
    engine.dispose()
    with pytest.raises(RegisterError) as refused:
        Register(url)
    message = str(refused.value)
    assert message.startswith(
        f"migrating register {url} from schema revision none to {db.head_revision()} failed, nothing was changed: "
    )
    assert "investors" in message and "\n" not in message
    assert set(schema(url)) == {"investors"}


def _empty(registers) -> str:
    url = registers.new()
    if url.startswith("sqlite"):  # the file exists, with no tables
        engine = create_engine(url)
        engine.connect().close()
        engine.dispose()
    return url


def test_a_read_only_open_refuses_a_register_without_a_schema(registers):
    url = _empty(registers)
    with pytest.raises(RegisterError) as refused:
        Register(url, read_only=True)
    assert str(refused.value) == (
        f"register {url} is at schema revision none, this bondledger needs {db.head_revision()}: "
        "open it once read-write (as the operator, e.g. `bondledger sync`) to migrate it"
    )
    assert revision(url) is None, "a read-only open migrated"
    # the same, as one line from a register command (which opens the register read-only)
    r = World("http://127.0.0.1:9", url).run("register", "instruments")
    assert r.exit_code == 1
    assert r.stderr == f"error: {refused.value}\n"
    # once opened read-write, the read-only open works
    Register(url)
    Register(url, read_only=True)


def test_a_read_only_open_refuses_a_register_at_an_older_revision(registers):
    url = registers.new()
    Register(url).engine.dispose()
    set_revision(url, "0000")
    with pytest.raises(
        RegisterError, match=rf"is at schema revision 0000, this bondledger needs {db.head_revision()}: open it once read-write"
    ):
        Register(url, read_only=True)


def test_a_register_of_a_newer_bondledger_is_refused_in_one_line(registers):
    url = registers.new()
    Register(url).engine.dispose()
    set_revision(url, "ffffffffffff")
    with pytest.raises(RegisterError) as refused:
        Register(url)
    message = str(refused.value)
    assert message.startswith(
        f"register {url} is at schema revision ffffffffffff, which this bondledger (head {db.head_revision()}) cannot migrate: "
    )
    assert "\n" not in message
    assert revision(url) == "ffffffffffff"


def test_processes_opening_a_new_register_at_once_all_succeed(registers):
    """Several commands started together on a new register: one migrates, the others wait for
    its lock and find the register at head. (Forked from a server that has imported bondledger
    already, so that they start milliseconds apart, not seconds.)"""
    url = registers.new()
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["ledger.register.db"])
    procs = [context.Process(target=Register, args=(url,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 4, "an open failed: its traceback is in the captured stderr"
    assert revision(url) == db.head_revision()
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM alembic_version")).scalar() == 1
    engine.dispose()
    assert set(schema(url)) == set(SQLModel.metadata.tables)
