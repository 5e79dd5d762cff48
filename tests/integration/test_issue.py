"""An issuer issues the sample green bond on a real anvil: every allocation settles
delivery-versus-payment, the register records it with proofs, and reconciles with the chain.
What the register records is checked on SQLite and on PostgreSQL (`both_backends`)."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from eth_utils import function_signature_to_4byte_selector

from conftest import both_backends
from helpers import EXAMPLES, dev_address
from issuance.inputs import read_allocations
from issuance.issue import issue_bond
from issuance.termsheet import load_termsheet
from ledger.chain import artifacts
from ledger.chain import Signer
from ledger.codes import MAX_RECORD_TIMES

ISIN = "HK0000987658"
TERMSHEET = EXAMPLES / "green_bond_hkd.toml"
ALLOCATIONS = EXAMPLES / "allocations.csv"
EXPECTED_HOLDERS = [
    {
        "investor_id": "harbour_pension",
        "wallet": dev_address(1),
        "quantity": 12000,
        "principal": "600000000.00",
        "provisional": True,
    },
    {
        "investor_id": "kowloon_life",
        "wallet": dev_address(2),
        "quantity": 10000,
        "principal": "500000000.00",
        "provisional": True,
    },
    {"investor_id": "lion_rock", "wallet": dev_address(3), "quantity": 8000, "principal": "400000000.00", "provisional": True},
    {
        "investor_id": "straits_capital",
        "wallet": dev_address(4),
        "quantity": 7000,
        "principal": "350000000.00",
        "provisional": True,
    },
    {
        "investor_id": "victoria_peak",
        "wallet": dev_address(5),
        "quantity": 3000,
        "principal": "150000000.00",
        "provisional": True,
    },
]


def test_issue_prints_the_isin_and_bond_address_as_json(issued):
    _, out = issued
    assert out["isin"] == ISIN
    assert out["address"].startswith("0x") and len(out["address"]) == 42
    assert out["settled"] == 5


@both_backends
def test_the_register_lists_every_allocated_holder(issued):
    world, _ = issued
    run = world.run
    holders = run("register", "holders", ISIN, "--format", "json")
    assert holders.exit_code == 0
    assert holders.json() == EXPECTED_HOLDERS


@both_backends
def test_holders_export_as_csv_and_table(issued):
    world, _ = issued
    run = world.run
    csv_out = run("register", "holders", ISIN, "--format", "csv").stdout.splitlines()
    assert csv_out[0] == "investor_id,wallet,quantity,principal,provisional"  # devnet: anvil finalizes 64 blocks down
    assert csv_out[1] == f"harbour_pension,{dev_address(1)},12000,600000000.00,True"
    table = run("register", "holders", ISIN).stdout
    assert "harbour_pension" in table and "600000000.00" in table


@both_backends
def test_reconcile_confirms_the_register(issued):
    world, _ = issued
    run = world.run
    r = run("reconcile", ISIN, "--format", "json")
    assert r.exit_code == 0, r.stdout
    report = r.json()
    assert report["ok"] and report["breaks"] == []
    assert report["supply_register"] == report["supply_chain"] == 40_000


def test_cash_moved_to_the_issuer_and_bonds_to_investors_in_the_same_transactions(issued):
    world, out = issued
    run = world.run
    assert run("cash", "balance", "HKD", dev_address(0), "--format", "json").json()[0]["balance"] == "2000000000.00"
    for i in range(1, 6):
        position = run("cash", "balance", "HKD", dev_address(i), "--format", "json").json()[0]
        assert position["balance"] == "0.00" and position["authorized"] == "0.00"
    transfers = run("register", "transfers", ISIN, "--format", "json").json()
    chain = world.chain()
    for t in transfers:
        receipt = chain.w3.eth.get_transaction_receipt(t["tx_hash"])
        # the same transaction moved the investor's cash to the issuer
        cash_logs = [log for log in receipt["logs"] if log["address"] != out["address"]]
        assert any(log["topics"][1][-20:].hex() == t["to"][2:].lower() for log in cash_logs)


@both_backends
def test_every_transfer_row_carries_a_checkable_proof(issued):
    world, _ = issued
    run = world.run
    chain = world.chain()
    for t in run("register", "transfers", ISIN, "--format", "json").json():
        block = chain.w3.eth.get_block(t["block_number"])
        assert block["hash"].to_0x_hex() == t["block_hash"]
        assert t["chain_id"] == 31337
        log = next(log for log in chain.w3.eth.get_transaction_receipt(t["tx_hash"])["logs"] if log["logIndex"] == t["log_index"])
        assert int.from_bytes(log["data"], "big") == t["quantity"]


def test_the_bond_speaks_erc7092_in_the_units_the_issue_names(issued):
    world, out = issued
    chain = world.chain()
    bond = chain.contract("BondToken", out["address"]).functions
    midnight = lambda y, m, d: int(datetime(y, m, d, tzinfo=timezone.utc).timestamp())  # noqa: E731
    assert bond.isin().call() == ISIN
    assert bond.denomination().call() == 50_000_00
    assert bond.issueVolume().call() == 2_000_000_000_00
    assert bond.couponRate().call() == 38_000
    assert bond.couponType().call() == 1
    assert bond.couponFrequency().call() == 2
    assert bond.dayCountBasis().call() == 3
    assert bond.issueDate().call() == midnight(2024, 2, 7)
    assert bond.maturityDate().call() == midnight(2026, 2, 7)
    assert bond.decimals().call() == 0
    assert bond.principalOf(dev_address(1)).call() == 600_000_000_00
    assert bond.totalSupply().call() == 40_000
    uri, sha = bond.greenBondFramework().call()
    assert sha.hex() == load_termsheet(TERMSHEET).green.framework_sha256
    assert "clean_transportation" in bond.useOfProceeds().call()


def test_the_bond_announces_ierc7092_through_erc165(issued):
    world, out = issued
    interface_id = 0
    for item in artifacts.load("IERC7092").abi:
        if item["type"] == "function":
            signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
            interface_id ^= int.from_bytes(function_signature_to_4byte_selector(signature), "big")
    bond = world.chain().contract("BondToken", out["address"])
    assert bond.functions.supportsInterface(interface_id.to_bytes(4, "big")).call()


@both_backends
def test_holders_as_of_a_block_before_the_issue_are_none(issued):
    world, out = issued
    run = world.run
    deploy_block = (
        world.chain().w3.eth.get_transaction_receipt(run("register", "transfers", ISIN, "--format", "json").json()[0]["tx_hash"])[
            "blockNumber"
        ]
        - 1
    )
    assert run("register", "holders", ISIN, "--as-of-block", deploy_block, "--format", "json").json() == []
    beyond = run("register", "holders", ISIN, "--as-of-block", 10**6)
    assert beyond.exit_code == 2 and "beyond the indexed block" in beyond.stderr


@both_backends
def test_running_issue_again_issues_nothing_twice(issued):
    world, out = issued
    run = world.run
    again = run("issue", TERMSHEET, "--allocations", ALLOCATIONS, "--format", "json")
    assert again.exit_code == 0, again.stderr
    assert again.json() == {**out, "settled": 0, "already_settled": 5}
    assert sum(h["quantity"] for h in run("register", "holders", ISIN, "--format", "json").json()) == 40_000


@both_backends
def test_an_interrupted_issue_finishes_on_rerun(funded, monkeypatch):
    ctx = funded.context()
    ts, rows = load_termsheet(TERMSHEET), read_allocations(ALLOCATIONS)
    real = Signer.send_many

    def crash_after_first_batch(self, calls, progress=None):
        real(self, calls[:1], progress)
        raise KeyboardInterrupt("operator pressed ^C")

    monkeypatch.setattr(Signer, "send_many", crash_after_first_batch)
    with pytest.raises(KeyboardInterrupt):
        issue_bond(ctx, ts, rows, batch_size=2)
    monkeypatch.setattr(Signer, "send_many", real)

    result = issue_bond(funded.context(), ts, rows, batch_size=2)
    assert (result.settled, result.already_settled, result.deployed) == (3, 2, False)
    assert funded.run("reconcile", ISIN).exit_code == 0
    holders = funded.run("register", "holders", ISIN, "--format", "json").json()
    assert [h["quantity"] for h in holders] == [12000, 10000, 8000, 7000, 3000]


def test_schedule_prints_the_coupon_dates_and_amounts(world):
    r = world.run("schedule", TERMSHEET, "--format", "json")
    assert r.exit_code == 0
    rows = r.json()
    assert rows[0] == {
        "accrual_start": "2024-02-07",
        "accrual_end": "2024-08-07",
        "payment_date": "2024-08-07",
        "amount_per_denomination": "947.397260274",
        "record_date": "2024-08-06",  # one Hong Kong business day before payment
    }
    assert rows[-1]["payment_date"] == "2026-02-09"
    assert sum(Decimal(p["amount_per_denomination"]) for p in rows) == Decimal("3805.2054794521")


def test_the_record_date_limit_checked_before_issuing_is_the_tokens_own(issued):
    world, out = issued
    bond = world.chain().contract("BondToken", out["address"])
    assert bond.functions.MAX_RECORD_TIMES().call() == MAX_RECORD_TIMES
