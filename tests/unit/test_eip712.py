"""The typed-data documents bondledger prints are the ones it signs: their digest, computed by
ledger.chain.eip712 from the document, equals eth_account's general EIP-712 encoder's, and signatures
made by eth_account over the printed JSON recover to the signer under the contracts' rules."""

import json

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from ledger.chain import eip712
from ledger.instructions import InstructionData, Venue, instruction_id, sign_instruction, typed_cancel, typed_instruction

VENUE = Venue(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
SELLER, BUYER = Account.from_key("0x" + "11" * 32), Account.from_key("0x" + "22" * 32)
INS = InstructionData(
    SELLER.address, BUYER.address, "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", 100,
    "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0", 2**200 + 7, 1707264000, 1707436800, 1707868800, 42,
)  # fmt: skip


def general_digest(doc: dict) -> bytes:
    signable = encode_typed_data(full_message=doc)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def test_the_instruction_digest_is_eth_accounts_over_the_printed_json():
    printed = json.loads(json.dumps(typed_instruction(VENUE, INS)))
    assert eip712.digest(printed) == general_digest(printed)
    assert "0x" + general_digest(printed).hex() == instruction_id(VENUE, INS)


def test_the_printed_json_is_what_eth_sign_typed_data_v4_takes():
    doc = typed_instruction(VENUE, INS)
    assert set(doc) == {"types", "primaryType", "domain", "message"} and doc["primaryType"] == "Instruction"
    assert [f["name"] for f in doc["types"]["EIP712Domain"]] == ["name", "version", "chainId", "verifyingContract"]
    assert doc["domain"] == {
        "name": "bondledger DvPSettlement",
        "version": "1",
        "chainId": 31337,
        "verifyingContract": VENUE.address,
    }
    assert doc["message"]["cashAmount"] == str(2**200 + 7)  # beyond a JavaScript number: a decimal string
    assert doc["message"]["expiry"] == 1707868800


def test_the_cancel_digest_is_eth_accounts():
    doc = json.loads(json.dumps(typed_cancel(VENUE, instruction_id(VENUE, INS))))
    assert eip712.digest(doc) == general_digest(doc)


def test_a_signature_over_the_printed_json_recovers_to_its_signer():
    printed = json.loads(json.dumps(typed_instruction(VENUE, INS)))
    signature = Account.sign_typed_data(SELLER.key, full_message=printed).signature
    assert eip712.recover(eip712.digest(printed), bytes(signature)) == SELLER.address
    assert sign_instruction(SELLER, VENUE, INS) == "0x" + bytes(signature).hex()


def test_recovery_follows_the_contracts_rules():
    d = eip712.digest(typed_instruction(VENUE, INS))
    sig = bytes.fromhex(sign_instruction(SELLER, VENUE, INS)[2:])
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    high_s = r + (eip712._SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # the same signature, malleated
    assert eip712.recover(d, high_s) is None
    assert eip712.recover(d, sig[:64]) is None
    assert eip712.recover(d, sig[:64] + b"\x05") is None
    assert eip712.recover(d, eip712.parse_signature("0x" + sig[:64].hex() + f"{v - 27:02x}")) == SELLER.address


@pytest.mark.parametrize("text", ["", "0x", "1234", "0x123", "0xzz", "0x 12"])
def test_malformed_signatures_are_refused(text):
    with pytest.raises(ValueError):
        eip712.parse_signature(text)
