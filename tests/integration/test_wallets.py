"""Affirming with any wallet: the instruction printed as EIP-712 typed data is signed by code
other than bondledger's (eth_account over the printed JSON, ethers v6 in Node.js, an ERC-1271
contract wallet), recorded with `affirm --signature`, settled on chain, and the register
reconciles and verifies afterwards. A signature by anyone but a party, over other data, or
malformed is refused in one line with exit 2, and nothing is stored or sent."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from eth_account import Account
from sqlmodel import select

import helpers
from helpers import chain_state, dev_address, fund, register_counts
from ledger.chain import artifacts, keys
from ledger.register import models
from ledger.chain import Signer
from ledger.register.db import Register

ISIN = "HK0000987658"
HARBOUR, KOWLOON, OWNER, OUTSIDER = 1, 2, 8, 9
NAMES = {1: "harbour_pension", 2: "kowloon_life", "wallet": "smart_fund"}
JS_SIGNER = Path(__file__).resolve().parent.parent / "js" / "sign_typed_data.mjs"


@pytest.fixture
def market(issued):
    world, _ = issued
    fund(world.run, KOWLOON, "100000000")
    fund(world.run, HARBOUR, "100000000")
    return world


def trade(world, seller, buyer, quantity=100, **options) -> str:
    return helpers.trade(world, ISIN, seller, buyer, quantity, **options)["instruction_id"]


def typed_data(world, iid: str) -> dict:
    r = world.run("instruction", "show", iid, "--typed-data")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def eth_account_signature(key, doc: dict) -> str:
    return "0x" + bytes(Account.sign_typed_data(key, full_message=doc).signature).hex()


def affirmations(world) -> list[tuple]:
    with Register(world.db_url).session() as s:
        return [(a.instruction_id, a.party, a.wallet, a.signature) for a in s.exec(select(models.Affirmation)).all()]


def settle_and_check(world, *iids: str) -> None:
    r = world.run("settle", "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert {o["instruction_id"]: o["status"] for o in r.json()} == dict.fromkeys(iids, "settled")
    assert world.run("reconcile", ISIN).exit_code == 0
    r = world.run("verify")
    assert r.exit_code == 0, r.stdout + r.stderr


# ---------------------------------------------------------------------- the printed instruction


def test_instruction_show_prints_the_instruction_and_its_typed_data(market):
    world = market
    iid = trade(world, NAMES[HARBOUR], NAMES[KOWLOON])
    assert world.run("affirm", iid, "--dev-account", HARBOUR).exit_code == 0
    shown = world.run("instruction", "show", iid, "--format", "json").json()
    assert (shown["instruction_id"], shown["seller_wallet"], shown["cash_amount"]) == (iid, dev_address(HARBOUR), "4975000.00")
    assert (shown["seller_affirmed"], shown["buyer_affirmed"]) == (True, False)
    assert world.run("instruction", "show", iid).exit_code == 0  # the table

    doc = typed_data(world, iid)
    ctx = world.context()
    dvp = ctx.register.require_contract("dvp").address
    assert doc["primaryType"] == "Instruction" and set(doc["types"]) == {"EIP712Domain", "Instruction"}
    assert doc["domain"] == {"name": "bondledger DvPSettlement", "version": "1", "chainId": 31337, "verifyingContract": dvp}
    _, name, version, chain_id, verifying, _, _ = ctx.chain.contract("DvPSettlement", dvp).functions.eip712Domain().call()
    assert doc["domain"] == {"name": name, "version": version, "chainId": chain_id, "verifyingContract": verifying}  # ERC-5267
    m = doc["message"]
    bond = world.run("register", "instruments", "--format", "json").json()
    assert m["securityToken"] in {i["address"] for i in bond}
    assert m["cashToken"] == ctx.register.require_contract("cash", "HKD").address
    assert (m["seller"], m["buyer"], m["quantity"], m["cashAmount"]) == (
        dev_address(HARBOUR),
        dev_address(KOWLOON),
        "100",
        "497500000",
    )
    assert m["settlementDate"] == 1707264000 and m["expiry"] == 1707264000 + 5 * 86400


def test_instruction_show_of_an_unknown_id_is_refused(market):
    r = market.run("instruction", "show", "0x" + "ab" * 32, "--typed-data")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "is not in this register" in r.stderr


# ---------------------------------------------------------------------- signed elsewhere


def test_eth_account_signatures_over_the_printed_json_settle(market):
    world = market
    iid = trade(world, NAMES[HARBOUR], NAMES[KOWLOON])
    doc = typed_data(world, iid)
    r = world.run(
        "affirm", iid, "--signature", eth_account_signature(keys.dev_account(HARBOUR).key, doc), "--signer", dev_address(HARBOUR)
    )
    assert r.exit_code == 0 and r.stdout.strip() == f"{iid} affirmed by the seller", r.stderr
    r = world.run("affirm", iid, "--signature", eth_account_signature(keys.dev_account(KOWLOON).key, doc))
    assert r.exit_code == 0 and r.stdout.strip() == f"{iid} affirmed by the buyer", r.stderr
    settle_and_check(world, iid)


def ethers_node() -> str:
    """Node.js with ethers resolvable from tests/js (the repository's node_modules, or NODE_PATH)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the ethers v6 signing test needs Node.js")
    found = subprocess.run([node, "-e", "require.resolve('ethers')"], cwd=JS_SIGNER.parent, capture_output=True)
    if found.returncode != 0:
        pytest.skip("ethers (npm) is not installed in node_modules: run `make setup` (package.json pins it)")
    return node


def ethers_signature(node: str, key, doc: dict) -> str:
    r = subprocess.run(
        [node, str(JS_SIGNER), "0x" + bytes(key).hex()], input=json.dumps(doc), capture_output=True, text=True, check=True
    )
    return r.stdout.strip()


def test_ethers_v6_signatures_settle(market):
    node = ethers_node()
    world = market
    iid = trade(world, NAMES[HARBOUR], NAMES[KOWLOON])
    doc = typed_data(world, iid)
    for index, party in ((HARBOUR, "seller"), (KOWLOON, "buyer")):
        sig = ethers_signature(node, keys.dev_account(index).key, doc)
        assert sig == eth_account_signature(keys.dev_account(index).key, doc)  # deterministic (RFC 6979)
        r = world.run("affirm", iid, "--signature", sig)
        assert r.exit_code == 0 and r.stdout.strip() == f"{iid} affirmed by the {party}", r.stderr
    settle_and_check(world, iid)


# ---------------------------------------------------------------------- an ERC-1271 contract wallet


@pytest.fixture
def contract_wallet(market, tmp_path):
    """A contract wallet owned by anvil account 8, registered as investor smart_fund, holding
    HK$10m and having authorized the venue to take it (its owner makes it call `approve`)."""
    world = market
    chain = world.chain()
    art = artifacts.load_all(artifacts.ROOT / "tests" / "contracts")["ContractWallet"]
    owner = Signer(chain, keys.dev_account(OWNER))
    receipt = owner.transact(
        chain.w3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor(owner.address), "deploy wallet"
    )
    wallet = chain.w3.eth.contract(address=receipt["contractAddress"], abi=art.abi)
    csv = tmp_path / "smart.csv"
    csv.write_text(
        "investor_id,name,wallet,country,category,kyc_expiry\n"
        f"smart_fund,Smart Account Fund (test),{wallet.address},HK,institutional_professional_investor,2030-12-31\n"
    )
    assert world.run("investors", "import", csv).exit_code == 0
    assert world.run("cash", "mint", "HKD", wallet.address, "10000000").exit_code == 0
    reg = Register(world.db_url)
    cash = chain.contract("CashToken", reg.require_contract("cash", "HKD").address)
    approve = cash.encode_abi("approve", [reg.require_contract("dvp").address, 10_000_000_00])
    owner.transact(wallet.functions.execute(cash.address, approve), "wallet approves the venue")
    return world, wallet.address


def test_a_contract_wallet_affirms_by_erc1271_and_settles_both_ways(contract_wallet):
    world, wallet = contract_wallet
    owner_key = keys.dev_account(OWNER).key
    bought = trade(world, NAMES[HARBOUR], NAMES["wallet"], 100)
    assert world.run("affirm", bought, "--dev-account", HARBOUR).exit_code == 0
    r = world.run("affirm", bought, "--signature", eth_account_signature(owner_key, typed_data(world, bought)))
    assert r.exit_code == 0 and r.stdout.strip() == f"{bought} affirmed by the buyer", r.stderr
    settle_and_check(world, bought)

    sold = trade(world, NAMES["wallet"], NAMES[KOWLOON], 40)
    r = world.run("affirm", sold, "--signature", eth_account_signature(owner_key, typed_data(world, sold)), "--signer", wallet)
    assert r.exit_code == 0 and r.stdout.strip() == f"{sold} affirmed by the seller", r.stderr
    assert world.run("affirm", sold, "--dev-account", KOWLOON).exit_code == 0
    settle_and_check(world, sold)
    holders = {h["investor_id"]: h["quantity"] for h in world.run("register", "holders", ISIN, "--format", "json").json()}
    assert holders["smart_fund"] == 60


def test_a_contract_wallet_refuses_what_its_owner_did_not_sign(contract_wallet):
    world, wallet = contract_wallet
    iid = trade(world, NAMES[HARBOUR], NAMES["wallet"], 100)
    doc = typed_data(world, iid)
    other = {**doc, "message": {**doc["message"], "quantity": "101"}}
    before = chain_state(world.rpc_url), register_counts(world.db_url)
    for key, signer in ((keys.dev_account(OUTSIDER).key, wallet), (keys.dev_account(OWNER).key, wallet)):
        sig = eth_account_signature(key, doc if key != keys.dev_account(OWNER).key else other)
        r = world.run("affirm", iid, "--signature", sig, "--signer", signer)
        assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.stderr
        assert f"contract wallet {wallet} does not accept it" in r.stderr
    assert (chain_state(world.rpc_url), register_counts(world.db_url)) == before


# ---------------------------------------------------------------------- refusals


def refusals(world, iid: str, doc: dict) -> list[tuple[list, str]]:
    seller_sig = eth_account_signature(keys.dev_account(HARBOUR).key, doc)
    other = {**doc, "message": {**doc["message"], "cashAmount": "1"}}
    return [
        (["--signature", eth_account_signature(keys.dev_account(OUTSIDER).key, doc)],
         f"signed by {dev_address(OUTSIDER)}, not by the seller or the buyer of {iid}"),
        (["--signature", seller_sig, "--signer", dev_address(KOWLOON)], f"signed by {dev_address(HARBOUR)}, not by {dev_address(KOWLOON)}"),
        (["--signature", seller_sig, "--signer", dev_address(OUTSIDER)], f"--signer: {dev_address(OUTSIDER)} is neither the seller nor the buyer"),
        (["--signature", eth_account_signature(keys.dev_account(HARBOUR).key, other)], "not by the seller or the buyer"),
        (["--signature", seller_sig[:-2] + "zz"], "--signature: "),
        (["--signature", seller_sig[2:]], "is not 0x-prefixed hex"),
        (["--signature", seller_sig[:-2]], "64 bytes is not a signature the venue can recover"),
        (["--signature", "0x"], "is not 0x-prefixed hex"),
        (["--signature", seller_sig, "--dev-account", HARBOUR], "give either a signature or a key"),
        (["--signer", dev_address(HARBOUR), "--dev-account", HARBOUR], "--signer: only with --signature"),
        (["--signature", seller_sig, "--signer", "0x1234"], "--signer: "),
    ]  # fmt: skip


def test_a_bad_signature_is_refused_in_one_line_and_nothing_is_stored(market):
    world = market
    iid = trade(world, NAMES[HARBOUR], NAMES[KOWLOON])
    assert world.run("affirm", iid, "--dev-account", KOWLOON).exit_code == 0
    doc = typed_data(world, iid)
    before = chain_state(world.rpc_url), register_counts(world.db_url), affirmations(world)
    for args, expect in refusals(world, iid, doc):
        r = world.run("affirm", iid, *args)
        assert r.exit_code == 2 and expect in r.stderr and r.stderr.count("\n") == 1, (args, r.stderr)
        assert (chain_state(world.rpc_url), register_counts(world.db_url), affirmations(world)) == before
