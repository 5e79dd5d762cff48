"""Settlement instructions as both parties sign them: EIP-712 typed data of the DvP venue.

`typed_instruction` is the one description of what a party signs: the document a wallet takes
(`eth_signTypedData_v4`), from which the digest, the instruction id and bondledger's own
signatures are derived. The instruction id is that digest (what DvPSettlement.instructionId
returns), so the register, the signatures and the chain's events all name an instruction the
same way.
"""

from dataclasses import dataclass

from eth_account import Account
from eth_utils import to_checksum_address

from ledger.chain import codec, eip712

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
CANCEL_FIELDS = [("instructionId", "bytes32")]
INSTRUCTION_TYPEHASH = eip712.type_hash("Instruction", INSTRUCTION_FIELDS)
CANCEL_TYPEHASH = eip712.type_hash("Cancel", CANCEL_FIELDS)


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
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.address),
        }


def _json_value(type_: str, value):
    # Addresses checksummed; uint256 as decimal strings (a JavaScript number loses digits past
    # 2**53); uint64 times stay numbers (unix seconds).
    if type_ == "address":
        return to_checksum_address(value)
    if type_ == "uint256":
        return str(value)
    return value


def typed_instruction(venue: Venue, ins: InstructionData) -> dict:
    """The full EIP-712 message a wallet shows its holder before signing (eth_signTypedData_v4)."""
    message = {name: _json_value(t, getattr(ins, name)) for name, t in INSTRUCTION_FIELDS}
    return eip712.typed_data(venue.domain(), "Instruction", INSTRUCTION_FIELDS, message)


def typed_cancel(venue: Venue, instruction_id_hex: str) -> dict:
    """A party's cancellation of an instruction, as a wallet would sign it."""
    return eip712.typed_data(venue.domain(), "Cancel", CANCEL_FIELDS, {"instructionId": instruction_id_hex})


def instruction_digest(venue: Venue, ins: InstructionData) -> bytes:
    return eip712.digest(typed_instruction(venue, ins))


def instruction_id(venue: Venue, ins: InstructionData) -> str:
    return "0x" + instruction_digest(venue, ins).hex()


def sign_instruction(account, venue: Venue, ins: InstructionData) -> str:
    """The party's EIP-712 signature of `ins`, over the digest of `typed_instruction` (signed as
    a hash: eth_account's general typed-data encoder is slow, and tests hold the digests equal)."""
    signed = Account.unsafe_sign_hash(instruction_digest(venue, ins), account.key)
    return "0x" + bytes(signed.signature).hex()


def sign_cancel(account, venue: Venue, instruction_id_hex: str) -> str:
    signed = Account.unsafe_sign_hash(eip712.digest(typed_cancel(venue, instruction_id_hex)), account.key)
    return "0x" + bytes(signed.signature).hex()


def settle_batch_calldata(
    instructions: list[InstructionData], seller_signatures: list[bytes], buyer_signatures: list[bytes], best_effort: bool
) -> str:
    """Call data of DvPSettlement.settleBatch, through the codec's fast encoder (eth-abi's
    validation of every value of every instruction costs more than settling them on a devnet)."""
    return codec.calldata(
        "DvPSettlement", "settleBatch", [[i.as_tuple() for i in instructions], seller_signatures, buyer_signatures, best_effort]
    )
