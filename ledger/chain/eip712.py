"""EIP-712 typed data: the one description of every message a party signs, and how a
signature made anywhere (bondledger, a wallet, a contract wallet) is checked.

A message is built once, as the JSON document `eth_signTypedData_v4` takes (domain, types
with EIP712Domain, primaryType, message); its digest is computed from that document, so what
a wallet shows, what bondledger signs and what the contracts verify cannot drift apart. The
types bondledger signs are flat structs of atomic types and strings, which is all `digest`
encodes (a unit test holds it equal to eth_account's general encoder, which is far slower).
"""

import re

from eth_abi import encode as abi_encode
from eth_keys import keys as eth_keys
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import keccak

# The domain every bondledger contract signs under (OpenZeppelin EIP712: no salt).
DOMAIN_FIELDS = (("name", "string"), ("version", "string"), ("chainId", "uint256"), ("verifyingContract", "address"))

ERC1271_MAGIC = bytes.fromhex("1626ba7e")  # IERC1271.isValidSignature.selector
_IS_VALID_SIGNATURE = keccak(text="isValidSignature(bytes32,bytes)")[:4]
# Gas DvPSettlement gives a contract party's check (_SIGNATURE_GAS): a wallet that needs more
# is refused here as it would be there.
ERC1271_GAS = 100_000

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def fields_json(fields) -> list[dict]:
    return [{"name": n, "type": t} for n, t in fields]


def typed_data(domain: dict, primary: str, fields, message: dict) -> dict:
    """The document `eth_signTypedData_v4` takes, for a message of one flat struct type."""
    return {
        "types": {"EIP712Domain": fields_json(DOMAIN_FIELDS), primary: fields_json(fields)},
        "primaryType": primary,
        "domain": domain,
        "message": message,
    }


def encode_type(name: str, fields) -> str:
    return name + "(" + ",".join(f"{t} {n}" for n, t in fields) + ")"


def type_hash(name: str, fields) -> bytes:
    return keccak(text=encode_type(name, fields))


def _encoded(type_: str, value):
    """(ABI type, value) of one field in hashStruct: dynamic types by their hash."""
    if type_ == "string":
        return "bytes32", keccak(text=value)
    if type_ == "bytes":
        return "bytes32", keccak(value if isinstance(value, bytes) else bytes.fromhex(value.removeprefix("0x")))
    if type_.startswith("bytes"):
        return type_, value if isinstance(value, bytes) else bytes.fromhex(value.removeprefix("0x"))
    if type_.startswith(("uint", "int")):
        return type_, int(value)  # JSON carries big numbers as decimal strings
    return type_, value


def hash_struct(name: str, fields: list[dict], values: dict) -> bytes:
    pairs = [_encoded(f["type"], values[f["name"]]) for f in fields]
    head = keccak(text=encode_type(name, [(f["name"], f["type"]) for f in fields]))
    return keccak(abi_encode(["bytes32", *(t for t, _ in pairs)], [head, *(v for _, v in pairs)]))


def digest(typed: dict) -> bytes:
    """The EIP-712 digest of a typed-data document (what a wallet signs and a contract checks)."""
    types, primary = typed["types"], typed["primaryType"]
    return keccak(
        b"\x19\x01"
        + hash_struct("EIP712Domain", types["EIP712Domain"], typed["domain"])
        + hash_struct(primary, types[primary], typed["message"])
    )


# ---------------------------------------------------------------------- signatures


def parse_signature(text: str) -> bytes:
    """Signature bytes from 0x-prefixed hex; ValueError (with why) if it is not that."""
    text = text.strip()
    if not re.fullmatch(r"0x([0-9a-fA-F]{2})+", text):
        raise ValueError(f"{text[:20]!r}{'…' if len(text) > 20 else ''} is not 0x-prefixed hex of whole bytes")
    raw = bytes.fromhex(text[2:])
    if len(raw) == 65 and raw[64] in (0, 1):  # some wallets give v as 0/1; contracts take 27/28
        raw = raw[:64] + bytes([raw[64] + 27])
    return raw


def recover(message_digest: bytes, signature: bytes) -> str | None:
    """The signer of a 65-byte ECDSA signature, under the rules of OpenZeppelin's ECDSA.tryRecover
    (v 27 or 28, s in the lower half): None where the contracts would recover no one."""
    if len(signature) != 65 or signature[64] not in (27, 28):
        return None
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
    if not 0 < r < _SECP256K1_N or not 0 < s <= _SECP256K1_N // 2:
        return None
    try:
        sig = eth_keys.Signature(vrs=(signature[64] - 27, r, s))
        return sig.recover_public_key_from_msg_hash(message_digest).to_checksum_address()
    except (BadSignature, ValidationError):
        return None


def erc1271_accepts(chain, wallet: str, message_digest: bytes, signature: bytes, caller: str) -> bool:
    """Whether contract wallet `wallet` accepts `signature` of `message_digest` (ERC-1271), asked
    as the venue asks it: from `caller`, with bounded gas, the whole returned word the magic value."""
    data = _IS_VALID_SIGNATURE + abi_encode(["bytes32", "bytes"], [message_digest, signature])
    call = {"from": caller, "to": wallet, "data": "0x" + data.hex(), "gas": hex(ERC1271_GAS)}
    response = chain.w3.provider.make_request("eth_call", [call, "latest"])
    if "error" in response:
        return False  # reverted: not accepted
    ret = bytes.fromhex(response["result"].removeprefix("0x"))
    return len(ret) >= 32 and ret[:32] == ERC1271_MAGIC + bytes(28)


def has_code(chain, address: str) -> bool:
    return len(chain.w3.eth.get_code(address)) > 0
