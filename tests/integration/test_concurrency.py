"""Two writers on one register, as two operators or a cron overlap make them: real processes
started together against a real anvil, on SQLite and PostgreSQL. The register never contradicts
the chain: every instruction settles once and says so, nonces are distinct, two syncs neither
duplicate nor lose rows, and a status that contradicts the chain is a break of verify and
reconcile."""

import json
import os
import subprocess
import sys
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import select

from conftest import both_backends
from helpers import dev_address, fund
from issuance import trading
from ledger.chain import keys
from ledger.register import models, statuses
from ledger.chain import Signer
from ledger.instructions import instruction_id

pytestmark = both_backends

ISIN = "HK0000987658"
HARBOUR, KOWLOON, LION_ROCK, STRAITS = 1, 2, 3, 4
NAMES = {1: "harbour_pension", 2: "kowloon_life", 3: "lion_rock", 4: "straits_capital"}
BUYERS = (KOWLOON, LION_ROCK, STRAITS)
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 300  # seconds a process may take before the test fails (a deadlock would reach it)


@cache
def account(index: int):
    return keys.dev_account(index)


@pytest.fixture
def market(issued):
    world, out = issued
    for buyer in BUYERS:
        fund(world.run, buyer, "100000000")
    return world, out


def together(world, *commands: list[str], home: Path) -> list[subprocess.CompletedProcess]:
    """Starts every command at once as its own process (bondledger's CLI, or `-c` Python code),
    and waits for all of them."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BONDLEDGER_RPC_URL": world.rpc_url,
        "BONDLEDGER_DB": world.db_url,
        "BONDLEDGER_HOME": str(home),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, *(c if c[0] == "-c" else ["-m", "issuance.cli", *c])],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for c in commands
    ]
    done = []
    for p in procs:
        out, err = p.communicate(timeout=TIMEOUT)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done


def capture(ctx, n: int, seller: int = HARBOUR) -> list[str]:
    """n affirmed one-bond trades from `seller` to the buyers in turn; their instruction ids."""
    ids = []
    for k in range(n):
        buyer = BUYERS[k % len(BUYERS)]
        row = trading.capture_trade(ctx, ISIN, NAMES[seller], NAMES[buyer], 1, Decimal("99.50"), settlement_date=date(2024, 2, 7))
        trading.affirm(ctx, row.instruction_id, account(seller))
        trading.affirm(ctx, row.instruction_id, account(buyer))
        ids.append(row.instruction_id)
    return ids


def settled_on_chain(world) -> dict[str, int]:
    """instruction id -> how many InstructionSettled events the venue emitted for it."""
    ctx = world.context()
    dvp = ctx.register.require_contract("dvp")
    topic = next(t for t, name in statuses._topics().items() if name == "settled")
    logs = ctx.chain.rpc(
        "eth_getLogs", [{"fromBlock": hex(dvp.deploy_block), "toBlock": "latest", "address": dvp.address, "topics": [topic]}]
    )
    counts: dict[str, int] = {}
    for log in logs:
        counts[log["topics"][1]] = counts.get(log["topics"][1], 0) + 1
    return counts


def register_statuses(world) -> dict[str, tuple[str, int]]:
    i = models.Instruction
    with world.context().register.session() as s:
        return {iid: (status, nonce) for iid, status, nonce in s.exec(select(i.instruction_id, i.status, i.nonce))}


def assert_clean(world) -> None:
    r = world.run("reconcile", ISIN, "--format", "json")
    assert r.exit_code == 0, r.stdout
    r = world.run("verify", "--format", "json")
    assert r.exit_code == 0, r.stdout


def assert_no_traceback(results) -> None:
    for r in results:
        assert "Traceback" not in r.stderr, r.stderr
        assert r.returncode == 0, r.stderr


def test_two_settles_at_once_settle_every_instruction_exactly_once(market, tmp_path):
    world, _ = market
    ids = capture(world.context(), 50)
    results = together(
        world,
        ["settle", "--batch-size", "10", "--format", "json"],
        ["settle", "--batch-size", "10", "--format", "json"],
        home=tmp_path,
    )
    assert_no_traceback(results)
    # each instruction reported settled by exactly one of them (whether the second had to wait
    # depends on scheduling, so it is not asserted)
    reported = [o for r in results for o in json.loads(r.stdout)]
    assert sorted(o["instruction_id"] for o in reported) == sorted(ids)
    assert {o["status"] for o in reported} == {"settled"}

    assert settled_on_chain(world) == {iid: 1 for iid in ids}
    assert {iid: s for iid, (s, _) in register_statuses(world).items()} == {iid: "settled" for iid in ids}
    assert_clean(world)


CAPTURE = """
import sys
from datetime import date
from decimal import Decimal
from issuance.context import Context
from issuance.trading import capture_trade
ctx = Context.open()
for n in range(int(sys.argv[1])):
    row = capture_trade(ctx, "{isin}", "harbour_pension", sys.argv[2], 1, Decimal("99.50"), settlement_date=date(2024, 2, 7))
    print(row.instruction_id)
"""


def test_trades_captured_at_once_get_distinct_nonces_and_all_settle(market, tmp_path):
    world, _ = market
    code = CAPTURE.replace("{isin}", ISIN)
    results = together(world, ["-c", code, "8", NAMES[KOWLOON]], ["-c", code, "8", NAMES[LION_ROCK]], home=tmp_path)
    assert_no_traceback(results)
    ids = [line for r in results for line in r.stdout.split()]
    assert len(set(ids)) == 16
    rows = register_statuses(world)
    assert len({rows[iid][1] for iid in ids}) == 16, "distinct nonces"

    ctx = world.context()
    for iid in ids:
        buyer = KOWLOON if iid in results[0].stdout else LION_ROCK
        trading.affirm(ctx, iid, account(HARBOUR))
        trading.affirm(ctx, iid, account(buyer))
    outcomes = world.run("settle", "--batch-size", "50", "--format", "json").json()
    assert sorted(o["instruction_id"] for o in outcomes) == sorted(ids)
    assert {o["status"] for o in outcomes} == {"settled"}
    assert_clean(world)


def test_two_syncs_at_once_neither_duplicate_nor_lose_rows(market, tmp_path):
    world, _ = market
    ctx = world.context()
    cash = ctx.chain.contract("CashToken", ctx.register.require_contract("cash", "HKD").address)
    signer = Signer(ctx.chain, account(KOWLOON))
    fees = signer.fees()
    sent = [
        signer.send_data(cash.address, cash.encode_abi("transfer", [dev_address(LION_ROCK), 1 + k]), 100_000, fees)
        for k in range(60)
    ]
    for tx in sent:
        signer.wait_raw(tx, "transfer")
    before = len(register_transfers(world))

    results = together(world, ["sync"], ["sync"], home=tmp_path)
    assert_no_traceback(results)
    assert len(register_transfers(world)) == before + 60
    assert len(set(register_transfers(world))) == before + 60
    assert_clean(world)


def register_transfers(world) -> list[tuple[str, int]]:
    t = models.Transfer
    with world.context().register.session() as s:
        return list(s.exec(select(t.tx_hash, t.log_index)))


def test_a_status_that_contradicts_the_chain_is_a_break(market):
    world, _ = market
    ctx = world.context()
    [settled, other] = capture(ctx, 2)
    assert world.run("settle", "--batch-size", "1", "--format", "json").exit_code == 0
    assert_clean(world)
    i = models.Instruction
    with ctx.register.engine.begin() as conn:  # as the race of two settles used to leave it
        conn.execute(update(i).where(i.instruction_id == settled).values(status="failed", reason="nonce used"))

    r = world.run("verify", "--format", "json")
    assert r.exit_code == 1
    [problem] = r.json()["problems"]
    assert (problem["check"], problem["where"]) == ("status", settled)
    assert problem["what"].startswith("failed in the register, settled on chain")
    r = world.run("reconcile", ISIN, "--format", "json")
    assert r.exit_code == 1
    assert [(b["kind"], b["subject"], b["register"], b["chain"]) for b in r.json()["breaks"]] == [
        ("instruction_status", settled, "failed", "settled")
    ]
    assert register_statuses(world)[other][0] == "settled"  # untouched, and no break


def test_an_instruction_that_can_never_settle_leaves_its_batch(market):
    """Two instructions with one nonce (a register restored from a backup, or two registers on one
    venue): once one settles, the other can never; in an all-or-nothing batch it used to refuse
    the batch on every retry, holding back every instruction with it."""
    world, _ = market
    ctx = world.context()
    first, second = capture(ctx, 2)
    with ctx.register.session() as s:
        row = s.get(models.Instruction, first)
        clash = models.Instruction(**{**row.model_dump(), "quantity": 2, "cash_amount": row.cash_amount * 2})
        clash.instruction_id = instruction_id(trading.venue(ctx), trading.data_of(clash))
        s.add(clash)
        s.commit()
    trading.affirm(ctx, clash.instruction_id, account(HARBOUR))
    trading.affirm(ctx, clash.instruction_id, account(KOWLOON))

    outcomes = {o["instruction_id"]: o for o in world.run("settle", "--batch-size", "10", "--format", "json").json()}
    assert (outcomes[first]["status"], outcomes[second]["status"]) == ("settled", "settled")
    assert outcomes[clash.instruction_id]["status"] == "failed"
    assert outcomes[clash.instruction_id]["reason"] == "nonce used"
    # a retry leaves it out before sending anything, and says why
    block = ctx.chain.block_number()
    [again] = world.run("settle", "--format", "json").json()
    assert again["instruction_id"] == clash.instruction_id and again["status"] == "failed"
    assert "can never settle" in again["reason"]
    assert ctx.chain.block_number() == block, "nothing sent"
    assert_clean(world)


def test_two_coupon_payments_at_once_pay_each_holder_once_and_payments_reconcile(issued, tmp_path):
    world, _ = issued
    chain = world.chain()
    chain.rpc("evm_setNextBlockTimestamp", [int(datetime(2024, 8, 7, 2, tzinfo=timezone.utc).timestamp())])
    chain.rpc("evm_mine", [])
    results = together(world, ["coupon", "pay", ISIN], ["coupon", "pay", ISIN], home=tmp_path)
    for r in results:
        assert "Traceback" not in r.stderr, r.stderr
    # one paid; the other waited for it, then found the coupon paid: bad input, exit 2, one line
    assert sorted(r.returncode for r in results) == [0, 2], [r.stderr for r in results]
    [loser] = [r for r in results if r.returncode == 2]
    *waited, error = loser.stderr.splitlines()
    assert error.startswith("error: ") and all("waiting for it to end" in line for line in waited)
    p = models.Payment
    ctx = world.context()
    with ctx.register.session() as s:
        holders = list(s.exec(select(p.holder).where(p.kind == "coupon", p.coupon_id == 1)))
    assert len(holders) == len(set(holders)) == 5
    assert_clean(world)

    with ctx.register.engine.begin() as conn:  # a payment edited behind bondledger's back
        conn.execute(update(p).where(p.holder == dev_address(HARBOUR)).values(amount=p.amount + 1))
    r = world.run("reconcile", ISIN, "--format", "json")
    assert r.exit_code == 1
    assert ("paid_amount", "coupon 1") in [(b["kind"], b["subject"]) for b in r.json()["breaks"]]
