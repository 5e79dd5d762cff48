"""The receiver rule of SecurityToken._checkReceiver, for checks made before a token exists.

`issue` must refuse an allocation to an ineligible investor before it deploys anything, when
there is no token yet to ask `detectTransferRestriction`. This mirrors the contract's order of
checks and reason codes; an integration test holds the two in agreement, and `issue` asks the
deployed token's `detectTransferRestriction` again before it settles.
"""

from dataclasses import dataclass

from ledger.codes import Reason


@dataclass(frozen=True)
class Policy:
    category_mask: int
    allowed_jurisdictions: frozenset[str]  # empty: any country

    @property
    def jurisdictions_restricted(self) -> bool:
        return bool(self.allowed_jurisdictions)


@dataclass(frozen=True)
class Record:
    """A registry record: `eligibility(wallet)` on chain."""

    kyc_expiry: int  # unix seconds; 0 = not registered
    country: str
    category: int

    @classmethod
    def from_chain(cls, value: tuple) -> "Record":
        from ledger.chain.codec import struct

        e = struct("IInvestorRegistry.Eligibility")(*value)  # by name, from a named or a plain tuple
        return cls(e.kycExpiry, bytes(e.country).decode("ascii", errors="replace"), e.category)


def receiver_reason(record: Record, policy: Policy, now: int, frozen: bool = False) -> Reason:
    if record.kyc_expiry == 0:
        return Reason.RECEIVER_NOT_REGISTERED
    if record.kyc_expiry <= now:
        return Reason.RECEIVER_KYC_EXPIRED
    if frozen:
        return Reason.RECEIVER_FROZEN
    if not policy.category_mask & (1 << record.category):
        return Reason.CATEGORY_NOT_ALLOWED
    if policy.jurisdictions_restricted and record.country not in policy.allowed_jurisdictions:
        return Reason.JURISDICTION_NOT_ALLOWED
    return Reason.OK
