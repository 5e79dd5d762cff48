#!/usr/bin/env python3
"""`bondledger export` at scale: the whole register to CSV and JSON, beside the time to read every
table once and write it as CSV, measured in one run on one register.

The register is built directly in SQLite with SQLAlchemy core, as benchmarks/web.py builds it
(no chain: the proofs are fake but shaped like real ones): one bond, N registered investors with
a wallet each, T transfers (a mint to each holder, then transfers between holders), a settled
instruction and its stamp duty assessment per 10 transfers.

- export: `bondledger export --out DIR` run as a user runs it (a fresh process), its seconds and
  its peak resident memory (its own high-water mark, VmHWM, read as it exits: Linux carries a
  parent's maxrss over fork and exec, so the child's ru_maxrss was this process's peak after
  building the register; flat in the register's size when it streams);
  it writes every table, every view and each investor's movements (CSV and JSON);
- reference: every table of the same register read once and written as CSV by csv.writer, in
  process: the floor of reading and writing the rows, with no view, no JSON and no movements.
Each size is one line of JSON on stderr as it completes; the last line is one JSON object with
the figures.

Usage: .venv/bin/python benchmarks/export.py [--sizes 1000:10000,10000:100000]
Goal (issue #14): a register of 10,000 investors and 100,000 transfers exports in under 30 s,
streaming; export linear in the register's size.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import inspect, text
from tabulate import tabulate

from ledger.register.db import Register

sys.path.insert(0, str(Path(__file__).resolve().parent))
from web import build  # noqa: E402  (the same register as the web benchmark)


def table_dump(url: str, out: Path) -> tuple[float, int]:
    """Seconds to read every table once and write it as CSV; rows written."""
    register = Register(url, read_only=True)
    out.mkdir()
    rows = 0
    start = time.perf_counter()
    with register.engine.connect() as conn:
        for table in inspect(register.engine).get_table_names():
            result = conn.execution_options(yield_per=2000).execute(text(f'SELECT * FROM "{table}"'))
            with open(out / f"{table}.csv", "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(result.keys())
                for row in result:
                    writer.writerow(row)
                    rows += 1
    elapsed = time.perf_counter() - start
    register.engine.dispose()
    return elapsed, rows


# `python -m issuance.cli` that, as it exits, writes its peak resident memory (kB) to $PEAK_FILE
PEAK_SHIM = """
import atexit, os
def peak():
    with open("/proc/self/status") as status, open(os.environ["PEAK_FILE"], "w") as out:
        out.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
atexit.register(peak)
from issuance.cli import main
main()
"""


def run_export(url: str, out: Path) -> tuple[float, float, int, int]:
    """`bondledger export` in a fresh process: seconds, peak resident MiB, files, rows written."""
    with tempfile.TemporaryFile("w+") as log, tempfile.NamedTemporaryFile("r") as peak:
        env = {**os.environ, "BONDLEDGER_DB": url, "PEAK_FILE": peak.name}
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", PEAK_SHIM, "export", "--out", str(out)], env=env, stdout=log, stderr=log)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            log.seek(0)
            raise SystemExit(f"export failed: {log.read()}")
        peak_mib = int(peak.read()) / 1024
    manifest = json.loads((out / "manifest.json").read_text())
    rows = sum(f["rows"] for f in manifest["files"] if f["path"].endswith(".csv"))
    return elapsed, peak_mib, len(manifest["files"]), rows


def measure(investors: int, transfers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/register.db"
        start = time.perf_counter()
        build(url, investors, transfers)
        built = time.perf_counter() - start
        ref_s, ref_rows = table_dump(url, Path(tmp) / "dump")
        export_s, peak_mib, files, rows = run_export(url, Path(tmp) / "export")
    return {
        "investors": investors,
        "transfers": transfers,
        "build_s": round(built, 2),
        "export_s": round(export_s, 2),
        "export_peak_mib": round(peak_mib, 1),
        "export_files": files,
        "export_rows": rows,
        "ref_s": round(ref_s, 2),
        "ref_rows": ref_rows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000:10000,10000:100000", help="investors:transfers, comma-separated")
    args = parser.parse_args()
    results = []
    for size in args.sizes.split(","):
        investors, transfers = (int(x) for x in size.split(":"))
        results.append(measure(investors, transfers))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    table = [
        [
            f"export, {r['investors']:,} investors / {r['transfers']:,} transfers",
            f"{r['export_s']:.2f} s",
            f"{r['export_files']:,} files, {r['export_rows']:,} rows, peak {r['export_peak_mib']:.0f} MiB",
            f"{r['ref_s']:.2f} s (every table read once, written as CSV: {r['ref_rows']:,} rows)",
            f"{r['export_s'] / r['ref_s']:.1f}x",
        ]
        for r in results
    ]
    print("register built directly in SQLite (benchmarks/web.py's build), not by a chain run; peak: the export process's VmHWM")
    print(tabulate(table, headers=["measure", "bondledger", "what it wrote", "reference, same register", "vs reference"]))
    if len(results) > 1:
        a, b = results[0], results[-1]
        growth = (b["export_s"] / a["export_s"]) / (b["export_rows"] / a["export_rows"])
        print(
            f"growth: {b['export_rows'] / a['export_rows']:.1f}x the rows took {b['export_s'] / a['export_s']:.1f}x the time "
            f"({growth:.2f}x per row; 1.0 is linear)"
        )
    print("goal: 10,000 investors and 100,000 transfers in under 30 s, streaming")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
