"""The pytest plugin (issuance.testing) with one devnet shared by a session: each test starts
from the chain as the session found it (evm_snapshot/evm_revert). The default, a fresh devnet
per test, runs from the installed wheel in test_installed.py.

The example module runs in a pytest of its own, in a directory outside the repository, with the
plugin given explicitly (entry points off, so this checkout's plugin is the one tested)."""

import os
import shutil
import subprocess
import sys

from helpers import EXAMPLES
from ledger.chain import artifacts, devnet


def test_the_example_module_passes_on_a_shared_devnet(tmp_path):
    shutil.copy(EXAMPLES / "test_with_bondledger.py", tmp_path)
    env = {
        **os.environ,
        "PYTHONPATH": str(artifacts.ROOT),
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "BONDLEDGER_ANVIL": str(devnet.anvil_binary()),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "issuance.testing", "-p", "no:cacheprovider", "--bondledger-devnet=shared", "test_with_bondledger.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0 and "5 passed" in proc.stdout, proc.stdout + proc.stderr
