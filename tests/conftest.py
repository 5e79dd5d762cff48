"""Shared fixtures. Integration tests run against a real anvil and a SQLite register.

`anvil` is a fresh node per test (it starts in about 0.1 s). The sample world (contracts
deployed, sample investors onboarded and funded) is built once per session on its own anvil;
each test that asks for it gets the chain reverted to that point (evm_snapshot/evm_revert) and
its own copy of the register, so tests never see each other's writes.
"""

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import EXAMPLES, fund
from issuance.cli import cli
from issuance.context import Context
from ledger import devnet
from ledger.chain import connect

ISSUE_DAY = "1707267600"  # 2024-02-07T01:00:00Z, the sample bond's issue day
SAMPLE_FUNDING = ((1, "600000000"), (2, "500000000"), (3, "400000000"), (4, "350000000"), (5, "150000000"))


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """No test sees the developer's devnet, register or keys."""
    for var in ("BONDLEDGER_RPC_URL", "BONDLEDGER_DB", "BONDLEDGER_PRIVATE_KEY", "BONDLEDGER_KEYSTORE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BONDLEDGER_HOME", str(tmp_path / "home"))


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


@dataclass
class World:
    """A chain and a register, and `run(...)` to drive bondledger's CLI against them."""

    rpc_url: str
    db_url: str

    def run(self, *args, env: dict | None = None) -> Result:
        full_env = {"BONDLEDGER_RPC_URL": self.rpc_url, "BONDLEDGER_DB": self.db_url, **(env or {})}
        result = CliRunner().invoke(cli, [str(a) for a in args], env=full_env, catch_exceptions=False)
        return Result(result.exit_code, result.stdout, result.stderr)

    def context(self) -> Context:
        return Context.open(self.rpc_url, self.db_url)

    def chain(self):
        return connect(self.rpc_url)


@pytest.fixture
def anvil(tmp_path):
    """A fresh anvil whose clock starts on the sample bond's issue day."""
    with devnet.running(log_dir=tmp_path, extra_args=["--timestamp", ISSUE_DAY]) as node:
        yield node


@pytest.fixture
def world(anvil, tmp_path) -> World:
    """A fresh chain and an empty register."""
    return World(anvil.rpc_url, f"sqlite:///{tmp_path / 'register.db'}")


@pytest.fixture
def deployed(world) -> World:
    """Fresh chain: base contracts deployed and the sample investors onboarded (nothing funded)."""
    assert world.run("deploy").exit_code == 0
    assert world.run("investors", "import", EXAMPLES / "investors.csv").exit_code == 0
    return world


@pytest.fixture(scope="session")
def _sample_template(tmp_path_factory):
    """Built once: contracts, investors and each allocation's cash funded and authorized."""
    base = tmp_path_factory.mktemp("sample")
    with devnet.running(log_dir=base, extra_args=["--timestamp", ISSUE_DAY]) as node:
        template = World(node.rpc_url, f"sqlite:///{base / 'register.db'}")
        assert template.run("deploy").exit_code == 0
        assert template.run("investors", "import", EXAMPLES / "investors.csv").exit_code == 0
        for index, amount in SAMPLE_FUNDING:
            fund(template.run, index, amount)
        state = {"snapshot": template.chain().rpc("evm_snapshot", [])}
        yield template, base / "register.db", state


@pytest.fixture
def funded(_sample_template, tmp_path) -> World:
    """The sample world, reverted to its funded state, with a private copy of the register."""
    template, register_file, state = _sample_template
    chain = template.chain()
    assert chain.rpc("evm_revert", [state["snapshot"]])
    state["snapshot"] = chain.rpc("evm_snapshot", [])  # a snapshot id can be used once
    copy = tmp_path / "register.db"
    # The backup API copies a consistent database, including what still sits in the WAL file.
    with sqlite3.connect(register_file) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    return World(template.rpc_url, f"sqlite:///{copy}")


@pytest.fixture
def issued(funded) -> tuple[World, dict]:
    r = funded.run("issue", EXAMPLES / "green_bond_hkd.toml", "--allocations", EXAMPLES / "allocations.csv", "--format", "json")
    assert r.exit_code == 0, r.stderr
    return funded, r.json()


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in Path(item.fspath).parts:
            item.add_marker(pytest.mark.chain)
