"""A local anvil devnet: start on a port (or a free one), remember it, stop it.

`bondledger devnet up` leaves anvil running in the background and writes its pid and URL to
$BONDLEDGER_HOME/devnet.json (default ./.bondledger), which later commands read as their
default RPC URL; `devnet down` stops it. Tests and the demo use `Devnet.start()` directly.
"""

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ledger.errors import BondledgerError, InputError
from ledger.chain.keys import DEVNET_CHAIN_ID
from ledger.settings import settings

if TYPE_CHECKING:  # the chain client (web3) loads only when a devnet is used
    from ledger.chain import Chain

STATE_FILE = "devnet.json"


def home() -> Path:
    return settings().home


def anvil_binary() -> Path:
    """anvil from $BONDLEDGER_ANVIL, else (in a checkout) the npm package in node_modules, else PATH."""
    configured = settings().anvil
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise BondledgerError(f"BONDLEDGER_ANVIL={configured} is not an executable file")
        return path
    from ledger.chain.artifacts import ROOT, in_checkout

    looked = ["BONDLEDGER_ANVIL (not set)"]
    if in_checkout():
        arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
        npm = ROOT / "node_modules" / "@foundry-rs" / f"anvil-{platform.system().lower()}-{arch}" / "bin" / "anvil"
        if npm.exists():
            return npm
        looked.append(str(npm))
    found = shutil.which("anvil")
    if found:
        return Path(found)
    looked.append("PATH")
    raise BondledgerError(
        f"anvil not found (looked in {', '.join(looked)}): install Foundry's anvil on PATH or set BONDLEDGER_ANVIL to it"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Devnet:
    pid: int
    port: int
    rpc_url: str
    log: str

    @classmethod
    def start(cls, port: int | None = None, log_dir: Path | None = None, extra_args: list[str] = ()) -> "Devnet":
        """Starts anvil (chain id 31337, the standard test mnemonic) and waits until it answers."""
        port = port or free_port()
        log_dir = Path(log_dir or home())
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"anvil-{port}.log"
        cmd = [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(DEVNET_CHAIN_ID), *extra_args]
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        devnet = cls(proc.pid, port, f"http://127.0.0.1:{port}", str(log_path))
        from ledger.chain import wait_until_ready

        try:
            wait_until_ready(devnet.rpc_url, timeout=15)
        except BondledgerError:
            devnet.stop()
            raise BondledgerError(f"anvil did not start on port {port}; see {log_path}") from None
        if proc.poll() is not None:
            raise BondledgerError(f"anvil exited at start (port {port} taken?); see {log_path}")
        return devnet

    def chain(self) -> "Chain":
        from ledger.chain import wait_until_ready

        return wait_until_ready(self.rpc_url)

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def stop(self, timeout: float = 5.0) -> None:
        if not self.alive():
            return
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # not our child: poll for it to go away
                done = 0 if self.alive() else self.pid
            if done:
                return
            time.sleep(0.02)
        os.kill(self.pid, signal.SIGKILL)


@contextmanager
def running(port: int | None = None, log_dir: Path | None = None, extra_args: list[str] = ()):
    """A devnet for the length of a `with` block."""
    devnet = Devnet.start(port, log_dir, extra_args)
    try:
        yield devnet
    finally:
        devnet.stop()


# ---------------------------------------------------------------------- background devnet (CLI)


def state_path() -> Path:
    return home() / STATE_FILE


def recorded() -> Devnet | None:
    """The devnet `devnet up` started, if it is still running."""
    path = state_path()
    if not path.exists():
        return None
    devnet = Devnet(**json.loads(path.read_text()))
    return devnet if devnet.alive() else None


def up(port: int | None = None, extra_args: list[str] = ()) -> Devnet:
    current = recorded()
    if current is not None:
        raise BondledgerError(f"a devnet is already running at {current.rpc_url} (pid {current.pid}); `devnet down` first")
    devnet = Devnet.start(port, extra_args=extra_args)
    state_path().write_text(json.dumps(asdict(devnet)))
    return devnet


def down() -> Devnet | None:
    devnet = recorded()
    if devnet is not None:
        devnet.stop()
    state_path().unlink(missing_ok=True)
    return devnet


def warp(chain: "Chain", timestamp: int) -> int:
    """Moves a devnet's clock forward to `timestamp` (unix seconds) and mines a block there, so
    that lifecycle commands, which take the chain's time, see that moment. Devnet only: a real
    chain's clock is not ours to move. Returns the new block number."""
    if chain.chain_id != DEVNET_CHAIN_ID:
        raise InputError(f"devnet warp: only on the devnet (chain id {DEVNET_CHAIN_ID}), not chain id {chain.chain_id}")
    now = chain.now()
    if timestamp <= now:
        raise InputError(f"devnet warp: {timestamp} is not after the chain's time {now}; a chain's clock only moves forward")
    chain.rpc("evm_setNextBlockTimestamp", [timestamp])
    chain.rpc("evm_mine", [])
    return chain.block_number()
