"""The compiler wrapper and the artifact cache: what forge and py-solc-x rely on."""

import json
import subprocess

import pytest
import solcx
import solcx.wrapper

from ledger.chain import artifacts
from ledger.errors import BondledgerError

SOLC = str(artifacts.SOLC)


def test_the_wrapper_answers_version_in_solcs_own_format():
    out = subprocess.run([SOLC, "--version"], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "solc, the solidity compiler commandline interface"
    assert out[1].startswith("Version: 0.8.30+commit.") and out[1].endswith(".Linux.g++")
    assert str(solcx.wrapper.get_solc_version(SOLC)) == "0.8.30"  # how py-solc-x reads it


def test_the_wrapper_prints_clean_json_larger_than_a_pipe_buffer():
    sources = {"contracts/BondToken.sol": {"content": (artifacts.CONTRACTS / "BondToken.sol").read_text()}}
    request = {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "remappings": ["@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/"],
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }
    proc = subprocess.run(
        [
            SOLC,
            "--allow-paths",
            f"{artifacts.ROOT},{artifacts.ROOT}/node_modules",
            "--base-path",
            str(artifacts.ROOT),
            "--standard-json",
        ],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        cwd=artifacts.ROOT,
    )
    assert len(proc.stdout) > 64 * 1024
    output = json.loads(proc.stdout)  # nothing before or after the JSON
    assert not [e for e in output.get("errors", []) if e["severity"] == "error"]
    assert "BondToken" in output["contracts"]["contracts/BondToken.sol"]


def test_the_wrapper_refuses_what_it_does_not_implement():
    proc = subprocess.run([SOLC, "--combined-json", "abi", "x.sol"], capture_output=True, text=True)
    assert proc.returncode == 1 and "unsupported option --combined-json" in proc.stderr


def test_an_unchanged_tree_is_not_recompiled(monkeypatch):
    artifacts.load_all()  # compiled (or cached) once
    artifacts.load_all.cache_clear()

    def no_compiler(*args, **kwargs):
        raise AssertionError("recompiled an unchanged tree")

    monkeypatch.setattr(solcx, "compile_standard", no_compiler)
    assert "BondToken" in artifacts.load_all()


def test_a_changed_source_changes_the_cache_key(tmp_path, monkeypatch):
    settings, remappings = artifacts._settings()
    sources = artifacts._sources(artifacts.CONTRACTS)
    before = artifacts._cache_key(sources, settings, remappings)
    changed = tmp_path / "CashToken.sol"
    changed.write_text((artifacts.CONTRACTS / "CashToken.sol").read_text() + "\n// changed\n")
    sources["contracts/CashToken.sol"] = changed
    assert artifacts._cache_key(sources, settings, remappings) != before


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["devnet"],
        ["devnet", "up"],
        ["devnet", "down"],
        ["devnet", "status"],
        ["deploy"],
        ["investors"],
        ["investors", "import"],
        ["investors", "list"],
        ["cash"],
        ["cash", "mint"],
        ["cash", "allow"],
        ["cash", "balance"],
        ["issue"],
        ["schedule"],
        ["sync"],
        ["register"],
        ["register", "holders"],
        ["register", "transfers"],
        ["reconcile"],
    ],
)
def test_every_command_has_help(command):
    from click.testing import CliRunner

    from issuance.cli import cli

    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.stdout


# ---------------------------------------------------------------------- the packaged build (what a wheel carries)


@pytest.fixture
def packaged(tmp_path, monkeypatch):
    """ledger/chain/contracts_build/artifacts.json as a build writes it, in a place of the test's own."""
    target = tmp_path / "contracts_build" / "artifacts.json"
    monkeypatch.setattr(artifacts, "PACKAGED", target)
    data = artifacts.build_package_data(target)
    artifacts.load_all.cache_clear()
    yield target, data
    artifacts.load_all.cache_clear()


def test_the_packaged_build_names_its_compiler_and_the_sources_it_came_from(packaged):
    _, data = packaged
    assert data["compiler"].startswith("0.8.30+commit.")
    settings, remappings = artifacts._settings()
    assert data["source_hash"] == artifacts._cache_key(artifacts._sources(artifacts.CONTRACTS), settings, remappings)
    assert set(data["contracts"]) >= {"BondToken", "CashToken", "DvPSettlement", "InvestorRegistry", "PayingAgent"}
    assert data["contracts"]["BondToken"]["bytecode"].startswith("0x") and data["contracts"]["BondToken"]["abi"]


def test_outside_a_checkout_only_the_packaged_build_is_read(packaged, monkeypatch):
    target, _ = packaged
    raw = json.loads(target.read_text())
    raw["contracts"]["BondToken"]["bytecode"] = "0xfeed"  # marks where the answer came from
    target.write_text(json.dumps(raw))
    monkeypatch.setattr(artifacts, "in_checkout", lambda: False)
    monkeypatch.setattr(artifacts, "OPENZEPPELIN", artifacts.ROOT / "no-node-modules")
    monkeypatch.setattr(solcx, "compile_standard", lambda *a, **k: pytest.fail("compiled outside a checkout"))
    assert artifacts.load("BondToken").bytecode == "0xfeed"


def test_outside_a_checkout_without_a_packaged_build_says_so_in_one_line(packaged, monkeypatch):
    target, _ = packaged
    target.unlink()
    monkeypatch.setattr(artifacts, "in_checkout", lambda: False)
    with pytest.raises(BondledgerError, match=r"^no compiled contracts: .*artifacts\.json is missing") as exc:
        artifacts.load_all()
    assert "\n" not in str(exc.value)


def test_in_a_checkout_a_packaged_build_of_other_sources_is_not_used(packaged):
    target, _ = packaged
    raw = json.loads(target.read_text())
    raw["source_hash"] = "0" * 32  # built from sources the checkout no longer has
    raw["contracts"]["BondToken"]["bytecode"] = "0xfeed"
    target.write_text(json.dumps(raw))
    assert artifacts.load("BondToken").bytecode != "0xfeed"


def test_in_a_checkout_a_packaged_build_of_these_sources_is_used(packaged):
    target, _ = packaged
    raw = json.loads(target.read_text())
    raw["contracts"]["BondToken"]["bytecode"] = "0xfeed"
    target.write_text(json.dumps(raw))
    assert artifacts.load("BondToken").bytecode == "0xfeed"


def test_another_directory_of_the_checkout_compiles_on_its_own(packaged):
    """load_all(directory): contracts of a test or benchmark, never the packaged build's."""
    plain = artifacts.load_all(artifacts.ROOT / "benchmarks" / "contracts")
    assert "PlainERC20" in plain and "BondToken" not in plain
