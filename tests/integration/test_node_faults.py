"""The node dying under a command: one line on stderr naming the node and what the command is
known to have sent (nothing, some transactions whose fate is unknown, one in flight), exit 1,
no traceback. The node here is a real anvil, killed with SIGKILL before or while a command runs."""

import os
import signal

from helpers import EXAMPLES, dev_address
from issuance import investors
from ledger.chain import Signer

PREFIX = "error: the node at {url} is unreachable ("


def kill(node) -> None:
    os.kill(node.pid, signal.SIGKILL)
    os.waitpid(node.pid, 0)  # reaped: the port is closed from here on


def one_line(result, url: str) -> str:
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "warning" not in result.stderr.lower()
    return lines[0]


def test_a_node_gone_before_the_command_is_one_line(anvil, world):
    kill(anvil)
    line = one_line(world.run("sync"), anvil.rpc_url)
    assert line.startswith(f"error: cannot reach an EVM node at {anvil.rpc_url}")


def test_a_node_dying_between_transactions_says_what_was_sent(anvil, world, monkeypatch):
    real_wait, real_send = Signer.wait, Signer._sign_and_send
    waited, sent = [], []

    def send(self, tx):
        tx_hash = real_send(self, tx)
        sent.append(tx_hash.to_0x_hex())
        return tx_hash

    def wait_then_die(self, tx_hash, what):
        receipt = real_wait(self, tx_hash, what)
        waited.append(tx_hash)
        if len(waited) == 2:
            kill(anvil)  # what comes after the second receipt meets a dead node
        return receipt

    monkeypatch.setattr(Signer, "_sign_and_send", send)
    monkeypatch.setattr(Signer, "wait", wait_then_die)
    line = one_line(world.run("deploy"), anvil.rpc_url)
    assert line.startswith(PREFIX.format(url=anvil.rpc_url)), line
    assert len(sent) >= 2
    assert f"{len(sent)} transaction(s) sent (last {sent[-1]}), whether mined is unknown" in line
    assert "run `bondledger sync`, then this command again" in line


def test_a_node_dying_as_a_transaction_is_sent_says_its_fate_is_unknown(anvil, world, monkeypatch):
    assert world.run("deploy").exit_code == 0
    real_send = Signer._sign_and_send

    def die_then_send(self, tx):
        kill(anvil)
        return real_send(self, tx)

    monkeypatch.setattr(Signer, "_sign_and_send", die_then_send)
    line = one_line(world.run("cash", "mint", "HKD", dev_address(1), "100"), anvil.rpc_url)
    assert line.startswith(PREFIX.format(url=anvil.rpc_url)), line
    assert "whether it took 0x" in line and "is unknown" in line


def test_a_node_dying_before_anything_is_sent_says_nothing_was(anvil, world, monkeypatch):
    assert world.run("deploy").exit_code == 0
    real = investors.registry_address

    def registry_then_die(ctx):
        address = real(ctx)
        kill(anvil)  # the import's reads of the registry meet a dead node
        return address

    monkeypatch.setattr(investors, "registry_address", registry_then_die)
    line = one_line(world.run("investors", "import", EXAMPLES / "investors.csv"), anvil.rpc_url)
    assert line.startswith(PREFIX.format(url=anvil.rpc_url)) and line.endswith(
        "this command again (it carries on from what the chain has)"
    )
    assert ": nothing was sent to it;" in line
