"""Shared fixtures. Integration tests run against a real anvil and a SQLite register, and those
marked `@both_backends` (or with `pytestmark = both_backends`) once more with the register on
PostgreSQL.

`anvil` is a fresh node per test (it starts in about 0.1 s). The sample world (contracts
deployed, sample investors onboarded and funded) is built once per session on its own anvil;
each test that asks for it gets the chain reverted to that point (evm_snapshot/evm_revert) and
its own copy of the register, so tests never see each other's writes. On PostgreSQL the sample
world has its own anvil and template database, and each test gets a fresh database cloned from
it (CREATE DATABASE ... TEMPLATE); every database a test creates is dropped after it.

PostgreSQL is the local server at 127.0.0.1:5432 (user postgres, trust authentication; the
`test` database is used to create and drop the others). Without it, the PostgreSQL runs are
skipped with the reason shown in the summary.
"""

import itertools
import json
import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from helpers import EXAMPLES, fund
from issuance.cli import cli
from issuance.context import Context
from ledger.chain import devnet
from ledger.chain import connect

# The web tests' shared module (fixtures, a server, a browser) asserts as tests do: rewrite it too.
pytest.register_assert_rewrite("web_helpers")

ISSUE_DAY = "1707267600"  # 2024-02-07T01:00:00Z, the sample bond's issue day
SAMPLE_FUNDING = ((1, "600000000"), (2, "500000000"), (3, "400000000"), (4, "350000000"), (5, "150000000"))

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_ADMIN_URL = f"{PG_SERVER}/test"
PG_PREFIX = "bondledger_test_"
BACKENDS = ("sqlite", "postgresql")
#: runs a test once per register backend; `world`, `deployed`, `funded` and `issued` follow it
both_backends = pytest.mark.parametrize("register_backend", BACKENDS, indirect=True)


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


# ---------------------------------------------------------------------- register backends


class Postgres:
    """The local PostgreSQL server: creates fresh databases and drops them again."""

    def __init__(self, admin):
        self.admin = admin
        self.created: set[str] = set()

    def create(self, template: str | None = None) -> str:
        """A new database (a copy of `template`, whose connections are ended first); its URL."""
        name = f"{PG_PREFIX}{secrets.token_hex(6)}"
        with self.admin.connect() as conn:
            if template:
                self._terminate(conn, template)
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
            else:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.add(name)
        return f"{PG_SERVER}/{name}"

    def drop(self, url: str) -> None:
        """Drops the database, ending what is still connected to it (the pooled connections of
        the registers the commands opened)."""
        name = url.rsplit("/", 1)[1]
        with self.admin.connect() as conn:
            self._terminate(conn, name)
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        self.created.discard(name)

    @staticmethod
    def _terminate(conn, name: str) -> None:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"),
            {"name": name},
        )


@pytest.fixture(scope="session")
def postgres():
    """The local PostgreSQL server, or a skip naming why it cannot be used."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"no PostgreSQL server for the register tests at {PG_ADMIN_URL}: {str(exc.orig).strip().splitlines()[0]}")
    server = Postgres(admin)
    try:
        yield server
    finally:
        for name in sorted(server.created):  # what a failed teardown left behind
            server.drop(f"{PG_SERVER}/{name}")
        admin.dispose()


@pytest.fixture
def register_backend(request) -> str:
    """Where this test's registers live: "sqlite" unless parametrized (`both_backends`)."""
    return getattr(request, "param", "sqlite")


class Registers:
    """New registers on one backend: SQLite files in the test's directory, or PostgreSQL
    databases (each dropped when the test ends)."""

    def __init__(self, backend: str, directory: Path, pg: Postgres | None):
        self.backend, self.directory, self.pg = backend, directory, pg
        self.made: list[str] = []
        self._names = itertools.count()

    def new(self, name: str | None = None) -> str:
        """The URL of a new, empty register."""
        if self.pg is None:
            name = name or f"register-{next(self._names)}"
            return f"sqlite:///{self.directory / name}.db"
        url = self.pg.create()
        self.made.append(url)
        return url

    def copy(self, url: str, name: str | None = None) -> str:
        """The URL of a new register holding what the register at `url` holds."""
        if self.pg is None:
            copy = self.new(name)
            # The backup API copies a consistent database, including what still sits in the WAL file.
            with sqlite3.connect(url.removeprefix("sqlite:///")) as src, sqlite3.connect(copy.removeprefix("sqlite:///")) as dst:
                src.backup(dst)
            return copy
        copy = self.pg.create(template=url.rsplit("/", 1)[1])
        self.made.append(copy)
        return copy

    def close(self) -> None:
        for url in self.made:
            self.pg.drop(url)


@pytest.fixture
def registers(register_backend, tmp_path, request):
    pg = request.getfixturevalue("postgres") if register_backend == "postgresql" else None
    made = Registers(register_backend, tmp_path, pg)
    yield made
    made.close()


# ---------------------------------------------------------------------- worlds


@pytest.fixture
def anvil(tmp_path):
    """A fresh anvil whose clock starts on the sample bond's issue day."""
    with devnet.running(log_dir=tmp_path, extra_args=["--timestamp", ISSUE_DAY]) as node:
        yield node


@pytest.fixture
def world(anvil, registers) -> World:
    """A fresh chain and an empty register."""
    return World(anvil.rpc_url, registers.new("register"))


@pytest.fixture
def deployed(world) -> World:
    """Fresh chain: base contracts deployed and the sample investors onboarded (nothing funded)."""
    assert world.run("deploy").exit_code == 0
    assert world.run("investors", "import", EXAMPLES / "investors.csv").exit_code == 0
    return world


def _build_sample(base: Path, db_url: str):
    """Contracts, investors and each allocation's cash funded and authorized, on a new anvil."""
    with devnet.running(log_dir=base, extra_args=["--timestamp", ISSUE_DAY]) as node:
        template = World(node.rpc_url, db_url)
        assert template.run("deploy").exit_code == 0
        assert template.run("investors", "import", EXAMPLES / "investors.csv").exit_code == 0
        for index, amount in SAMPLE_FUNDING:
            fund(template.run, index, amount)
        state = {"snapshot": template.chain().rpc("evm_snapshot", [])}
        yield template, state


@pytest.fixture(scope="session")
def _sample_template(tmp_path_factory):
    """Built once: the sample world with its register in a SQLite file."""
    base = tmp_path_factory.mktemp("sample")
    yield from _build_sample(base, f"sqlite:///{base / 'register.db'}")


@pytest.fixture(scope="session")
def _pg_sample_template(tmp_path_factory, postgres):
    """Built once, when a PostgreSQL test first asks: the sample world with its register in a
    PostgreSQL database, the template each test's database is cloned from."""
    url = postgres.create()
    try:
        yield from _build_sample(tmp_path_factory.mktemp("pg-sample"), url)
    finally:
        postgres.drop(url)


@pytest.fixture
def funded(register_backend, registers, request) -> World:
    """The sample world, reverted to its funded state, with a private copy of the register."""
    fixture = "_pg_sample_template" if register_backend == "postgresql" else "_sample_template"
    template, state = request.getfixturevalue(fixture)
    chain = template.chain()
    assert chain.rpc("evm_revert", [state["snapshot"]])
    state["snapshot"] = chain.rpc("evm_snapshot", [])  # a snapshot id can be used once
    return World(template.rpc_url, registers.copy(template.db_url, "register"))


@pytest.fixture
def issued(funded) -> tuple[World, dict]:
    r = funded.run("issue", EXAMPLES / "green_bond_hkd.toml", "--allocations", EXAMPLES / "allocations.csv", "--format", "json")
    assert r.exit_code == 0, r.stderr
    return funded, r.json()


FAULT_SEED_ENV = "BONDLEDGER_FAULT_SEED"


def pytest_configure(config):
    """The fault suite's seed (tests/integration/test_faults.py): BONDLEDGER_FAULT_SEED, else a new
    one, set in the environment before any pytest-xdist worker starts so that every worker uses it."""
    os.environ.setdefault(FAULT_SEED_ENV, str(secrets.randbits(32)))
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        # pytest-xdist: the contracts compiled (or read from the cache) once, here, before the
        # workers start, rather than by each worker at once on a fresh clone
        from ledger.chain import artifacts

        artifacts.load_all()


def pytest_report_header(config):
    return f"fault seed: {os.environ[FAULT_SEED_ENV]} (reproduce with {FAULT_SEED_ENV}={os.environ[FAULT_SEED_ENV]})"


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in Path(item.fspath).parts:
            item.add_marker(pytest.mark.chain)
