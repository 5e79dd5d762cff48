"""Behaviour at scale (marked `scale`, about a minute; nothing here is timed): a bond issued
through the CLI to 2,000 investors, its first coupon paid to all 2,000 holders, and the register
reconciling with the chain afterwards; an export of a register of thousands of investors and
tens of thousands of transfers holding every row exactly once. Speed is measured by
benchmarks/issuance_scale.py and benchmarks/export.py."""

import csv
import hashlib
import json
import random
from datetime import date
from datetime import datetime, timezone

import pytest
from eth_account import Account
from web3 import Web3

from conftest import World
from helpers import EXAMPLES
from issuance.cash import PERMIT_FIELDS
from issuance.context import Context
from ledger.chain import eip712
from ledger.register import models
from ledger.chain.codec import calldata
from ledger.register.db import Register
from ledger.proofs.export import export

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
        data.append(
            calldata(
                "CashToken",
                "permit",
                [i.address, dvp, amount, deadline, sig.v, sig.r.to_bytes(32, "big"), sig.s.to_bytes(32, "big")],
            )
        )
    operator = ctx.signer.account
    nonce = ctx.chain.w3.eth.get_transaction_count(operator.address)
    fees = {"maxFeePerGas": 10**11, "maxPriorityFeePerGas": 1}
    raw = [
        "0x"
        + bytes(
            operator.sign_transaction(
                {"to": cash, "data": d, "gas": 150_000, "value": 0, "chainId": chain_id, "nonce": nonce + n, **fees}
            ).raw_transaction
        ).hex()
        for n, d in enumerate(data)
    ]
    ctx.chain.rpc("evm_setAutomine", [False])
    try:
        hashes = [
            h
            for k in range(0, len(raw), 500)
            for h in ctx.chain.rpc_batch([("eth_sendRawTransaction", [t]) for t in raw[k : k + 500]])
        ]
        while int(ctx.chain.rpc("txpool_status", [])["pending"], 16):
            ctx.chain.rpc("evm_mine", [])
    finally:
        ctx.chain.rpc("evm_setAutomine", [True])
    receipts = [
        r
        for k in range(0, len(hashes), 500)
        for r in ctx.chain.rpc_batch([("eth_getTransactionReceipt", [h]) for h in hashes[k : k + 500]])
    ]
    assert all(r["status"] == "0x1" for r in receipts)


def test_a_bond_issued_to_2000_investors_pays_its_coupon_to_every_holder_and_reconciles(anvil, tmp_path):
    world = World(anvil.rpc_url, f"sqlite:///{tmp_path}/register.db")
    assert world.run("deploy").exit_code == 0
    investors = [Account.from_key(Web3.keccak(text=f"bondledger scale test investor {i}")) for i in range(HOLDERS)]
    ids = [f"inv{i:05d}" for i in range(HOLDERS)]
    investors_csv = write_csv(
        tmp_path / "investors.csv",
        ["investor_id", "name", "wallet", "country", "category", "kyc_expiry"],
        [
            [ids[n], f"Investor {n}", a.address, "HK", "institutional_professional_investor", "2030-12-31"]
            for n, a in enumerate(investors)
        ],
    )
    r = world.run("investors", "import", investors_csv)
    assert r.exit_code == 0, r.stderr

    # the sample bond, sized for one token (HK$50,000) to each investor
    termsheet = tmp_path / "bond.toml"
    termsheet.write_text(
        (EXAMPLES / "green_bond_hkd.toml")
        .read_text()
        .replace('issue_size = "2000000000"', f'issue_size = "{DENOMINATION * HOLDERS}"')
    )
    allocations = write_csv(
        tmp_path / "allocations.csv",
        ["investor_id", "wallet", "principal"],
        [[ids[n], a.address, DENOMINATION] for n, a in enumerate(investors)],
    )
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


def fake(*parts) -> str:
    return "0x" + hashlib.sha256(repr(parts).encode()).hexdigest()


def test_an_export_of_thousands_of_investors_holds_every_transfer_and_movement_exactly_once(tmp_path):
    """A register written directly (proofs shaped like real ones): 3,000 investors, some with two
    wallets, one wallet moved from one investor to another, one investor with no wallet, transfers
    between wallets of one investor; 30,000 transfers of a bond. Every transfer is in the table and
    the view once, and in the movements of each investor on either side of it once."""
    from sqlalchemy import insert

    rng = random.Random(14)
    url = f"sqlite:///{tmp_path}/register.db"
    register = Register(url)
    n_investors, n_transfers, bond = 3_000, 30_000, "0x" + "b0" * 20
    ids = [f"inv{i:05d}" for i in range(n_investors)]
    wallets = {f"0x{i + 1:040x}": ids[i % (n_investors - 1)] for i in range(n_investors + 500)}  # the last investor: none
    moved = next(iter(wallets))  # registered to inv00000, then to inv00001

    def proof(n, block):
        return {
            "chain_id": 31337,
            "block_number": block,
            "block_hash": fake("block", block),
            "block_timestamp": 1_700_000_000 + block,
            "tx_hash": fake("tx", n),
            "log_index": n % 7,
        }

    registrations = [
        {**proof(-i - 1, 1), "tx_hash": fake("reg", w), "event": "wallet_added", "id_hash": fake("id", owner), "wallet": w}
        for i, (w, owner) in enumerate(wallets.items())
    ]
    registrations += [
        {
            **proof(-1, 2),
            "tx_hash": fake("reg", "out"),
            "event": "wallet_removed",
            "id_hash": fake("id", ids[0]),
            "wallet": moved,
        },
        {
            **proof(-1, 2),
            "tx_hash": fake("reg", "in"),
            "log_index": 99,
            "event": "wallet_added",
            "id_hash": fake("id", ids[1]),
            "wallet": moved,
        },
    ]
    owners = {}  # wallet -> every investor it was ever registered to
    for r in registrations:
        owners.setdefault(r["wallet"], set()).add(
            next(i for i in ids if fake("id", i) == r["id_hash"]) if r["wallet"] == moved else wallets[r["wallet"]]
        )
    addresses = list(wallets)
    transfers = []
    for n in range(n_transfers):
        if n < len(addresses):
            sender, receiver = "0x" + "00" * 20, addresses[n]
        elif n % 1000 == 0:  # between two wallets of one investor
            sender, receiver = addresses[0], next(a for a in addresses[1:] if wallets[a] == wallets[addresses[0]])
        else:
            sender, receiver = rng.choice(addresses), rng.choice(addresses)
        transfers.append({**proof(n, 3 + n // 7), "token": bond, "from_address": sender, "to_address": receiver, "quantity": 1})
    with register.engine.begin() as conn:
        conn.execute(insert(models.Network), [{"id": 1, "chain_id": 31337, "genesis_hash": fake("genesis")}])
        conn.execute(insert(models.Checkpoint), [{"id": 1, "chain_id": 31337, "block_number": 10**6, "block_hash": fake("head")}])
        conn.execute(
            insert(models.Instrument),
            [
                {
                    "isin": ISIN,
                    "kind": "bond",
                    "name": "Scale Bond",
                    "symbol": "SB",
                    "issuer": "Issuer",
                    "currency": "HKD",
                    "address": bond,
                    "denomination": 5_000_000,
                    "termsheet": "{}",
                    "termsheet_sha256": "0" * 64,
                }
            ],
        )
        conn.execute(
            insert(models.Investor),
            [
                {
                    "investor_id": i,
                    "id_hash": fake("id", i),
                    "name": i,
                    "country": "HK",
                    "category": "professional_investor",
                    "kyc_expiry": date(2030, 1, 1),
                }
                for i in ids
            ],
        )
        conn.execute(
            insert(models.Wallet),
            [
                {"address": w, "id_hash": fake("id", ids[1] if w == moved else o), "active": True, "block_number": 2}
                for w, o in wallets.items()
            ],
        )
        conn.execute(insert(models.Registration), registrations)
        conn.execute(insert(models.Transfer), transfers)
    register.engine.dispose()

    out = tmp_path / "export"
    manifest = export(Register(url, read_only=True), out)
    assert {f["path"] for f in manifest["files"]} >= {f"views/movements/{i}.json" for i in ids}
    key = lambda row: (row["tx_hash"], int(row["log_index"]))  # noqa: E731
    every = sorted(key(t) for t in transfers)
    assert sorted(key(r) for r in csv.DictReader(open(out / "tables/transfers.csv"))) == every
    assert sorted(key(r) for r in json.loads((out / f"views/{ISIN}/transfers.json").read_text())) == every
    expected = sorted(
        (investor, *key(t))
        for t in transfers
        for investor in owners.get(t["to_address"], set()) | owners.get(t["from_address"], set())
    )
    exported = sorted((i, *key(m)) for i in ids for m in json.loads((out / f"views/movements/{i}.json").read_text()))
    assert exported == expected, "each transfer once in the movements of each investor on either side of it"
    assert json.loads((out / f"views/movements/{ids[-1]}.json").read_text()) == []
