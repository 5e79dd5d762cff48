"""Behaviour at scale (marked `scale`, about a minute; nothing here is timed): a bond issued
through the CLI to 2,000 investors, its first coupon paid to all 2,000 holders, and the register
reconciling with the chain afterwards. Speed is measured by benchmarks/issuance_scale.py."""

import csv
from datetime import datetime, timezone

import pytest
from eth_account import Account
from web3 import Web3

from conftest import World
from helpers import EXAMPLES
from issuance.cash import PERMIT_FIELDS
from issuance.context import Context
from ledger import eip712
from ledger.codec import calldata

pytestmark = pytest.mark.scale

HOLDERS = 2_000
ISIN = "HK0000987658"
DENOMINATION = 50_000


def write_csv(path, header: list[str], rows: list[list]) -> str:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def fund_by_permit(ctx: Context, investors: list, amount: int) -> None:
    """Mints each investor's cash and submits its ERC-2612 permit for the DvP venue, signed with
    its key (fresh investors: permit nonce 0, no gas of their own). Set-up, not the code under
    test: pre-signed by the operator and mined many to a block with automine off (anvil's automine
    makes a block per transaction, which at thousands of transactions is most of a minute)."""
    cash = ctx.register.require_contract("cash", "HKD").address
    dvp = ctx.register.require_contract("dvp").address
    token = ctx.chain.contract("CashToken", cash)
    _fields, name, version, chain_id, verifying, _salt, _ext = token.functions.eip712Domain().call()
    domain = {"name": name, "version": version, "chainId": chain_id, "verifyingContract": verifying}
    deadline = ctx.chain.now() + 3600
    data = [calldata("CashToken", "mint", [i.address, amount + 100]) for i in investors]
    for i in investors:
        message = {"owner": i.address, "spender": dvp, "value": str(amount), "nonce": "0", "deadline": str(deadline)}
        sig = Account.unsafe_sign_hash(eip712.digest(eip712.typed_data(domain, "Permit", PERMIT_FIELDS, message)), i.key)
        data.append(calldata("CashToken", "permit", [i.address, dvp, amount, deadline, sig.v, sig.r.to_bytes(32, "big"), sig.s.to_bytes(32, "big")]))
    operator = ctx.signer.account
    nonce = ctx.chain.w3.eth.get_transaction_count(operator.address)
    fees = {"maxFeePerGas": 10**11, "maxPriorityFeePerGas": 1}
    raw = ["0x" + bytes(operator.sign_transaction({"to": cash, "data": d, "gas": 150_000, "value": 0, "chainId": chain_id,
                                                  "nonce": nonce + n, **fees}).raw_transaction).hex() for n, d in enumerate(data)]
    ctx.chain.rpc("evm_setAutomine", [False])
    try:
        hashes = [h for k in range(0, len(raw), 500) for h in ctx.chain.rpc_batch([("eth_sendRawTransaction", [t]) for t in raw[k : k + 500]])]
        while int(ctx.chain.rpc("txpool_status", [])["pending"], 16):
            ctx.chain.rpc("evm_mine", [])
    finally:
        ctx.chain.rpc("evm_setAutomine", [True])
    receipts = [r for k in range(0, len(hashes), 500) for r in ctx.chain.rpc_batch([("eth_getTransactionReceipt", [h]) for h in hashes[k : k + 500]])]
    assert all(r["status"] == "0x1" for r in receipts)


def test_a_bond_issued_to_2000_investors_pays_its_coupon_to_every_holder_and_reconciles(anvil, tmp_path):
    world = World(anvil.rpc_url, f"sqlite:///{tmp_path}/register.db")
    assert world.run("deploy").exit_code == 0
    investors = [Account.from_key(Web3.keccak(text=f"bondledger scale test investor {i}")) for i in range(HOLDERS)]
    ids = [f"inv{i:05d}" for i in range(HOLDERS)]
    investors_csv = write_csv(
        tmp_path / "investors.csv", ["investor_id", "name", "wallet", "country", "category", "kyc_expiry"],
        [[ids[n], f"Investor {n}", a.address, "HK", "institutional_professional_investor", "2030-12-31"] for n, a in enumerate(investors)],
    )
    r = world.run("investors", "import", investors_csv)
    assert r.exit_code == 0, r.stderr

    # the sample bond, sized for one token (HK$50,000) to each investor
    termsheet = tmp_path / "bond.toml"
    termsheet.write_text((EXAMPLES / "green_bond_hkd.toml").read_text().replace('issue_size = "2000000000"', f'issue_size = "{DENOMINATION * HOLDERS}"'))
    allocations = write_csv(tmp_path / "allocations.csv", ["investor_id", "wallet", "principal"],
                            [[ids[n], a.address, DENOMINATION] for n, a in enumerate(investors)])
    fund_by_permit(world.context(), investors, DENOMINATION * 100)  # HKD in cents
    r = world.run("issue", termsheet, "--allocations", allocations, "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["settled"] == HOLDERS

    chain = world.chain()
    chain.rpc("evm_setNextBlockTimestamp", [int(datetime(2024, 8, 7, 2, tzinfo=timezone.utc).timestamp())])
    chain.rpc("evm_mine", [])
    r = world.run("coupon", "pay", ISIN, "--format", "json")
    assert r.exit_code == 0, r.stderr
    run = r.json()
    assert run["holders_paid"] == HOLDERS and run["complete"]

    paid = [p for p in world.run("register", "payments", ISIN, "--format", "json").json() if p["kind"] == "coupon"]
    assert sorted(p["wallet"] for p in paid) == sorted(a.address for a in investors), "every holder paid exactly once"
    r = world.run("reconcile", ISIN, "--format", "json")
    assert r.exit_code == 0, r.stdout
    report = r.json()
    assert report["ok"] and report["breaks"] == []
    assert report["supply_register"] == report["supply_chain"] == HOLDERS
