"""The CLI starts at once: `--help` loads no heavy library, and reading the register never loads
the chain client. Checked by what a fresh interpreter has imported, not by timing."""

import json
import subprocess
import sys

HEAVY = ["web3", "eth_account", "sqlalchemy", "sqlmodel", "QuantLib", "fastapi", "solcx", "alembic"]

PROBE = """
import json, sys
from issuance.cli import cli
try:
    cli(sys.argv[1:], prog_name="bondledger")
except SystemExit:
    pass
print(json.dumps(sorted(m for m in %r if m in sys.modules)), file=sys.stderr)
"""


def loaded_by(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE % HEAVY, *args], capture_output=True, text=True, timeout=60)
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_help_loads_no_heavy_library():
    assert loaded_by("--help") == []


def test_every_group_help_loads_no_heavy_library():
    for group in ("devnet", "register", "cash", "investors", "coupon", "green", "etf"):
        assert loaded_by(group, "--help") == [], group


def test_command_help_loads_no_heavy_library():
    for command in (["issue", "--help"], ["settle", "--help"], ["register", "holders", "--help"], ["serve", "--help"]):
        assert loaded_by(*command) == [], command


def test_reading_the_register_never_loads_the_chain_client(tmp_path):
    db = tmp_path / "register.db"
    # A read-only open of a register that does not exist yet is refused; what matters is what loaded.
    loaded = loaded_by("--db", str(db), "register", "instruments")
    assert "web3" not in loaded and "eth_account" not in loaded and "QuantLib" not in loaded


def test_a_lazily_named_module_is_reachable_from_its_package_as_after_a_real_import():
    probe = (
        "import sys\n"
        "from issuance.cli.plumbing import lazy_module\n"
        "m = lazy_module('ledger.stampduty')\n"
        "import ledger.stampduty\n"
        "import ledger\n"
        "assert ledger.stampduty is m and m.instrument_class('bond')\n"
    )
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60).returncode == 0
