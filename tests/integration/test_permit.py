"""`cash allow --permit`: a holder authorizes the DvP venue with an ERC-2612 permit signature
that the operator submits, so the holder sends nothing and pays no gas; signed by bondledger
with the holder's key, or elsewhere over the printed typed data. A bad permit is refused in
one line with exit 2 before anything is sent."""

import json

from eth_account import Account

from helpers import chain_state, dev_address, register_counts
from ledger.chain import keys

HOLDER, OTHER = 6, 9  # victoria_peak's second wallet: registered, no cash authorized yet


def authorized(world, wallet: str) -> str:
    return world.run("cash", "balance", "HKD", wallet, "--format", "json").json()[0]["authorized"]


def holder_state(world, wallet: str) -> tuple[int, int]:
    w3 = world.chain().w3
    return w3.eth.get_transaction_count(wallet), w3.eth.get_balance(wallet)


def printed_permit(world, amount: str, *extra) -> dict:
    r = world.run("cash", "allow", "HKD", amount, "--permit", "--owner", dev_address(HOLDER), "--typed-data", *extra)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_a_permit_signed_with_the_holders_key_authorizes_without_the_holder_sending(funded):
    world = funded
    wallet = dev_address(HOLDER)
    before = holder_state(world, wallet)
    r = world.run("cash", "allow", "HKD", "2500.50", "--permit", "--dev-account", HOLDER)
    assert r.exit_code == 0 and r.stdout.strip() == f"{wallet} authorized settlement to take up to 2500.50 HKD (permit)", r.stderr
    assert authorized(world, wallet) == "2500.50"
    assert holder_state(world, wallet) == before, "the holder sent nothing and paid no gas"
    r = world.run("cash", "allow", "HKD", "10", "--permit", "--dev-account", HOLDER)  # the next nonce
    assert r.exit_code == 0 and authorized(world, wallet) == "10.00"


def test_a_permit_signed_elsewhere_over_the_printed_typed_data_is_submitted(funded):
    world = funded
    wallet = dev_address(HOLDER)
    before = chain_state(world.rpc_url)
    doc = printed_permit(world, "1000")
    assert chain_state(world.rpc_url) == before, "printing sends nothing"
    ctx = world.context()
    assert doc["primaryType"] == "Permit"
    assert doc["domain"] == {"name": "Tokenized HKD", "version": "1", "chainId": 31337,
                             "verifyingContract": ctx.register.require_contract("cash", "HKD").address}  # fmt: skip
    m = doc["message"]
    assert (m["owner"], m["spender"], m["value"], m["nonce"]) == (
        wallet,
        ctx.register.require_contract("dvp").address,
        "100000",
        "0",
    )
    signature = "0x" + bytes(Account.sign_typed_data(keys.dev_account(HOLDER).key, full_message=doc).signature).hex()
    state = holder_state(world, wallet)
    r = world.run(
        "cash", "allow", "HKD", "1000", "--permit", "--owner", wallet, "--deadline", m["deadline"], "--signature", signature
    )
    assert r.exit_code == 0, r.stderr
    assert authorized(world, wallet) == "1000.00" and holder_state(world, wallet) == state
    assert world.run("verify").exit_code == 0


def test_a_bad_permit_is_refused_in_one_line_and_nothing_is_sent(funded):
    world = funded
    wallet = dev_address(HOLDER)
    doc = printed_permit(world, "1000")
    deadline = doc["message"]["deadline"]

    def sign(key, d):
        return "0x" + bytes(Account.sign_typed_data(key, full_message=d).signature).hex()

    good = sign(keys.dev_account(HOLDER).key, doc)
    base = ["cash", "allow", "HKD", "1000", "--permit", "--owner", wallet]
    cases = [
        (base + ["--deadline", deadline, "--signature", sign(keys.dev_account(OTHER).key, doc)], f"signed by {dev_address(OTHER)}, not by the owner"),
        (["cash", "allow", "HKD", "2000", "--permit", "--owner", wallet, "--deadline", deadline, "--signature", good], "not by the owner"),
        (base + ["--deadline", int(deadline) + 1, "--signature", good], "not by the owner"),
        (base + ["--deadline", 1, "--signature", good], "--deadline: 1 is not after the chain's time"),
        (base + ["--deadline", deadline, "--signature", good[:-4]], "not a signature the token can recover"),
        (base + ["--deadline", deadline, "--signature", "0xnothex"], "--signature: "),
        (base + ["--signature", good], "--deadline: required with --signature"),
        (base[:-2] + ["--deadline", deadline, "--signature", good], "--permit: give the holder's key"),
        (["cash", "allow", "HKD", "1000", "--owner", wallet, "--dev-account", HOLDER], "--owner: only with --permit"),
        (base + ["--deadline", deadline, "--signature", good, "--dev-account", HOLDER], "--signature: not with a key"),
        (["cash", "allow", "HKD", "1000", "--permit", "--owner", dev_address(OTHER), "--dev-account", HOLDER], "is not the key's address"),
    ]  # fmt: skip
    before = chain_state(world.rpc_url), register_counts(world.db_url), authorized(world, wallet)
    for args, expect in cases:
        r = world.run(*args)
        assert r.exit_code == 2 and expect in r.stderr and r.stderr.count("\n") == 1, (args, r.stderr)
        assert (chain_state(world.rpc_url), register_counts(world.db_url), authorized(world, wallet)) == before
