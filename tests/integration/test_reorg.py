"""Reorganisations on a real anvil (`anvil_reorg`, `anvil_rollback`) at depths 1, 5 and 50, with a
holder's transfer, a settlement and a coupon payment inside the reorganised blocks: `sync` walks
back to the common ancestor, removes exactly what the orphaned blocks wrote (the register is then
what indexing the chain from scratch gives, statuses included), records the reorganisation in the
audit log, indexes the new branch; `reconcile` and `verify` are clean and a second `sync` changes
nothing. A reorganisation below the finalized block is refused in one line, the register untouched.
On SQLite and on PostgreSQL."""

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import text
from sqlmodel import select

from conftest import both_backends
from helpers import dev_address, fund, register_counts, trade
from ledger.chain import keys
from ledger.register import indexer, models
from ledger.chain import Signer
from ledger.register.db import Register

pytestmark = both_backends

ISIN = "HK0000987658"
NAMES = {1: "harbour_pension", 2: "kowloon_life", 3: "lion_rock", 4: "straits_capital", 5: "victoria_peak"}
#: every table sync writes, with the columns that differ between two registers holding the same facts
DERIVED = {
    "transfers": ("id",),
    "registrations": ("id",),
    "token_events": ("id",),
    "issuances": (),
    "wallets": (),
    "settlement_events": ("id",),
    "payments": ("id",),
    "coupons": ("id",),
    "duty_assessments": (),
    "fund_flows": ("id",),
    "nav_history": ("id",),
    "instructions": ("created_at", "updated_at"),
}


def derived(url: str) -> dict[str, list[tuple]]:
    """What the register holds from the chain, in a stable order (ids and clocks aside)."""
    with Register(url).engine.connect() as conn:
        rows = {}
        for table, skip in DERIVED.items():
            result = conn.execute(text(f'SELECT * FROM "{table}"'))
            keep = [i for i, name in enumerate(result.keys()) if name not in skip]
            rows[table] = sorted(tuple(str(r[i]) for i in keep) for r in result)
        rows["checkpoint"] = conn.execute(text("SELECT block_number, block_hash FROM checkpoint")).all()
    return rows


def reindexed(world, registers) -> dict[str, list[tuple]]:
    """The same register indexed from scratch on the chain as it is now."""
    reg = Register(registers.copy(world.db_url, "reindexed"))
    with reg.engine.begin() as conn:
        for table in (*(t for t in DERIVED if t != "instructions"), "checkpoint"):
            conn.execute(text(f'DELETE FROM "{table}"'))
        conn.execute(
            text(
                "UPDATE instructions SET status = 'pending', reason = NULL, chain_id = NULL, block_number = NULL, "
                "block_hash = NULL, block_timestamp = NULL, tx_hash = NULL, log_index = NULL"
            )
        )
        conn.execute(text("UPDATE contracts SET synced_block = deploy_block - 1"))
    indexer.sync(reg, world.chain())
    rows = derived(reg.url)
    reg.engine.dispose()
    return rows


def warp_to(world, day: str) -> None:
    chain = world.chain()
    chain.rpc("evm_setNextBlockTimestamp", [int(datetime.fromisoformat(day).replace(hour=2, tzinfo=timezone.utc).timestamp())])
    chain.rpc("evm_mine", [])


def busy_blocks(world, bond: str) -> dict:
    """On the coupon's payment date, after 50 empty blocks (a depth-50 reorganisation reaches no
    deployment): a holder's own transfer, a trade settled DvP and the coupon paid, each in its own
    blocks, in that order, the last ones the coupon's."""
    chain = world.chain()
    warp_to(world, "2024-08-07")
    chain.rpc("evm_mine", [{"blocks": 50, "timestamp": None}])
    first = chain.block_number() + 1
    token = chain.contract("BondToken", bond)
    move = token.get_function_by_signature("transfer(address,uint256)")(dev_address(3), 500)
    Signer(chain, keys.dev_account(5)).transact(move, "holder transfer")
    fund(world.run, 2, "10000000")
    iid = trade(world, ISIN, NAMES[1], NAMES[2], price="100", settlement_date="2024-08-07")["instruction_id"]
    for index in (1, 2):
        assert world.run("affirm", iid, "--dev-account", index).exit_code == 0
    settled = world.run("settle", "--format", "json")
    assert [o["status"] for o in settled.json()] == ["settled"], settled.stderr
    paid = world.run("coupon", "pay", ISIN, "--format", "json")
    assert paid.exit_code == 0 and paid.json()["complete"], paid.stderr
    return {
        "first": first,
        "instruction": iid,
        "settle_block": world.chain().w3.eth.get_transaction_receipt(settled.json()[0]["tx_hash"])["blockNumber"],
    }


def orphaned_transactions(chain, depth: int) -> list[list]:
    """The last `depth` blocks' transactions as (raw transaction, block offset) pairs, for
    `anvil_reorg` to mine again in the new branch; first, a payment no orphaned block had, so that
    the new branch differs from its first block on (empty blocks mined again at the same time would
    be the same blocks)."""
    head = chain.block_number()
    pairs = [[{"from": dev_address(9), "to": dev_address(8), "value": hex(depth)}, 0]]
    for offset, number in enumerate(range(head - depth + 1, head + 1)):
        for tx in chain.rpc("eth_getBlockByNumber", [hex(number), False])["transactions"]:
            pairs.append([chain.rpc("eth_getRawTransactionByHash", [tx]), offset])
    return pairs


def clean(world) -> None:
    for args in (("reconcile", ISIN), ("verify",)):
        r = world.run(*args)
        assert r.exit_code == 0, (args, r.stdout, r.stderr)


def sync_is_a_no_op(world) -> None:
    counts, cp = register_counts(world.db_url), Register(world.db_url).checkpoint()
    r = world.run("sync")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == f"indexed to block {cp.block_number}: 0 new event(s)\n"
    assert "unwound" not in r.stderr
    after = Register(world.db_url).checkpoint()
    assert (register_counts(world.db_url), after.block_hash, after.updated_at) == (counts, cp.block_hash, cp.updated_at)


def last_audit(world) -> models.AuditLog:
    with Register(world.db_url).session() as s:
        return s.exec(select(models.AuditLog).order_by(models.AuditLog.id.desc()).limit(1)).one()


def removed_tables(depth: int) -> set[str]:
    """The tables whose rows the orphaned blocks held, by depth (the coupon's blocks are last)."""
    return {1: {"payments"}, 5: {"payments", "settlement_events", "duty_assessments"}}.get(
        depth, {"payments", "coupons", "settlement_events", "transfers", "duty_assessments"}
    )


@pytest.mark.parametrize("depth", [1, 5, 50])
def test_a_reorg_that_mines_the_same_transactions_in_other_blocks_is_unwound_and_reindexed(issued, registers, depth):
    world, out = issued
    busy_blocks(world, out["address"])
    chain = world.chain()
    head = chain.block_number()
    old = Register(world.db_url).checkpoint()
    assert old.block_number == head and head - depth + 1 >= 1
    before = derived(world.db_url)

    assert chain.rpc("anvil_reorg", [depth, orphaned_transactions(chain, depth)]) is None
    new_hash = chain.w3.eth.get_block(head)["hash"].to_0x_hex()
    assert chain.block_number() == head and new_hash != old.block_hash

    r = world.run("sync")
    assert r.exit_code == 0, r.stderr
    assert r.stderr.startswith(f"unwound a reorganisation of {depth} block(s) after block {head - depth} ")
    entry = last_audit(world)
    assert entry.action == "reorg" and entry.actor == "indexer"
    detail = json.loads(entry.detail)
    assert (detail["depth"], detail["ancestor"], detail["block"]) == (depth, head - depth, head)
    assert (detail["old_hash"], detail["new_hash"]) == (old.block_hash, new_hash)
    assert removed_tables(depth) <= set(detail["removed"])

    after = derived(world.db_url)
    assert after == reindexed(world, registers)
    # the same facts, now proven by the new branch's blocks
    assert len(after["payments"]) == len(before["payments"]) and after["payments"] != before["payments"]
    clean(world)
    sync_is_a_no_op(world)


@pytest.mark.parametrize("depth", [1, 5, 50])
def test_a_rollback_is_unwound_and_the_operator_resumes(issued, registers, depth):
    world, out = issued
    busy = busy_blocks(world, out["address"])
    chain = world.chain()
    head = chain.block_number()
    assert chain.rpc("anvil_rollback", [depth]) is None
    assert chain.block_number() == head - depth

    r = world.run("sync")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == f"indexed to block {head - depth}: 0 new event(s)\n"
    detail = json.loads(last_audit(world).detail)
    assert (detail["depth"], detail["new_hash"]) == (depth, None)
    assert removed_tables(depth) <= set(detail["removed"])
    assert derived(world.db_url) == reindexed(world, registers)
    with Register(world.db_url).session() as s:
        status = s.get(models.Instruction, busy["instruction"]).status
    # settled in an orphaned block: open again, as the chain has it
    assert status == ("pending" if busy["settle_block"] > head - depth else "settled")
    assert world.run("verify").exit_code == 0

    # the operator settles and pays again what the chain lost, exactly once
    fund(world.run, 2, "10000000")  # (a depth of 50 took the buyer's cash away too)
    settled = world.run("settle", "--format", "json")
    assert settled.exit_code == 0, settled.stderr
    assert [o["status"] for o in settled.json()] == (["settled"] if status == "pending" else [])
    paid = world.run("coupon", "pay", ISIN, "--format", "json")
    assert paid.exit_code == 0 and paid.json()["complete"], paid.stderr
    clean(world)
    sync_is_a_no_op(world)


def test_a_reorg_below_the_finalized_block_is_refused_in_one_line(issued):
    world, out = issued
    busy_blocks(world, out["address"])
    chain = world.chain()
    chain.rpc("evm_mine", [{"blocks": 70, "timestamp": None}])  # anvil finalizes 64 blocks below its head
    r = world.run("sync")
    assert r.exit_code == 0, r.stderr
    cp = Register(world.db_url).checkpoint()
    assert cp.finalized_block == cp.block_number - 64
    assert f"final at block {cp.finalized_block} (head {cp.block_number})" in r.stderr
    counts = register_counts(world.db_url)

    assert chain.rpc("anvil_reorg", [80, []]) is None
    now = chain.w3.eth.get_block(cp.finalized_block)["hash"].to_0x_hex()
    for args in (("sync",), ("sync", "--confirmations", "0")):
        r = world.run(*args)
        assert r.exit_code == 1
        assert r.stdout == ""
        assert r.stderr == (
            f"error: block {cp.finalized_block} is final in the register ({cp.finalized_hash[:10]}…) but the chain has "
            f"{now[:10]}… there: the chain reorganised below finality or this is another chain; nothing was changed\n"
        )
    assert register_counts(world.db_url) == counts
    assert Register(world.db_url).checkpoint().block_hash == cp.block_hash

    chain.rpc("anvil_rollback", [100])
    r = world.run("sync")
    assert r.exit_code == 1
    assert (
        r.stderr.startswith(f"error: block {cp.finalized_block} is final in the register ") and "the chain's head is" in r.stderr
    )
    assert register_counts(world.db_url) == counts


def three_unread_blocks(world, bond: str):
    """After busy blocks, three holder transfers in three blocks that sync has not read yet:
    (the chain, the register's indexed block)."""
    busy_blocks(world, bond)
    chain = world.chain()
    indexed = Register(world.db_url).indexed_block()
    token = chain.contract("BondToken", bond)
    for quantity in (10, 20, 30):
        move = token.get_function_by_signature("transfer(address,uint256)")(dev_address(4), quantity)
        Signer(chain, keys.dev_account(3)).transact(move, "holder transfer")
    return chain, indexed


def test_a_reorg_while_sync_reads_is_caught_before_anything_of_it_is_written(issued, registers, monkeypatch):
    world, out = issued
    chain, indexed = three_unread_blocks(world, out["address"])
    assert chain.block_number() == indexed + 3

    real_fetch = indexer._fetch

    def reorganise_while_reading_the_second_block(chain_, addresses, low, high):
        logs = real_fetch(chain_, addresses, low, high)
        if low == indexed + 2 and not reorganised:
            # the first new block is indexed already; all three are replaced while the second is read
            reorganised.append(chain.rpc("anvil_reorg", [3, orphaned_transactions(chain, 3)]))
        return logs

    reorganised: list = []
    monkeypatch.setattr(indexer, "_fetch", reorganise_while_reading_the_second_block)
    result = indexer.sync(Register(world.db_url), chain, chunk=1)
    monkeypatch.setattr(indexer, "_fetch", real_fetch)
    assert reorganised and result.reorg["ancestor"] == indexed and result.reorg["depth"] == 1
    assert derived(world.db_url) == reindexed(world, registers)
    clean(world)
    sync_is_a_no_op(world)


def test_a_rollback_between_reading_logs_and_their_blocks_is_caught_and_read_again(issued, registers, monkeypatch):
    world, out = issued
    chain, indexed = three_unread_blocks(world, out["address"])

    real_batch, rolled = type(chain).rpc_batch, []

    def roll_back_before_the_headers(self, calls):
        # the logs are read; before their blocks' headers are, the node drops the last two blocks
        if not rolled and calls and calls[0][0] == "eth_getBlockByNumber":
            rolled.append(self.rpc("anvil_rollback", [2]))
        return real_batch(self, calls)

    monkeypatch.setattr(type(chain), "rpc_batch", roll_back_before_the_headers)
    result = indexer.sync(Register(world.db_url), chain)
    monkeypatch.undo()
    assert rolled and result.to_block == indexed + 1
    assert derived(world.db_url) == reindexed(world, registers)
    clean(world)
    sync_is_a_no_op(world)


def test_rows_above_the_finalized_block_are_marked_provisional_in_the_cli_the_api_and_the_page(issued):
    from fastapi.testclient import TestClient

    from ledger.web.app import create_app

    world, out = issued
    world.chain().rpc("evm_mine", [{"blocks": 64, "timestamp": None}])  # the issue's blocks fall below anvil's finalized tag
    busy_blocks(world, out["address"])  # ... and the transfer, settlement and coupon after them do not
    assert world.run("sync").exit_code == 0
    final = Register(world.db_url).checkpoint().finalized_block

    transfers = world.run("register", "transfers", ISIN, "--format", "json").json()
    assert {t["provisional"] for t in transfers} == {True, False}
    assert all(t["provisional"] == (t["block_number"] > final) for t in transfers)
    payments = world.run("register", "payments", ISIN, "--format", "json").json()
    assert payments and all(p["provisional"] for p in payments)
    assert [s["provisional"] for s in world.run("register", "settlements", "--format", "json").json()] == [True]
    holders = world.run("register", "holders", ISIN, "--format", "json").json()
    assert all(h["provisional"] for h in holders), "as of the head, above the finalized block"
    at_issue = world.run("register", "holders", ISIN, "--as-of-block", final, "--format", "json").json()
    assert not any(h["provisional"] for h in at_issue)

    client = TestClient(create_app(world.db_url))
    assert client.get(f"/api/instruments/{ISIN}/transfers").json() == transfers
    page = client.get(f"/instruments/{ISIN}").text
    assert f'final at block <code id="finalized-block">{final}</code>' in page
    assert page.count('class="status provisional"') >= sum(t["provisional"] for t in transfers) + len(payments)
