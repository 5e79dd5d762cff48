#!/usr/bin/env python3
"""Gas of a compliant bond transfer next to a plain OpenZeppelin ERC-20 transfer, measured in
the same run on the same anvil.

The bond is the sample green bond (professional investors only, five allowed jurisdictions),
issued through bondledger; the reference is OpenZeppelin's ERC20 with nothing added
(benchmarks/contracts/PlainERC20.sol). Both are measured to a new holder (the receiver's
balance slot goes from zero to non-zero) and to an existing holder, and once more from a holder
with some tokens frozen (ERC-7943), whose unfrozen balance the hook then reads. ERC-3643 (T-REX)
publishes 155,742 gas for its compliant transfer.

Usage: .venv/bin/python benchmarks/gas.py [--json]
Target (issue #2): a compliant transfer costs at most 1.3x the plain one.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

from tabulate import tabulate

from issuance.context import Context
from issuance.sample import issue_sample_bond
from ledger import artifacts, devnet, keys
from ledger.chain import Signer

TREX_PUBLISHED = 155_742
TARGET_RATIO = 1.3
ISSUE_DAY = "1707267600"  # 2024-02-07T01:00:00Z


def transfer_gas(signer: Signer, token, to: str, amount: int) -> int:
    return signer.transact(token.functions.transfer(to, amount), "transfer")["gasUsed"]


def measure() -> dict:
    with tempfile.TemporaryDirectory() as tmp, devnet.running(log_dir=Path(tmp), extra_args=["--timestamp", ISSUE_DAY]) as node:
        ctx = Context.open(node.rpc_url, f"sqlite:///{tmp}/register.db")
        issued = issue_sample_bond(ctx, say=lambda _: None)
        bond = ctx.chain.contract("BondToken", issued.address)
        holder = Signer(ctx.chain, keys.dev_account(1))  # harbour_pension, HK institutional
        existing = keys.dev_account(2).address  # kowloon_life already holds the bond
        fresh = keys.dev_account(6).address  # victoria_peak's second wallet holds nothing yet

        plain_art = artifacts.load_all(artifacts.ROOT / "benchmarks" / "contracts")["PlainERC20"]
        factory = ctx.chain.w3.eth.contract(abi=plain_art.abi, bytecode=plain_art.bytecode)
        receipt = ctx.signer.transact(factory.constructor(holder.address, 10**6), "deploy PlainERC20")
        plain = ctx.chain.w3.eth.contract(address=receipt["contractAddress"], abi=plain_art.abi)
        transfer_gas(Signer(ctx.chain, keys.dev_account(1)), plain, existing, 1)  # make `existing` a holder

        figures = {
            "plain_new_holder": transfer_gas(holder, plain, fresh, 1),
            "plain_existing_holder": transfer_gas(holder, plain, existing, 1),
            "bond_new_holder": transfer_gas(holder, bond, fresh, 1),
            "bond_existing_holder": transfer_gas(holder, bond, existing, 1),
        }
        ctx.signer.transact(bond.functions.setFrozenTokens(holder.address, 1), "freeze one token")
        figures["bond_frozen_sender"] = transfer_gas(holder, bond, existing, 1)
    figures["ratio_new_holder"] = round(figures["bond_new_holder"] / figures["plain_new_holder"], 3)
    figures["ratio_existing_holder"] = round(figures["bond_existing_holder"] / figures["plain_existing_holder"], 3)
    figures["trex_published"] = TREX_PUBLISHED
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description="gas of a compliant bond transfer vs a plain ERC-20 transfer")
    parser.parse_args()
    f = measure()
    rows = [
        ["to a new holder", f"{f['plain_new_holder']:,}", f"{f['bond_new_holder']:,}", f"{f['ratio_new_holder']:.2f}x",
         f"{TREX_PUBLISHED / f['plain_new_holder']:.2f}x"],
        ["to an existing holder", f"{f['plain_existing_holder']:,}", f"{f['bond_existing_holder']:,}",
         f"{f['ratio_existing_holder']:.2f}x", f"{TREX_PUBLISHED / f['plain_existing_holder']:.2f}x"],
        ["the same, some tokens frozen", f"{f['plain_existing_holder']:,}", f"{f['bond_frozen_sender']:,}",
         f"{f['bond_frozen_sender'] / f['plain_existing_holder']:.2f}x", ""],
    ]
    print(tabulate(rows, headers=["transfer", "OZ ERC20 gas", "bond gas", "bond / ERC20", f"T-REX {TREX_PUBLISHED:,} / ERC20"]))
    print(f"target: bond / ERC20 <= {TARGET_RATIO}x")
    print(json.dumps(f))
    return 0


if __name__ == "__main__":
    sys.exit(main())
