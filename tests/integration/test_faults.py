"""The fault suite: bondledger's writing commands interrupted for real, then run again.

- kill -9: `sync`, `settle`, `coupon pay`, `issue` and `redeem` run as their own processes and
  are killed with SIGKILL after a random delay, several times over; then run to the end;
- node restart: anvil is stopped under a running `settle` and `coupon pay` (its state dumped
  on the way out, as a node's database survives a restart) and started again from that state;
- two writers: two `settle`s or two `sync`s at once on one PostgreSQL register, one of them
  killed with SIGKILL.

Each scenario ends with a run that finishes, `reconcile` and `verify` clean, and every
allocation, instruction and payment exactly once as the chain's events and balances have it,
not only as the register says.

The kill and restart points come from a seed printed in pytest's header (`fault seed: N`) and
with each failure; `BONDLEDGER_FAULT_SEED=N` gives the same points again. A point is a place in
the command's own progress (blocks its transactions mined, then CPU it used), not on the wall
clock, so a busy machine moves it little. No timing is asserted: TIMEOUT only bounds a stuck process.
"""

import gzip
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest
from sqlmodel import select

from conftest import FAULT_SEED_ENV, ISSUE_DAY, World
from helpers import EXAMPLES, dev_address, fund
from issuance import trading
from ledger.chain import devnet, keys
from ledger.register import models
from ledger.chain import Signer

ISIN = "HK0000987658"
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 300  # seconds a process may take before the test fails (a hang would reach it)
SELLER, BUYERS = 1, (2, 3, 4)
NAMES = {1: "harbour_pension", 2: "kowloon_life", 3: "lion_rock", 4: "straits_capital", 5: "victoria_peak"}
#: the sample allocations (examples/allocations.csv): anvil account -> bonds of HK$50,000
ALLOTTED = {1: 12_000, 2: 10_000, 3: 8_000, 4: 7_000, 5: 3_000}
ISSUE = ("issue", EXAMPLES / "green_bond_hkd.toml", "--allocations", EXAMPLES / "allocations.csv")
postgres_only = pytest.mark.parametrize("register_backend", ["postgresql"], indirect=True)


@cache
def account(index: int):
    return keys.dev_account(index)


class Faults:
    """Seeded random fault points, and what was done at them (printed when a test fails)."""

    def __init__(self, seed: str, test: str):
        self.seed, self.rng, self.log = seed, random.Random(f"{seed}/{test}"), []

    def delay(self, low: float, high: float) -> float:
        return round(self.rng.uniform(low, high), 3)

    def note(self, what: str) -> None:
        self.log.append(what)
        print(f"[fault seed {self.seed}] {what}")

    def __str__(self) -> str:
        return f"{FAULT_SEED_ENV}={self.seed}: " + "; ".join(self.log)


@pytest.fixture
def faults(request) -> Faults:
    return Faults(os.environ[FAULT_SEED_ENV], request.node.nodeid)


# ---------------------------------------------------------------------- processes


def start(world: World, *args, home: Path) -> subprocess.Popen:
    """`bondledger ARGS` as its own process against `world`."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BONDLEDGER_RPC_URL": world.rpc_url,
        "BONDLEDGER_DB": world.db_url,
        "BONDLEDGER_HOME": str(home),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "issuance.cli", *map(str, args)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reach(proc: subprocess.Popen, chain, blocks: int, cpu: float) -> str | None:
    """Waits until the process has had `blocks` blocks mined (its transactions: automine) and
    then used `cpu` more seconds of CPU; where it is then, in words, or None if it ended first.
    Points in the process's own work, not on the wall clock, so that a busy machine moves them
    little and the seed gives about the same point again."""
    deadline, first = time.monotonic() + TIMEOUT, chain.block_number()
    mined, used_at_block = 0, None
    while proc.poll() is None:
        assert time.monotonic() < deadline, f"{proc.args} still running after {TIMEOUT} s"
        try:
            used = cpu_seconds(proc.pid)
        except (FileNotFoundError, ProcessLookupError):  # ended between poll and read
            continue
        if used_at_block is None:
            mined = chain.block_number() - first
            if mined < blocks:
                time.sleep(0.005)
                continue
            used_at_block = used
        if used - used_at_block >= cpu:
            return f"after {mined} block(s) and {used - used_at_block:.2f} s of CPU more ({used:.2f} s in all)"
        time.sleep(0.002)
    return None


def kill_after(proc: subprocess.Popen, chain, blocks: int, cpu: float) -> str:
    """SIGKILL at that point (`reach`), unless the process ended first; what happened, in words."""
    where = reach(proc, chain, blocks, cpu)
    if where is not None:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=TIMEOUT)
        return f"killed {where}"
    out, err = proc.communicate()
    assert "Traceback" not in err, err
    return f"ended (exit {proc.returncode}) before {blocks} block(s) and {cpu} s of CPU more"


def kill_repeatedly(world: World, args, faults: Faults, home: Path, kills: int, blocks: int) -> None:
    """Runs `bondledger ARGS` `kills` times, each killed at a random point: after 0 to `blocks`
    blocks of its transactions (about what a whole run sends), then a little more CPU (at 0
    blocks: 1 to 3 s of CPU, which is start-up, reading and checking before anything is sent).
    A run that ends first just ends; the next one starts from where the last one left off."""
    chain = world.chain()
    for n in range(kills):
        k = faults.rng.randint(0, blocks)
        cpu = faults.delay(0, 0.4) if k else faults.delay(1.0, 3.0)
        block = chain.block_number()
        what = kill_after(start(world, *args, home=home), chain, k, cpu)
        faults.note(f"{args[0]} run {n + 1}: {what}; {chain.block_number() - block} block(s) mined by it")


def finish(world: World, *args, already: str | None = None):
    """The last run, to the end: exit 0, or (when a killed run had done all of it on chain) exit 2
    saying so in one line containing `already`, the register indexed up to what the chain holds
    (what the killed run had not recorded yet is in it: the checks that follow hold it to the chain)."""
    r = world.run(*args)
    if r.exit_code == 2 and already and already in r.stderr:
        assert len(r.stderr.splitlines()) == 1, r.stderr
        return None
    assert r.exit_code == 0, r.stderr
    return r


def assert_clean(world: World, isin: str = ISIN) -> None:
    r = world.run("reconcile", isin, "--format", "json")
    assert r.exit_code == 0, r.stdout
    r = world.run("verify", "--format", "json")
    assert r.exit_code == 0, r.stdout


# ---------------------------------------------------------------------- the chain's own account


def events(world: World, artifact: str, address: str, name: str) -> list[dict]:
    """Every `name` event `address` emitted, decoded, from genesis."""
    contract = world.chain().contract(artifact, address)
    return [dict(log["args"]) for log in getattr(contract.events, name)().get_logs(from_block=0)]


def addresses(world: World) -> tuple[str, str, str]:
    """(bond, venue, paying agent) as the register has them."""
    reg = world.context().register
    bond = reg.require_contract("bond", ISIN).address
    return bond, reg.require_contract("dvp").address, reg.require_contract("paying_agent").address


def balance(world: World, artifact: str, token: str, index: int) -> int:
    return world.chain().contract(artifact, token).functions.balanceOf(dev_address(index)).call()


def hkd(world: World) -> str:
    return world.context().register.require_contract("cash", "HKD").address


def assert_each_allocation_settled_once(world: World) -> None:
    bond, dvp, _ = addresses(world)
    settled = [e for e in events(world, "DvPSettlement", dvp, "IssuanceSettled") if e["token"] == bond]
    assert Counter(e["allocationId"] for e in settled) == Counter({e["allocationId"]: 1 for e in settled})
    assert {e["investor"]: e["quantity"] for e in settled} == {dev_address(i): q for i, q in ALLOTTED.items()}
    assert len(settled) == len(ALLOTTED)
    for index, quantity in ALLOTTED.items():
        assert balance(world, "BondToken", bond, index) == quantity
        assert balance(world, "CashToken", hkd(world), index) == 0  # funded with exactly its principal, paid once


def assert_each_holder_paid_once(world: World, kind: str, coupon_id: int, holders: dict[int, int]) -> int:
    """Each of `holders` (account -> quantity) paid exactly once on chain, and the register
    holding exactly those payments; the total paid."""
    bond, _, agent = addresses(world)
    if kind == "coupon":
        paid = [e for e in events(world, "PayingAgent", agent, "CouponPaid") if e["bond"] == bond and e["couponId"] == coupon_id]
        done = [
            e for e in events(world, "PayingAgent", agent, "CouponCompleted") if e["bond"] == bond and e["couponId"] == coupon_id
        ]
    else:
        paid = [e for e in events(world, "PayingAgent", agent, "PrincipalPaid") if e["bond"] == bond]
        done = [e for e in events(world, "PayingAgent", agent, "RedemptionCompleted") if e["bond"] == bond]
    assert sorted(e["holder"] for e in paid) == sorted(dev_address(i) for i in holders), paid
    assert {e["holder"]: e["quantity"] for e in paid} == {dev_address(i): q for i, q in holders.items()}
    assert len(done) == 1
    p = models.Payment
    with world.context().register.session() as s:
        rows = s.exec(select(p.holder, p.amount, p.tx_hash).where(p.bond == bond, p.kind == kind, p.coupon_id == coupon_id)).all()
    assert sorted((h, a) for h, a, _ in rows) == sorted((e["holder"], e["amount"]) for e in paid)
    return sum(e["amount"] for e in paid)


def warp_to(world: World, day: str) -> None:
    chain = world.chain()
    chain.rpc("evm_setNextBlockTimestamp", [int(datetime.fromisoformat(day).replace(hour=2, tzinfo=timezone.utc).timestamp())])
    chain.rpc("evm_mine", [])


# ---------------------------------------------------------------------- trades


def market(world: World, n: int) -> list[str]:
    """`n` affirmed one-bond trades from the seller to the buyers in turn (their cash funded);
    their instruction ids."""
    for buyer in BUYERS:
        fund(world.run, buyer, "10000000")
    ctx = world.context()
    ids = []
    for k in range(n):
        buyer = BUYERS[k % len(BUYERS)]
        row = trading.capture_trade(ctx, ISIN, NAMES[SELLER], NAMES[buyer], 1, Decimal("99.50"), settlement_date=date(2024, 2, 7))
        trading.affirm(ctx, row.instruction_id, account(SELLER))
        trading.affirm(ctx, row.instruction_id, account(buyer))
        ids.append(row.instruction_id)
    return ids


def assert_each_instruction_settled_once(world: World, ids: list[str]) -> None:
    bond, dvp, _ = addresses(world)
    settled = events(world, "DvPSettlement", dvp, "InstructionSettled")
    assert Counter("0x" + e["instructionId"].hex() for e in settled) == Counter({iid: 1 for iid in ids})
    i = models.Instruction
    with world.context().register.session() as s:
        statuses = dict(s.exec(select(i.instruction_id, i.status)).all())
    assert statuses == {iid: "settled" for iid in ids}
    moved = Counter(BUYERS[k % len(BUYERS)] for k in range(len(ids)))
    assert balance(world, "BondToken", bond, SELLER) == ALLOTTED[SELLER] - len(ids)
    for buyer in BUYERS:
        assert balance(world, "BondToken", bond, buyer) == ALLOTTED[buyer] + moved[buyer]


# ---------------------------------------------------------------------- kill -9


def test_a_killed_issue_rerun_settles_every_allocation_once(funded, faults, tmp_path):
    args = (*ISSUE, "--batch-size", "1")
    kill_repeatedly(funded, args, faults, tmp_path, kills=3, blocks=6)
    finish(funded, *args)
    assert_each_allocation_settled_once(funded)
    bond, _, _ = addresses(funded)
    assert funded.chain().contract("BondToken", bond).functions.isin().call() == ISIN
    holders = funded.run("register", "holders", ISIN, "--format", "json").json()
    assert sorted(h["quantity"] for h in holders) == sorted(ALLOTTED.values()), faults
    assert_clean(funded)


def test_a_killed_settle_rerun_settles_every_instruction_once(issued, faults, tmp_path):
    world, _ = issued
    ids = market(world, 16)
    args = ("settle", "--batch-size", "2")
    kill_repeatedly(world, args, faults, tmp_path, kills=3, blocks=8)
    finish(world, *args)
    assert_each_instruction_settled_once(world, ids)
    assert_clean(world)


def test_a_killed_coupon_payment_rerun_pays_each_holder_once(issued, faults, tmp_path):
    world, _ = issued
    warp_to(world, "2024-08-07")
    args = ("coupon", "pay", ISIN, "--date", "2024-08-07")
    before = {i: balance(world, "CashToken", hkd(world), i) for i in ALLOTTED}
    kill_repeatedly(world, args, faults, tmp_path, kills=3, blocks=4)
    finish(world, *args, already="is already paid")
    total = assert_each_holder_paid_once(world, "coupon", 1, ALLOTTED)
    after = {i: balance(world, "CashToken", hkd(world), i) for i in ALLOTTED}
    assert sum(after.values()) - sum(before.values()) == total > 0
    assert_clean(world)


def test_a_killed_redemption_rerun_pays_each_holder_once(issued, faults, tmp_path):
    world, out = issued
    warp_to(world, "2026-02-09")
    assert world.run("cash", "mint", "HKD", dev_address(0), "400000000").exit_code == 0  # the issuer funds the principal
    kill_repeatedly(world, ("redeem", ISIN), faults, tmp_path, kills=3, blocks=16)
    finish(world, "redeem", ISIN, already="is already redeemed")
    for coupon in (1, 2, 3, 4):
        assert_each_holder_paid_once(world, "coupon", coupon, ALLOTTED)
    principal = assert_each_holder_paid_once(world, "redemption", 0, ALLOTTED)
    assert principal == 2_000_000_000 * 100  # HK$2bn in cents, once
    bond = world.chain().contract("BondToken", out["address"]).functions
    assert bond.isRedeemed().call() and bond.totalSupply().call() == 0
    assert_clean(world)


def hkd_transfers(world: World, n: int) -> None:
    """`n` HKD transfers between two investors, sent straight to the chain (for sync to find)."""
    assert world.run("cash", "mint", "HKD", dev_address(2), "1000000").exit_code == 0
    ctx = world.context()
    cash = ctx.chain.contract("CashToken", hkd(world))
    signer = Signer(ctx.chain, account(2))
    fees = signer.fees()
    sent = [signer.send_data(cash.address, cash.encode_abi("transfer", [dev_address(3), 1 + k]), 100_000, fees) for k in range(n)]
    for tx in sent:
        signer.wait_raw(tx, "transfer")


def assert_register_has_every_transfer_once(world: World, token: str) -> None:
    chain = world.chain()
    logs = chain.contract("CashToken", token).events.Transfer().get_logs(from_block=0)
    on_chain = Counter((log["transactionHash"].to_0x_hex(), log["logIndex"]) for log in logs)
    t = models.Transfer
    with world.context().register.session() as s:
        rows = Counter(s.exec(select(t.tx_hash, t.log_index).where(t.token == token)).all())
    assert rows == on_chain
    assert set(rows.values()) == {1}


def test_a_killed_sync_rerun_records_every_transfer_once(issued, faults, tmp_path):
    world, _ = issued
    hkd_transfers(world, 80)
    kill_repeatedly(world, ("sync",), faults, tmp_path, kills=3, blocks=0)
    finish(world, "sync")
    assert_register_has_every_transfer_once(world, hkd(world))
    assert_clean(world)


# ---------------------------------------------------------------------- node restart


class RestartingNode:
    """An anvil on a fixed port whose state survives a restart: dumped to `state` when it stops
    (SIGTERM), loaded from it when it starts, its clock going on from the last block.

    anvil makes a genesis block of its own at start, from --timestamp, and the loaded state keeps
    it beside the chain's: the sample chain's genesis time keeps the two one block (and the
    chain's genesis hash, which the register is bound to, unchanged); the clock is then set past
    the last block, as a restarted node's clock would be."""

    def __init__(self, state: Path, log_dir: Path):
        self.state, self.log_dir, self.port, self.node = state, log_dir, devnet.free_port(), None

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = ["--load-state", str(self.state), "--dump-state", str(self.state), "--timestamp", ISSUE_DAY]
        self.node = devnet.Devnet.start(self.port, self.log_dir, args)
        chain = self.node.chain()
        chain.rpc("evm_setTime", [chain.now() + 1])

    def stop(self) -> None:
        self.node.stop(timeout=30)  # SIGTERM: anvil writes its state on the way out


@pytest.fixture
def restarting(issued, tmp_path):
    """The issued sample world moved onto a node of its own that can be restarted."""
    world, _ = issued
    state = tmp_path / "anvil-state.json"
    state.write_bytes(gzip.decompress(bytes.fromhex(world.chain().rpc("anvil_dumpState", [])[2:])))
    node = RestartingNode(state, tmp_path)
    node.start()
    try:
        yield World(node.rpc_url, world.db_url), node
    finally:
        node.stop()


def restart_under(world: World, node: RestartingNode, args, faults: Faults, home: Path, blocks: int) -> None:
    """Runs `bondledger ARGS` and restarts the node under it at a random point (as `kill_repeatedly`
    picks one); the command rides the restart out or stops with one line saying what it knows
    (never a traceback)."""
    k = faults.rng.randint(0, blocks)
    cpu, down = (faults.delay(0, 0.4) if k else faults.delay(1.0, 3.0)), faults.delay(0.1, 1.5)
    proc = start(world, *args, home=home)
    where = reach(proc, world.chain(), k, cpu)
    if where is None:
        faults.note(f"{args[0]} ended before {k} block(s) and {cpu} s of CPU more")
    else:
        node.stop()
        time.sleep(down)  # the node down for a while, as a restart takes
        node.start()
        faults.note(f"node stopped under {args[0]} {where}, down {down} s")
    out, err = proc.communicate(timeout=TIMEOUT)
    assert "Traceback" not in err, (faults, err)
    faults.note(f"{args[0]} exit {proc.returncode}: {err.strip()}")
    if proc.returncode != 0:
        assert proc.returncode == 1 and len(err.splitlines()) == 1, (faults, proc.returncode, err)


def test_a_node_restarted_under_settle_and_coupon_pay_ends_with_each_once(restarting, faults, tmp_path):
    world, node = restarting
    ids = market(world, 16)
    restart_under(world, node, ("settle", "--batch-size", "2"), faults, tmp_path, blocks=8)
    finish(world, "settle")
    assert_each_instruction_settled_once(world, ids)

    warp_to(world, "2024-08-07")
    args = ("coupon", "pay", ISIN, "--date", "2024-08-07")
    restart_under(world, node, args, faults, tmp_path, blocks=4)
    finish(world, *args, already="is already paid")
    moved = Counter(BUYERS[k % len(BUYERS)] for k in range(len(ids)))
    holders = {**ALLOTTED, SELLER: ALLOTTED[SELLER] - len(ids), **{b: ALLOTTED[b] + moved[b] for b in BUYERS}}
    assert_each_holder_paid_once(world, "coupon", 1, holders)
    assert_clean(world)


# ---------------------------------------------------------------------- two writers, one killed


@postgres_only
def test_two_settles_at_once_one_killed_settle_every_instruction_once(issued, faults, tmp_path):
    world, _ = issued
    ids = market(world, 16)
    args = ("settle", "--batch-size", "2")
    survivor, victim = start(world, *args, home=tmp_path), start(world, *args, home=tmp_path)
    faults.note(f"second settle: {kill_after(victim, world.chain(), faults.rng.randint(0, 8), faults.delay(0, 0.4))}")
    out, err = survivor.communicate(timeout=TIMEOUT)
    assert survivor.returncode == 0 and "Traceback" not in err, (faults, err)
    finish(world, *args)
    assert_each_instruction_settled_once(world, ids)
    assert_clean(world)


@postgres_only
def test_two_syncs_at_once_one_killed_record_every_transfer_once(issued, faults, tmp_path):
    world, _ = issued
    hkd_transfers(world, 80)
    survivor, victim = start(world, "sync", home=tmp_path), start(world, "sync", home=tmp_path)
    faults.note(f"second sync: {kill_after(victim, world.chain(), 0, faults.delay(1.5, 3.0))}")
    out, err = survivor.communicate(timeout=TIMEOUT)
    assert survivor.returncode == 0 and "Traceback" not in err, (faults, err)
    finish(world, "sync")
    assert_register_has_every_transfer_once(world, hkd(world))
    assert_clean(world)
