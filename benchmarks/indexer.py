#!/usr/bin/env python3
"""Indexer throughput and memory, next to their references, measured in one run on one anvil.

The chain gets N cash-token mints (Transfer events from 0x0), pre-signed and mined 500 a block.
Then `bondledger sync` (ledger.register.indexer.sync) indexes them into a fresh register, once on SQLite
and once on PostgreSQL (127.0.0.1:5432, skipped with the reason if unreachable). Printed beside
each: the reference, the node alone answering eth_getLogs for the same blocks (the indexer
cannot be faster than reading its input), and the indexer's peak Python memory (tracemalloc)
at N/5 and N events: flat means the second is not ~5x the first.

Usage: .venv/bin/python benchmarks/indexer.py [--events 50000] [--no-postgres]
Goal (issue #14): >= 5,000 events/s into SQLite and into PostgreSQL at 50,000 events; memory flat.
"""

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

from eth_account import Account
from tabulate import tabulate

from issuance.context import Context
from issuance.deploy import deploy_base
from ledger.chain import devnet
from ledger.register import indexer
from ledger.register.db import Register

PER_BLOCK = 500
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/"


def mint_events(ctx: Context, count: int) -> tuple[int, int]:
    """`count` HKD mints to fresh wallets, 500 a block; returns the (first, last) block."""
    hkd = ctx.chain.contract("CashToken", ctx.register.require_contract("cash", "HKD").address)
    op = ctx.signer
    receivers = [Account.create().address for _ in range(1000)]
    fees = op.fees()
    nonce = ctx.chain.w3.eth.get_transaction_count(op.address)
    data = [hkd.encode_abi("mint", [receivers[i % 1000], 1 + i]) for i in range(count)]
    first = ctx.chain.block_number() + 1
    ctx.chain.rpc("evm_setAutomine", [False])
    try:
        for start in range(0, count, PER_BLOCK):
            raw = [
                op.account.sign_transaction(
                    {
                        "to": hkd.address,
                        "data": d,
                        "nonce": nonce + start + i,
                        "gas": 90_000,
                        "chainId": ctx.chain.chain_id,
                        **fees,
                    }
                ).raw_transaction.to_0x_hex()
                for i, d in enumerate(data[start : start + PER_BLOCK])
            ]
            ctx.chain.rpc_batch([("eth_sendRawTransaction", [r]) for r in raw])
            ctx.chain.rpc("evm_mine", [])
    finally:
        ctx.chain.rpc("evm_setAutomine", [True])
    return first, ctx.chain.block_number()


def reference(ctx: Context, first: int, last: int) -> float:
    """Events/s of eth_getLogs alone over the same blocks, in the indexer's chunks."""
    address = ctx.register.require_contract("cash", "HKD").address
    start, n = time.perf_counter(), 0
    for low in range(first, last + 1, 20):
        n += len(
            ctx.chain.rpc("eth_getLogs", [{"fromBlock": hex(low), "toBlock": hex(min(low + 19, last)), "address": [address]}])
        )
    return n / (time.perf_counter() - start)


def index_into(db_url: str, ctx: Context, copy_from: Register, trace: bool = False) -> tuple[float, int, int | None]:
    """(events/s, events, peak bytes if traced) of a sync of the whole chain into a new register at
    db_url. Memory is traced in a run of its own: tracemalloc slows Python several times over."""
    register = Register(db_url)
    # follow the same contracts from their deployment blocks, as `deploy` recorded them
    with copy_from.session() as src, register.session() as dst:
        for c in src.exec(indexer.select(indexer.models.ContractRecord)).all():
            dst.add(indexer.models.ContractRecord(**{**c.model_dump(), "synced_block": c.deploy_block - 1}))
        dst.commit()
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    result = indexer.sync(register, ctx.chain)
    elapsed = time.perf_counter() - start
    peak = None
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    register.engine.dispose()
    return result.events / elapsed, result.events, peak


def postgres_url() -> str | None:
    import sqlalchemy

    name = f"bondledger_bench_{uuid.uuid4().hex[:8]}"
    try:
        engine = sqlalchemy.create_engine(POSTGRES + "test", isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
    except Exception as exc:
        print(f"PostgreSQL skipped: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return None
    return POSTGRES + name


def drop(url: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(POSTGRES + "test", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    engine.dispose()


def measure(events: int, postgres: bool) -> dict:
    figures = {}
    with tempfile.TemporaryDirectory() as tmp, devnet.running(log_dir=Path(tmp)) as node:
        ctx = Context.open(node.rpc_url, f"sqlite:///{tmp}/deploy.db")
        deploy_base(ctx)
        indexer.sync(ctx.register, ctx.chain)
        small_first, small_last = mint_events(ctx, events // 5)
        # a first register indexes only the small run, for the memory comparison
        _, n, peak_small = index_into(f"sqlite:///{tmp}/small.db", ctx, ctx.register, trace=True)
        figures["events_small"], figures["peak_bytes_small"] = n, peak_small
        first, last = mint_events(ctx, events - events // 5)
        figures["reference_getlogs_events_per_s"] = round(reference(ctx, small_first, last))
        rate, n, _ = index_into(f"sqlite:///{tmp}/full.db", ctx, ctx.register)
        _, _, peak = index_into(f"sqlite:///{tmp}/traced.db", ctx, ctx.register, trace=True)
        figures.update(events=n, sqlite_events_per_s=round(rate), peak_bytes=peak)
        if postgres and (url := postgres_url()):
            try:
                rate, n, _ = index_into(url, ctx, ctx.register)
                figures["postgres_events_per_s"] = round(rate)
            finally:
                drop(url)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    f = measure(args.events, not args.no_postgres)
    ref = f["reference_getlogs_events_per_s"]
    rows = [["reference: eth_getLogs alone, same blocks", f"{ref:,} events/s", ""]]
    rows.append(
        [
            f"sync into SQLite ({f['events']:,} events)",
            f"{f['sqlite_events_per_s']:,} events/s",
            f"{f['sqlite_events_per_s'] / ref:.0%} of reference",
        ]
    )
    if "postgres_events_per_s" in f:
        rows.append(
            [
                f"sync into PostgreSQL ({f['events']:,} events)",
                f"{f['postgres_events_per_s']:,} events/s",
                f"{f['postgres_events_per_s'] / ref:.0%} of reference",
            ]
        )
    rows.append([f"peak Python memory, {f['events_small']:,} events", f"{f['peak_bytes_small'] / 2**20:.1f} MiB", ""])
    rows.append(
        [
            f"peak Python memory, {f['events']:,} events",
            f"{f['peak_bytes'] / 2**20:.1f} MiB",
            f"{f['peak_bytes'] / f['peak_bytes_small']:.2f}x for {f['events'] / f['events_small']:.0f}x the events",
        ]
    )
    print(tabulate(rows, headers=["measure", "figure", "vs reference"]))
    print("goals: >= 5,000 events/s into SQLite and PostgreSQL; memory flat in the number of events")
    print(json.dumps(f))
    return 0


if __name__ == "__main__":
    sys.exit(main())
