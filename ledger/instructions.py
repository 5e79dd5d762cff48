"""Settlement instructions as both parties sign them: EIP-712 typed data of the DvP venue.

The instruction id is the EIP-712 digest (what DvPSettlement.instructionId returns), so the
register, the signatures and the chain's events all name an instruction the same way.
"""

from dataclasses import asdict, dataclass

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys import keys as eth_keys
from eth_utils import keccak, to_checksum_address

DOMAIN_NAME = "bondledger DvPSettlement"
DOMAIN_VERSION = "1"

INSTRUCTION_FIELDS = [
    ("seller", "address"),
    ("buyer", "address"),
    ("securityToken", "address"),
    ("quantity", "uint256"),
    ("cashToken", "address"),
    ("cashAmount", "uint256"),
    ("tradeDate", "uint64"),
    ("settlementDate", "uint64"),
    ("expiry", "uint64"),
    ("nonce", "uint256"),
]
_INSTRUCTION_TYPE = "Instruction(" + ",".join(f"{t} {n}" for n, t in INSTRUCTION_FIELDS) + ")"
INSTRUCTION_TYPEHASH = keccak(text=_INSTRUCTION_TYPE)
CANCEL_TYPEHASH = keccak(text="Cancel(bytes32 instructionId)")
_DOMAIN_TYPEHASH = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")


@dataclass(frozen=True)
class InstructionData:
    seller: str
    buyer: str
    securityToken: str
    quantity: int
    cashToken: str
    cashAmount: int
    tradeDate: int
    settlementDate: int
    expiry: int
    nonce: int

    def as_tuple(self) -> tuple:
        """The struct as DvPSettlement takes it."""
        return tuple(getattr(self, name) for name, _ in INSTRUCTION_FIELDS)


@dataclass(frozen=True)
class Venue:
    chain_id: int
    address: str

    def domain(self) -> dict:
        return {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": self.chain_id, "verifyingContract": self.address}

    def domain_separator(self) -> bytes:
        return keccak(
            abi_encode(
                ["bytes32", "bytes32", "bytes32", "uint256", "address"],
                [_DOMAIN_TYPEHASH, keccak(text=DOMAIN_NAME), keccak(text=DOMAIN_VERSION), self.chain_id, self.address],
            )
        )

    def digest(self, struct_hash: bytes) -> bytes:
        return keccak(b"\x19\x01" + self.domain_separator() + struct_hash)


def struct_hash(ins: InstructionData) -> bytes:
    return keccak(abi_encode(["bytes32", *(t for _, t in INSTRUCTION_FIELDS)], [INSTRUCTION_TYPEHASH, *ins.as_tuple()]))


def instruction_id(venue: Venue, ins: InstructionData) -> str:
    return "0x" + venue.digest(struct_hash(ins)).hex()


def typed_instruction(venue: Venue, ins: InstructionData) -> dict:
    """The full EIP-712 message a wallet shows its holder before signing."""
    message = asdict(ins)
    for key in ("seller", "buyer", "securityToken", "cashToken"):
        message[key] = to_checksum_address(message[key])
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Instruction": [{"name": n, "type": t} for n, t in INSTRUCTION_FIELDS],
        },
        "primaryType": "Instruction",
        "domain": venue.domain(),
        "message": message,
    }


def sign_instruction(account, venue: Venue, ins: InstructionData) -> str:
    """The party's EIP-712 signature of `ins`: over exactly the digest `typed_instruction` shows
    a wallet (tests hold the two equal), signed directly because the general typed-data encoder
    is slow."""
    signed = Account.unsafe_sign_hash(venue.digest(struct_hash(ins)), account.key)
    return "0x" + bytes(signed.signature).hex()


def sign_cancel(account, venue: Venue, instruction_id_hex: str) -> str:
    message = {
        "types": {
            "EIP712Domain": typed_instruction(venue, _EMPTY)["types"]["EIP712Domain"],
            "Cancel": [{"name": "instructionId", "type": "bytes32"}],
        },
        "primaryType": "Cancel",
        "domain": venue.domain(),
        "message": {"instructionId": bytes.fromhex(instruction_id_hex[2:])},
    }
    signed = Account.sign_typed_data(account.key, full_message=message)
    return "0x" + bytes(signed.signature).hex()


def signer_of(venue: Venue, ins: InstructionData, signature: str) -> str:
    """The address that signed `ins` (to check an affirmation before storing it)."""
    raw = bytes.fromhex(signature[2:])
    vrs = raw[:64] + bytes([raw[64] - 27 if raw[64] >= 27 else raw[64]])
    return eth_keys.Signature(vrs).recover_public_key_from_msg_hash(venue.digest(struct_hash(ins))).to_checksum_address()


def typed_digest(venue: Venue, ins: InstructionData) -> bytes:
    """The digest of `typed_instruction` as eth_account's general encoder computes it."""
    signable = encode_typed_data(full_message=typed_instruction(venue, ins))
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


_ZERO = "0x" + "00" * 20
_EMPTY = InstructionData(_ZERO, _ZERO, _ZERO, 0, _ZERO, 0, 0, 0, 0, 0)


_SETTLE_BATCH_SELECTOR = keccak(
    text="settleBatch((address,address,address,uint256,address,uint256,uint64,uint64,uint64,uint256)[],bytes[],bytes[],bool)"
)[:4]


def _word(value: int | str) -> bytes:
    if isinstance(value, str):  # an address
        return bytes(12) + bytes.fromhex(value[2:])
    return value.to_bytes(32, "big")


def _bytes_array(items: list[bytes]) -> bytes:
    """An ABI `bytes[]` tail: length, offsets, then each item's length and padded content."""
    heads, tails, offset = [], [], 32 * len(items)
    for item in items:
        heads.append(_word(offset))
        padded = item + bytes(-len(item) % 32)
        tails.append(_word(len(item)) + padded)
        offset += 32 + len(padded)
    return _word(len(items)) + b"".join(heads) + b"".join(tails)


def settle_batch_calldata(
    instructions: list[InstructionData], seller_signatures: list[bytes], buyer_signatures: list[bytes], best_effort: bool
) -> str:
    """Call data of DvPSettlement.settleBatch, encoded by hand: the general ABI encoder validates
    every value of every instruction and costs more than settling them on a devnet. A test holds
    it byte-equal to eth_abi's encoding."""
    ins = _word(len(instructions)) + b"".join(_word(v) for i in instructions for v in i.as_tuple())
    sellers, buyers = _bytes_array(seller_signatures), _bytes_array(buyer_signatures)
    head = _word(128) + _word(128 + len(ins)) + _word(128 + len(ins) + len(sellers)) + _word(int(best_effort))
    return "0x" + (_SETTLE_BATCH_SELECTOR + head + ins + sellers + buyers).hex()
