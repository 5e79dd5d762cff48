// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {BondToken} from "../../contracts/BondToken.sol";
import {CashToken} from "../../contracts/CashToken.sol";
import {InvestorRegistry} from "../../contracts/InvestorRegistry.sol";
import {DvPSettlement} from "../../contracts/DvPSettlement.sol";
import {IInvestorRegistry} from "../../contracts/interfaces/IInvestorRegistry.sol";

/// @dev The numbers the venue reports, written out here (not read from the contract) so that a
/// renumbering of either table, which the Python layer mirrors, fails these tests.
library Code {
    // SettlementFailure
    uint8 internal constant OK = 0;
    uint8 internal constant EXPIRED = 1;
    uint8 internal constant NONCE_USED = 2;
    uint8 internal constant BAD_SELLER_SIGNATURE = 3;
    uint8 internal constant BAD_BUYER_SIGNATURE = 4;
    uint8 internal constant TOKEN_NOT_LISTED = 5;
    uint8 internal constant SECURITY_LEG_REFUSED = 6;
    uint8 internal constant CASH_LEG_REFUSED = 7;
    uint8 internal constant INVALID_INSTRUCTION = 8;
    uint8 internal constant LEG_REVERTED = 9;
    uint8 internal constant CANCELLED = 10;
    uint8 internal constant NOT_YET_DUE = 11;
    // TransferReason
    uint8 internal constant PAUSED = 1;
    uint8 internal constant SENDER_NOT_REGISTERED = 2;
    uint8 internal constant RECEIVER_NOT_REGISTERED = 3;
    uint8 internal constant SENDER_KYC_EXPIRED = 4;
    uint8 internal constant RECEIVER_KYC_EXPIRED = 5;
    uint8 internal constant SENDER_FROZEN = 6;
    uint8 internal constant RECEIVER_FROZEN = 7;
    uint8 internal constant CATEGORY_NOT_ALLOWED = 8;
    uint8 internal constant JURISDICTION_NOT_ALLOWED = 9;
    uint8 internal constant INSUFFICIENT_BALANCE = 10;
    uint8 internal constant INSUFFICIENT_ALLOWANCE = 13;
    uint8 internal constant INSUFFICIENT_UNFROZEN_BALANCE = 14;
}

/// @dev An oracle for secondary settlement that does not ask the venue or canTransfer: it works
/// out from registry records, the bond's configuration and a copy of the books what the venue
/// must answer, in the order the venue documents its checks (validation, security leg, cash leg).
library Predict {
    /// Bond and cash balances, and each holder's cash allowance to the venue.
    struct Books {
        address[] who;
        uint256[] bonds;
        uint256[] cash;
        uint256[] allowance;
    }

    function load(BondToken bond, CashToken cash, address spender, address[] memory who)
        internal
        view
        returns (Books memory b)
    {
        uint256 n = who.length;
        b.who = who;
        b.bonds = new uint256[](n);
        b.cash = new uint256[](n);
        b.allowance = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            b.bonds[i] = bond.balanceOf(who[i]);
            b.cash[i] = cash.balanceOf(who[i]);
            b.allowance[i] = cash.allowance(who[i], spender);
        }
    }

    function same(Books memory a, Books memory b) internal pure returns (bool) {
        if (a.who.length != b.who.length) return false;
        for (uint256 i = 0; i < a.who.length; ++i) {
            if (a.who[i] != b.who[i] || a.bonds[i] != b.bonds[i] || a.cash[i] != b.cash[i]) return false;
            if (a.allowance[i] != b.allowance[i]) return false;
        }
        return true;
    }

    function indexOf(Books memory b, address a) internal pure returns (uint256) {
        for (uint256 i = 0; i < b.who.length; ++i) {
            if (b.who[i] == a) return i;
        }
        revert("Predict: not in the books");
    }

    /// What the venue knows of an instruction besides its fields.
    struct State {
        bool listed; // its security token listed as a security, and its cash token as cash
        bool nonceUsed; // its nonce settled an instruction (this one or another)
        bool cancelled; // a party cancelled its id
        bool sellerSigOk;
        bool buyerSigOk;
    }

    /// The venue's own checks, in its documented order: malformed, expired, not yet due, nonce,
    /// cancelled, listing, signatures.
    function venue(DvPSettlement.Instruction memory ins, State memory st) internal view returns (uint8) {
        if (ins.seller == ins.buyer || ins.quantity == 0) return Code.INVALID_INSTRUCTION;
        if (block.timestamp >= ins.expiry) return Code.EXPIRED;
        if (block.timestamp < ins.settlementDate) return Code.NOT_YET_DUE;
        if (st.nonceUsed) return Code.NONCE_USED;
        if (st.cancelled) return Code.CANCELLED;
        if (!st.listed) return Code.TOKEN_NOT_LISTED;
        if (!st.sellerSigOk) return Code.BAD_SELLER_SIGNATURE;
        if (!st.buyerSigOk) return Code.BAD_BUYER_SIGNATURE;
        return Code.OK;
    }

    /// What the bond's compliance hook says to a holder-to-holder move, from the registry.
    function hook(BondToken bond, InvestorRegistry registry, address from, address to) internal view returns (uint8) {
        if (bond.paused()) return Code.PAUSED;
        uint256 fromExpiry = registry.eligibility(from).kycExpiry;
        if (fromExpiry == 0) return Code.SENDER_NOT_REGISTERED;
        if (fromExpiry <= block.timestamp) return Code.SENDER_KYC_EXPIRED;
        if (bond.isFrozen(from)) return Code.SENDER_FROZEN;
        IInvestorRegistry.Eligibility memory r = registry.eligibility(to);
        if (r.kycExpiry == 0) return Code.RECEIVER_NOT_REGISTERED;
        if (r.kycExpiry <= block.timestamp) return Code.RECEIVER_KYC_EXPIRED;
        if (bond.isFrozen(to)) return Code.RECEIVER_FROZEN;
        if (bond.categoryMask() & (uint256(1) << r.category) == 0) return Code.CATEGORY_NOT_ALLOWED;
        if (bond.jurisdictionsRestricted() && !bond.isJurisdictionAllowed(r.country)) {
            return Code.JURISDICTION_NOT_ALLOWED;
        }
        return Code.OK;
    }

    /// The two legs of a valid instruction: bonds first (hook, then balance), then cash
    /// (an ERC-20 transferFrom spends the allowance before it checks the balance). The cash token
    /// is the books' one; a security token other than `bond` that got this far can only be that
    /// cash token, which the admin also listed as a security: it has no settlementTransfer, so the
    /// security leg fails with no token reason.
    function legs(BondToken bond, InvestorRegistry registry, DvPSettlement.Instruction memory ins, Books memory b)
        internal
        view
        returns (uint8, uint8)
    {
        if (ins.securityToken != address(bond)) return (Code.SECURITY_LEG_REFUSED, 0);
        uint8 reason = hook(bond, registry, ins.seller, ins.buyer);
        if (reason != Code.OK) return (Code.SECURITY_LEG_REFUSED, reason);
        uint256 s = indexOf(b, ins.seller);
        uint256 k = indexOf(b, ins.buyer);
        if (b.bonds[s] < ins.quantity) return (Code.SECURITY_LEG_REFUSED, Code.INSUFFICIENT_BALANCE);
        if (b.allowance[k] < ins.cashAmount) return (Code.CASH_LEG_REFUSED, Code.INSUFFICIENT_ALLOWANCE);
        if (b.cash[k] < ins.cashAmount) return (Code.CASH_LEG_REFUSED, Code.INSUFFICIENT_BALANCE);
        return (Code.OK, 0);
    }

    /// Settles `ins` in the books.
    function move(Books memory b, DvPSettlement.Instruction memory ins) internal pure {
        uint256 s = indexOf(b, ins.seller);
        uint256 k = indexOf(b, ins.buyer);
        b.bonds[s] -= ins.quantity;
        b.bonds[k] += ins.quantity;
        if (b.allowance[k] != type(uint256).max) b.allowance[k] -= ins.cashAmount;
        b.cash[k] -= ins.cashAmount;
        b.cash[s] += ins.cashAmount;
    }

    function copy(Books memory b) internal pure returns (Books memory c) {
        uint256 n = b.who.length;
        c.who = b.who;
        c.bonds = new uint256[](n);
        c.cash = new uint256[](n);
        c.allowance = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            c.bonds[i] = b.bonds[i];
            c.cash[i] = b.cash[i];
            c.allowance[i] = b.allowance[i];
        }
    }
}

/// @dev The EIP-712 hashing, written out by hand from the spec (not by calling the venue).
library Typed {
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant INSTRUCTION_TYPEHASH = keccak256(
        "Instruction(address seller,address buyer,address securityToken,uint256 quantity,address cashToken,"
        "uint256 cashAmount,uint64 tradeDate,uint64 settlementDate,uint64 expiry,uint256 nonce)"
    );
    bytes32 internal constant CANCEL_TYPEHASH = keccak256("Cancel(bytes32 instructionId)");

    function domainSeparator(address venue) internal view returns (bytes32) {
        return keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("bondledger DvPSettlement"), keccak256("1"), block.chainid, venue)
        );
    }

    function structHash(DvPSettlement.Instruction memory ins) internal pure returns (bytes32) {
        // Every field is a static type, so the encoding is one 32-byte word per field.
        return keccak256(
            bytes.concat(
                abi.encode(INSTRUCTION_TYPEHASH, ins.seller, ins.buyer, ins.securityToken, ins.quantity),
                abi.encode(ins.cashToken, ins.cashAmount, ins.tradeDate, ins.settlementDate, ins.expiry, ins.nonce)
            )
        );
    }

    function instructionDigest(DvPSettlement.Instruction memory ins, address venue) internal view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(venue), structHash(ins)));
    }

    function cancelDigest(bytes32 instructionId, address venue) internal view returns (bytes32) {
        return keccak256(
            abi.encodePacked("\x19\x01", domainSeparator(venue), keccak256(abi.encode(CANCEL_TYPEHASH, instructionId)))
        );
    }
}

/// @dev The revert data of the venue refusing instruction `id` for `reason` (with the token's `tokenReason`).
function refusal(bytes32 id, uint8 reason, uint8 tokenReason) pure returns (bytes memory) {
    return abi.encodeWithSelector(DvPSettlement.SettlementRefused.selector, id, reason, tokenReason);
}
