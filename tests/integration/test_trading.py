"""Secondary trades settle delivery-versus-payment on a real anvil: captured, affirmed by both
parties with EIP-712 signatures, settled singly or in batches (all or nothing, or best effort),
cancelled or expired; the register records each settlement with its proof and its stamp duty
treatment, and everything reconciles afterwards."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlmodel import select

from helpers import chain_state, dev_address, fund, register_counts
from issuance.trading import data_of
from ledger.chain import keys
from ledger.chain import Signer
from ledger.chain.codec import describe_revert
from ledger.register.db import Register
from ledger.instructions import Venue, instruction_id

ISIN = "HK0000987658"
HARBOUR, KOWLOON, LION_ROCK, STRAITS, VICTORIA = 1, 2, 3, 4, 5
NAMES = {1: "harbour_pension", 2: "kowloon_life", 3: "lion_rock", 4: "straits_capital", 5: "victoria_peak"}


def trade(world, seller: int, buyer: int, quantity: int, price="99.50", settlement="2024-02-07", **options):
    args = ["trade", ISIN, "--seller", NAMES[seller], "--buyer", NAMES[buyer], "--quantity", quantity, "--price", price]
    if settlement:
        args += ["--settlement-date", settlement]
    for key, value in options.items():
        args += [f"--{key.replace('_', '-')}", value]
    r = world.run(*args, "--format", "json")
    assert r.exit_code == 0, r.stderr
    return r.json()


def affirm_both(world, t: dict, seller: int, buyer: int) -> None:
    for index in (seller, buyer):
        r = world.run("affirm", t["instruction_id"], "--dev-account", index)
        assert r.exit_code == 0, r.stderr


def holders(world) -> dict[str, int]:
    return {h["investor_id"]: h["quantity"] for h in world.run("register", "holders", ISIN, "--format", "json").json()}


def settlements(world) -> dict[str, dict]:
    return {s["instruction_id"]: s for s in world.run("register", "settlements", "--format", "json").json()}


def warp_to(world, day: str) -> None:
    chain = world.chain()
    ts = int(datetime.fromisoformat(day).replace(hour=1, tzinfo=timezone.utc).timestamp())
    chain.rpc("evm_setNextBlockTimestamp", [ts])
    chain.rpc("evm_mine", [])


def agent_freeze(world, bond_address: str, wallet: str, frozen: bool) -> None:
    bond = world.chain().contract("BondToken", bond_address)
    Signer(world.chain(), keys.dev_account(0)).transact(bond.functions.setAddressFrozen(wallet, frozen), "freeze")


@pytest.fixture
def market(issued):
    """The issued sample bond, with cash for kowloon_life, lion_rock and straits_capital to buy."""
    world, out = issued
    for buyer in (KOWLOON, LION_ROCK, STRAITS):
        fund(world.run, buyer, "100000000")
    return world, out


# ---------------------------------------------------------------------- a trade


def test_a_trade_prints_its_instruction(market):
    world, _ = market
    t = trade(world, HARBOUR, KOWLOON, 100)
    assert t["instruction_id"].startswith("0x") and len(t["instruction_id"]) == 66
    assert (t["cash_amount"], t["currency"], t["accrued"]) == ("4975000.00", "HKD", "0.00")
    assert (t["seller_wallet"], t["buyer_wallet"]) == (dev_address(HARBOUR), dev_address(KOWLOON))
    assert t["status"] == "pending"


def test_a_trade_settles_delivery_versus_payment(market):
    world, out = market
    t = trade(world, HARBOUR, KOWLOON, 100)
    affirm_both(world, t, HARBOUR, KOWLOON)
    r = world.run("settle", "--format", "json")
    assert r.exit_code == 0, r.stderr
    [outcome] = r.json()
    assert (outcome["instruction_id"], outcome["status"], outcome["reason"]) == (t["instruction_id"], "settled", None)

    assert holders(world)["harbour_pension"] == 11_900 and holders(world)["kowloon_life"] == 10_100
    cash = world.run("cash", "balance", "HKD", dev_address(KOWLOON), "--format", "json").json()[0]
    assert cash["balance"] == "95025000.00"  # 100m less 4.975m
    receipt = world.chain().w3.eth.get_transaction_receipt(outcome["tx_hash"])
    tokens = {log["address"] for log in receipt["logs"]}
    assert out["address"] in tokens and len(tokens) == 3  # bond, cash and the venue, in one transaction

    row = settlements(world)[t["instruction_id"]]
    assert row["status"] == "settled" and row["tx_hash"] == outcome["tx_hash"] and row["block_number"] == receipt["blockNumber"]
    assert world.run("reconcile", ISIN).exit_code == 0


def test_the_instruction_id_is_what_the_venue_computes(market):
    world, _ = market
    t = trade(world, HARBOUR, KOWLOON, 100)
    ctx = world.context()
    row = ctx.register.session().get(
        __import__("ledger.register.models", fromlist=["Instruction"]).Instruction, t["instruction_id"]
    )
    dvp = ctx.chain.contract("DvPSettlement", ctx.register.require_contract("dvp").address)
    assert "0x" + dvp.functions.instructionId(data_of(row).as_tuple()).call().hex() == t["instruction_id"]
    assert instruction_id(Venue(31337, dvp.address), data_of(row)) == t["instruction_id"]


def test_the_cash_amount_adds_accrued_interest_to_the_clean_price(market):
    world, _ = market
    t = trade(world, HARBOUR, KOWLOON, 100, price="100", settlement="2024-02-09")
    # two days of 3.8% ACT/365F on HK$5m: 5,000,000 x 0.038 x 2 / 365
    assert t["accrued"] == "1041.10"
    assert t["cash_amount"] == "5001041.10"


def test_settlement_waits_for_the_settlement_date(market):
    world, _ = market
    t = trade(world, HARBOUR, KOWLOON, 100, settlement=None)  # T+2 business days
    assert t["settlement_date"] == "2024-02-09"
    affirm_both(world, t, HARBOUR, KOWLOON)
    assert world.run("settle", "--format", "json").json() == []
    warp_to(world, "2024-02-09")
    assert [o["status"] for o in world.run("settle", "--format", "json").json()] == ["settled"]


def test_an_instruction_needs_both_affirmations(market):
    world, _ = market
    t = trade(world, HARBOUR, KOWLOON, 100)
    assert world.run("affirm", t["instruction_id"], "--dev-account", HARBOUR).exit_code == 0
    assert world.run("settle", "--format", "json").json() == []
    assert settlements(world)[t["instruction_id"]]["status"] == "pending"


# ---------------------------------------------------------------------- batches


def three_trades(world):
    trades = [trade(world, HARBOUR, KOWLOON, 10), trade(world, LION_ROCK, STRAITS, 20), trade(world, VICTORIA, LION_ROCK, 30)]
    for t, (s, b) in zip(trades, ((HARBOUR, KOWLOON), (LION_ROCK, STRAITS), (VICTORIA, LION_ROCK))):
        affirm_both(world, t, s, b)
    return trades


def test_an_all_or_nothing_batch_with_one_ineligible_buyer_settles_nothing(market):
    world, out = market
    trades = three_trades(world)
    agent_freeze(world, out["address"], dev_address(STRAITS), True)  # the second trade's buyer
    before = holders(world)

    r = world.run("settle", "--batch-size", 10, "--format", "json")
    assert r.exit_code == 0
    outcome = {o["instruction_id"]: o for o in r.json()}
    bad = trades[1]["instruction_id"]
    assert outcome[bad]["status"] == "failed"
    assert outcome[bad]["reason"] == "security leg refused: receiver frozen"
    for t in (trades[0], trades[2]):
        assert outcome[t["instruction_id"]]["status"] == "failed"
        assert outcome[t["instruction_id"]]["reason"] == f"batch refused: {bad} security leg refused: receiver frozen"
    assert holders(world) == before, "nothing moved"
    # the reverted transaction is the proof of the attempt
    receipt = world.chain().w3.eth.get_transaction_receipt(outcome[bad]["tx_hash"])
    assert receipt["status"] == 0

    # a retry settles all three once the buyer is eligible again
    agent_freeze(world, out["address"], dev_address(STRAITS), False)
    assert [o["status"] for o in world.run("settle", "--format", "json").json()] == ["settled"] * 3
    assert world.run("reconcile", ISIN).exit_code == 0


def test_a_best_effort_batch_settles_the_others_and_records_why_one_failed(market):
    world, out = market
    trades = three_trades(world)
    agent_freeze(world, out["address"], dev_address(STRAITS), True)

    r = world.run("settle", "--best-effort", "--format", "json")
    outcome = {o["instruction_id"]: o for o in r.json()}
    assert [outcome[t["instruction_id"]]["status"] for t in trades] == ["settled", "failed", "settled"]
    assert outcome[trades[1]["instruction_id"]]["reason"] == "security leg refused: receiver frozen"
    # the failure is a chain event of the batch's (successful) transaction, with its proof
    failed_tx = world.chain().w3.eth.get_transaction_receipt(outcome[trades[1]["instruction_id"]]["tx_hash"])
    assert failed_tx["status"] == 1
    assert holders(world)["kowloon_life"] == 10_010 and holders(world)["lion_rock"] == 8_000 + 30

    agent_freeze(world, out["address"], dev_address(STRAITS), False)
    assert [o["status"] for o in world.run("settle", "--best-effort", "--format", "json").json()] == ["settled"]
    assert world.run("reconcile", ISIN).exit_code == 0


def test_batches_in_flight_while_the_register_indexes_settle_each_instruction_once(market, monkeypatch):
    """settle keeps a few batches in flight and indexes the confirmed ones meanwhile: here two
    one-instruction batches at a time, the register synced after every receipt, one batch refused
    in the middle. Each instruction ends as the chain left it, with one event and one duty row."""
    from issuance import trading

    monkeypatch.setattr(trading, "IN_FLIGHT", 1)  # two batches in flight
    monkeypatch.setattr(trading, "INDEX_EVERY", 1)  # a sync after every receipt with more to come
    partial = []
    sync = trading.indexer.sync
    monkeypatch.setattr(
        trading.indexer, "sync", lambda *a, **k: (partial.append(k["to_block"]) if "to_block" in k else None, sync(*a, **k))[1]
    )
    world, out = market
    trades = three_trades(world)
    trades.append(trade(world, HARBOUR, LION_ROCK, 40))
    affirm_both(world, trades[-1], HARBOUR, LION_ROCK)
    agent_freeze(world, out["address"], dev_address(STRAITS), True)  # the second trade's buyer

    r = world.run("settle", "--batch-size", 1, "--format", "json")
    outcome = {o["instruction_id"]: o for o in r.json()}
    assert [outcome[t["instruction_id"]]["status"] for t in trades] == ["settled", "failed", "settled", "settled"]
    assert outcome[trades[1]["instruction_id"]]["reason"] == "security leg refused: receiver frozen"
    assert len(partial) == 3 and partial == sorted(partial), "indexed after each receipt but the last"
    duty = [d["instruction_id"] for d in world.run("register", "stamp-duty", "--format", "json").json()]
    settled = [t["instruction_id"] for t in trades if outcome[t["instruction_id"]]["status"] == "settled"]
    assert sorted(d for d in duty if d in outcome) == sorted(settled), "one duty row per settled instruction"
    assert {i: settlements(world)[i]["tx_hash"] for i in settled} == {i: outcome[i]["tx_hash"] for i in settled}
    assert world.run("reconcile", ISIN).exit_code == 0
    assert world.run("verify").exit_code == 0


def test_a_buyer_short_of_authorized_cash_fails_on_the_cash_leg_and_nothing_moves(market):
    world, _ = market
    assert world.run("cash", "allow", "HKD", "1000", "--dev-account", KOWLOON).exit_code == 0
    t = trade(world, HARBOUR, KOWLOON, 100)
    affirm_both(world, t, HARBOUR, KOWLOON)
    before = holders(world)
    [o] = world.run("settle", "--best-effort", "--format", "json").json()
    assert (o["status"], o["reason"]) == ("failed", "cash leg refused: insufficient allowance")
    assert holders(world) == before


# ---------------------------------------------------------------------- cancelled, expired, replayed


def test_a_cancelled_instruction_never_settles(market):
    world, _ = market
    t = trade(world, HARBOUR, KOWLOON, 100)
    affirm_both(world, t, HARBOUR, KOWLOON)
    r = world.run("cancel", t["instruction_id"], "--dev-account", KOWLOON)
    assert r.exit_code == 0 and r.stdout.strip() == f"{t['instruction_id']} cancelled"
    assert world.run("settle", "--format", "json").json() == []
    row = settlements(world)[t["instruction_id"]]
    assert row["status"] == "cancelled" and row["tx_hash"]
    dvp = world.chain().contract("DvPSettlement", Register(world.db_url).require_contract("dvp").address)
    assert dvp.functions.isCancelled(bytes.fromhex(t["instruction_id"][2:])).call()
    again = world.run("cancel", t["instruction_id"], "--dev-account", HARBOUR)
    assert again.exit_code == 2 and "is cancelled; it cannot be cancelled" in again.stderr


def test_only_a_party_can_affirm_or_cancel(market):
    world, _ = market
    t = trade(world, HARBOUR, KOWLOON, 100)
    for command in ("affirm", "cancel"):
        r = world.run(command, t["instruction_id"], "--dev-account", 9)
        assert r.exit_code == 2 and f"{dev_address(9)} is neither the seller nor the buyer" in r.stderr


def test_an_instruction_past_its_expiry_is_expired_and_never_settles(market):
    world, _ = market
    t = trade(world, HARBOUR, KOWLOON, 100, expiry_days=1)
    affirm_both(world, t, HARBOUR, KOWLOON)
    warp_to(world, "2024-02-09")
    assert world.run("sync").exit_code == 0
    row = settlements(world)[t["instruction_id"]]
    assert (row["status"], row["reason"]) == ("expired", "expired before it settled")
    assert world.run("settle", "--format", "json").json() == []


def test_a_replayed_signature_is_rejected(market):
    world, _ = market
    t = trade(world, HARBOUR, KOWLOON, 100)
    affirm_both(world, t, HARBOUR, KOWLOON)
    assert [o["status"] for o in world.run("settle", "--format", "json").json()] == ["settled"]

    ctx = world.context()
    from ledger.register import models

    with ctx.register.session() as s:
        row = s.get(models.Instruction, t["instruction_id"])
        sigs = {
            a.party: a.signature
            for a in s.exec(select(models.Affirmation).where(models.Affirmation.instruction_id == row.instruction_id))
        }
    dvp = ctx.chain.contract("DvPSettlement", ctx.register.require_contract("dvp").address)
    replay = dvp.functions.settle(data_of(row).as_tuple(), sigs["seller"], sigs["buyer"])
    with pytest.raises(Exception) as exc:
        replay.call({"from": ctx.signer.address})
    assert "SettlementRefused" in describe_revert(exc.value.data) and "reason=2" in describe_revert(exc.value.data)

    # the same signatures over a different instruction (another quantity) are not the parties'
    other = data_of(row).__class__(**{**data_of(row).__dict__, "quantity": 101, "nonce": row.nonce + 1000})
    with pytest.raises(Exception) as exc:
        dvp.functions.settle(other.as_tuple(), sigs["seller"], sigs["buyer"]).call({"from": ctx.signer.address})
    assert "reason=3" in describe_revert(exc.value.data)  # bad seller signature
    assert holders(world)["kowloon_life"] == 10_100, "settled once"


# ---------------------------------------------------------------------- capture refusals


@pytest.mark.parametrize(
    "args, expect",
    [
        (
            ["--seller", "harbour_pension", "--buyer", "chan_tai_man"],
            "cannot move from harbour_pension to chan_tai_man now: category not allowed",
        ),
        (["--seller", "harbour_pension", "--buyer", "ghost"], "investor: ghost is not a known investor"),
        (["--seller", "harbour_pension", "--buyer", "harbour_pension"], "--buyer: harbour_pension is also the seller"),
        (
            ["--seller", "victoria_peak", "--buyer", "kowloon_life", "--quantity", "5000"],
            "cannot move from victoria_peak to kowloon_life now: insufficient balance",
        ),
        (["--seller", "harbour_pension", "--buyer", "kowloon_life", "--price", "-1"], "--price: -1 must be positive"),
        (
            ["--seller", "harbour_pension", "--buyer", "kowloon_life", "--settlement-date", "2026-03-01"],
            "is outside the bond's life",
        ),
        (
            [
                "--seller",
                "harbour_pension",
                "--buyer",
                "kowloon_life",
                "--trade-date",
                "2024-02-08",
                "--settlement-date",
                "2024-02-07",
            ],
            "is before the trade date",
        ),
    ],
)
def test_a_trade_that_cannot_settle_is_refused_at_capture(market, args, expect):
    world, _ = market
    full = {"--quantity": "100", "--price": "99.5"}
    for i in range(0, len(args), 2):
        full[args[i]] = args[i + 1]
    before = chain_state(world.rpc_url), register_counts(world.db_url)
    r = world.run("trade", ISIN, *[x for kv in full.items() for x in kv])
    assert r.exit_code == 2 and expect in r.stderr, r.stderr
    assert (chain_state(world.rpc_url), register_counts(world.db_url)) == before


# ---------------------------------------------------------------------- stamp duty


def test_every_settled_bond_trade_has_a_not_chargeable_duty_row(market):
    world, _ = market
    t = trade(world, HARBOUR, KOWLOON, 100)
    affirm_both(world, t, HARBOUR, KOWLOON)
    world.run("settle")
    [row] = world.run("register", "stamp-duty", "--format", "json").json()
    assert row["instruction_id"] == t["instruction_id"] and row["isin"] == ISIN
    assert (row["treatment"], row["consideration"]) == ("not_chargeable", "4975000.00")
    assert (row["duty_without_relief"], row["duty_buyer"], row["duty_seller"]) == ("0.00", "0.00", "0.00")
    assert "Loan capital" in row["basis"]
    assert world.run("register", "stamp-duty", "--from", "2024-02-08", "--format", "json").json() == []
    header = world.run("register", "stamp-duty", "--format", "csv").stdout.splitlines()[0].split(",")
    assert header[:9] == [
        "instruction_id",
        "isin",
        "instrument_class",
        "treatment",
        "currency",
        "consideration",
        "duty_without_relief",
        "duty_buyer",
        "duty_seller",
    ]


def test_a_duty_assessment_never_changes_once_written(market):
    world, _ = market
    t = trade(world, HARBOUR, KOWLOON, 100)
    affirm_both(world, t, HARBOUR, KOWLOON)
    world.run("settle")
    first = world.run("register", "stamp-duty", "--format", "json").json()
    assert world.run("sync").exit_code == 0
    assert world.run("register", "stamp-duty", "--format", "json").json() == first


def test_everything_reconciles_after_a_day_of_trading(market):
    world, _ = market
    for s, b, q in ((HARBOUR, KOWLOON, 10), (KOWLOON, LION_ROCK, 5), (LION_ROCK, STRAITS, 7), (STRAITS, HARBOUR, 3)):
        affirm_both(world, trade(world, s, b, q, price="101.25"), s, b)
    fund(world.run, HARBOUR, "10000000")
    outcomes = world.run("settle", "--batch-size", 2, "--format", "json").json()
    assert [o["status"] for o in outcomes] == ["settled"] * 4
    assert sum(holders(world).values()) == 40_000
    report = world.run("reconcile", ISIN, "--format", "json").json()
    assert report["ok"], report["breaks"]
    assert Decimal(sum(Decimal(r["consideration"]) for r in world.run("register", "stamp-duty", "--format", "json").json())) > 0
