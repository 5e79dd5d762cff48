"""`bondledger devnet up` leaves an anvil running in the background and remembers it: later
commands use it when no RPC URL is given, a second `up` is refused, `down` stops it.

The commands run without BONDLEDGER_RPC_URL; BONDLEDGER_HOME is a fresh directory per test
(conftest), so the devnet state file is this test's own."""

import json
import os

import pytest
from click.testing import CliRunner

from conftest import Result
from issuance.cli import cli
from ledger.chain import artifacts, devnet
from ledger.chain import connect


def bondledger(*args, env: dict | None = None) -> Result:
    assert "BONDLEDGER_RPC_URL" not in os.environ
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env or {}, catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def background_devnet():
    """`devnet up --port 0`, and whatever happens in the test, the anvil it started is stopped."""
    try:
        up = bondledger("devnet", "up", "--port", "0")
        assert up.exit_code == 0, up.stderr
        yield up
    finally:
        started = devnet.recorded()
        if started is not None:
            started.stop()


def test_devnet_up_starts_a_background_anvil_and_prints_its_url(background_devnet):
    url = background_devnet.stdout.strip()
    assert url.startswith("http://127.0.0.1:") and url != "http://127.0.0.1:0"
    chain = connect(url)
    assert chain.chain_id == 31337
    state = json.loads(devnet.state_path().read_text())
    assert state["rpc_url"] == url and pid_exists(state["pid"])


def test_devnet_status_shows_the_running_devnet(background_devnet):
    url = background_devnet.stdout.strip()
    status = bondledger("devnet", "status")
    assert status.exit_code == 0
    assert status.stdout == f"{url} (pid {devnet.recorded().pid})\n"


def test_commands_without_an_rpc_url_use_the_background_devnet(background_devnet, tmp_path):
    url = background_devnet.stdout.strip()
    db = {"BONDLEDGER_DB": str(tmp_path / "register.db")}
    deployed = bondledger("deploy", env=db)
    assert deployed.exit_code == 0, deployed.stderr
    assert "InvestorRegistry" in deployed.stdout and "HKD" in deployed.stdout
    chain = connect(url)
    assert (
        chain.block_number() == 11
    )  # registry, DvP, paying agent, four cash tokens and their listings: all on the background devnet
    synced = bondledger("sync", env=db)
    assert synced.stdout.startswith("indexed to block 11:")


def test_a_second_devnet_up_is_refused(background_devnet):
    url = background_devnet.stdout.strip()
    pid = devnet.recorded().pid
    again = bondledger("devnet", "up", "--port", "0")
    assert again.exit_code == 1
    assert again.stderr == f"error: a devnet is already running at {url} (pid {pid}); `devnet down` first\n"
    assert devnet.recorded().pid == pid


def test_devnet_down_stops_it(background_devnet):
    url = background_devnet.stdout.strip()
    pid = devnet.recorded().pid
    down = bondledger("devnet", "down")
    assert down.exit_code == 0
    assert down.stdout == f"stopped {url}\n"
    assert not pid_exists(pid)
    assert not devnet.state_path().exists()
    assert bondledger("devnet", "status").stdout == "no devnet running\n"
    assert bondledger("devnet", "down").stdout == "no devnet running\n"


def test_a_devnet_that_died_is_forgotten_and_can_be_started_again(background_devnet):
    first = devnet.recorded()
    first.stop()  # it went away without `devnet down` (killed, machine restarted)
    assert bondledger("devnet", "status").stdout == "no devnet running\n"
    again = bondledger("devnet", "up", "--port", "0")
    assert again.exit_code == 0, again.stderr
    assert devnet.recorded().pid != first.pid
    assert connect(again.stdout.strip()).chain_id == 31337


def test_devnet_up_at_a_date_starts_the_chain_clock_there(tmp_path):
    try:
        up = bondledger("devnet", "up", "--port", "0", "--at", "2024-02-07")
        assert up.exit_code == 0, up.stderr
        assert connect(up.stdout.strip()).now() == 1707264000  # 2024-02-07T00:00:00Z
    finally:
        started = devnet.recorded()
        if started is not None:
            started.stop()


def test_devnet_warp_moves_the_chain_clock_forward_and_never_back(background_devnet):
    chain = connect(background_devnet.stdout.strip())
    before = chain.block_number()
    warp = bondledger("devnet", "warp", "2030-08-07T02:00:00")
    assert warp.exit_code == 0, warp.stderr
    assert chain.now() == 1912298400 and chain.block_number() == before + 1  # 2030-08-07T02:00:00Z, mined there
    back = bondledger("devnet", "warp", "2030-08-01")
    assert back.exit_code == 2 and "only moves forward" in back.stderr and len(back.stderr.strip().splitlines()) == 1
    assert chain.now() == 1912298400 and chain.block_number() == before + 1


def test_devnet_warp_refuses_a_chain_that_is_not_the_devnet(anvil):
    chain = connect(anvil.rpc_url)
    chain.rpc("anvil_setChainId", [1])  # as a real chain would answer
    warp = bondledger("--rpc-url", anvil.rpc_url, "devnet", "warp", "2030-01-01")
    assert warp.exit_code == 2 and "only on the devnet (chain id 31337), not chain id 1" in warp.stderr
    assert chain.block_number() == 0


# ---------------------------------------------------------------------- finding anvil


def test_devnet_up_takes_anvil_from_path_outside_a_checkout(monkeypatch, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "anvil").symlink_to(devnet.anvil_binary())  # the checkout's npm anvil, as if installed on PATH
    monkeypatch.setattr(artifacts, "in_checkout", lambda: False)  # as an installed package: no node_modules to look in
    try:
        up = bondledger("devnet", "up", "--port", "0", env={"PATH": str(bin_dir), "BONDLEDGER_ANVIL": ""})
        assert up.exit_code == 0, up.stderr
        assert connect(up.stdout.strip()).chain_id == 31337
    finally:
        started = devnet.recorded()
        if started is not None:
            started.stop()


def test_devnet_up_without_anvil_says_in_one_line_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setattr(artifacts, "in_checkout", lambda: False)
    up = bondledger("devnet", "up", "--port", "0", env={"PATH": str(tmp_path), "BONDLEDGER_ANVIL": ""})
    assert up.exit_code == 1
    assert up.stderr == (
        "error: anvil not found (looked in BONDLEDGER_ANVIL (not set), PATH): "
        "install Foundry's anvil on PATH or set BONDLEDGER_ANVIL to it\n"
    )
    assert devnet.recorded() is None


def test_devnet_up_in_a_checkout_without_node_modules_names_the_npm_package_it_looked_for(monkeypatch, tmp_path):
    monkeypatch.setattr(artifacts, "ROOT", tmp_path)  # a checkout where `make setup` has not run
    monkeypatch.setattr(artifacts, "in_checkout", lambda: True)
    up = bondledger("devnet", "up", "--port", "0", env={"PATH": str(tmp_path), "BONDLEDGER_ANVIL": ""})
    assert up.exit_code == 1 and len(up.stderr.splitlines()) == 1
    assert f"looked in BONDLEDGER_ANVIL (not set), {tmp_path}/node_modules/@foundry-rs/anvil-" in up.stderr
    assert "/bin/anvil, PATH)" in up.stderr


def test_devnet_up_refuses_a_bondledger_anvil_that_is_not_a_program(tmp_path):
    missing = tmp_path / "no-such-anvil"
    up = bondledger("devnet", "up", "--port", "0", env={"BONDLEDGER_ANVIL": str(missing)})
    assert up.exit_code == 1
    assert up.stderr == f"error: BONDLEDGER_ANVIL={missing} is not an executable file\n"
    assert devnet.recorded() is None
