"""Compiled contracts: ABI and bytecode, compiled once per source tree and cached.

The compiler is scripts/solc (solc-js behind a solc-compatible command line), driven through
py-solc-x with the settings forge uses (read from foundry.toml), so Python deploys exactly
what the forge tests test. Output is cached under .cache/artifacts keyed by a hash of every
input (sources, OpenZeppelin version, settings, compiler version): an unchanged tree does not
recompile.
"""

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import solcx

from ledger.errors import BondledgerError

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = ROOT / "contracts"
SOLC = ROOT / "scripts" / "solc"
OPENZEPPELIN = ROOT / "node_modules" / "@openzeppelin" / "contracts"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list
    bytecode: str


def _settings() -> tuple[dict, list[str]]:
    profile = tomllib.loads((ROOT / "foundry.toml").read_text())["profile"]["default"]
    settings = {
        "optimizer": {"enabled": profile.get("optimizer", False), "runs": profile.get("optimizer_runs", 200)},
        "evmVersion": profile.get("evm_version", "cancun"),
        "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
    }
    return settings, profile.get("remappings", [])


def _sources(directory: Path) -> dict[str, Path]:
    return {p.relative_to(ROOT).as_posix(): p for p in sorted(directory.rglob("*.sol"))}


def _cache_key(sources: dict[str, Path], settings: dict, remappings: list[str]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([settings, remappings], sort_keys=True).encode())
    h.update((OPENZEPPELIN / "package.json").read_bytes())
    h.update(SOLC.read_bytes())
    for name, path in sources.items():
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:32]


def _compile(sources: dict[str, Path], settings: dict, remappings: list[str]) -> dict[str, Artifact]:
    standard_input = {
        "language": "Solidity",
        "sources": {name: {"content": path.read_text()} for name, path in sources.items()},
        "settings": {**settings, "remappings": remappings},
    }
    try:
        output = solcx.compile_standard(standard_input, solc_binary=SOLC, base_path=ROOT, allow_paths=[ROOT])
    except solcx.exceptions.SolcError as exc:
        raise BondledgerError(f"contracts do not compile: {exc}") from exc
    artifacts = {}
    for source_name, contracts in output["contracts"].items():
        if source_name not in sources:
            continue  # OpenZeppelin's own contracts
        for name, out in contracts.items():
            artifacts[name] = Artifact(name, out["abi"], "0x" + out["evm"]["bytecode"]["object"])
    return artifacts


@cache
def load_all(directory: Path = CONTRACTS) -> dict[str, Artifact]:
    """Every contract under `directory` (contracts/ by default), compiled or from the cache."""
    if not OPENZEPPELIN.exists():
        raise BondledgerError("node_modules is missing: run `make setup` (or `npm install`) first")
    sources = _sources(directory)
    settings, remappings = _settings()
    cache_dir = Path(os.environ.get("BONDLEDGER_CACHE", ROOT / ".cache")) / "artifacts"
    cache_file = cache_dir / f"{_cache_key(sources, settings, remappings)}.json"
    if cache_file.exists():
        raw = json.loads(cache_file.read_text())
        return {name: Artifact(name, a["abi"], a["bytecode"]) for name, a in raw.items()}
    artifacts = _compile(sources, settings, remappings)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({n: {"abi": a.abi, "bytecode": a.bytecode} for n, a in artifacts.items()}))
    tmp.replace(cache_file)  # atomic: a concurrent reader never sees half a file
    return artifacts


def load(name: str) -> Artifact:
    """One compiled contract by name, e.g. "BondToken"."""
    return load_all()[name]
