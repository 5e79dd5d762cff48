#!/usr/bin/env python3
"""How soon the CLI answers, as fresh processes: `--help`, a register read, a `sync` with nothing
to do (SQLite and PostgreSQL registers) and, for contrast, a `sync` after one new block (its full
path), each beside the bare interpreter's start measured in the same run.

The devnet is a fresh anvil with the base contracts deployed (`bondledger deploy`), so the
register follows contracts and a no-op sync has their indexed blocks to check. Each command runs
--runs times; the table shows the fastest and the median wall time.

Usage: .venv/bin/python benchmarks/startup.py [--runs 5] [--no-postgres]
Goals (issue #14): `bondledger --help` and a `register` read command start in under 0.3 s; a no-op
`sync` under 0.5 s.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

from indexer import drop, postgres_url
from ledger.chain import devnet

GOALS = {"help": 0.3, "register read": 0.3, "no-op sync, SQLite": 0.5, "no-op sync, PostgreSQL": 0.5}


def cli() -> list[str]:
    """The installed `bondledger` script beside this interpreter, else the module."""
    script = Path(sys.executable).parent / "bondledger"
    return [str(script)] if script.exists() else [sys.executable, "-m", "issuance.cli"]


def timed(command: list[str], env: dict, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return times


def measure(runs: int, postgres: bool) -> dict:
    bl = cli()
    figures: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, devnet.running(log_dir=Path(tmp)) as node:
        env = {**os.environ, "BONDLEDGER_RPC_URL": node.rpc_url, "BONDLEDGER_DB": f"sqlite:///{tmp}/register.db"}
        env.pop("BONDLEDGER_PRIVATE_KEY", None)
        timed([*bl, "deploy"], env, 1)
        figures["interpreter alone (reference)"] = timed([sys.executable, "-c", "pass"], env, runs)
        figures["help"] = timed([*bl, "--help"], env, runs)
        figures["register read"] = timed([*bl, "register", "instruments"], env, runs)
        figures["no-op sync, SQLite"] = timed([*bl, "sync"], env, runs)
        full = []
        for _ in range(runs):
            node_mine(node.rpc_url)
            full += timed([*bl, "sync"], env, 1)
        figures["sync after a new block (full path)"] = full
        url = postgres_url() if postgres else None
        if url:
            try:
                pg_env = {**env, "BONDLEDGER_DB": url}
                timed([*bl, "sync"], pg_env, 1)  # binds and migrates the new register
                figures["no-op sync, PostgreSQL"] = timed([*bl, "sync"], pg_env, runs)
            finally:
                drop(url)
    return figures


def node_mine(rpc_url: str) -> None:
    from ledger.chain.node import Node

    Node(0, rpc_url).rpc("evm_mine", [])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL register")
    args = parser.parse_args()
    figures = measure(args.runs, not args.no_postgres)
    rows = []
    for what, times in figures.items():
        goal = GOALS.get(what)
        rows.append(
            [
                what,
                f"{min(times):.2f} s",
                f"{statistics.median(times):.2f} s",
                f"< {goal} s: {'met' if statistics.median(times) < goal else 'NOT met'}" if goal else "",
            ]
        )
    print(tabulate(rows, headers=["fresh process", "fastest", "median", "goal (median)"]))
    print(json.dumps({what: round(statistics.median(times), 3) for what, times in figures.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
