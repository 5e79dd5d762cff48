"""Reconciliation compares the register with the chain at the indexed block: zero breaks after
an issue; an edited register (a quantity changed, a row deleted) is named break by break with
the register's and the chain's figures; events the register has not indexed yet are no break. On SQLite and on PostgreSQL."""

import json

from sqlalchemy import text
from sqlmodel import select

from conftest import both_backends
from helpers import dev_address
from ledger.chain import keys
from ledger.register import models
from ledger.chain import Signer
from ledger.register.db import Register

pytestmark = both_backends

ISIN = "HK0000987658"
ZERO = "0x" + "00" * 20


def sql(world, statement: str, **params) -> int:
    """Edits the register behind bondledger's back (what a tampering or a bug would do)."""
    with Register(world.db_url).engine.begin() as conn:
        return conn.execute(text(statement), params).rowcount


def bond_transfer(world, bond_address: str, sender: int, receiver: int, quantity: int) -> dict:
    """A holder's own transfer on chain, signed with its key: no bondledger command involved."""
    chain = world.chain()
    bond = chain.contract("BondToken", bond_address)
    fn = bond.get_function_by_signature("transfer(address,uint256)")(dev_address(receiver), quantity)
    return Signer(chain, keys.dev_account(sender)).transact(fn, "holder transfer")


def reconcile(world) -> tuple[int, dict, str]:
    """(exit code, JSON report, table report)."""
    as_json, as_table = world.run("reconcile", ISIN, "--format", "json"), world.run("reconcile", ISIN)
    assert as_json.exit_code == as_table.exit_code
    return as_json.exit_code, as_json.json(), as_table.stdout


def table_rows(table: str) -> list[list[str]]:
    """The break rows of the table report (after its status line, header and rule)."""
    return [line.split() for line in table.splitlines()[3:]]


def test_after_an_issue_reconcile_is_ok(issued):
    world, _ = issued
    block = Register(world.db_url).indexed_block()
    code, report, table = reconcile(world)
    assert code == 0
    assert report == {
        "isin": ISIN,
        "block": block,
        "ok": True,
        "wallets_checked": 7,  # every registered wallet, holder or not
        "supply_register": 40_000,
        "supply_chain": 40_000,
        "breaks": [],
        "final_block": 0,  # anvil finalizes 64 blocks below its head: nothing of this young chain is final yet but genesis
    }
    assert table == f"{ISIN} at block {block}: OK (7 wallets, supply register 40000 / chain 40000)\n"


def test_a_changed_transfer_quantity_is_a_balance_and_a_supply_break(issued):
    world, out = issued
    assert (
        sql(
            world,
            "UPDATE transfers SET quantity = 11999 WHERE token = :t AND to_address = :w",
            t=out["address"],
            w=dev_address(1),
        )
        == 1
    )
    code, report, table = reconcile(world)
    assert code == 1
    assert not report["ok"]
    assert report["breaks"] == [
        {"kind": "balance", "subject": dev_address(1), "register": 11999, "chain": 12000},
        {"kind": "supply", "subject": ISIN, "register": 39999, "chain": 40000},
    ]
    assert (report["supply_register"], report["supply_chain"]) == (39999, 40000)
    assert f"{ISIN} at block {report['block']}: 2 BREAK(S) (7 wallets, supply register 39999 / chain 40000)" in table
    assert table_rows(table) == [["balance", dev_address(1), "11999", "12000"], ["supply", ISIN, "39999", "40000"]]


def test_a_deleted_transfer_row_breaks_both_sides_balances(issued):
    world, out = issued
    moved = bond_transfer(world, out["address"], sender=1, receiver=2, quantity=500)
    assert world.run("sync").exit_code == 0
    assert reconcile(world)[0] == 0
    deleted = sql(world, "DELETE FROM transfers WHERE tx_hash = :h", h=moved["transactionHash"].to_0x_hex())
    assert deleted == 1
    code, report, table = reconcile(world)
    assert code == 1
    # wallets in address order
    assert report["breaks"] == [
        {"kind": "balance", "subject": dev_address(2), "register": 10000, "chain": 10500},
        {"kind": "balance", "subject": dev_address(1), "register": 12000, "chain": 11500},
    ]
    assert "2 BREAK(S)" in table.splitlines()[0]
    assert table_rows(table) == [["balance", dev_address(2), "10000", "10500"], ["balance", dev_address(1), "12000", "11500"]]


def _delete_mint_of(world, bond_address: str, wallet: str) -> str:
    """Deletes the mint of an issuance from the register; returns its allocation id."""
    with Register(world.db_url).engine.connect() as conn:
        allocation = conn.execute(
            text("SELECT allocation_id FROM issuances WHERE token = :t AND investor = :w"), {"t": bond_address, "w": wallet}
        ).scalar_one()
    assert (
        sql(
            world,
            "DELETE FROM transfers WHERE token = :t AND from_address = :z AND to_address = :w",
            t=bond_address,
            z=ZERO,
            w=wallet,
        )
        == 1
    )
    return allocation


def test_a_deleted_mint_is_a_balance_and_a_supply_break(issued):
    world, out = issued
    _delete_mint_of(world, out["address"], dev_address(2))
    code, report, table = reconcile(world)
    assert code == 1
    assert {"kind": "supply", "subject": ISIN, "register": 30000, "chain": 40000} in report["breaks"]
    rows = table_rows(table)
    assert ["supply", ISIN, "30000", "40000"] in rows


def test_a_holder_missing_from_the_register_is_a_balance_break(issued):
    world, out = issued
    _delete_mint_of(world, out["address"], dev_address(2))
    code, report, _ = reconcile(world)
    assert code == 1
    assert {"kind": "balance", "subject": dev_address(2), "register": 0, "chain": 10000} in report["breaks"]


def test_events_not_yet_indexed_are_no_break(issued):
    world, out = issued
    before = Register(world.db_url).indexed_block()
    holders_before = world.run("register", "holders", ISIN, "--format", "json").json()

    moved = bond_transfer(world, out["address"], sender=1, receiver=2, quantity=2000)
    assert moved["blockNumber"] > before

    # the register has not seen it: reconcile compares at the indexed block, where all agrees
    code, report, table = reconcile(world)
    assert code == 0, table
    assert report["block"] == before and report["breaks"] == []
    assert world.run("register", "holders", ISIN, "--format", "json").json() == holders_before

    assert world.run("sync").exit_code == 0
    holders = {h["investor_id"]: h["quantity"] for h in world.run("register", "holders", ISIN, "--format", "json").json()}
    assert holders["harbour_pension"] == 10000 and holders["kowloon_life"] == 12000
    assert sum(holders.values()) == 40000
    code, report, _ = reconcile(world)
    assert code == 0
    assert report["block"] == moved["blockNumber"] and report["breaks"] == []


def test_an_issuance_recorded_with_another_quantity_than_its_mint_is_a_break(issued):
    world, out = issued
    assert (
        sql(world, "UPDATE issuances SET quantity = 9000 WHERE token = :t AND investor = :w", t=out["address"], w=dev_address(2))
        == 1
    )
    code, report, _ = reconcile(world)
    assert code == 1
    assert [b["kind"] for b in report["breaks"]] == ["issuance"]
    assert report["breaks"][0]["register"] == 9000 and report["breaks"][0]["chain"] == 10000


def test_erc7943_freezes_and_forced_transfers_are_indexed_and_reconcile(issued):
    """The register follows a token's events by its ABI: ERC-7943's Frozen and ForcedTransfer land
    in token_events with the standard's arguments, and reconcile and verify still find no break."""
    world, out = issued
    ctx = world.context()
    bond = ctx.chain.contract("BondToken", out["address"]).functions
    ctx.signer.transact(bond.setFrozenTokens(dev_address(1), 5_000), "freeze 5,000 of harbour_pension's 12,000")
    # 7,000 unfrozen: the seizure of 8,000 unfreezes the 1,000 frozen ones it takes, first
    ctx.signer.transact(bond.forcedTransfer(dev_address(1), dev_address(2), 8_000), "seize 8,000")
    assert bond.getFrozenTokens(dev_address(1)).call() == 4_000
    assert world.run("sync").exit_code == 0

    with Register(world.db_url).session() as s:
        rows = s.exec(
            select(models.TokenEvent)
            .where(models.TokenEvent.contract == out["address"])
            .where(models.TokenEvent.event.in_(["Frozen", "ForcedTransfer"]))
            .order_by(models.TokenEvent.block_number, models.TokenEvent.log_index)
        ).all()
    assert [(r.event, json.loads(r.args)) for r in rows] == [
        ("Frozen", {"account": dev_address(1), "amount": 5_000}),
        ("Frozen", {"account": dev_address(1), "amount": 4_000}),
        ("ForcedTransfer", {"from": dev_address(1), "to": dev_address(2), "amount": 8_000}),
    ]
    code, report, table = reconcile(world)
    assert code == 0 and report["breaks"] == [], table
    verified = world.run("verify", "--format", "json")
    assert verified.exit_code == 0 and verified.json()["ok"], verified.stdout
