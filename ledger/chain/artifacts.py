"""Compiled contracts: ABI and bytecode, compiled once per source tree and cached.

The compiler is scripts/solc (solc-js behind a solc-compatible command line), driven through
py-solc-x with the settings forge uses (read from foundry.toml), so Python deploys exactly
what the forge tests test. Output is cached under .cache/artifacts keyed by a hash of every
input (sources, OpenZeppelin version, settings, compiler version): an unchanged tree does not
recompile.

An installed package has no checkout: building it (setup.py's build_py) writes the compiled
contracts, the compiler version and that same source hash into ledger/chain/contracts_build/
artifacts.json, and without contracts/ next to the package that file is all that is read.
In a checkout the packaged file is used only if its hash is the checkout's; else the sources
are compiled (or taken from the cache), so an edited contract is never deployed stale.
"""

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ledger.errors import BondledgerError
from ledger.settings import settings as environment  # `settings` here is the compiler's

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
SOLC = ROOT / "scripts" / "solc"
OPENZEPPELIN = ROOT / "node_modules" / "@openzeppelin" / "contracts"
SOLCJS = ROOT / "node_modules" / "solc"
#: the compiled contracts an installed package carries (written when the package is built)
PACKAGED = Path(__file__).resolve().parent / "contracts_build" / "artifacts.json"


def in_checkout() -> bool:
    """Whether this package runs from a source checkout (contracts/ and foundry.toml beside
    it), rather than installed (ROOT is then site-packages, which may hold anything)."""
    return CONTRACTS.is_dir() and (ROOT / "foundry.toml").is_file()


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
    h.update((SOLCJS / "package.json").read_bytes())  # the compiler itself (solc-js version)
    for name, path in sources.items():
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:32]


def _compile(sources: dict[str, Path], settings: dict, remappings: list[str]) -> dict[str, Artifact]:
    standard_input = {
        "language": "Solidity",
        "sources": {name: {"content": path.read_text()} for name, path in sources.items()},
        "settings": {**settings, "remappings": remappings},
    }
    import solcx  # the compiler's driver: only a checkout compiles, an installed package never does

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


def _from_json(raw: dict) -> dict[str, Artifact]:
    return {name: Artifact(name, a["abi"], a["bytecode"]) for name, a in raw.items()}


def _packaged() -> dict | None:
    """The packaged build (see the module doc), or None if this package carries none."""
    if not PACKAGED.is_file():
        return None
    return json.loads(PACKAGED.read_text())


@cache
def load_all(directory: Path = CONTRACTS) -> dict[str, Artifact]:
    """Every contract under `directory` (contracts/ by default), compiled or from the cache; an
    installed package's contracts come from its packaged build."""
    if directory == CONTRACTS and not in_checkout():
        packaged = _packaged()
        if packaged is None:
            raise BondledgerError(
                f"no compiled contracts: {PACKAGED} is missing and there is no checkout (contracts/) to compile; "
                "reinstall bondledger from its wheel"
            )
        return _from_json(packaged["contracts"])
    if not OPENZEPPELIN.exists():
        raise BondledgerError("node_modules is missing: run `make setup` (or `npm install`) first")
    sources = _sources(directory)
    settings, remappings = _settings()
    key = _cache_key(sources, settings, remappings)
    if directory == CONTRACTS:
        packaged = _packaged()
        if packaged is not None and packaged.get("source_hash") == key:
            return _from_json(packaged["contracts"])
    cache_dir = (environment().cache or ROOT / ".cache") / "artifacts"
    cache_file = cache_dir / f"{key}.json"
    if cache_file.exists():
        return _from_json(json.loads(cache_file.read_text()))
    artifacts = _compile(sources, settings, remappings)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")  # one per process: test workers may compile at once
    tmp.write_text(json.dumps({n: {"abi": a.abi, "bytecode": a.bytecode} for n, a in artifacts.items()}))
    tmp.replace(cache_file)  # atomic: a concurrent reader never sees half a file
    return artifacts


def load(name: str) -> Artifact:
    """One compiled contract by name, e.g. "BondToken"."""
    return load_all()[name]


def build_package_data(target: Path) -> dict:
    """Compiles contracts/ (or takes them from the cache) and writes what an installed package
    carries to `target`: every contract's ABI and bytecode, the compiler's version and the hash
    of the sources, settings and compiler they came from (the cache key). Called when the
    package is built (setup.py); returns what it wrote."""
    if not in_checkout():
        raise BondledgerError(f"building the contracts needs the source checkout: {CONTRACTS} is missing")
    if not OPENZEPPELIN.exists():
        raise BondledgerError("node_modules is missing: run `make setup` (or `npm install`) before building the package")
    import solcx.wrapper

    sources = _sources(CONTRACTS)
    settings, remappings = _settings()
    data = {
        "compiler": str(solcx.wrapper.get_solc_version(SOLC, with_commit_hash=True)),
        "source_hash": _cache_key(sources, settings, remappings),
        "settings": settings,
        "contracts": {n: {"abi": a.abi, "bytecode": a.bytecode} for n, a in load_all.__wrapped__(CONTRACTS).items()},
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, sort_keys=True))
    return data
