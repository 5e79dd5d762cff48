"""`sync` with nothing to do answers after a quick look (ledger/register/quick.py) that loads
no ORM, and answers exactly what the full sync would; whenever the full sync would do anything
(a new block, a contract not yet indexed, another chain, an older schema) the quick look stands
aside. On SQLite and PostgreSQL."""

import json
import subprocess
import sys

from sqlalchemy import text

from conftest import both_backends
from ledger.chain import connect
from ledger.register import indexer, quick
from ledger.register.db import Register

pytestmark = both_backends

PROBE = """
import json, sys
from issuance.cli import cli
try:
    cli(sys.argv[1:], prog_name="bondledger")
except SystemExit:
    pass
print(json.dumps(sorted(m for m in ("sqlmodel", "alembic", "web3", "eth_abi") if m in sys.modules)), file=sys.stderr)
"""


def cli_sync(world, *command: str) -> tuple[str, list[str]]:
    """A `bondledger sync` (or another command) in a fresh interpreter: its stdout, and which heavy libraries it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "--rpc-url", world.rpc_url, "--db", world.db_url, *(command or ["sync"])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout, json.loads(done.stderr.strip().splitlines()[-1])


def checkpoint_row(url: str) -> tuple:
    with Register(url).engine.connect() as conn:
        return tuple(conn.execute(text("SELECT * FROM checkpoint")).one())


def test_a_sync_with_nothing_to_do_answers_as_the_full_sync_does_and_writes_nothing(issued):
    world, _ = issued
    idle = quick.nothing_to_sync(world.db_url, world.rpc_url, None)
    assert idle is not None
    before = checkpoint_row(world.db_url)
    report = indexer.sync(Register(world.db_url), connect(world.rpc_url))
    assert (report.events, report.to_block, report.finalized, report.head) == (0, idle.to_block, idle.finalized, idle.head)
    assert checkpoint_row(world.db_url) == before  # neither path wrote, not even the checkpoint's time


def test_the_cli_answers_a_no_op_sync_without_loading_the_orm_and_a_real_one_with_it(issued):
    world, _ = issued
    quick_out, quick_loaded = cli_sync(world)
    assert quick_loaded == []
    world.chain().rpc("evm_mine", [])
    full_out, full_loaded = cli_sync(world)
    assert "sqlmodel" in full_loaded
    head = world.chain().block_number()
    assert full_out == f"indexed to block {head}: 0 new event(s)\n"
    assert quick_out == f"indexed to block {head - 1}: 0 new event(s)\n"
    assert cli_sync(world) == (full_out, [])  # indexed again: the quick look answers once more


def test_the_quick_look_stands_aside_when_the_chain_has_moved(issued):
    world, _ = issued
    world.chain().rpc("evm_mine", [])
    assert quick.nothing_to_sync(world.db_url, world.rpc_url, None) is None
    assert world.run("sync").exit_code == 0
    assert quick.nothing_to_sync(world.db_url, world.rpc_url, None) is not None


def test_the_quick_look_stands_aside_for_a_contract_not_yet_indexed(issued):
    world, _ = issued
    with Register(world.db_url).engine.begin() as conn:
        moved = conn.execute(text("UPDATE contracts SET synced_block = deploy_block - 1 WHERE kind = 'bond'"))
        assert moved.rowcount == 1
    assert quick.nothing_to_sync(world.db_url, world.rpc_url, None) is None


def test_the_quick_look_stands_aside_for_another_chain_and_sync_then_refuses_in_one_line(issued):
    world, _ = issued
    with Register(world.db_url).engine.begin() as conn:
        conn.execute(text("UPDATE network SET genesis_hash = :other"), {"other": "0x" + "ab" * 32})
    assert quick.nothing_to_sync(world.db_url, world.rpc_url, None) is None
    r = world.run("sync")
    assert r.exit_code != 0 and "belongs to chain id" in r.stderr


def test_the_quick_look_stands_aside_for_a_register_at_another_schema_revision(issued):
    world, _ = issued
    with Register(world.db_url).engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    assert quick.nothing_to_sync(world.db_url, world.rpc_url, None) is None


def test_opening_a_register_at_the_head_revision_loads_no_alembic(issued):
    world, _ = issued
    out, loaded = cli_sync(world, "register", "instruments")
    assert out.strip() and loaded == ["sqlmodel"]  # the ORM to read with, and neither Alembic nor the chain client
