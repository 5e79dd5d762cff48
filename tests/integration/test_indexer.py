"""The indexer reads what the chain says into the register: idempotently, resumably, with a
proof on every row, for contracts followed late too, and never from a chain that is not the
register's own (another node, or the same node after a reorganisation). On SQLite and on
PostgreSQL (`both_backends`), but for the limits of what a SQLite register stores."""

import json

import pytest
from eth_utils import event_abi_to_log_topic
from sqlalchemy import text
from sqlmodel import select

from conftest import ISSUE_DAY, World, both_backends
from helpers import chain_state, dev_address, drop_audit_guards, register_counts
from ledger.chain import artifacts, devnet, keys
from ledger.register import indexer, models
from ledger.chain import Signer
from ledger.register.db import GENESIS_AUDIT_HASH, Register, audit_hash

ISIN = "HK0000987658"
#: rows the indexer derives from chain events, and the columns that are only autoincrement ids
CHAIN_TABLES = {"transfers": "id", "registrations": "id", "token_events": "id", "issuances": None, "wallets": None}


# ---------------------------------------------------------------------- helpers


def checkpoint(url: str) -> tuple:
    cp = Register(url).checkpoint()
    return (cp.chain_id, cp.block_number, cp.block_hash, cp.updated_at)


def chain_rows(url: str) -> dict[str, list[tuple]]:
    """Every row derived from the chain, without autoincrement ids, in a stable order; plus how
    far each followed contract and the checkpoint are indexed."""
    reg = Register(url)
    rows = {}
    with reg.engine.connect() as conn:
        for table, skip in CHAIN_TABLES.items():
            result = conn.execute(text(f'SELECT * FROM "{table}"'))
            keep = [i for i, name in enumerate(result.keys()) if name != skip]
            rows[table] = sorted(tuple(str(r[i]) for i in keep) for r in result)
        rows["contracts"] = sorted(conn.execute(text("SELECT address, synced_block FROM contracts")).all())
        rows["checkpoint"] = conn.execute(text("SELECT chain_id, block_number, block_hash FROM checkpoint")).all()
    return rows


def unindexed_copy(world: World, registers, name: str) -> Register:
    """A copy of the world's register that follows the same contracts but has indexed nothing."""
    reg = Register(registers.copy(world.db_url, name))
    with reg.engine.begin() as conn:
        for table in (*CHAIN_TABLES, "checkpoint"):
            conn.execute(text(f'DELETE FROM "{table}"'))
        conn.execute(text("UPDATE contracts SET synced_block = deploy_block - 1"))
    return reg


# ---------------------------------------------------------------------- idempotence and resumption


@both_backends
def test_syncing_twice_changes_nothing(issued):
    world, _ = issued
    counts, cp = register_counts(world.db_url), checkpoint(world.db_url)
    # every command that wrote to the chain synced already: a sync finds nothing new
    first = world.run("sync")
    assert first.exit_code == 0, first.stderr
    assert first.stdout == f"indexed to block {cp[1]}: 0 new event(s)\n"
    assert (register_counts(world.db_url), checkpoint(world.db_url)) == (counts, cp)
    second = world.run("sync")
    assert second.exit_code == 0, second.stderr
    assert (register_counts(world.db_url), checkpoint(world.db_url)) == (counts, cp)


#: (sync to every n-th block, blocks per chunk); None: straight to the head
STEPS = [(None, indexer.CHUNK_BLOCKS), (3, indexer.CHUNK_BLOCKS), (None, 1), (4, 2)]


@both_backends
def test_sync_in_steps_yields_exactly_the_rows_of_one_sync(issued, registers):
    world, _ = issued
    chain = world.chain()
    head = chain.block_number()
    built_by_the_cli = chain_rows(world.db_url)  # synced command by command, contracts added as deployed
    assert all(built_by_the_cli[t] for t in CHAIN_TABLES)
    for step, chunk in STEPS:
        reg = unindexed_copy(world, registers, f"reindexed-{step}-{chunk}")
        targets = [*range(0, head, step), head] if step else [head]
        for target in targets:
            assert indexer.sync(reg, chain, to_block=target, chunk=chunk).to_block == target
            assert reg.indexed_block() == target
        assert chain_rows(reg.url) == built_by_the_cli, f"sync to every {step} block(s), chunk {chunk}"


@both_backends
def test_an_interrupted_sync_resumes_from_the_last_whole_chunk(issued, registers, monkeypatch):
    world, _ = issued
    chain = world.chain()
    reg = unindexed_copy(world, registers, "reindexed")
    real_fetch, calls = indexer._fetch, []

    def crash_on_the_eighth_chunk(*args):
        calls.append(args)
        if len(calls) == 8:
            raise KeyboardInterrupt("operator pressed ^C")
        return real_fetch(*args)

    monkeypatch.setattr(indexer, "_fetch", crash_on_the_eighth_chunk)
    with pytest.raises(KeyboardInterrupt):
        indexer.sync(reg, chain, chunk=1)
    monkeypatch.setattr(indexer, "_fetch", real_fetch)
    # the register stands at the end of the last whole chunk, with nothing of the broken one
    crashed_from = calls[-1][2]
    assert reg.indexed_block() == crashed_from - 1 < chain.block_number()
    with reg.engine.connect() as conn:
        for table in ("transfers", "registrations", "token_events", "issuances"):
            assert conn.execute(text(f'SELECT COUNT(*) FROM "{table}" WHERE block_number >= {crashed_from}')).scalar() == 0

    indexer.sync(reg, chain)
    assert chain_rows(reg.url) == chain_rows(world.db_url)


# ---------------------------------------------------------------------- contracts followed late


@both_backends
def test_a_contract_followed_late_is_backfilled_from_its_deployment_block(funded):
    ctx = funded.context()
    operator = ctx.signer
    token, receipt = operator.deploy("CashToken", "SGD", "Tokenized SGD", operator.address)
    operator.transact(token.functions.mint(dev_address(1), 100_000), "mint SGD")
    holder = Signer(ctx.chain, keys.dev_account(1))
    holder.transact(token.functions.transfer(dev_address(2), 25_000), "pay SGD")

    assert funded.run("sync").exit_code == 0
    head = ctx.chain.block_number()
    assert ctx.register.indexed_block() == head
    with ctx.register.session() as s:
        assert s.exec(select(models.Transfer).where(models.Transfer.token == token.address)).all() == []
        before = register_counts(funded.db_url)

        indexer.follow(s, ctx.chain, "cash", "SGD", token.address, receipt)
        s.commit()
    assert receipt["blockNumber"] < head, "the contract must be older than the checkpoint"

    r = funded.run("sync")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == f"indexed to block {head}: 4 new event(s)\n"  # 2 role grants, a mint, a transfer
    with ctx.register.session() as s:
        moves = s.exec(
            select(models.Transfer).where(models.Transfer.token == token.address).order_by(models.Transfer.block_number)
        ).all()
        grants = s.exec(select(models.TokenEvent).where(models.TokenEvent.contract == token.address)).all()
        record = s.get(models.ContractRecord, token.address)
    assert [(m.from_address, m.to_address, m.quantity) for m in moves] == [
        ("0x" + "00" * 20, dev_address(1), 100_000),
        (dev_address(1), dev_address(2), 25_000),
    ]
    # the constructor's events sit in the deployment block itself
    assert sorted(g.event for g in grants) == ["RoleGranted", "RoleGranted"]
    assert {g.block_number for g in grants} == {receipt["blockNumber"]}
    assert record.synced_block == head and ctx.register.indexed_block() == head
    after = register_counts(funded.db_url)
    assert after["transfers"] == before["transfers"] + 2 and after["token_events"] == before["token_events"] + 2
    # and nothing of the contracts followed all along was read twice
    assert {t: n for t, n in after.items() if t not in ("transfers", "token_events", "contracts")} == {
        t: n for t, n in before.items() if t not in ("transfers", "token_events", "contracts")
    }


# ---------------------------------------------------------------------- proofs


@both_backends
def test_every_transfer_row_is_proven_by_the_chain(issued):
    world, _ = issued
    chain = world.chain()
    transfer_topic = event_abi_to_log_topic(next(e for e in artifacts.load("CashToken").abi if e.get("name") == "Transfer"))
    with Register(world.db_url).session() as s:
        rows = s.exec(select(models.Transfer)).all()
    assert {r.token for r in rows} >= {Register(world.db_url).instrument(ISIN).address}
    assert len(rows) >= 5 + 5 + 5  # cash minted, cash paid, bonds minted
    for row in rows:
        block = chain.w3.eth.get_block(row.block_number)
        assert block["hash"].to_0x_hex() == row.block_hash
        assert block["timestamp"] == row.block_timestamp
        assert row.chain_id == chain.chain_id == 31337
        assert row.tx_hash in {h.to_0x_hex() for h in block["transactions"]}
        receipt = chain.w3.eth.get_transaction_receipt(row.tx_hash)
        assert receipt["blockHash"].to_0x_hex() == row.block_hash
        log = next(log for log in receipt["logs"] if log["logIndex"] == row.log_index)
        assert log["address"] == row.token
        assert log["topics"][0] == transfer_topic
        assert log["topics"][1][-20:].hex() == row.from_address[2:].lower()
        assert log["topics"][2][-20:].hex() == row.to_address[2:].lower()
        assert int.from_bytes(log["data"], "big") == row.quantity


@both_backends
def test_the_audit_log_is_hash_chained(issued):
    world, _ = issued
    with Register(world.db_url).session() as s:
        rows = s.exec(select(models.AuditLog).order_by(models.AuditLog.id)).all()
    actions = [r.action for r in rows]
    assert actions[-3:] == ["cash allow", "deploy bond", "issue"]
    assert actions.count("cash mint") == actions.count("cash allow") == 5  # one of each per investor funded
    prev = GENESIS_AUDIT_HASH
    for row in rows:
        assert row.prev_hash == prev
        assert audit_hash(row) == row.hash
        prev = row.hash


def test_an_edited_audit_row_no_longer_matches_its_hash(issued):
    world, _ = issued
    reg = Register(world.db_url)
    with reg.engine.begin() as conn:
        drop_audit_guards(conn)
        conn.execute(
            text(
                "UPDATE audit_log SET detail = replace(detail, '\"allocations_settled\": 5', '\"allocations_settled\": 4') WHERE action = 'issue'"
            )
        )
    with reg.session() as s:
        edited = s.exec(select(models.AuditLog).where(models.AuditLog.action == "issue")).one()
    assert '"allocations_settled": 4' in edited.detail
    assert audit_hash(edited) != edited.hash


# ---------------------------------------------------------------------- the register's own chain


@both_backends
def test_a_register_bound_to_one_chain_refuses_another(funded, tmp_path):
    before = register_counts(funded.db_url)
    genesis = funded.chain().genesis_hash
    with devnet.running(log_dir=tmp_path, extra_args=["--timestamp", str(int(ISSUE_DAY) + 1)]) as other:
        elsewhere = World(other.rpc_url, funded.db_url)
        other_state = chain_state(other.rpc_url)
        for args in (("sync",), ("cash", "mint", "HKD", dev_address(1), "100")):
            r = elsewhere.run(*args)
            assert r.exit_code == 1, (args, r.stdout, r.stderr)
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1
            assert lines[0].startswith(f"error: register {funded.db_url} belongs to chain id 31337 (genesis {genesis[:10]}…), ")
            assert lines[0].endswith("use another --db")
            assert r.stdout == ""
        assert chain_state(other.rpc_url) == other_state, "something was sent to the other chain"
    assert register_counts(funded.db_url) == before


def test_a_restarted_devnet_with_the_same_genesis_time_is_refused_before_anything_is_sent(funded, tmp_path):
    with devnet.running(log_dir=tmp_path, extra_args=["--timestamp", ISSUE_DAY]) as restarted:
        before = chain_state(restarted.rpc_url)
        r = World(restarted.rpc_url, funded.db_url).run("cash", "mint", "HKD", dev_address(1), "100")
        assert r.exit_code == 1 and r.stderr.startswith("error: ")
        assert chain_state(restarted.rpc_url) == before, "a transaction went to a chain that is not the register's"


@both_backends
def test_a_reorg_under_the_checkpoint_is_unwound_by_sync(funded):
    """Above the finalized block (anvil's lags its head by 64 blocks), a reorganisation is no
    longer a refusal for ever: every other command refuses to start on it in one line, and `sync`
    removes what the orphaned block wrote, records the reorganisation and indexes the new branch.
    (tests/integration/test_reorg.py covers depths 1, 5 and 50 and the refusal below finality.)"""
    chain = funded.chain()
    fork_point = chain.rpc("evm_snapshot", [])
    assert funded.run("cash", "mint", "HKD", dev_address(1), "100").exit_code == 0
    indexed = Register(funded.db_url).checkpoint()
    assert indexed.block_number == chain.block_number()

    # The indexed block is replaced by another one: a different transaction at a different time.
    assert chain.rpc("evm_revert", [fork_point])
    chain.rpc("evm_setNextBlockTimestamp", [chain.now() + 600])
    # (bondledger itself refuses to send to this branch: it checks its checkpoint first)
    cash = chain.contract("CashToken", Register(funded.db_url).require_contract("cash", "HKD").address)
    Signer(chain, keys.dev_account(0)).transact(cash.functions.mint(dev_address(2), 99_900), "mint on the other branch")
    assert chain.block_number() == indexed.block_number
    replaced = chain.w3.eth.get_block(indexed.block_number)["hash"].to_0x_hex()
    assert replaced != indexed.block_hash

    before = chain_state(funded.rpc_url)
    r = funded.run("cash", "mint", "HKD", dev_address(1), "100")
    assert r.exit_code == 1
    assert r.stderr == (
        f"error: block {indexed.block_number} has hash {replaced[:10]}… on chain but {indexed.block_hash[:10]}… "
        "in the register: the chain reorganised or this is another chain\n"
    )
    assert chain_state(funded.rpc_url) == before

    r = funded.run("sync")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == f"indexed to block {indexed.block_number}: 1 new event(s)\n"
    assert r.stderr.startswith(f"unwound a reorganisation of 1 block(s) after block {indexed.block_number - 1} ")
    reg = Register(funded.db_url)
    assert reg.checkpoint().block_hash == replaced
    with reg.session() as s:
        mints = s.exec(select(models.Transfer).where(models.Transfer.block_number == indexed.block_number)).all()
        audit = s.exec(select(models.AuditLog).order_by(models.AuditLog.id.desc()).limit(1)).one()
    assert [(m.to_address, m.quantity, m.block_hash) for m in mints] == [(dev_address(2), 99_900, replaced)]
    assert audit.action == "reorg"
    detail = json.loads(audit.detail)
    assert (detail["depth"], detail["old_hash"], detail["new_hash"]) == (1, indexed.block_hash, replaced)
    assert detail["removed"] == {"transfers": 1}


def test_a_chain_rolled_back_below_the_checkpoint_is_unwound_by_sync(funded):
    chain = funded.chain()
    fork_point = chain.rpc("evm_snapshot", [])
    assert funded.run("cash", "mint", "HKD", dev_address(1), "100").exit_code == 0
    indexed = Register(funded.db_url).indexed_block()
    assert chain.rpc("evm_revert", [fork_point])
    r = funded.run("cash", "mint", "HKD", dev_address(1), "100")
    assert r.exit_code == 1
    assert r.stderr == f"error: register is indexed to block {indexed} but the chain's head is {indexed - 1}: another chain?\n"
    r = funded.run("sync")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == f"indexed to block {indexed - 1}: 0 new event(s)\n"
    reg = Register(funded.db_url)
    assert reg.checkpoint().block_hash == chain.w3.eth.get_block(indexed - 1)["hash"].to_0x_hex()
    with reg.session() as s:
        assert s.exec(select(models.Transfer).where(models.Transfer.block_number == indexed)).all() == []


# ---------------------------------------------------------------------- amounts a SQLite register cannot hold


def test_an_amount_beyond_what_a_sqlite_register_stores_is_refused_in_one_line(funded):
    before = chain_state(funded.rpc_url)
    r = funded.run("cash", "mint", "USD", dev_address(9), "100000000000000000000")  # 10**22 cents > 2**63
    assert r.exit_code == 2
    assert r.stderr == (
        "error: amount: 100000000000000000000 USD would take the USD supply beyond what a sqlite register "
        "stores exactly; use PostgreSQL\n"
    )
    assert chain_state(funded.rpc_url) == before, "the mint was sent although the register could not record it"


def test_an_amount_minted_outside_bondledger_beyond_sqlite_range_stops_sync_in_one_line(funded):
    chain = funded.chain()
    usd = chain.contract("CashToken", Register(funded.db_url).require_contract("cash", "USD").address)
    Signer(chain, keys.dev_account(0)).transact(usd.functions.mint(dev_address(9), 10**22), "mint outside bondledger")
    counts = register_counts(funded.db_url)
    r = funded.run("sync")
    assert r.exit_code == 1
    assert r.stderr == "error: amount 10000000000000000000000 exceeds what a sqlite register stores exactly; use PostgreSQL\n"
    assert register_counts(funded.db_url) == counts
