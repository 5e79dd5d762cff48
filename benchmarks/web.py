#!/usr/bin/env python3
"""The auditor's web view at scale: the first page of each route next to the unpaged list it
replaced, measured in one run on one register.

The register is built directly in SQLite with SQLAlchemy core (no chain: the proofs are fake
but shaped like real ones): one bond with --holders registered investors, --transfers transfers
(a mint to each holder, then transfers between holders), and one settled instruction with its
stamp duty assessment per 10 transfers.

- first page: the route as served (`limit` 100, the default), through the ASGI app in process;
- reference: the same rows unpaged, as the route answered before paging (the view's whole list,
  serialized to JSON), and for the pages the whole holders and transfers lists.
The last line is one JSON object with these figures.

Usage: .venv/bin/python benchmarks/web.py [--holders 10000] [--transfers 100000]
Goal (issue #14): a holders view with 10,000 holders and a transfers view with 100,000 rows each
answer in under 0.5 s.
"""

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import insert
from tabulate import tabulate

from ledger.register import models, movements, views
from ledger.register.db import Register
from ledger.register.rows import as_json

ISIN = "HK0000000001"
BOND = "0x" + "b0" * 20
CASH = "0x" + "ca" * 20
CHAIN_ID = 31337
T0 = int(datetime(2026, 1, 5, 1, tzinfo=timezone.utc).timestamp())


def fake_hash(*parts) -> str:
    return "0x" + hashlib.sha256(repr(parts).encode()).hexdigest()


def build(url: str, holders: int, transfers: int, seed: int = 14) -> None:
    """A register of one bond with `holders` investors and `transfers` transfers (see above)."""
    rng = random.Random(seed)
    reg = Register(url)
    wallets = [f"0x{i:040x}" for i in range(1, holders + 1)]
    now = datetime.now(timezone.utc)
    blocks = max(1, transfers // 20)  # 20 transfers a block
    with reg.engine.begin() as conn:
        conn.execute(
            insert(models.Network), [{"id": 1, "chain_id": CHAIN_ID, "genesis_hash": fake_hash("genesis"), "created_at": now}]
        )
        conn.execute(
            insert(models.Checkpoint),
            [
                {
                    "id": 1,
                    "chain_id": CHAIN_ID,
                    "block_number": blocks + 1,
                    "block_hash": fake_hash("block", blocks + 1),
                    "updated_at": now,
                }
            ],
        )
        conn.execute(
            insert(models.Instrument),
            [
                {
                    "isin": ISIN,
                    "kind": "bond",
                    "name": "Benchmark Green Bond",
                    "symbol": "BGB",
                    "issuer": "Benchmark Issuer",
                    "currency": "HKD",
                    "address": BOND,
                    "denomination": 5_000_000,
                    "issue_size": 10**12,
                    "issue_date": date(2026, 1, 5),
                    "maturity_date": date(2029, 1, 5),
                    "termsheet": "{}",
                    "termsheet_sha256": "0" * 64,
                    "created_at": now,
                }
            ],
        )
        conn.execute(
            insert(models.Investor),
            [
                {
                    "investor_id": f"investor_{i:05d}",
                    "id_hash": fake_hash("id", i),
                    "name": f"Investor {i}",
                    "country": "HK",
                    "category": "professional",
                    "kyc_expiry": date(2030, 1, 1),
                    "updated_at": now,
                }
                for i in range(holders)
            ],
        )
        conn.execute(
            insert(models.Wallet),
            [{"address": w, "id_hash": fake_hash("id", i), "active": True, "block_number": 1} for i, w in enumerate(wallets)],
        )
        conn.execute(
            insert(models.Registration),
            [
                {
                    "chain_id": CHAIN_ID,
                    "block_number": 1,
                    "block_hash": fake_hash("block", 1),
                    "block_timestamp": T0,
                    "tx_hash": fake_hash("reg", i),
                    "log_index": 0,
                    "event": "wallet_added",
                    "id_hash": fake_hash("id", i),
                    "wallet": w,
                }
                for i, w in enumerate(wallets)
            ],
        )
        balance = dict.fromkeys(wallets, 0)
        rows, duty, instructions = [], [], []
        for n in range(transfers):
            block, log = 2 + n // 20, n % 20
            if n < holders:
                sender, receiver, quantity = views.ZERO_ADDRESS, wallets[n], rng.randrange(10, 1000)
            else:
                sender = wallets[rng.randrange(holders)]
                while balance[sender] == 0:
                    sender = wallets[rng.randrange(holders)]
                receiver, quantity = wallets[rng.randrange(holders)], rng.randrange(1, balance[sender] + 1)
            if sender != views.ZERO_ADDRESS:
                balance[sender] -= quantity
            balance[receiver] += quantity
            proof = {
                "chain_id": CHAIN_ID,
                "block_number": block,
                "block_hash": fake_hash("block", block),
                "block_timestamp": T0 + 2 * block,
                "tx_hash": fake_hash("tx", n),
                "log_index": log,
            }
            rows.append({**proof, "token": BOND, "from_address": sender, "to_address": receiver, "quantity": quantity})
            if n >= holders and n % 10 == 0:
                instruction = fake_hash("instruction", n)
                day = date.fromtimestamp(T0 + 2 * block)
                instructions.append(
                    {
                        "instruction_id": instruction,
                        "isin": ISIN,
                        "seller_investor_id": "s",
                        "buyer_investor_id": "b",
                        "seller": sender,
                        "buyer": receiver,
                        "security_token": BOND,
                        "cash_token": CASH,
                        "currency": "HKD",
                        "quantity": quantity,
                        "price": "100",
                        "accrued": 0,
                        "cash_amount": quantity * 5_000_000,
                        "trade_date": day,
                        "settlement_date": day,
                        "expiry": T0 + 10**6,
                        "nonce": n,
                        "status": "settled",
                        "reason": None,
                        "created_at": now,
                        "updated_at": now,
                        **proof,
                    }
                )
                duty.append(
                    {
                        **proof,
                        "instruction_id": instruction,
                        "isin": ISIN,
                        "instrument_class": "bond",
                        "treatment": "not_chargeable",
                        "currency": "HKD",
                        "consideration": quantity * 5_000_000,
                        "duty_without_relief": 0,
                        "duty_buyer": 0,
                        "duty_seller": 0,
                        "basis": "loan capital",
                        "rule_version": "bench",
                        "trade_date": day,
                    }
                )
        conn.execute(insert(models.Transfer), rows)
        conn.execute(insert(models.Instruction), instructions)
        conn.execute(insert(models.DutyAssessment), duty)
    reg.engine.dispose()


def timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holders", type=int, default=10_000)
    parser.add_argument("--transfers", type=int, default=100_000)
    args = parser.parse_args(argv)
    if args.transfers < args.holders:
        parser.error("--transfers must be at least --holders (one mint per holder)")

    from fastapi.testclient import TestClient

    from ledger.web import create_app

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'register.db'}"
        seconds, _ = timed(lambda: build(url, args.holders, args.transfers))
        print(
            f"built a register of {args.holders:,} holders and {args.transfers:,} transfers in {seconds:.1f} s", file=sys.stderr
        )
        reg = Register(url, read_only=True)
        client = TestClient(create_app(url))
        client.get("/api/instruments")  # warm up: the first request imports and compiles what every request uses

        def whole(view):
            return lambda: json.dumps(view(), default=str)

        def get(path):
            def call():
                r = client.get(path)
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
                return r

            return call

        investor = "investor_00007"
        routes = [
            (f"/api/instruments/{ISIN}/holders", whole(lambda: as_json(views.holders(reg, ISIN)[1]))),
            (f"/api/instruments/{ISIN}/transfers", whole(lambda: as_json(movements.transfer_rows(reg, ISIN)))),
            ("/api/settlements", whole(lambda: as_json(views.settlements(reg)))),
            ("/api/stamp-duty", whole(lambda: as_json(views.stamp_duty(reg)))),
            (f"/api/investors/{investor}/movements", whole(lambda: as_json(movements.movements(reg, investor)))),
            (
                f"/instruments/{ISIN}",
                whole(lambda: (as_json(views.holders(reg, ISIN)[1]), as_json(movements.transfer_rows(reg, ISIN)))),
            ),
            (
                "/",
                whole(
                    lambda: (
                        as_json(views.holders(reg, ISIN)[1]),
                        as_json(views.settlements(reg)),
                        as_json(views.stamp_duty(reg)),
                    )
                ),
            ),
        ]
        table, figures = [], {}
        for path, reference in routes:
            page_s, response = timed(get(path))
            page_s = min(page_s, timed(get(path))[0])  # best of two, as the reference
            ref_s = min(timed(reference)[0], timed(reference)[0])
            rows = len(response.json()) if path.startswith("/api/") else "page"
            table.append([path, f"{page_s:.3f}", f"{ref_s:.3f}", rows, f"{len(response.content) / 1024:,.0f} KiB"])
            figures[path] = {"first_page_s": round(page_s, 4), "unpaged_reference_s": round(ref_s, 4)}
        print(tabulate(table, headers=["route", "first page (s)", "unpaged reference (s)", "rows", "page size"]))
        print("goal: holders (10,000) and transfers (100,000) first page < 0.5 s each")
        print(json.dumps({"holders": args.holders, "transfers": args.transfers, "routes": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
