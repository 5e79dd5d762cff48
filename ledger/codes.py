"""Code tables shared with the contracts: investor categories and transfer reason codes.

They mirror contracts/interfaces/IInvestorRegistry.sol and ISecurityToken.sol; the
integration tests check the contracts still answer with these numbers.
"""

from enum import IntEnum


class Category(IntEnum):
    """Investor categories as the registry stores them (a token allows a set as a bitmask)."""

    retail = 1
    professional_investor = 2  # individual professional investor (SFO Cap. 571 Sch. 1)
    corporate_professional_investor = 3
    institutional_professional_investor = 4
    authorized_participant = 5  # an ETF's authorized participant (a licensed broker)


PROFESSIONAL = frozenset(
    {
        Category.professional_investor,
        Category.corporate_professional_investor,
        Category.institutional_professional_investor,
        Category.authorized_participant,
    }
)


def category_mask(professional_only: bool) -> int:
    """The bitmask of categories a token admits (bit c set = category c may receive)."""
    allowed = PROFESSIONAL if professional_only else set(Category)
    return sum(1 << int(c) for c in allowed)


class Reason(IntEnum):
    """Why a security token refuses a balance change (0 = it does not)."""

    OK = 0
    PAUSED = 1
    SENDER_NOT_REGISTERED = 2
    RECEIVER_NOT_REGISTERED = 3
    SENDER_KYC_EXPIRED = 4
    RECEIVER_KYC_EXPIRED = 5
    SENDER_FROZEN = 6
    RECEIVER_FROZEN = 7
    CATEGORY_NOT_ALLOWED = 8
    JURISDICTION_NOT_ALLOWED = 9
    INSUFFICIENT_BALANCE = 10
    SUPPLY_CAP_EXCEEDED = 11
    INSTRUMENT_CLOSED = 12
    INSUFFICIENT_ALLOWANCE = 13  # a cash leg short of the buyer's authorization
    INSUFFICIENT_UNFROZEN_BALANCE = 14  # within the balance, but ERC-7943 frozen tokens stand in the way

    def describe(self) -> str:
        return self.name.lower().replace("_", " ")


class SettlementFailure(IntEnum):
    """Why a settlement instruction did not settle (contracts/DvPSettlement.sol)."""

    OK = 0
    EXPIRED = 1
    NONCE_USED = 2  # its nonce settled an instruction already
    BAD_SELLER_SIGNATURE = 3
    BAD_BUYER_SIGNATURE = 4
    TOKEN_NOT_LISTED = 5
    SECURITY_LEG_REFUSED = 6
    CASH_LEG_REFUSED = 7
    INVALID_INSTRUCTION = 8
    LEG_REVERTED = 9
    CANCELLED = 10
    NOT_YET_DUE = 11

    def describe(self, token_reason: int = 0) -> str:
        text = self.name.lower().replace("_", " ")
        if token_reason and token_reason in Reason._value2member_map_:
            text += f": {Reason(token_reason).describe()}"
        return text


#: SecurityToken.MAX_RECORD_TIMES: the most record dates (so coupons) one instrument can have
MAX_RECORD_TIMES = 255
