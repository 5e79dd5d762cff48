"""bondledger on EVM nodes other than anvil.

- ganache 7.9.2 predates the Cancun upgrade: `deploy` refuses it in one line naming what is
  missing, before anything is sent or a register is made.
- Hardhat's node (chain id 424242, tests/hardhat/hardhat.config.js) runs the demo's flow and a
  coupon payment, with the operator's key in an encrypted keystore and investors holding fresh
  random keys (the well-known devnet keys are refused off chain id 31337), so the path a real
  chain takes is the one exercised. Hardhat has no deterministic-deployment proxy: `deploy`
  deploys it first.

Both nodes are npm packages (pinned in package.json, installed by `make setup`). They are looked
for in the repository's node_modules, then in $BONDLEDGER_TEST_NODE_MODULES (another
node_modules directory); where they are not found the tests are skipped, saying so.
"""

import json
import os
import signal
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from eth_account import Account

from conftest import World
from helpers import EXAMPLES
from ledger.chain import artifacts, create2
from ledger.chain import connect, wait_until_ready
from ledger.chain.devnet import free_port
from ledger.errors import ChainError

HARDHAT_CONFIG = Path(__file__).resolve().parent.parent / "hardhat" / "hardhat.config.js"
HARDHAT_CHAIN_ID = 424242
GANACHE_CHAIN_ID = 1337
ISIN = "HK0000987658"
PASSWORD = "correct horse battery staple"
ETHER = 10**18


def npm_tool(name: str) -> tuple[Path, Path] | None:
    """An npm package's command and the directory holding its node_modules (hardhat must run
    from there), from the repository or $BONDLEDGER_TEST_NODE_MODULES."""
    places = [artifacts.ROOT / "node_modules"]
    if os.environ.get("BONDLEDGER_TEST_NODE_MODULES"):
        places.append(Path(os.environ["BONDLEDGER_TEST_NODE_MODULES"]))
    for modules in places:
        tool = modules / ".bin" / name
        if tool.exists():
            return tool, modules.parent
    return None


def require_tool(name: str, package: str) -> tuple[Path, Path]:
    found = npm_tool(name)
    if found is None:
        pytest.skip(
            f"{package} not found in node_modules (nor in $BONDLEDGER_TEST_NODE_MODULES): `make setup` installs it from package.json"
        )
    return found


@contextmanager
def node(command: list, cwd: Path, port: int, log_path: Path, env: dict | None = None):
    """A node process for the length of a `with` block; its URL. Stopped with its process group."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **(env or {})}
        )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_ready(url, timeout=90)  # hardhat takes seconds to start on a busy machine
        except ChainError:
            pytest.fail(f"{command[0]} did not answer on port {port}: {log_path.read_text()[-2000:]}")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def ganache(tmp_path):
    tool, cwd = require_tool("ganache", "ganache (npm ganache@7.9.2, a node without the Cancun upgrade)")
    port = free_port()
    command = [tool, "--port", str(port), "--host", "127.0.0.1", "--chain.chainId", str(GANACHE_CHAIN_ID), "--logging.quiet"]
    with node(command, cwd, port, tmp_path / "ganache.log") as url:
        yield url


@pytest.fixture
def hardhat(tmp_path):
    tool, cwd = require_tool("hardhat", "hardhat (npm hardhat@2, a second EVM node)")
    port = free_port()
    command = [tool, "--config", HARDHAT_CONFIG, "node", "--hostname", "127.0.0.1", "--port", str(port)]
    env = {"HARDHAT_DISABLE_TELEMETRY_PROMPT": "true", "DO_NOT_TRACK": "1"}
    with node([str(c) for c in command], cwd, port, tmp_path / "hardhat.log", env) as url:
        yield url


# ---------------------------------------------------------------------- a node without Cancun


def test_deploy_refuses_a_node_without_cancun_in_one_line_before_anything(ganache, tmp_path):
    operator = Account.create()
    db = tmp_path / "register.db"
    r = World(ganache, f"sqlite:///{db}").run("deploy", env={"BONDLEDGER_PRIVATE_KEY": operator.key.to_0x_hex()})
    assert r.exit_code == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "transient storage (TSTORE/TLOAD, EIP-1153, Cancun)" in lines[0] and "MCOPY (EIP-5656, Cancun)" in lines[0]
    assert "PUSH0" not in lines[0]  # ganache 7.9 has Shanghai: only what is missing is named
    chain = connect(ganache)
    assert chain.block_number() == 0 and chain.w3.eth.get_transaction_count(operator.address) == 0
    assert not db.exists()  # not even an empty register


# ---------------------------------------------------------------------- Hardhat's node


@dataclass
class Party:
    investor_id: str
    account: object

    @property
    def key(self) -> str:
        return self.account.key.to_0x_hex()


def fresh_investors(tmp_path) -> tuple[Path, Path, dict[str, Party]]:
    """The sample investors and allocations, every wallet replaced by a new random key's."""
    lines = (EXAMPLES / "investors.csv").read_text().splitlines()
    parties, wallets = {}, {}
    out = [lines[0]]
    for line in lines[1:]:
        investor_id, name, wallet, *rest = line.split(",")
        account = Account.create()
        wallets[wallet] = account.address
        parties.setdefault(investor_id, Party(investor_id, account))
        out.append(",".join([investor_id, name, account.address, *rest]))
    investors = tmp_path / "investors.csv"
    investors.write_text("\n".join(out) + "\n")
    allocations_text = (EXAMPLES / "allocations.csv").read_text()
    for old, new in wallets.items():
        allocations_text = allocations_text.replace(old, new)
    allocations = tmp_path / "allocations.csv"
    allocations.write_text(allocations_text)
    return investors, allocations, parties


def test_the_demo_flow_and_a_coupon_on_hardhat_with_a_keystore_operator(hardhat, tmp_path):
    chain = connect(hardhat)
    assert chain.chain_id == HARDHAT_CHAIN_ID
    assert not chain.w3.eth.get_code(create2.PROXY)  # hardhat has no deterministic-deployment proxy

    operator = Account.create()
    keystore = tmp_path / "operator.keystore.json"
    keystore.write_text(json.dumps(Account.encrypt(operator.key, PASSWORD)))
    investors, allocations, parties = fresh_investors(tmp_path)
    for address in [operator.address, *(p.account.address for p in parties.values())]:
        assert chain.rpc("hardhat_setBalance", [address, hex(1000 * ETHER)])

    world = World(hardhat, f"sqlite:///{tmp_path / 'register.db'}")
    env = {"BONDLEDGER_KEYSTORE": str(keystore), "BONDLEDGER_KEYSTORE_PASSWORD": PASSWORD}

    def run(*args):
        r = world.run(*args, env=env)
        assert r.exit_code == 0, (args, r.stdout, r.stderr)
        return r

    # the platform: the proxy first (keyless transaction), then every contract through it
    deployed = run("deploy")
    assert chain.w3.eth.get_code(create2.PROXY).to_0x_hex() == create2.PROXY_CODE
    ctx = world.context()
    dvp = ctx.register.require_contract("dvp").address
    assert dvp in deployed.stdout
    venue = chain.contract("DvPSettlement", dvp)
    assert venue.functions.hasRole(b"\0" * 32, operator.address).call()  # the keystore's key is admin, not the proxy
    block = chain.block_number()
    run("deploy")  # whole already: nothing is sent
    assert chain.block_number() == block

    run("investors", "import", investors)
    for line in allocations.read_text().splitlines()[1:]:
        investor_id, wallet, principal = line.split(",")
        run("cash", "mint", "HKD", wallet, principal)
        run("cash", "allow", "HKD", principal, "--private-key", parties[investor_id].key)
    issued = run("issue", EXAMPLES / "green_bond_hkd.toml", "--allocations", allocations, "--format", "json").json()
    assert (issued["isin"], issued["settled"]) == (ISIN, 5)

    # a secondary trade, both parties affirming with their own keys, settled DvP
    seller, buyer = parties["harbour_pension"], parties["kowloon_life"]
    run("cash", "mint", "HKD", buyer.account.address, "5000000")
    run("cash", "allow", "HKD", "5000000", "--private-key", buyer.key)
    trade = run(
        "trade",
        ISIN,
        "--seller",
        "harbour_pension",
        "--buyer",
        "kowloon_life",
        "--quantity",
        100,
        "--price",
        "99.50",
        "--settlement-date",
        "2024-02-07",
        "--format",
        "json",
    ).json()
    run("affirm", trade["instruction_id"], "--private-key", seller.key)
    run("affirm", trade["instruction_id"], "--private-key", buyer.key)
    assert [o["status"] for o in run("settle", "--format", "json").json()] == ["settled"]

    run("sync")
    run("reconcile", ISIN)
    run("verify")

    # the first coupon: the chain's clock moved to its payment date (`devnet warp` is anvil's only)
    payment_day = int(datetime(2024, 8, 7, 2, tzinfo=timezone.utc).timestamp())
    chain.rpc("evm_setNextBlockTimestamp", [payment_day])
    chain.rpc("evm_mine", [])
    run("coupon", "pay", ISIN, "--format", "json")
    paid = {p["investor_id"]: p for p in run("register", "payments", ISIN, "--format", "json").json() if p["kind"] == "coupon"}
    assert set(paid) == set(parties) - {"chan_tai_man"}
    assert paid["kowloon_life"]["quantity"] == 10_000 + 100 and paid["harbour_pension"]["quantity"] == 12_000 - 100
    run("reconcile", ISIN)
    assert "OK" in run("verify").stdout
