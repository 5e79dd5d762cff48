#!/usr/bin/env python3
"""Gas of a compliant bond transfer next to a plain OpenZeppelin ERC-20 transfer and to ERC-3643
(T-REX 4.1.6), all measured in the same run on the same anvil.

The bond is the sample green bond (professional investors only, five allowed jurisdictions),
issued through bondledger; the reference is OpenZeppelin's ERC20 with nothing added
(benchmarks/contracts/PlainERC20.sol). Both are measured to a new holder (the receiver's
balance slot goes from zero to non-zero) and to an existing holder, and once more from a holder
with some tokens frozen (ERC-7943), whose unfrozen balance the hook then reads. Also a mint to a
holder, and one DvP settlement (a secondary trade, both legs) next to T-REX's DVDTransferManager.

T-REX is deployed from the compiled artifacts of its npm package (benchmarks/trex.py; a
benchmark-only dev dependency, found in node_modules or $BONDLEDGER_TREX_DIR): its compliant
transfer without modules and with a CountryAllowModule, its mint and its DVD settlement. Without
the package its columns are left out and the reason printed.

Usage: .venv/bin/python benchmarks/gas.py
Target (issue #14): a compliant transfer costs at most 1.2x the plain one.
"""

import argparse
import json
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

from tabulate import tabulate

import trex
from issuance import cash, trading
from issuance.context import Context
from issuance.sample import issue_sample_bond
from ledger.chain import artifacts, devnet, keys
from ledger.chain import Signer

TARGET_RATIO = 1.2
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
        # the bond is fully issued (its supply is capped at the issue size): one token back first
        ctx.signer.transact(bond.functions.burn(existing, 1), "burn one token")
        figures["bond_mint_existing_holder"] = ctx.signer.transact(bond.functions.mint(existing, 1), "mint")["gasUsed"]
        figures.update(dvp_gas(ctx, issued.isin))

        package, why = trex.locate()
        if package is not None:
            figures.update(trex.measure(ctx.chain, package, plain_art, ctx.signer))
        else:
            figures["trex_skipped"] = why
    figures["ratio_new_holder"] = round(figures["bond_new_holder"] / figures["plain_new_holder"], 3)
    figures["ratio_existing_holder"] = round(figures["bond_existing_holder"] / figures["plain_existing_holder"], 3)
    return figures


def dvp_gas(ctx: Context, isin: str) -> dict:
    """Gas of one secondary trade settled DvP through bondledger (harbour_pension sells one bond to
    kowloon_life, who pays in tokenized HKD): a first trade and a repeat."""
    seller, buyer = keys.dev_account(1), keys.dev_account(2)
    cash.mint(ctx, "HKD", buyer.address, Decimal(1_000_000))
    cash.allow(ctx, "HKD", Decimal(1_000_000), buyer)
    figures = {}
    for n in ("first", "repeat"):
        row = trading.capture_trade(
            ctx, isin, "harbour_pension", "kowloon_life", 1, Decimal("99.5"), settlement_date=ctx.chain_date()
        )
        trading.affirm(ctx, row.instruction_id, seller)
        trading.affirm(ctx, row.instruction_id, buyer)
        [outcome] = trading.settle(ctx, batch_size=1)
        assert outcome.status == "settled", outcome
        figures[f"bond_dvp_{n}"] = ctx.chain.w3.eth.get_transaction_receipt(outcome.tx_hash)["gasUsed"]
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description="gas of a compliant bond transfer vs a plain ERC-20 transfer")
    parser.parse_args()
    f = measure()
    has_trex = "trex_skipped" not in f
    rows = []
    for label, key in (("transfer to a new holder", "new_holder"), ("transfer to an existing holder", "existing_holder")):
        row = [label, f"{f['plain_' + key]:,}", f"{f['bond_' + key]:,}", f"{f['bond_' + key] / f['plain_' + key]:.2f}x"]
        if has_trex:
            row += [
                f"{f['trex_' + key]:,} ({f['trex_' + key] / f['plain_' + key]:.2f}x)",
                f"{f['trex_country_' + key]:,} ({f['trex_country_' + key] / f['plain_' + key]:.2f}x)",
            ]
        rows.append(row)
    rows.append(
        [
            "the same, some tokens frozen",
            f"{f['plain_existing_holder']:,}",
            f"{f['bond_frozen_sender']:,}",
            f"{f['bond_frozen_sender'] / f['plain_existing_holder']:.2f}x",
        ]
        + (["", ""] if has_trex else [])
    )
    rows.append(
        ["mint to an existing holder", "", f"{f['bond_mint_existing_holder']:,}", ""]
        + ([f"{f['trex_mint_existing_holder']:,}", ""] if has_trex else [])
    )
    for n in ("first", "repeat"):
        row = [f"DvP settlement, {n} trade", "", f"{f[f'bond_dvp_{n}']:,}", ""]
        if has_trex:
            total = f[f"trex_dvd_initiate_{n}"] + f[f"trex_dvd_take_{n}"]
            row += [f"{total:,} (initiate {f[f'trex_dvd_initiate_{n}']:,} + take {f[f'trex_dvd_take_{n}']:,})", ""]
        rows.append(row)
    headers = ["gas", "OZ ERC20", "bondledger", "bond / ERC20"] + (
        ["T-REX 4.1.6", "T-REX + CountryAllowModule"] if has_trex else []
    )
    print(tabulate(rows, headers=headers))
    if not has_trex:
        print(f"T-REX skipped: {f['trex_skipped']}")
    print(
        f"target: bond / ERC20 <= {TARGET_RATIO}x; bondledger's DvP settles both legs in one transaction "
        "with both parties' affirmations, T-REX's DVD needs the maker's initiate and the taker's take"
    )
    print(json.dumps(f))
    return 0


if __name__ == "__main__":
    sys.exit(main())
