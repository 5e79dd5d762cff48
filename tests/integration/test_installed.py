"""bondledger as a user installs it: the wheel is built from this checkout, installed into a new
virtualenv in a temporary directory outside the repository, and run from there with the example
files copied out: the whole CLI flow, then the pytest plugin on examples/test_with_bondledger.py
as a user's own project would run it.

The slow packaging test (about a minute): marked `packaging`. The new virtualenv gets the
bondledger wheel and nothing else of the checkout; its dependencies (pinned by
requirements.lock) are the project virtualenv's site-packages, added by a .pth file, which
puts directories on sys.path and nothing more (the editable install there is not activated).
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import venv
from pathlib import Path

import pytest

from helpers import EXAMPLES, dev_address
from ledger.chain import artifacts, devnet

pytestmark = pytest.mark.packaging

ROOT = artifacts.ROOT
BOND = "HK0000987658"
# What a fresh clone plus `make setup` would hold; the rest of the working tree is not needed.
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", ".cache", "cache", "out", ".bondledger", "build", "dist", "*.egg-info",
    "__pycache__", ".pytest_cache",
)  # fmt: skip


def _clean_env(**extra) -> dict:
    """The environment of a user's shell: nothing pointing at the checkout or its virtualenv."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("BONDLEDGER_")}
    env.pop("VIRTUAL_ENV", None)
    inside = (str(ROOT), str(Path(sys.prefix).resolve()), sys.prefix)
    env["PATH"] = ":".join(p for p in env.get("PATH", "/usr/bin:/bin").split(":") if p and not p.startswith(inside))
    env.update(extra)
    return env


def _run(cmd, cwd: Path, env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


def _dependencies() -> list[Path]:
    """Where the installed package's dependencies come from: this virtualenv's site-packages."""
    return sorted({Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")})


@pytest.fixture(scope="module")
def installed():
    """A new virtualenv outside the repository with the wheel built from this checkout, in a
    temporary directory of its own (pytest's basetemp is pruned by concurrent pytest runs)."""
    base = Path(tempfile.mkdtemp(prefix="bondledger-installed-"))
    try:
        yield from _install(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _install(base: Path):
    assert not base.resolve().is_relative_to(ROOT)
    artifacts.load_all()  # the build below then takes the compiled contracts from the checkout's cache

    src = base / "src"  # the tree a fresh clone has, with the checkout's node_modules beside it
    shutil.copytree(ROOT, src, ignore=NOT_COPIED, symlinks=True)
    (src / "node_modules").symlink_to((ROOT / "node_modules").resolve())
    wheels = base / "wheels"
    env = _clean_env(BONDLEDGER_CACHE=str(ROOT / ".cache"))
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps", "-w", wheels, src],
        base,
        env,
    )
    (wheel,) = wheels.glob("bondledger-*.whl")

    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            wheel,
        ],
        base,
        _clean_env(),
    )
    purelib = Path(
        _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], base, _clean_env()).stdout.strip()
    )
    (purelib / "bondledger-test-dependencies.pth").write_text("".join(f"{p}\n" for p in _dependencies()))
    yield env_dir, purelib


def test_the_installed_package_runs_the_whole_flow_outside_the_checkout(installed):
    env_dir, purelib = installed
    work = env_dir.parent / "user"
    work.mkdir()
    for name in ("investors.csv", "green_bond_hkd.toml"):
        shutil.copy(EXAMPLES / name, work / name)
    # The user's own allocation of the sample bond: two investors (each CLI process costs seconds).
    (work / "allocations.csv").write_text(
        f"investor_id,wallet,principal\nharbour_pension,{dev_address(1)},1000000000\nkowloon_life,{dev_address(2)},1000000000\n"
    )
    env = _clean_env(PATH=f"{env_dir / 'bin'}:{_clean_env()['PATH']}", BONDLEDGER_ANVIL=str(devnet.anvil_binary()))

    where = _run(
        ["python", "-c", "import json, ledger, issuance, sys; print(json.dumps([ledger.__file__, issuance.__file__, sys.path]))"],
        work,
        env,
    )
    ledger_file, issuance_file, path = json.loads(where.stdout)
    assert Path(ledger_file).is_relative_to(purelib) and Path(issuance_file).is_relative_to(purelib)
    # the checkout is not on the path (only, in a checkout's own .venv, the dependencies' directory)
    assert {Path(p).resolve() for p in path if p and Path(p).resolve().is_relative_to(ROOT)} <= set(_dependencies())
    packaged = json.loads((purelib / "ledger" / "chain" / "contracts_build" / "artifacts.json").read_text())
    settings, remappings = artifacts._settings()
    assert packaged["source_hash"] == artifacts._cache_key(artifacts._sources(artifacts.CONTRACTS), settings, remappings)
    assert packaged["compiler"].startswith("0.8.30+")
    assert not (purelib / "contracts").exists() and not (purelib / "node_modules").exists()

    def bl(*args) -> str:  # a process per command, as a user's shell runs them
        return _run(["bondledger", *args], work, env).stdout

    url = bl("devnet", "up", "--port", "0", "--at", "2024-02-07T01:00:00").strip()
    try:
        assert url.startswith("http://127.0.0.1:")
        assert "InvestorRegistry" in bl("deploy")
        bl("investors", "import", "investors.csv")
        for account, cash in ((1, 1_000_000_000), (2, 1_005_000_000)):  # kowloon_life also buys in the trade below
            bl("cash", "mint", "HKD", dev_address(account), cash)
            bl("cash", "allow", "HKD", cash, "--dev-account", account)
        issued = json.loads(bl("issue", "green_bond_hkd.toml", "--allocations", "allocations.csv", "--format", "json"))
        assert issued["isin"] == BOND and issued["settled"] == 2
        trade = json.loads(
            bl("trade", BOND, "--seller", "harbour_pension", "--buyer", "kowloon_life", "--quantity", 100, "--price", "99.50",
               "--settlement-date", "2024-02-07", "--format", "json")
        )  # fmt: skip
        bl("affirm", trade["instruction_id"], "--dev-account", 1)
        bl("affirm", trade["instruction_id"], "--dev-account", 2)
        (settled,) = json.loads(bl("settle", "--format", "json"))
        assert settled["instruction_id"] == trade["instruction_id"] and settled["status"] == "settled"
        assert bl("sync").startswith("indexed to block")
        bl("reconcile", BOND)  # exit 1 on any break
        bl("verify")
    finally:
        down = subprocess.run(
            [env_dir / "bin" / "bondledger", "devnet", "down"], cwd=work, env=env, capture_output=True, text=True
        )
    assert down.stdout == f"stopped {url}\n"
    assert (work / ".bondledger" / "register.db").exists()  # the register lives where the user ran it


def test_the_pytest_plugin_runs_a_users_test_module_from_the_installed_package(installed):
    env_dir, _ = installed
    project = env_dir.parent / "project"  # a user's own project: one test module, no conftest
    project.mkdir()
    shutil.copy(EXAMPLES / "test_with_bondledger.py", project)
    tools = env_dir.parent / "tools"  # anvil on PATH this time, not BONDLEDGER_ANVIL
    tools.mkdir()
    (tools / "anvil").symlink_to(devnet.anvil_binary())
    env = _clean_env(PATH=f"{env_dir / 'bin'}:{tools}:{_clean_env()['PATH']}")
    # the plugin is found by its entry point (no -p): a fresh devnet per test, the default
    proc = _run(["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_with_bondledger.py"], project, env)
    assert "5 passed" in proc.stdout, proc.stdout
