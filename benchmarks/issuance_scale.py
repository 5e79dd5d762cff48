#!/usr/bin/env python3
"""Issuance at scale: investor import, `issue` and `coupon pay` to N investors, each next to a
reference measured in the same run on the same anvil.

For each N, on a fresh anvil and SQLite register:
- import_s: `bondledger investors import investors.csv` of N investors, one wallet each, run as
  a user runs it (a fresh process: start-up, reading and checking the CSV, the chain's state,
  registry writes, register, indexing);
- issue_s: `issue` of a bond to all N (pre-checks, deployment, settlement DvP, register, indexing),
  through issuance.issue.issue_bond; every investor's cash is minted and authorized beforehand
  (not timed);
- coupon_s and gas per holder: `coupon pay` of the first coupon to the N holders, through
  issuance.lifecycle.pay_coupon (gas: its payCouponAfter transactions, declaration excluded).
References, the best this node does with the same amount of work (automine off, pre-signed
transactions sent in JSON-RPC batches of 100, mined in blocks of 500 by `evm_mine`, as
benchmarks/settlement.py does):
- for import: the very registry multicalls the import sends (issuance.investors.plan_import),
  pre-signed with the gas the import gives them, sent with automine off a block's gas at a time,
  each block mined by `evm_mine`: as few blocks as the chain's gas limit allows; then the chain is reverted to its
  snapshot and the import runs on the same state;
- for issue: N transfers of one plain ERC-20 to new holders (the mints) and N of another (the
  cash legs);
- for coupon pay: N plain ERC-20 transfers to holders, and the gas of one transfer to a balance
  of zero and to a held one (the investors keep some cash after paying for the bond, so a
  coupon credits a held balance: the second is the like-for-like reference).
Also timed, for their growth with N (not against a reference): `verify` after the import (N
registry events), and `reconcile` and `verify` of the bond after the coupon.
The last line is one JSON object with the figures.

Usage: .venv/bin/python benchmarks/issuance_scale.py [--sizes 100,1000] [--large] [--import-only]
(--large adds 10000; --import-only measures the import and the verify after it alone)
Goals (issue #14): issue 1,000 < 5 s, 10,000 < 60 s, linear; import 10,000 < 20 s; coupon pay
10,000 < 30 s at <= 40,000 gas per holder.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

from eth_account import Account
from tabulate import tabulate
from web3 import Web3

from issuance.context import Context
from issuance.deploy import deploy_base
from issuance.inputs import AllocationRow, InvestorRow
from issuance.investors import plan_import, registry_address
from issuance.issue import issue_bond, plan
from issuance.lifecycle import pay_coupon
from issuance.schedule import coupon_schedule
from issuance.termsheet import load_termsheet
from ledger.chain import artifacts, devnet, keys
from ledger.register import indexer
from ledger.chain import Signer
from ledger.chain.codec import calldata
from ledger.codes import Category
from ledger.proofs.reconcile import reconcile
from ledger.proofs.verify import verify

ISSUE_DAY = "1707267600"  # 2024-02-07T01:00:00Z
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BLOCK = 500  # transactions a block in the references
SEND_BATCH = 100


def accounts(n: int) -> list:
    """n investor keys, derived rather than random so runs are alike."""
    return [Account.from_key(Web3.keccak(text=f"bondledger benchmark investor {i}")) for i in range(n)]


def send_in_blocks(ctx: Context, raw: list[str]) -> float:
    """Sends pre-signed transactions with automine off, mining a block each BLOCK of them;
    seconds from the first send to the last receipt. Every transaction must succeed."""
    ctx.chain.rpc("evm_setAutomine", [False])
    try:
        start = time.perf_counter()
        hashes = []
        for i in range(0, len(raw), BLOCK):
            for j in range(i, min(i + BLOCK, len(raw)), SEND_BATCH):
                hashes += ctx.chain.rpc_batch(
                    [("eth_sendRawTransaction", [t]) for t in raw[j : min(j + SEND_BATCH, i + BLOCK, len(raw))]]
                )
            ctx.chain.rpc("evm_mine", [])
        last = ctx.chain.rpc("eth_getTransactionReceipt", [hashes[-1]])
        elapsed = time.perf_counter() - start
    finally:
        ctx.chain.rpc("evm_setAutomine", [True])
    if last is None or last["status"] != "0x1":
        raise SystemExit("reference: the last transaction did not succeed")
    return elapsed


def presign(ctx: Context, sender, calls: list[tuple[str, str]], gas: int, nonce: int | None = None) -> list[str]:
    if nonce is None:
        nonce = ctx.chain.w3.eth.get_transaction_count(sender.address)
    fees = {"maxFeePerGas": 10**11, "maxPriorityFeePerGas": 1}
    return [
        "0x"
        + bytes(
            sender.sign_transaction(
                {"to": to, "data": data, "gas": gas, "value": 0, "chainId": ctx.chain.chain_id, "nonce": nonce + i, **fees}
            ).raw_transaction
        ).hex()
        for i, (to, data) in enumerate(calls)
    ]


def plain_token(ctx: Context, holder: str) -> str:
    art = artifacts.load_all(artifacts.ROOT / "benchmarks" / "contracts")["PlainERC20"]
    factory = ctx.chain.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    return ctx.signer.transact(factory.constructor(holder, 10**30), "deploy PlainERC20")["contractAddress"]


def transfer_data(to: str, amount: int = 1) -> str:
    return "0x" + (bytes.fromhex("a9059cbb") + bytes(12) + bytes.fromhex(to[2:]) + amount.to_bytes(32, "big")).hex()


def references(ctx: Context, n: int) -> dict:
    """The node's best with the same amount of work, on plain ERC-20s (see the module docstring)."""
    sender = keys.dev_account(7)
    a, b = plain_token(ctx, sender.address), plain_token(ctx, sender.address)
    fresh = [Account.create().address for _ in range(2 * n)]
    tx = presign(ctx, sender, [(t, transfer_data(w)) for w in fresh[:n] for t in (a, b)], 80_000)
    issue_ref = send_in_blocks(ctx, tx)
    tx = presign(ctx, sender, [(b, transfer_data(w)) for w in fresh[n:]], 80_000)
    coupon_ref = send_in_blocks(ctx, tx)  # fresh[n:] hold token a only: a first holding of b
    op = Signer(ctx.chain, sender)
    token = ctx.chain.contract("CashToken", b)  # ERC-20 transfer: any ERC-20 ABI encodes it
    gas_new = op.transact(token.functions.transfer(Account.create().address, 1), "to a zero balance")["gasUsed"]
    gas_existing = op.transact(token.functions.transfer(fresh[0], 1), "to a holder")["gasUsed"]
    return {"issue_ref_s": issue_ref, "coupon_ref_s": coupon_ref, "erc20_gas_new": gas_new, "erc20_gas_existing": gas_existing}


def import_reference(ctx: Context, rows: list[InvestorRow]) -> tuple[float, int]:
    """Seconds for the node to take the import's own registry transactions pre-signed (sent a
    block's gas at a time, automine off, each block mined by `evm_mine`: full blocks), and their
    gas. The chain is reverted afterwards, so the import then runs on the same state."""
    snapshot = ctx.chain.rpc("evm_snapshot", [])
    registry = registry_address(ctx)
    calls = plan_import(ctx, registry, rows).transactions(registry)
    gas = ctx.signer._gas_used(calls)
    fees = ctx.signer.fees()
    raw = [
        "0x"
        + bytes(
            ctx.signer.account.sign_transaction(
                {
                    "to": to,
                    "data": data,
                    "gas": g + g // 5 + 50_000,
                    "value": 0,
                    "chainId": ctx.chain.chain_id,  # send_many's headroom
                    "nonce": ctx.signer._next_nonce(),
                    **fees,
                }
            ).raw_transaction
        ).hex()
        for (to, data, _), g in zip(calls, gas)
    ]
    # Each block's worth sent, then mined: given the whole run at once, anvil's `evm_mine` drops a
    # transaction it meets after one that does not fit the block (the nonce gap makes it invalid).
    limit = int(ctx.chain.rpc("eth_getBlockByNumber", ["latest", False])["gasLimit"], 16)
    blocks, room = [], 0
    for t, g in zip(raw, gas):
        g += g // 5 + 50_000
        if not blocks or room < g:
            blocks.append([])
            room = limit
        blocks[-1].append(t)
        room -= g
    ctx.chain.rpc("evm_setAutomine", [False])
    try:
        start = time.perf_counter()
        hashes = []
        for block in blocks:
            for k in range(0, len(block), 20):
                hashes += ctx.chain.rpc_batch([("eth_sendRawTransaction", [t]) for t in block[k : k + 20]])
            ctx.chain.rpc("evm_mine", [])
        last = ctx.chain.rpc("eth_getTransactionReceipt", [hashes[-1]])
        elapsed = time.perf_counter() - start
    finally:
        ctx.chain.rpc("evm_setAutomine", [True])
    if last is None or last["status"] != "0x1":
        raise SystemExit("import reference: the last transaction did not succeed")
    used = sum(
        int(r["gasUsed"], 16)
        for k in range(0, len(hashes), 100)
        for r in ctx.chain.rpc_batch([("eth_getTransactionReceipt", [h]) for h in hashes[k : k + 100]])
    )
    ctx.chain.rpc("evm_revert", [snapshot])
    ctx.signer._nonce = None  # the nonces it took are free again
    return elapsed, used


def fund(ctx: Context, investors: list, cash: str, dvp: str, amount: int) -> None:
    """Mints `amount` of cash to each investor, and one more currency unit that stays with it (as
    a holder's cash account usually holds something: a coupon then credits a held balance), and
    has each authorize DvP to take `amount` (not timed)."""
    ctx.chain.rpc_batch([("anvil_setBalance", [i.address, hex(10**17)]) for i in investors])
    mints = presign(
        ctx, ctx.signer.account, [(cash, calldata("CashToken", "mint", [i.address, amount + 100])) for i in investors], 200_000
    )
    ctx.signer._nonce = None  # the operator's nonce moved outside its Signer
    approvals = [
        presign(ctx, i, [(cash, calldata("CashToken", "approve", [dvp, amount]))], 100_000, nonce=0)[0] for i in investors
    ]
    send_in_blocks(ctx, mints)
    send_in_blocks(ctx, approvals)


def termsheet_for(n: int, tmp: str):
    """The sample bond, sized so that each of n investors is allotted one token (HK$50,000)."""
    text = (EXAMPLES / "green_bond_hkd.toml").read_text().replace('issue_size = "2000000000"', f'issue_size = "{50_000 * n}"')
    path = Path(tmp) / f"bond_{n}.toml"
    path.write_text(text)
    return load_termsheet(path)


def payment_gas(ctx: Context, agent: str, first_block: int) -> tuple[int, int]:
    """Gas of the payCouponAfter transactions mined since `first_block`, and their count."""
    selector = calldata("PayingAgent", "payCouponAfter", ["0x" + "00" * 20, 0, "0x" + "00" * 20, []])[:10]
    total = count = 0
    for number in range(first_block, ctx.chain.block_number() + 1):
        block = ctx.chain.rpc("eth_getBlockByNumber", [hex(number), True])
        for tx in block["transactions"]:
            if (tx["to"] or "").lower() == agent.lower() and tx["input"].startswith(selector):
                total += int(ctx.chain.rpc("eth_getTransactionReceipt", [tx["hash"]])["gasUsed"], 16)
                count += 1
    return total, count


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure(n: int, import_only: bool = False) -> dict:
    # Base fee from zero: tens of thousands of transactions in full blocks would otherwise raise it
    # 12.5% a block past any pre-signed fee cap (fees change no work the node does).
    args = ["--timestamp", ISSUE_DAY, "--block-base-fee-per-gas", "0"]
    with tempfile.TemporaryDirectory() as tmp, devnet.running(log_dir=Path(tmp), extra_args=args) as node:
        ctx = Context.open(node.rpc_url, f"sqlite:///{tmp}/register.db")
        deploy_base(ctx)
        figures = {"n": n, **({} if import_only else references(ctx, n))}
        investors = accounts(n)
        rows = [
            InvestorRow(
                investor_id=f"inv{i:05d}",
                name=f"Investor {i}",
                wallet=a.address,
                country="HK",
                category=Category.institutional_professional_investor,
                kyc_expiry=date(2030, 12, 31),
            )
            for i, a in enumerate(investors)
        ]
        indexer.sync(ctx.register, ctx.chain)
        figures["import_ref_s"], gas = import_reference(ctx, rows)
        figures["import_gas_per_investor"] = gas // n
        path = Path(tmp) / "investors.csv"
        with path.open("w", newline="") as f:
            out = csv.writer(f)
            out.writerow(InvestorRow.model_fields)
            out.writerows([r.investor_id, r.name, r.wallet, r.country, r.category.name, r.kyc_expiry] for r in rows)
        env = {**os.environ, "BONDLEDGER_RPC_URL": node.rpc_url, "BONDLEDGER_DB": f"sqlite:///{tmp}/register.db"}
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "issuance.cli", "investors", "import", str(path)], env=env, capture_output=True, text=True
        )
        figures["import_s"] = time.perf_counter() - start
        if done.returncode != 0 or f"{n} investors, {n} wallets" not in done.stdout:
            raise SystemExit(f"investors import failed: {done.stdout}{done.stderr}")
        ctx.signer._nonce = None  # the operator's nonce moved in the other process
        figures["verify_after_import_s"] = timed(lambda: verify(ctx.register, ctx.chain))  # growth: n registry events
        if import_only:
            return {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}

        ts = termsheet_for(n, tmp)
        allocations = [AllocationRow(investor_id=r.investor_id, wallet=r.wallet, principal=Decimal(50_000)) for r in rows]
        cash = ctx.register.require_contract("cash", "HKD").address
        fund(ctx, investors, cash, ctx.register.require_contract("dvp").address, plan(ts, allocations)[0].cash)
        indexer.sync(ctx.register, ctx.chain)
        start = time.perf_counter()
        issued = issue_bond(ctx, ts, allocations)
        figures["issue_s"] = time.perf_counter() - start
        assert issued.settled == n

        payment_day = coupon_schedule(ts.bond)[0].payment_date
        when = int(datetime(payment_day.year, payment_day.month, payment_day.day, 1, tzinfo=timezone.utc).timestamp())
        ctx.chain.rpc("evm_setNextBlockTimestamp", [when])
        ctx.chain.rpc("evm_mine", [])
        indexer.sync(ctx.register, ctx.chain)
        first_block = ctx.chain.block_number() + 1
        start = time.perf_counter()
        run = pay_coupon(ctx, ts.bond.isin)
        figures["coupon_s"] = time.perf_counter() - start
        assert run.holders_paid == n and run.complete
        gas, txs = payment_gas(ctx, ctx.register.require_contract("paying_agent").address, first_block)
        figures["coupon_gas_per_holder"] = gas // n
        figures["coupon_transactions"] = txs
        indexer.sync(ctx.register, ctx.chain)
        figures["reconcile_s"] = timed(lambda: reconcile(ctx.register, ctx.chain, ts.bond.isin))
        checked = []
        figures["verify_s"] = timed(lambda: checked.append(verify(ctx.register, ctx.chain)))
        assert checked[0].ok, checked[0].problems[:3]
        figures["verify_rows"] = checked[0].rows_checked + checked[0].logs_checked
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000", help="comma-separated investor counts (default 100,1000)")
    parser.add_argument("--large", action="store_true", help="also 10,000 investors (several minutes on 2 cores)")
    parser.add_argument("--import-only", action="store_true", help="only the investors import (and verify after it)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s] + ([10_000] if args.large else [])
    results = []
    for n in sizes:
        results.append(measure(n, args.import_only))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)  # each size as it completes
    rows = []
    for f in results:
        n = f["n"]
        rows += [
            [
                f"investors import, {n:,}",
                f"{f['import_s']:.2f} s",
                f"{n / f['import_s']:,.0f}/s",
                f"{f['import_ref_s']:.2f} s (its registry transactions pre-signed, full blocks; {f['import_gas_per_investor']:,} gas/investor)",
                f"{f['import_s'] / f['import_ref_s']:.1f}x",
            ],
        ]
        rows.append(
            [
                f"verify after the import, {n:,}",
                f"{f['verify_after_import_s']:.2f} s",
                f"{n / f['verify_after_import_s']:,.0f}/s",
                "",
                "",
            ]
        )
        if "issue_s" not in f:
            continue
        rows += [
            [
                f"issue, {n:,} allocations",
                f"{f['issue_s']:.2f} s",
                f"{n / f['issue_s']:,.0f}/s",
                f"{f['issue_ref_s']:.2f} s ({2 * n:,} ERC-20 transfers)",
                f"{f['issue_s'] / f['issue_ref_s']:.1f}x",
            ],
            [
                f"coupon pay, {n:,} holders",
                f"{f['coupon_s']:.2f} s",
                f"{n / f['coupon_s']:,.0f}/s",
                f"{f['coupon_ref_s']:.2f} s ({n:,} ERC-20 transfers)",
                f"{f['coupon_s'] / f['coupon_ref_s']:.1f}x",
            ],
            [
                f"coupon gas per holder, {n:,}",
                f"{f['coupon_gas_per_holder']:,}",
                f"{f['coupon_transactions']} tx",
                f"{f['erc20_gas_new']:,} / {f['erc20_gas_existing']:,} (ERC-20 transfer to zero / held balance)",
                f"{f['coupon_gas_per_holder'] / f['erc20_gas_existing']:.2f}x the held",
            ],
            [f"reconcile / verify after the coupon, {n:,}", f"{f['reconcile_s']:.2f} s / {f['verify_s']:.2f} s", "", "", ""],
        ]
    print(tabulate(rows, headers=["measure", "bondledger", "rate", "reference, same node", "vs reference"]))
    full = [f for f in results if "verify_s" in f]
    for small, large in zip(full, full[1:]):  # growth: linear is the ratio of the sizes
        scale = large["n"] / small["n"]
        print(
            f"growth {small['n']:,} -> {large['n']:,} holders ({scale:g}x): "
            + ", ".join(
                f"{name} {large[key] / small[key]:.1f}x" for name, key in (("reconcile", "reconcile_s"), ("verify", "verify_s"))
            )
            + f" (linear: {scale:g}x); rows and logs verify checked {large['verify_rows'] / small['verify_rows']:.1f}x"
            + f" ({small['verify_rows']:,} -> {large['verify_rows']:,})"
        )
    print(
        "goals: issue 1,000 < 5 s and 10,000 < 60 s; import 10,000 < 20 s; coupon pay 10,000 < 30 s at <= 40,000 gas per holder"
    )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
