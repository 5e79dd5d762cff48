// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Base, Vm} from "./Base.sol";
import {Fixture} from "./Fixture.sol";
import {BondToken} from "../../contracts/BondToken.sol";
import {CashToken} from "../../contracts/CashToken.sol";
import {InvestorRegistry} from "../../contracts/InvestorRegistry.sol";
import {DvPSettlement, SettlementFailure} from "../../contracts/DvPSettlement.sol";
import {IInvestorRegistry} from "../../contracts/interfaces/IInvestorRegistry.sol";
import {ISecurityToken, TransferReason} from "../../contracts/interfaces/ISecurityToken.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

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

/// @dev A token that refuses every call (as a cash leg's transferFrom or a security leg's
/// settlementTransfer) with revert data of its choosing, zero-padded to at least `size` bytes.
contract HostileToken {
    bytes internal reply;
    uint256 internal immutable size;

    constructor(bytes memory reply_, uint256 size_) {
        reply = reply_;
        size = size_;
    }

    fallback() external {
        bytes memory r = reply;
        if (r.length < size) {
            bytes memory padded = new bytes(size);
            for (uint256 i = 0; i < r.length; ++i) {
                padded[i] = r[i];
            }
            r = padded;
        }
        assembly ("memory-safe") {
            revert(add(r, 32), mload(r))
        }
    }
}

/// @dev A token (or a contract party) whose every call succeeds with these return data, and
/// moves nothing.
contract AnsweringToken {
    bytes internal answer;

    constructor(bytes memory answer_) {
        answer = answer_;
    }

    fallback() external {
        bytes memory r = answer;
        assembly ("memory-safe") {
            return(add(r, 32), mload(r))
        }
    }
}

/// @dev A contract party (ERC-1271) or token that burns all the gas it is given.
contract GasBurner {
    fallback() external {
        assembly {
            invalid()
        }
    }
}

/// @dev A token or contract party that spends `work` gas on every call, then answers `answer`.
contract SlowAnswer {
    uint256 internal immutable work;
    bytes internal answer;

    constructor(uint256 work_, bytes memory answer_) {
        work = work_;
        answer = answer_;
    }

    fallback() external {
        uint256 start = gasleft();
        while (start - gasleft() < work) {}
        bytes memory r = answer;
        assembly ("memory-safe") {
            return(add(r, 32), mload(r))
        }
    }
}

/// @dev An honest ERC-1271 contract wallet: it vouches for what its owner's key signed, and
/// says so with the magic value 0x1626ba7e (else 0xffffffff).
contract OwnedWallet {
    address public immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && recovered == owner ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }
}

/// @dev A contract whose every call returns its own call data (a pass-through stub).
contract Echo {
    fallback() external {
        assembly {
            calldatacopy(0, 0, calldatasize())
            return(0, calldatasize())
        }
    }
}

/// @dev The fixture's world plus investors who hold private keys (they sign instructions):
/// two HK institutional sellers, an HK institutional and an SG professional buyer, an HK retail
/// investor and an unregistered key holder. Every eligible one holds bonds; all hold HKD and
/// have approved the venue without limit.
abstract contract SecondaryFixture is Fixture {
    uint256 internal constant PRICE = 50_125_00; // HK$50,125 per bond, in cents
    uint256 internal constant BONDS = 1_000;
    uint256 internal constant CASH = 100 * PRICE; // enough for 100 bonds

    uint256 internal constant SELLER_KEY = 0x5E11E1;
    uint256 internal constant SELLER2_KEY = 0x5E11E2;
    uint256 internal constant BUYER_KEY = 0xB0E1;
    uint256 internal constant BUYER2_KEY = 0xB0E2;
    uint256 internal constant RETAIL_KEY = 0x2E7A11;
    uint256 internal constant STRANGER_KEY = 0x57A2;

    address internal seller;
    address internal seller2;
    address internal buyer; // HK institutional
    address internal buyer2; // SG professional
    address internal retail; // HK retail
    address internal stranger; // not registered

    address[] internal keyed;
    uint256[] internal keys;
    mapping(address => uint256) internal keyOf;
    mapping(address => bytes32) internal investorIdOf;
    uint256 internal lastNonce = 1_000;

    function setUp() public virtual override {
        super.setUp();
        seller = keyHolder(SELLER_KEY, "seller", "HK", INSTITUTIONAL);
        seller2 = keyHolder(SELLER2_KEY, "seller2", "HK", INSTITUTIONAL);
        buyer = keyHolder(BUYER_KEY, "buyer", "HK", INSTITUTIONAL);
        buyer2 = keyHolder(BUYER2_KEY, "buyer2", "SG", PROFESSIONAL);
        retail = keyHolder(RETAIL_KEY, "retail", "HK", RETAIL);
        stranger = vm.addr(STRANGER_KEY);
        keyOf[stranger] = STRANGER_KEY;
        vm.label(stranger, "stranger");

        keyed = [seller, seller2, buyer, buyer2, retail, stranger];
        keys = [SELLER_KEY, SELLER2_KEY, BUYER_KEY, BUYER2_KEY, RETAIL_KEY, STRANGER_KEY];
        for (uint256 i = 0; i < keyed.length; ++i) {
            if (i < 4) bond.mint(keyed[i], BONDS);
            hkd.mint(keyed[i], CASH);
            vm.prank(keyed[i]);
            hkd.approve(address(dvp), type(uint256).max);
        }
    }

    function keyHolder(uint256 key, string memory id, bytes2 country, uint8 category)
        internal
        returns (address wallet)
    {
        wallet = vm.addr(key);
        register(wallet, id, country, category);
        keyOf[wallet] = key;
        investorIdOf[wallet] = keccak256(bytes(id));
        vm.label(wallet, id);
    }

    // ---------------------------------------------------------------- helpers

    /// `quantity` bonds at PRICE in HKD, traded and due today (00:00 UTC, so it may settle at
    /// once), good for a week.
    function trade(address from, address to, uint256 quantity) internal returns (DvPSettlement.Instruction memory) {
        uint256 today = block.timestamp - (block.timestamp % 1 days);
        return DvPSettlement.Instruction({
            seller: from,
            buyer: to,
            securityToken: address(bond),
            quantity: quantity,
            cashToken: address(hkd),
            cashAmount: quantity * PRICE,
            tradeDate: uint64(today),
            settlementDate: uint64(today),
            expiry: uint64(block.timestamp + 7 days),
            nonce: ++lastNonce
        });
    }

    function sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// Both parties' signatures over the instruction's id.
    function signBoth(DvPSettlement.Instruction memory ins)
        internal
        view
        returns (bytes memory sellerSig, bytes memory buyerSig)
    {
        bytes32 id = dvp.instructionId(ins);
        sellerSig = sign(keyOf[ins.seller], id);
        buyerSig = sign(keyOf[ins.buyer], id);
    }

    function books() internal view returns (Predict.Books memory) {
        address[] memory who = new address[](keyed.length + 2);
        for (uint256 i = 0; i < keyed.length; ++i) {
            who[i] = keyed[i];
        }
        who[keyed.length] = address(dvp);
        who[keyed.length + 1] = address(this);
        return Predict.load(bond, hkd, address(dvp), who);
    }

    function assertBooks(Predict.Books memory expected, string memory err) internal view {
        assertTrue(Predict.same(expected, books()), err);
    }

    function expectRefused(bytes32 id, uint8 reason, uint8 tokenReason) internal {
        vm.expectRevert(abi.encodeWithSelector(DvPSettlement.SettlementRefused.selector, id, reason, tokenReason));
    }

    /// The instruction, signed by both parties, is refused with (reason, tokenReason); nothing
    /// moves, and neither its nonce nor its cancellation changes.
    function assertRefused(DvPSettlement.Instruction memory ins, uint8 reason, uint8 tokenReason) internal {
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        assertRefused(ins, sellerSig, buyerSig, reason, tokenReason);
    }

    function assertRefused(
        DvPSettlement.Instruction memory ins,
        bytes memory sellerSig,
        bytes memory buyerSig,
        uint8 reason,
        uint8 tokenReason
    ) internal {
        bytes32 id = dvp.instructionId(ins);
        bool usedBefore = dvp.isNonceUsed(ins.nonce);
        bool cancelledBefore = dvp.isCancelled(id);
        Predict.Books memory before = books();
        expectRefused(id, reason, tokenReason);
        dvp.settle(ins, sellerSig, buyerSig);
        assertBooks(before, "nothing moved");
        assertEq(dvp.isNonceUsed(ins.nonce), usedBefore, "the nonce did not change");
        assertEq(dvp.isCancelled(id), cancelledBefore, "the cancellation did not change");
    }

    function sumOf(address[] memory who, bool ofBonds) internal view returns (uint256 sum) {
        for (uint256 i = 0; i < who.length; ++i) {
            sum += ofBonds ? bond.balanceOf(who[i]) : hkd.balanceOf(who[i]);
        }
    }

    function list(DvPSettlement.Instruction memory a, DvPSettlement.Instruction memory b)
        internal
        pure
        returns (DvPSettlement.Instruction[] memory l)
    {
        l = new DvPSettlement.Instruction[](2);
        l[0] = a;
        l[1] = b;
    }

    function list(
        DvPSettlement.Instruction memory a,
        DvPSettlement.Instruction memory b,
        DvPSettlement.Instruction memory c
    ) internal pure returns (DvPSettlement.Instruction[] memory l) {
        l = new DvPSettlement.Instruction[](3);
        l[0] = a;
        l[1] = b;
        l[2] = c;
    }

    /// Both parties' signatures over each instruction of `l`.
    function signAll(DvPSettlement.Instruction[] memory l)
        internal
        view
        returns (bytes[] memory sellerSigs, bytes[] memory buyerSigs)
    {
        sellerSigs = new bytes[](l.length);
        buyerSigs = new bytes[](l.length);
        for (uint256 i = 0; i < l.length; ++i) {
            (sellerSigs[i], buyerSigs[i]) = signBoth(l[i]);
        }
    }
}

contract DvPSecondaryTest is SecondaryFixture {
    // ---------------------------------------------------------------- settling

    function test_aSignedInstructionSettlesBothLegsAtomically() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 40);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        bytes32 id = dvp.instructionId(ins);
        assertEq(bond.balanceOf(address(dvp)), 0, "the venue holds no bonds before");
        assertEq(hkd.balanceOf(address(dvp)), 0, "the venue holds no cash before");
        uint256 bondSupply = bond.totalSupply();
        uint256 cashSupply = hkd.totalSupply();

        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionSettled(id, seller, buyer, address(bond), 40, address(hkd), 40 * PRICE, ins.nonce);
        dvp.settle(ins, sellerSig, buyerSig);

        assertEq(bond.balanceOf(seller), BONDS - 40, "the seller delivered");
        assertEq(bond.balanceOf(buyer), BONDS + 40, "the buyer received");
        assertEq(hkd.balanceOf(buyer), CASH - 40 * PRICE, "the buyer paid");
        assertEq(hkd.balanceOf(seller), CASH + 40 * PRICE, "the seller was paid");
        assertEq(bond.balanceOf(address(dvp)), 0, "the venue holds no bonds after");
        assertEq(hkd.balanceOf(address(dvp)), 0, "the venue holds no cash after");
        assertEq(bond.totalSupply(), bondSupply, "no bond minted or burned");
        assertEq(hkd.totalSupply(), cashSupply, "no cash minted or burned");
        assertTrue(dvp.isNonceUsed(ins.nonce), "the nonce is used");
    }

    function test_anyGrantedSettlementAgentMaySubmitAndTheInvestorsPayNoGas() public {
        address agent = address(0xA6E);
        dvp.grantRole(dvp.SETTLEMENT_AGENT_ROLE(), agent);
        DvPSettlement.Instruction memory ins = trade(seller2, buyer2, 3);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        vm.prank(agent);
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(bond.balanceOf(buyer2), BONDS + 3, "settled by the granted agent");
    }

    function test_aZeroPriceInstructionDeliversFreeOfPayment() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 5);
        ins.cashAmount = 0;
        vm.prank(buyer);
        hkd.approve(address(dvp), 0);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(bond.balanceOf(buyer), BONDS + 5, "delivered");
        assertEq(hkd.balanceOf(seller), CASH, "nothing paid");
    }

    // ---------------------------------------------------------------- the signed message

    function test_theFailureTableKeepsItsNumbers() public pure {
        assertEq(SettlementFailure.OK, Code.OK, "OK");
        assertEq(SettlementFailure.EXPIRED, Code.EXPIRED, "EXPIRED");
        assertEq(SettlementFailure.NONCE_USED, Code.NONCE_USED, "NONCE_USED");
        assertEq(SettlementFailure.BAD_SELLER_SIGNATURE, Code.BAD_SELLER_SIGNATURE, "BAD_SELLER_SIGNATURE");
        assertEq(SettlementFailure.BAD_BUYER_SIGNATURE, Code.BAD_BUYER_SIGNATURE, "BAD_BUYER_SIGNATURE");
        assertEq(SettlementFailure.TOKEN_NOT_LISTED, Code.TOKEN_NOT_LISTED, "TOKEN_NOT_LISTED");
        assertEq(SettlementFailure.SECURITY_LEG_REFUSED, Code.SECURITY_LEG_REFUSED, "SECURITY_LEG_REFUSED");
        assertEq(SettlementFailure.CASH_LEG_REFUSED, Code.CASH_LEG_REFUSED, "CASH_LEG_REFUSED");
        assertEq(SettlementFailure.INVALID_INSTRUCTION, Code.INVALID_INSTRUCTION, "INVALID_INSTRUCTION");
        assertEq(SettlementFailure.LEG_REVERTED, Code.LEG_REVERTED, "LEG_REVERTED");
        assertEq(SettlementFailure.CANCELLED, Code.CANCELLED, "CANCELLED");
        assertEq(SettlementFailure.NOT_YET_DUE, Code.NOT_YET_DUE, "NOT_YET_DUE");
        assertEq(TransferReason.INSUFFICIENT_BALANCE, Code.INSUFFICIENT_BALANCE, "INSUFFICIENT_BALANCE");
        assertEq(TransferReason.INSUFFICIENT_ALLOWANCE, Code.INSUFFICIENT_ALLOWANCE, "INSUFFICIENT_ALLOWANCE");
    }

    function test_theInstructionIdIsTheEip712DigestComputedByHand() public view {
        DvPSettlement.Instruction memory ins = DvPSettlement.Instruction({
            seller: seller,
            buyer: buyer2,
            securityToken: address(bond),
            quantity: 123_456,
            cashToken: address(hkd),
            cashAmount: type(uint256).max - 7,
            tradeDate: 1_707_350_400,
            settlementDate: 1_707_523_200,
            expiry: type(uint64).max,
            nonce: (uint256(1) << 255) | 0x1ff
        });
        assertEq(dvp.INSTRUCTION_TYPEHASH(), Typed.INSTRUCTION_TYPEHASH, "instruction type hash");
        assertEq(dvp.CANCEL_TYPEHASH(), Typed.CANCEL_TYPEHASH, "cancel type hash");
        assertEq(dvp.domainSeparator(), Typed.domainSeparator(address(dvp)), "domain separator");
        assertEq(dvp.instructionId(ins), Typed.instructionDigest(ins, address(dvp)), "id = EIP-712 digest");

        (, string memory name, string memory version, uint256 chainId, address verifyingContract,,) = dvp.eip712Domain();
        assertEq(name, "bondledger DvPSettlement", "domain name");
        assertEq(version, "1", "domain version");
        assertEq(chainId, block.chainid, "domain chain id");
        assertEq(verifyingContract, address(dvp), "domain verifying contract");

        // Every field is covered: changing any one changes the id.
        bytes32 id = dvp.instructionId(ins);
        for (uint256 f = 0; f < 10; ++f) {
            DvPSettlement.Instruction memory changed = tweak(ins, f);
            assertTrue(dvp.instructionId(changed) != id, "a field is not covered by the id");
            assertEq(dvp.instructionId(changed), Typed.instructionDigest(changed, address(dvp)), "hand digest");
        }
    }

    function clone(DvPSettlement.Instruction memory ins) internal pure returns (DvPSettlement.Instruction memory) {
        return tweak(ins, type(uint256).max);
    }

    /// A copy of `ins` with field `f` changed (none if `f` > 9).
    function tweak(DvPSettlement.Instruction memory ins, uint256 f)
        internal
        pure
        returns (DvPSettlement.Instruction memory c)
    {
        c = DvPSettlement.Instruction(
            ins.seller,
            ins.buyer,
            ins.securityToken,
            ins.quantity,
            ins.cashToken,
            ins.cashAmount,
            ins.tradeDate,
            ins.settlementDate,
            ins.expiry,
            ins.nonce
        );
        if (f == 0) c.seller = address(uint160(c.seller) ^ 1);
        if (f == 1) c.buyer = address(uint160(c.buyer) ^ 1);
        if (f == 2) c.securityToken = address(uint160(c.securityToken) ^ 1);
        if (f == 3) c.quantity ^= 1;
        if (f == 4) c.cashToken = address(uint160(c.cashToken) ^ 1);
        if (f == 5) c.cashAmount ^= 1;
        if (f == 6) c.tradeDate ^= 1;
        if (f == 7) c.settlementDate ^= 1;
        if (f == 8) c.expiry ^= 1;
        if (f == 9) c.nonce ^= 1;
    }

    function test_signaturesAreBoundToTheChainAndToTheVenue() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 1);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        bytes32 id = dvp.instructionId(ins);

        // Another venue (listing the same bond and cash) computes another id: the signatures do not carry over.
        DvPSettlement other = new DvPSettlement(address(this));
        other.setListed(address(bond), true);
        other.setCashListed(address(hkd), true);
        bytes32 otherId = other.instructionId(ins);
        assertTrue(otherId != id, "ids differ across venues");
        vm.expectRevert(
            abi.encodeWithSelector(
                DvPSettlement.SettlementRefused.selector, otherId, Code.BAD_SELLER_SIGNATURE, uint8(0)
            )
        );
        other.settle(ins, sellerSig, buyerSig);

        // On a fork with another chain id, neither.
        uint256 home = block.chainid;
        vm.chainId(home + 1);
        bytes32 forkId = dvp.instructionId(ins);
        assertTrue(forkId != id, "ids differ across chains");
        assertEq(dvp.domainSeparator(), Typed.domainSeparator(address(dvp)), "domain follows the chain id");
        assertRefused(ins, sellerSig, buyerSig, Code.BAD_SELLER_SIGNATURE, 0);

        vm.chainId(home);
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(bond.balanceOf(buyer), BONDS + 1, "settles on its own chain and venue");
    }

    // ---------------------------------------------------------------- replay

    function test_aSettledInstructionCannotSettleAgain() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 10);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        dvp.settle(ins, sellerSig, buyerSig);
        assertRefused(ins, sellerSig, buyerSig, Code.NONCE_USED, 0);
        assertEq(bond.balanceOf(buyer), BONDS + 10, "delivered once");
        assertEq(hkd.balanceOf(buyer), CASH - 10 * PRICE, "paid once");
    }

    function test_aSignatureOverOneInstructionDoesNotValidateAnother() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 10);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);

        // A better price for the seller: neither signature covers it.
        DvPSettlement.Instruction memory repriced = clone(ins);
        repriced.cashAmount = 11 * PRICE;
        assertRefused(repriced, sellerSig, buyerSig, Code.BAD_SELLER_SIGNATURE, 0);
        // Even with the seller's signature over the new terms, the buyer never agreed to them.
        bytes memory sellerSigRepriced = sign(SELLER_KEY, dvp.instructionId(repriced));
        assertRefused(repriced, sellerSigRepriced, buyerSig, Code.BAD_BUYER_SIGNATURE, 0);

        // More bonds for the buyer, the other way round.
        DvPSettlement.Instruction memory bigger = clone(ins);
        bigger.quantity = 11;
        assertRefused(bigger, sellerSig, buyerSig, Code.BAD_SELLER_SIGNATURE, 0);
        assertRefused(bigger, sign(SELLER_KEY, dvp.instructionId(bigger)), buyerSig, Code.BAD_BUYER_SIGNATURE, 0);

        // Swapped, borrowed or malformed signatures.
        assertRefused(ins, buyerSig, sellerSig, Code.BAD_SELLER_SIGNATURE, 0);
        assertRefused(ins, sign(STRANGER_KEY, dvp.instructionId(ins)), buyerSig, Code.BAD_SELLER_SIGNATURE, 0);
        assertRefused(ins, sellerSig, sellerSig, Code.BAD_BUYER_SIGNATURE, 0);
        assertRefused(ins, sellerSig, "", Code.BAD_BUYER_SIGNATURE, 0);
        assertRefused(ins, hex"00112233", buyerSig, Code.BAD_SELLER_SIGNATURE, 0);

        // The original, as both signed it, still settles.
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(hkd.balanceOf(seller), CASH + 10 * PRICE, "settled on the signed terms");
    }

    // ---------------------------------------------------------------- expiry

    function test_anInstructionSettlesUntilButNotAtItsExpiry() public {
        DvPSettlement.Instruction memory early = trade(seller, buyer, 1);
        DvPSettlement.Instruction memory atExpiry = trade(seller, buyer, 2);
        DvPSettlement.Instruction memory late = trade(seller, buyer, 3);
        (bytes memory s1, bytes memory b1) = signBoth(early);

        vm.warp(early.expiry - 1);
        dvp.settle(early, s1, b1);
        assertEq(bond.balanceOf(buyer), BONDS + 1, "settled a second before expiry");

        vm.warp(atExpiry.expiry);
        assertRefused(atExpiry, Code.EXPIRED, 0);
        vm.warp(late.expiry + 365 days);
        assertRefused(late, Code.EXPIRED, 0);
    }

    // ---------------------------------------------------------------- the settlement date

    function test_anInstructionSettlesOnItsSettlementDateButNotBefore() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 8);
        ins.settlementDate += 2 days; // T+2
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);

        assertRefused(ins, sellerSig, buyerSig, Code.NOT_YET_DUE, 0);
        vm.warp(ins.settlementDate - 1);
        assertRefused(ins, sellerSig, buyerSig, Code.NOT_YET_DUE, 0);
        assertFalse(dvp.isNonceUsed(ins.nonce), "refusing it did not use the nonce");

        vm.warp(ins.settlementDate);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionSettled(
            dvp.instructionId(ins), seller, buyer, address(bond), 8, address(hkd), 8 * PRICE, ins.nonce
        );
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(bond.balanceOf(buyer), BONDS + 8, "the same signed instruction settled on the date");
        assertEq(hkd.balanceOf(seller), CASH + 8 * PRICE, "and was paid for");
        assertRefused(ins, sellerSig, buyerSig, Code.NONCE_USED, 0);
    }

    function test_aBatchTreatsANotYetDueInstructionLikeAnyRefusal() public {
        DvPSettlement.Instruction memory due = trade(seller, buyer, 4);
        DvPSettlement.Instruction memory early = trade(seller2, buyer2, 6);
        early.settlementDate += 1 days;
        DvPSettlement.Instruction[] memory l = list(due, early);
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);

        Predict.Books memory before = books();
        expectRefused(dvp.instructionId(early), Code.NOT_YET_DUE, 0);
        dvp.settleBatch(l, sellerSigs, buyerSigs, false);
        assertBooks(before, "all or nothing: nothing moved");

        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(early), Code.NOT_YET_DUE, 0);
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 1, "best effort: the due one settled");
        assertEq(bond.balanceOf(buyer2), BONDS, "the early one did not");
        assertFalse(dvp.isNonceUsed(early.nonce), "its nonce is free");

        vm.warp(early.settlementDate);
        expectRefused(dvp.instructionId(due), Code.NONCE_USED, 0);
        dvp.settleBatch(l, sellerSigs, buyerSigs, false);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(due), Code.NONCE_USED, 0);
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 1, "on its date the early one settles");
        assertEq(bond.balanceOf(buyer2), BONDS + 6, "delivered");
    }

    /// A settlement date at or after the expiry leaves no time at which it may settle: before the
    /// date it is not yet due, from the expiry on it is expired (which the venue checks first).
    function test_anInstructionDueOnlyAfterItsExpiryNeverSettles() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 1);
        ins.settlementDate = ins.expiry + 1 days;
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        assertRefused(ins, sellerSig, buyerSig, Code.NOT_YET_DUE, 0);
        vm.warp(ins.expiry - 1);
        assertRefused(ins, sellerSig, buyerSig, Code.NOT_YET_DUE, 0);
        vm.warp(ins.expiry);
        assertRefused(ins, sellerSig, buyerSig, Code.EXPIRED, 0);
        vm.warp(ins.settlementDate);
        assertRefused(ins, sellerSig, buyerSig, Code.EXPIRED, 0);
    }

    /// One instruction that fails every check from "not yet due" on, and a malformed copy: the
    /// venue reports the first in its documented order, and each next one as the earlier clear.
    function test_theVenuesChecksComeInTheDocumentedOrder() public {
        CashToken usd = new CashToken("USD", "Tokenized USD", address(this));
        usd.mint(buyer, 1_000_00);
        vm.prank(buyer);
        usd.approve(address(dvp), type(uint256).max);

        DvPSettlement.Instruction memory ins = trade(seller, buyer, 3);
        ins.cashToken = address(usd); // not listed
        ins.cashAmount = 3_00;
        ins.settlementDate += 2 days;
        bytes32 id = dvp.instructionId(ins);
        bytes memory strangers = sign(STRANGER_KEY, id);
        // Cancelled, and its nonce then settles another instruction.
        vm.prank(seller);
        dvp.cancel(ins);
        DvPSettlement.Instruction memory twin = trade(seller2, buyer2, 1);
        twin.nonce = ins.nonce;
        (bytes memory twinSellerSig, bytes memory twinBuyerSig) = signBoth(twin);
        dvp.settle(twin, twinSellerSig, twinBuyerSig);

        DvPSettlement.Instruction memory malformed = clone(ins);
        malformed.buyer = seller;
        assertRefused(malformed, strangers, strangers, Code.INVALID_INSTRUCTION, 0);
        assertRefused(ins, strangers, strangers, Code.NOT_YET_DUE, 0);
        vm.warp(ins.expiry);
        assertRefused(ins, strangers, strangers, Code.EXPIRED, 0);
        vm.warp(ins.settlementDate);
        assertRefused(ins, strangers, strangers, Code.NONCE_USED, 0);

        // The same terms under a fresh nonce: cancelled, then not cancelled (another fresh nonce).
        ins.nonce = ++lastNonce;
        vm.prank(buyer);
        dvp.cancel(ins);
        assertRefused(ins, strangers, strangers, Code.CANCELLED, 0);
        ins.nonce = ++lastNonce;
        assertRefused(ins, strangers, strangers, Code.TOKEN_NOT_LISTED, 0);
        dvp.setListed(address(usd), true); // as a security: it still may not pay
        assertRefused(ins, strangers, strangers, Code.TOKEN_NOT_LISTED, 0);
        dvp.setCashListed(address(usd), true);
        assertRefused(ins, strangers, strangers, Code.BAD_SELLER_SIGNATURE, 0);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        assertRefused(ins, sellerSig, strangers, Code.BAD_BUYER_SIGNATURE, 0);
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(usd.balanceOf(seller), 3_00, "with every check passed it settles");
    }

    // ---------------------------------------------------------------- the security leg

    function test_aRetailBuyerIsRefusedByTheBondsCategoryRule() public {
        assertRefused(trade(seller, retail, 1), Code.SECURITY_LEG_REFUSED, Code.CATEGORY_NOT_ALLOWED);
    }

    function test_anUnregisteredBuyerIsRefusedByTheBond() public {
        assertRefused(trade(seller, stranger, 1), Code.SECURITY_LEG_REFUSED, Code.RECEIVER_NOT_REGISTERED);
    }

    function test_aFrozenBuyerIsRefusedByTheBond() public {
        bond.setAddressFrozen(buyer, true);
        assertRefused(trade(seller, buyer, 1), Code.SECURITY_LEG_REFUSED, Code.RECEIVER_FROZEN);
    }

    function test_aBuyerWhoseKycExpiredIsRefusedByTheBond() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer2, 1);
        registry.setInvestor(investorIdOf[buyer2], "SG", PROFESSIONAL, uint40(block.timestamp + 1 days));
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        vm.warp(block.timestamp + 1 days); // the instruction has six more days; buyer2's KYC none
        assertRefused(ins, sellerSig, buyerSig, Code.SECURITY_LEG_REFUSED, Code.RECEIVER_KYC_EXPIRED);
    }

    function test_aBuyerInADisallowedJurisdictionIsRefusedByTheBond() public {
        bytes2[] memory sg = new bytes2[](1);
        sg[0] = "SG";
        bond.setJurisdictions(sg, false);
        assertRefused(trade(seller, buyer2, 1), Code.SECURITY_LEG_REFUSED, Code.JURISDICTION_NOT_ALLOWED);
    }

    function test_aFrozenSellerIsRefusedByTheBond() public {
        bond.setAddressFrozen(seller, true);
        assertRefused(trade(seller, buyer, 1), Code.SECURITY_LEG_REFUSED, Code.SENDER_FROZEN);
    }

    function test_aPausedBondSettlesNothing() public {
        bond.pause();
        assertRefused(trade(seller, buyer, 1), Code.SECURITY_LEG_REFUSED, Code.PAUSED);
    }

    function test_aSellerShortOfBondsIsRefusedWithInsufficientBalance() public {
        assertRefused(trade(seller, buyer, BONDS + 1), Code.SECURITY_LEG_REFUSED, Code.INSUFFICIENT_BALANCE);
        // A retail seller (registered, so it may send) holds none.
        assertRefused(trade(retail, buyer, 1), Code.SECURITY_LEG_REFUSED, Code.INSUFFICIENT_BALANCE);
    }

    // ---------------------------------------------------------------- the cash leg

    function test_aBuyerShortOfCashIsRefusedOnTheCashLeg() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 1);
        ins.cashAmount = CASH + 1;
        assertRefused(ins, Code.CASH_LEG_REFUSED, Code.INSUFFICIENT_BALANCE);
    }

    function test_aBuyerShortOfAllowanceIsRefusedOnTheCashLeg() public {
        vm.prank(buyer);
        hkd.approve(address(dvp), 10 * PRICE - 1);
        assertRefused(trade(seller, buyer, 10), Code.CASH_LEG_REFUSED, Code.INSUFFICIENT_ALLOWANCE);
        assertEq(hkd.allowance(buyer, address(dvp)), 10 * PRICE - 1, "the allowance is untouched");
    }

    /// The bonds had already moved when the cash leg failed: that is undone too.
    function test_aRefusedCashLegUndoesTheDeliveredBonds() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 7);
        ins.cashAmount = CASH + 1;
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        vm.recordLogs();
        vm.expectRevert(
            abi.encodeWithSelector(
                DvPSettlement.SettlementRefused.selector,
                dvp.instructionId(ins),
                Code.CASH_LEG_REFUSED,
                Code.INSUFFICIENT_BALANCE
            )
        );
        dvp.settle(ins, sellerSig, buyerSig);
        vm.getRecordedLogs();
        assertEq(bond.balanceOf(seller), BONDS, "the seller keeps the bonds");
        assertEq(bond.balanceOf(buyer), BONDS, "the buyer did not keep them");
    }

    /// A cash token must be listed as cash; one the admin listed that has no code, answers
    /// `false` or answers something shorter than a word fails the cash leg, with no token reason.
    function test_aCashTokenWithoutCodeOrAnsweringFalseFailsTheCashLeg() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 1);
        ins.cashToken = address(0xCA5);
        assertRefused(ins, Code.TOKEN_NOT_LISTED, 0);
        dvp.setCashListed(address(0xCA5), true);
        assertRefused(ins, Code.CASH_LEG_REFUSED, 0);

        bytes[3] memory answers = [abi.encode(false), bytes(hex"01"), abi.encodePacked(uint128(1))];
        for (uint256 i = 0; i < answers.length; ++i) {
            AnsweringToken token = new AnsweringToken(answers[i]);
            dvp.setCashListed(address(token), true);
            DvPSettlement.Instruction memory answered = trade(seller, buyer, 1);
            answered.cashToken = address(token);
            assertRefused(answered, Code.CASH_LEG_REFUSED, 0);
        }
    }

    /// The other side of the same rule: a listed token whose transferFrom succeeds answering
    /// nothing, or any non-zero word (OpenZeppelin's SafeERC20 wants exactly 1), is taken at its
    /// word: the bonds are delivered whether or not it moved any cash. Vetting it is the
    /// listing admin's job.
    function test_aListedCashTokenThatSucceedsIsTakenAtItsWord() public {
        bytes[2] memory answers = [bytes(""), abi.encode(uint256(2))];
        for (uint256 i = 0; i < answers.length; ++i) {
            AnsweringToken token = new AnsweringToken(answers[i]);
            dvp.setCashListed(address(token), true);
            DvPSettlement.Instruction memory ins = trade(seller, buyer, 1);
            ins.cashToken = address(token);
            (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
            dvp.settle(ins, sellerSig, buyerSig);
        }
        assertEq(bond.balanceOf(buyer), BONDS + 2, "delivered against whatever the token answered");
        assertEq(hkd.balanceOf(seller), CASH, "no HKD moved");
    }

    // ---------------------------------------------------------------- the venue's own refusals

    /// A security token must be listed as a security: another bond, or the venue's own bond once
    /// delisted, is refused, and so is either of them listed as cash only.
    function test_anUnlistedSecurityTokenIsRefused() public {
        BondToken other = deployBond(address(this));
        other.mint(seller, 10);
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 1);
        ins.securityToken = address(other);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        assertRefused(ins, sellerSig, buyerSig, Code.TOKEN_NOT_LISTED, 0);
        dvp.setCashListed(address(other), true); // the wrong list
        assertTrue(dvp.isCashListed(address(other)) && !dvp.isListed(address(other)), "listed as cash only");
        assertRefused(ins, sellerSig, buyerSig, Code.TOKEN_NOT_LISTED, 0);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.TokenListed(address(other), true);
        dvp.setListed(address(other), true);
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(other.balanceOf(buyer), 1, "listed as a security, it settles");

        DvPSettlement.Instruction memory inBond = trade(seller, buyer, 1);
        (sellerSig, buyerSig) = signBoth(inBond);
        dvp.setListed(address(bond), false);
        assertRefused(inBond, sellerSig, buyerSig, Code.TOKEN_NOT_LISTED, 0);
        dvp.setCashListed(address(bond), true);
        assertRefused(inBond, sellerSig, buyerSig, Code.TOKEN_NOT_LISTED, 0);
        dvp.setListed(address(bond), true);
        dvp.settle(inBond, sellerSig, buyerSig);
        assertEq(bond.balanceOf(buyer), BONDS + 1, "relisted as a security, the bond settles again");
    }

    function test_anUnlistedCashTokenIsRefused() public {
        CashToken usd = new CashToken("USD", "Tokenized USD", address(this));
        usd.mint(buyer, 1_000_00);
        vm.prank(buyer);
        usd.approve(address(dvp), type(uint256).max);
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 10);
        ins.cashToken = address(usd);
        ins.cashAmount = 1_00;
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        assertRefused(ins, sellerSig, buyerSig, Code.TOKEN_NOT_LISTED, 0);

        // Only the admin lists, on either list: not the parties, a stranger or a settlement agent.
        bytes32 adminRole = dvp.DEFAULT_ADMIN_ROLE();
        address agent = address(0xA6E);
        dvp.grantRole(dvp.SETTLEMENT_AGENT_ROLE(), agent);
        address[4] memory others = [seller, buyer, stranger, agent];
        for (uint256 i = 0; i < others.length; ++i) {
            vm.prank(others[i]);
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, others[i], adminRole)
            );
            dvp.setCashListed(address(usd), true);
            vm.prank(others[i]);
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, others[i], adminRole)
            );
            dvp.setListed(address(usd), true);
            vm.prank(others[i]);
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, others[i], adminRole)
            );
            dvp.setCashListed(address(hkd), false);
        }
        assertFalse(dvp.isCashListed(address(usd)) || dvp.isListed(address(usd)), "still unlisted");
        assertTrue(dvp.isCashListed(address(hkd)), "HKD still listed");
        assertRefused(ins, sellerSig, buyerSig, Code.TOKEN_NOT_LISTED, 0);

        // Listed as a security, it still may not pay: the lists are separate.
        vm.recordLogs();
        dvp.setListed(address(usd), true);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "one event");
        assertEq(logs[0].topics[0], DvPSettlement.TokenListed.selector, "TokenListed");
        assertTrue(dvp.isListed(address(usd)) && !dvp.isCashListed(address(usd)), "a security, not cash");
        assertRefused(ins, sellerSig, buyerSig, Code.TOKEN_NOT_LISTED, 0);
        dvp.setListed(address(usd), false);

        // Once the admin lists a second cash token, a trade may settle in it (the venue does not
        // tie the cash leg to the bond's own currency).
        vm.recordLogs();
        dvp.setCashListed(address(usd), true);
        logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "one event");
        assertEq(logs[0].emitter, address(dvp), "from the venue");
        assertEq(logs[0].topics[0], DvPSettlement.CashTokenListed.selector, "CashTokenListed, not TokenListed");
        assertEq(logs[0].topics[1], bytes32(uint256(uint160(address(usd)))), "the token");
        assertEq(abi.decode(logs[0].data, (bool)), true, "listed");
        assertTrue(dvp.isCashListed(address(usd)) && !dvp.isListed(address(usd)), "cash, not a security");
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(bond.balanceOf(buyer), BONDS + 10, "delivered");
        assertEq(usd.balanceOf(seller), 1_00, "paid in the newly listed USD");
        assertEq(bond.currency(), address(hkd), "though the bond is priced in HKD");

        // Delisting the venue's HKD as a security changes nothing (it never was one); delisting it
        // as cash stops HKD trades, listing it as a security instead does not restart them, and
        // relisting it as cash lets the same one settle.
        DvPSettlement.Instruction memory inHkd = trade(seller, buyer, 2);
        (sellerSig, buyerSig) = signBoth(inHkd);
        dvp.setListed(address(hkd), false);
        assertTrue(dvp.isCashListed(address(hkd)), "still cash");
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.CashTokenListed(address(hkd), false);
        dvp.setCashListed(address(hkd), false);
        assertRefused(inHkd, sellerSig, buyerSig, Code.TOKEN_NOT_LISTED, 0);
        dvp.setListed(address(hkd), true);
        assertRefused(inHkd, sellerSig, buyerSig, Code.TOKEN_NOT_LISTED, 0);
        dvp.setListed(address(hkd), false);
        dvp.setCashListed(address(hkd), true);
        dvp.settle(inHkd, sellerSig, buyerSig);
        assertEq(hkd.balanceOf(seller), CASH + 2 * PRICE, "settled in HKD again");
    }

    /// The lists are separate, so a cash token cannot be named as the security, nor the bond as
    /// cash. Only if the admin lists a cash token as a security as well does the venue try it,
    /// and then it has no settlementTransfer: the security leg fails with no token reason.
    function test_aCashTokenCannotBeNamedAsTheSecurityNorTheBondAsCash() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 1);
        ins.securityToken = address(hkd);
        assertRefused(ins, Code.TOKEN_NOT_LISTED, 0);
        DvPSettlement.Instruction memory paidInBonds = trade(seller, buyer, 1);
        paidInBonds.cashToken = address(bond);
        paidInBonds.cashAmount = 1;
        assertRefused(paidInBonds, Code.TOKEN_NOT_LISTED, 0);
        DvPSettlement.Instruction memory swapped = trade(seller, buyer, 1);
        (swapped.securityToken, swapped.cashToken) = (address(hkd), address(bond));
        assertRefused(swapped, Code.TOKEN_NOT_LISTED, 0);

        dvp.setListed(address(hkd), true); // the admin's deliberate act
        assertRefused(ins, Code.SECURITY_LEG_REFUSED, 0);
    }

    function test_aTradeWithOneselfOrOfNothingIsInvalid() public {
        assertRefused(trade(seller, seller, 1), Code.INVALID_INSTRUCTION, 0);
        assertRefused(trade(seller, buyer, 0), Code.INVALID_INSTRUCTION, 0);
    }

    // ---------------------------------------------------------------- a refusal is not final

    function test_aRefusedInstructionSettlesOnceTheAgentUnfreezesTheBuyer() public {
        bond.setAddressFrozen(buyer, true);
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 12);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        assertRefused(ins, sellerSig, buyerSig, Code.SECURITY_LEG_REFUSED, Code.RECEIVER_FROZEN);

        bond.setAddressFrozen(buyer, false);
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(bond.balanceOf(buyer), BONDS + 12, "the same signed instruction settled");
        assertTrue(dvp.isNonceUsed(ins.nonce), "now the nonce is used");
    }

    function test_aRefusedInstructionSettlesOnceTheBuyerTopsUpCashAndAllowance() public {
        vm.prank(buyer);
        hkd.approve(address(dvp), 0);
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 150); // more than CASH buys
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        assertRefused(ins, sellerSig, buyerSig, Code.CASH_LEG_REFUSED, Code.INSUFFICIENT_ALLOWANCE);
        vm.prank(buyer);
        hkd.approve(address(dvp), 150 * PRICE);
        assertRefused(ins, sellerSig, buyerSig, Code.CASH_LEG_REFUSED, Code.INSUFFICIENT_BALANCE);
        hkd.mint(buyer, 50 * PRICE);
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(hkd.balanceOf(buyer), 0, "spent it all");
        assertEq(hkd.allowance(buyer, address(dvp)), 0, "and the whole allowance");
    }

    // ---------------------------------------------------------------- batches

    function test_anAllOrNothingBatchWithOneBadInstructionMovesNothing() public {
        bond.setAddressFrozen(buyer2, true);
        DvPSettlement.Instruction memory bad = trade(seller2, buyer2, 5);
        DvPSettlement.Instruction[] memory l = list(trade(seller, buyer, 10), bad, trade(seller2, buyer, 20));
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);
        Predict.Books memory before = books();

        expectRefused(dvp.instructionId(bad), Code.SECURITY_LEG_REFUSED, Code.RECEIVER_FROZEN);
        dvp.settleBatch(l, sellerSigs, buyerSigs, false);

        assertBooks(before, "nothing of the batch moved");
        for (uint256 i = 0; i < l.length; ++i) {
            assertFalse(dvp.isNonceUsed(l[i].nonce), "no nonce used");
        }

        // Without the bad one, the rest settles.
        bond.setAddressFrozen(buyer2, false);
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, false), 3, "all three settle once the buyer is free");
    }

    function test_aBestEffortBatchSettlesTheGoodAndReportsTheBad() public {
        bond.setAddressFrozen(buyer2, true);
        DvPSettlement.Instruction memory good1 = trade(seller, buyer, 10);
        DvPSettlement.Instruction memory bad = trade(seller2, buyer2, 5);
        DvPSettlement.Instruction memory good2 = trade(seller2, buyer, 20);
        DvPSettlement.Instruction[] memory l = list(good1, bad, good2);
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);

        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionSettled(
            dvp.instructionId(good1), seller, buyer, address(bond), 10, address(hkd), 10 * PRICE, good1.nonce
        );
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(bad), Code.SECURITY_LEG_REFUSED, Code.RECEIVER_FROZEN);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionSettled(
            dvp.instructionId(good2), seller2, buyer, address(bond), 20, address(hkd), 20 * PRICE, good2.nonce
        );
        uint256 settled = dvp.settleBatch(l, sellerSigs, buyerSigs, true);

        assertEq(settled, 2, "two settled");
        assertEq(bond.balanceOf(buyer), BONDS + 30, "buyer got both good lots");
        assertEq(hkd.balanceOf(buyer), CASH - 30 * PRICE, "and paid for both");
        assertEq(bond.balanceOf(seller2), BONDS - 20, "seller2 delivered only the good lot");
        assertEq(bond.balanceOf(buyer2), BONDS, "the bad one moved no bonds");
        assertEq(hkd.balanceOf(buyer2), CASH, "the bad one moved no cash");
        assertTrue(dvp.isNonceUsed(good1.nonce) && dvp.isNonceUsed(good2.nonce), "the good nonces are used");
        assertFalse(dvp.isNonceUsed(bad.nonce), "the bad nonce is not");
        assertEq(hkd.balanceOf(address(dvp)) + bond.balanceOf(address(dvp)), 0, "the venue holds nothing");
    }

    function test_aBestEffortBatchReportsAnInstructionListedTwiceAsUsed() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 10);
        DvPSettlement.Instruction[] memory l = list(ins, ins);
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(ins), Code.NONCE_USED, 0);
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 1, "one settled");
        assertEq(bond.balanceOf(buyer), BONDS + 10, "delivered once");

        // All or nothing, the duplicate refuses the lot.
        DvPSettlement.Instruction memory again = trade(seller, buyer, 10);
        l = list(again, again);
        (sellerSigs, buyerSigs) = signAll(l);
        expectRefused(dvp.instructionId(again), Code.NONCE_USED, 0);
        dvp.settleBatch(l, sellerSigs, buyerSigs, false);
        assertFalse(dvp.isNonceUsed(again.nonce), "not even the first copy settled");
    }

    function test_aBatchWithMismatchedArraysIsRefused() public {
        DvPSettlement.Instruction[] memory l = list(trade(seller, buyer, 1), trade(seller2, buyer2, 1));
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);
        bytes[] memory one = new bytes[](1);
        one[0] = sellerSigs[0];
        vm.expectRevert(DvPSettlement.LengthMismatch.selector);
        dvp.settleBatch(l, one, buyerSigs, true);
        vm.expectRevert(DvPSettlement.LengthMismatch.selector);
        dvp.settleBatch(l, sellerSigs, one, false);
        vm.expectRevert(DvPSettlement.LengthMismatch.selector);
        dvp.settleBatch(new DvPSettlement.Instruction[](1), sellerSigs, buyerSigs, true);
    }

    function test_anEmptyBatchSettlesNothing() public {
        Predict.Books memory before = books();
        assertEq(dvp.settleBatch(new DvPSettlement.Instruction[](0), new bytes[](0), new bytes[](0), true), 0, "none");
        assertEq(dvp.settleBatch(new DvPSettlement.Instruction[](0), new bytes[](0), new bytes[](0), false), 0, "none");
        assertBooks(before, "nothing moved");
    }

    // ---------------------------------------------------------------- cancelling

    function test_theSellerOrTheBuyerCanCancelAndThenItCannotSettle() public {
        for (uint256 p = 0; p < 2; ++p) {
            DvPSettlement.Instruction memory ins = trade(seller, buyer, 5);
            bytes32 id = dvp.instructionId(ins);
            (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
            (address party, address other) = p == 0 ? (seller, buyer) : (buyer, seller);
            assertFalse(dvp.isCancelled(id), "open");
            vm.expectEmit(true, true, true, true, address(dvp));
            emit DvPSettlement.InstructionCancelled(id, party, ins.nonce);
            vm.prank(party);
            dvp.cancel(ins);
            assertTrue(dvp.isCancelled(id), "cancelled");
            assertFalse(dvp.isNonceUsed(ins.nonce), "cancelling does not use the nonce");
            assertRefused(ins, sellerSig, buyerSig, Code.CANCELLED, 0);

            // A second cancellation, by either party, directly or by signature, is refused.
            vm.prank(party);
            vm.expectRevert(abi.encodeWithSelector(DvPSettlement.AlreadyCancelled.selector, id));
            dvp.cancel(ins);
            vm.prank(other);
            vm.expectRevert(abi.encodeWithSelector(DvPSettlement.AlreadyCancelled.selector, id));
            dvp.cancel(ins);
            bytes memory sig = sign(keyOf[other], Typed.cancelDigest(id, address(dvp)));
            vm.expectRevert(abi.encodeWithSelector(DvPSettlement.AlreadyCancelled.selector, id));
            dvp.cancelBySig(ins, other, sig);
        }
        assertEq(bond.balanceOf(buyer), BONDS, "neither settled");
    }

    function test_aCancelledInstructionIsRefusedInBatchesToo() public {
        DvPSettlement.Instruction memory good = trade(seller2, buyer2, 2);
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 5);
        vm.prank(buyer);
        dvp.cancel(ins);
        DvPSettlement.Instruction[] memory l = list(good, ins);
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);
        expectRefused(dvp.instructionId(ins), Code.CANCELLED, 0);
        dvp.settleBatch(l, sellerSigs, buyerSigs, false);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(ins), Code.CANCELLED, 0);
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 1, "only the good one");
        assertEq(bond.balanceOf(buyer), BONDS, "the cancelled one moved nothing");
    }

    /// A cancellation voids an id, not a nonce: the agent may reuse a cancelled instruction's
    /// nonce for a corrected instruction. Once that settles, the nonce is used, which the venue
    /// reports ahead of the cancellation, and the cancelled one can no longer be cancelled.
    function test_aCancelledInstructionsNonceMayCarryAReplacement() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 5);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        vm.prank(seller);
        dvp.cancel(ins);

        DvPSettlement.Instruction memory corrected = clone(ins);
        corrected.cashAmount = 5 * PRICE - 1_00;
        (bytes memory sellerSig2, bytes memory buyerSig2) = signBoth(corrected);
        dvp.settle(corrected, sellerSig2, buyerSig2);
        assertEq(hkd.balanceOf(seller), CASH + 5 * PRICE - 1_00, "the correction settled");
        assertTrue(dvp.isNonceUsed(ins.nonce), "the shared nonce is used");

        assertRefused(ins, sellerSig, buyerSig, Code.NONCE_USED, 0);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(DvPSettlement.NonceUsed.selector, ins.nonce));
        dvp.cancel(ins);
    }

    function test_aNotYetDueInstructionCanBeCancelledAndThenNeverSettles() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 5);
        ins.settlementDate += 2 days;
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        vm.prank(buyer);
        dvp.cancel(ins);
        assertRefused(ins, sellerSig, buyerSig, Code.NOT_YET_DUE, 0);
        vm.warp(ins.settlementDate);
        assertRefused(ins, sellerSig, buyerSig, Code.CANCELLED, 0);
    }

    function test_aStrangerCannotCancelSomeoneElsesInstruction() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 5);
        bytes32 id = dvp.instructionId(ins);
        address[3] memory outsiders = [stranger, seller2, address(this)];
        for (uint256 i = 0; i < outsiders.length; ++i) {
            vm.prank(outsiders[i]);
            vm.expectRevert(abi.encodeWithSelector(DvPSettlement.NotAParty.selector, outsiders[i], id));
            dvp.cancel(ins);
        }
        assertFalse(dvp.isCancelled(id), "still open");
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(bond.balanceOf(buyer), BONDS + 5, "it settles");
    }

    function test_anyoneMaySubmitAPartysSignedCancellation() public {
        for (uint256 p = 0; p < 2; ++p) {
            DvPSettlement.Instruction memory ins = trade(seller, buyer, 5);
            bytes32 id = dvp.instructionId(ins);
            (address party, uint256 key) = p == 0 ? (seller, SELLER_KEY) : (buyer, BUYER_KEY);
            bytes memory sig = sign(key, Typed.cancelDigest(id, address(dvp)));
            vm.expectEmit(true, true, true, true, address(dvp));
            emit DvPSettlement.InstructionCancelled(id, party, ins.nonce);
            vm.prank(stranger);
            dvp.cancelBySig(ins, party, sig);
            assertTrue(dvp.isCancelled(id), "cancelled");
            assertRefused(ins, Code.CANCELLED, 0);
            // The signed cancellation cannot be replayed.
            vm.expectRevert(abi.encodeWithSelector(DvPSettlement.AlreadyCancelled.selector, id));
            dvp.cancelBySig(ins, party, sig);
        }
    }

    function test_aBadCancelSignatureIsRefused() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 5);
        bytes32 id = dvp.instructionId(ins);
        bytes32 cancelDigest = Typed.cancelDigest(id, address(dvp));
        bytes[5] memory bad = [
            sign(BUYER_KEY, cancelDigest), // the other party's key
            sign(STRANGER_KEY, cancelDigest), // nobody's
            sign(SELLER_KEY, id), // the seller's key over the instruction, not over Cancel
            sign(SELLER_KEY, Typed.cancelDigest(dvp.instructionId(trade(seller, buyer, 5)), address(dvp))), // another id
            bytes(hex"0badc0de")
        ];
        for (uint256 i = 0; i < bad.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(DvPSettlement.BadCancelSignature.selector, seller, id));
            dvp.cancelBySig(ins, seller, bad[i]);
        }
        // Naming someone who is not a party fails before any signature is looked at.
        vm.expectRevert(abi.encodeWithSelector(DvPSettlement.NotAParty.selector, stranger, id));
        dvp.cancelBySig(ins, stranger, sign(STRANGER_KEY, cancelDigest));
        assertFalse(dvp.isCancelled(id), "still open");

        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(bond.balanceOf(buyer), BONDS + 5, "it settles");
    }

    function test_aSettledInstructionCannotBeCancelled() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 5);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        dvp.settle(ins, sellerSig, buyerSig);
        vm.prank(seller);
        vm.expectRevert(abi.encodeWithSelector(DvPSettlement.NonceUsed.selector, ins.nonce));
        dvp.cancel(ins);
        bytes memory sig = sign(BUYER_KEY, Typed.cancelDigest(dvp.instructionId(ins), address(dvp)));
        vm.expectRevert(abi.encodeWithSelector(DvPSettlement.NonceUsed.selector, ins.nonce));
        dvp.cancelBySig(ins, buyer, sig);
        bytes32 id = dvp.instructionId(ins);
        assertFalse(dvp.isCancelled(id), "not cancelled");
        // A non-party is refused as such even after settlement (the party check comes first).
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(DvPSettlement.NotAParty.selector, stranger, id));
        dvp.cancel(ins);
    }

    // ---------------------------------------------------------------- who may call

    function test_onlyASettlementAgentMaySettle() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 5);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        bytes32 role = dvp.SETTLEMENT_AGENT_ROLE();
        address[3] memory callers = [seller, buyer, stranger];
        for (uint256 i = 0; i < callers.length; ++i) {
            vm.prank(callers[i]);
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, callers[i], role)
            );
            dvp.settle(ins, sellerSig, buyerSig);
        }
        DvPSettlement.Instruction[] memory l = list(ins, trade(seller2, buyer2, 1));
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role)
        );
        dvp.settleBatch(l, sellerSigs, buyerSigs, true);
        assertFalse(dvp.isNonceUsed(ins.nonce), "nothing settled");
    }

    function test_theLegsRunOnlyAsTheVenuesSelfCall() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 5);
        bytes32 id = dvp.instructionId(ins);
        address[3] memory callers = [address(this), stranger, seller];
        for (uint256 i = 0; i < callers.length; ++i) {
            vm.prank(callers[i]);
            vm.expectRevert(DvPSettlement.OnlySelf.selector);
            dvp.executeLegs(id, ins);
        }
        assertEq(bond.balanceOf(buyer), BONDS, "nothing moved");
        assertFalse(dvp.isNonceUsed(ins.nonce), "no nonce used");
    }

    // ---------------------------------------------------------------- hostile parties and tokens

    /// Nonces are one venue-wide namespace and anyone may cancel an instruction of their own
    /// making, but a cancellation voids that instruction's id only: cancelling a fake that reuses
    /// a pending instruction's nonce leaves the pending one to settle.
    function test_aStrangerCannotVoidAnotherInstructionByCancellingOneOfTheirOwn() public {
        DvPSettlement.Instruction memory victim = trade(seller, buyer, 10);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(victim);

        DvPSettlement.Instruction memory fake = trade(stranger, address(0xdead), 1);
        fake.nonce = victim.nonce;
        vm.prank(stranger);
        dvp.cancel(fake);
        assertTrue(dvp.isCancelled(dvp.instructionId(fake)), "the stranger cancelled their own instruction");
        assertFalse(dvp.isCancelled(dvp.instructionId(victim)), "not the victims'");
        assertFalse(dvp.isNonceUsed(victim.nonce), "whose nonce is free");

        // The same by signature, submitted by anyone, against the next instruction they sign.
        DvPSettlement.Instruction memory next = trade(seller, buyer, 20);
        DvPSettlement.Instruction memory fake2 = trade(stranger, address(0xdead), 1);
        fake2.nonce = next.nonce;
        bytes memory cancelSig = sign(STRANGER_KEY, Typed.cancelDigest(dvp.instructionId(fake2), address(dvp)));
        dvp.cancelBySig(fake2, stranger, cancelSig);
        assertFalse(dvp.isCancelled(dvp.instructionId(next)), "the next one is not cancelled either");

        // Nor can a stranger cancel the victims' own instruction.
        bytes32 victimId = dvp.instructionId(victim);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(DvPSettlement.NotAParty.selector, stranger, victimId));
        dvp.cancel(victim);

        dvp.settle(victim, sellerSig, buyerSig);
        (bytes memory nextSellerSig, bytes memory nextBuyerSig) = signBoth(next);
        dvp.settle(next, nextSellerSig, nextBuyerSig);
        assertEq(bond.balanceOf(buyer), BONDS + 30, "both trades settled");
        assertEq(hkd.balanceOf(seller), CASH + 30 * PRICE, "and were paid");
        // Now the fakes' nonces are used: they cannot even be cancelled again.
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(DvPSettlement.NonceUsed.selector, fake.nonce));
        dvp.cancel(fake);
    }

    /// Even once listed as cash, a cash token cannot make a best-effort batch revert or pose as
    /// the security leg: its revert data are kept to 256 bytes and read only if they match a known
    /// error exactly; TransferRestricted (clean or dirty) is believed from the security leg only.
    function test_aHostileListedCashTokenCannotBreakABestEffortBatch() public {
        // A bare TransferRestricted selector (which the venue once decoded, and reverted on).
        HostileToken hostile = new HostileToken(abi.encodePacked(ISecurityToken.TransferRestricted.selector), 0);
        dvp.setCashListed(address(hostile), true);
        DvPSettlement.Instruction memory good1 = trade(seller, buyer, 10);
        DvPSettlement.Instruction memory poisoned = trade(seller2, buyer2, 1);
        poisoned.cashToken = address(hostile);
        DvPSettlement.Instruction memory good2 = trade(seller2, buyer, 20);
        DvPSettlement.Instruction[] memory l = list(good1, poisoned, good2);
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);

        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionSettled(
            dvp.instructionId(good1), seller, buyer, address(bond), 10, address(hkd), 10 * PRICE, good1.nonce
        );
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(poisoned), Code.CASH_LEG_REFUSED, 0);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionSettled(
            dvp.instructionId(good2), seller2, buyer, address(bond), 20, address(hkd), 20 * PRICE, good2.nonce
        );
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 2, "the good ones settled");
        assertEq(bond.balanceOf(buyer), BONDS + 30, "the buyer got both good lots");
        assertEq(bond.balanceOf(seller2), BONDS - 20, "the poisoned lot's bonds went back");
        assertEq(bond.balanceOf(buyer2), BONDS, "and never reached its buyer");
        assertFalse(dvp.isNonceUsed(poisoned.nonce), "the poisoned nonce is free");
        // Alone, it is refused properly, and nothing of it moves.
        assertRefused(poisoned, sellerSigs[1], buyerSigs[1], Code.CASH_LEG_REFUSED, 0);

        // Well-formed revert data from the cash leg, claiming to be the security token's refusal,
        // or forging the venue's own LegFailed for the security leg: still the cash leg, no reason.
        bytes memory restricted = abi.encodeWithSelector(
            ISecurityToken.TransferRestricted.selector, buyer2, seller2, uint256(1), Code.RECEIVER_FROZEN
        );
        bytes[4] memory lies = [
            restricted,
            abi.encodeWithSelector(DvPSettlement.LegFailed.selector, uint8(1), restricted),
            abi.encodeWithSelector(DvPSettlement.SettlementRefused.selector, bytes32(0), uint8(6), uint8(7)),
            abi.encodeWithSelector(
                ISecurityToken.TransferRestricted.selector, type(uint256).max, type(uint256).max, 1, Code.PAUSED
            )
        ];
        for (uint256 i = 0; i < lies.length; ++i) {
            HostileToken liar = new HostileToken(lies[i], 0);
            dvp.setCashListed(address(liar), true);
            DvPSettlement.Instruction memory ins = trade(seller2, buyer2, 1);
            ins.cashToken = address(liar);
            assertRefused(ins, Code.CASH_LEG_REFUSED, 0);
        }
        assertFalse(bond.isFrozen(buyer2), "nobody is frozen");

        // The two ERC-20 errors are believed from the cash leg, if exactly well-formed.
        bytes memory short = abi.encodeWithSignature("ERC20InsufficientBalance(address,uint256,uint256)", buyer2, 0, 1);
        bytes memory noAllowance =
            abi.encodeWithSignature("ERC20InsufficientAllowance(address,uint256,uint256)", address(dvp), 0, 1);
        bytes[3] memory errs = [short, noAllowance, bytes.concat(short, hex"00")];
        uint8[3] memory expected = [Code.INSUFFICIENT_BALANCE, Code.INSUFFICIENT_ALLOWANCE, 0];
        for (uint256 i = 0; i < errs.length; ++i) {
            HostileToken token = new HostileToken(errs[i], 0);
            dvp.setCashListed(address(token), true);
            DvPSettlement.Instruction memory ins = trade(seller2, buyer2, 1);
            ins.cashToken = address(token);
            assertRefused(ins, Code.CASH_LEG_REFUSED, expected[i]);
        }

        // A 100 KB revert reason (a TransferRestricted, then zeros): cut, and skipped like the rest.
        HostileToken huge = new HostileToken(restricted, 100_000);
        dvp.setCashListed(address(huge), true);
        DvPSettlement.Instruction memory bloated = trade(seller2, buyer2, 1);
        bloated.cashToken = address(huge);
        l = list(trade(seller, buyer2, 1), bloated, trade(seller2, buyer, 1));
        (sellerSigs, buyerSigs) = signAll(l);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(bloated), Code.CASH_LEG_REFUSED, 0);
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 2, "the batch around it settled");
        assertEq(hkd.balanceOf(address(dvp)) + bond.balanceOf(address(dvp)), 0, "the venue holds nothing");
    }

    /// A token that burns all its gas fails its leg like any refusal, and cheaply: a leg's call
    /// gets 300,000 gas at most, so a settle given a million gas is refused properly.
    function test_aListedTokenThatBurnsItsGasFailsItsLegWithinBoundedGas() public {
        GasBurner burner = new GasBurner();
        dvp.setCashListed(address(burner), true);
        dvp.setListed(address(burner), true);
        DvPSettlement.Instruction memory asCash = trade(seller, buyer, 1);
        asCash.cashToken = address(burner);
        DvPSettlement.Instruction memory asSecurity = trade(seller, buyer, 1);
        asSecurity.securityToken = address(burner);
        DvPSettlement.Instruction[2] memory cases = [asCash, asSecurity];
        uint8[2] memory reasons = [Code.CASH_LEG_REFUSED, Code.SECURITY_LEG_REFUSED];
        for (uint256 i = 0; i < cases.length; ++i) {
            (bytes memory sellerSig, bytes memory buyerSig) = signBoth(cases[i]);
            uint256 gasBefore = gasleft();
            (bool ok, bytes memory ret) =
                address(dvp).call{gas: 1_000_000}(abi.encodeCall(DvPSettlement.settle, (cases[i], sellerSig, buyerSig)));
            assertLe(gasBefore - gasleft(), 500_000, "the burner got a leg's gas, not the call's");
            assertFalse(ok, "refused");
            assertEq(
                keccak256(ret),
                keccak256(
                    abi.encodeWithSelector(
                        DvPSettlement.SettlementRefused.selector, dvp.instructionId(cases[i]), reasons[i], uint8(0)
                    )
                ),
                "as a failure of the burner's leg"
            );
        }
        assertEq(bond.balanceOf(buyer), BONDS, "nothing delivered");
    }

    /// The bounds are generous for an honest token: a cash token that needs 250,000 gas for its
    /// transferFrom settles; one that needs 350,000 fails the cash leg.
    function test_aLegGetsAboutThreeHundredThousandGas() public {
        SlowAnswer enough = new SlowAnswer(250_000, abi.encode(true));
        SlowAnswer tooSlow = new SlowAnswer(350_000, abi.encode(true));
        dvp.setCashListed(address(enough), true);
        dvp.setCashListed(address(tooSlow), true);
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 1);
        ins.cashToken = address(tooSlow);
        assertRefused(ins, Code.CASH_LEG_REFUSED, 0);
        ins = trade(seller, buyer, 1);
        ins.cashToken = address(enough);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(bond.balanceOf(buyer), BONDS + 1, "settled against the slow but honest token");
    }

    /// Listing is two lists, so a token the admin listed as cash (here one that refuses every
    /// call with a TransferRestricted whose address words are dirty, which abi.decode would revert
    /// on) cannot be named as the security: TOKEN_NOT_LISTED, and the batch around it settles.
    /// Even a security token the admin listed that refuses so cannot revert a best-effort batch:
    /// the venue reads only the reason word (the token's own word, as from any listed security;
    /// one that does not fit a reason code is no reason).
    function test_aHostileTokenNamedAsTheSecurityCannotRevertABestEffortBatch() public {
        HostileToken dirty = new HostileToken(
            abi.encodeWithSelector(
                ISecurityToken.TransferRestricted.selector, uint256(1) << 160, buyer2, uint256(1), Code.PAUSED
            ),
            0
        );
        dvp.setCashListed(address(dirty), true);
        DvPSettlement.Instruction memory good = trade(seller, buyer, 10);
        DvPSettlement.Instruction memory poisoned = trade(seller2, buyer2, 1);
        poisoned.securityToken = address(dirty);
        DvPSettlement.Instruction[] memory l = list(good, poisoned);
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);
        assertRefused(poisoned, sellerSigs[1], buyerSigs[1], Code.TOKEN_NOT_LISTED, 0);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(poisoned), Code.TOKEN_NOT_LISTED, 0);
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 1, "the good one settled");
        assertEq(bond.balanceOf(buyer), BONDS + 10, "delivered");

        // Listed as a security too: its refusal is the security leg's, with the reason word.
        dvp.setListed(address(dirty), true);
        DvPSettlement.Instruction memory good1 = trade(seller, buyer, 10);
        poisoned = trade(seller2, buyer2, 1);
        poisoned.securityToken = address(dirty);
        DvPSettlement.Instruction memory good2 = trade(seller2, buyer, 20);
        l = list(good1, poisoned, good2);
        (sellerSigs, buyerSigs) = signAll(l);
        Predict.Books memory expected = books();
        Predict.move(expected, good1);
        Predict.move(expected, good2);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionSettled(
            dvp.instructionId(good1), seller, buyer, address(bond), 10, address(hkd), 10 * PRICE, good1.nonce
        );
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(poisoned), Code.SECURITY_LEG_REFUSED, Code.PAUSED);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionSettled(
            dvp.instructionId(good2), seller2, buyer, address(bond), 20, address(hkd), 20 * PRICE, good2.nonce
        );
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 2, "the good ones settled");
        assertBooks(expected, "exactly the good ones moved");
        assertFalse(dvp.isNonceUsed(poisoned.nonce), "the poisoned nonce is free");
        assertRefused(poisoned, sellerSigs[1], buyerSigs[1], Code.SECURITY_LEG_REFUSED, Code.PAUSED);
        l = list(trade(seller, buyer, 1), poisoned);
        (sellerSigs, buyerSigs) = signAll(l);
        expectRefused(dvp.instructionId(poisoned), Code.SECURITY_LEG_REFUSED, Code.PAUSED);
        dvp.settleBatch(l, sellerSigs, buyerSigs, false);
        assertFalse(bond.paused(), "though no bond is paused");

        // Every word dirty, and reason words that do or do not fit a reason code; a TransferRestricted
        // a byte too short or too long is not one.
        bytes memory allDirty = abi.encodeWithSelector(
            ISecurityToken.TransferRestricted.selector, type(uint256).max, type(uint256).max, type(uint256).max, 7
        );
        bytes[6] memory replies = [
            allDirty,
            abi.encodeWithSelector(ISecurityToken.TransferRestricted.selector, seller2, buyer2, 1, 255),
            abi.encodeWithSelector(ISecurityToken.TransferRestricted.selector, seller2, buyer2, 1, 256),
            abi.encodeWithSelector(ISecurityToken.TransferRestricted.selector, seller2, buyer2, 1, type(uint256).max),
            bytes.concat(allDirty, hex"00"),
            abi.encodePacked(
                ISecurityToken.TransferRestricted.selector, type(uint256).max, type(uint256).max, uint256(1), uint248(7)
            )
        ];
        uint8[6] memory tokenReasons = [7, 255, 0, 0, 0, 0];
        for (uint256 i = 0; i < replies.length; ++i) {
            HostileToken hostile = new HostileToken(replies[i], 0);
            dvp.setListed(address(hostile), true);
            DvPSettlement.Instruction memory bad = trade(seller2, buyer2, 1);
            bad.securityToken = address(hostile);
            DvPSettlement.Instruction memory fine = trade(seller, buyer2, 1);
            l = list(bad, fine);
            (sellerSigs, buyerSigs) = signAll(l);
            vm.expectEmit(true, true, true, true, address(dvp));
            emit DvPSettlement.SettlementFailed(dvp.instructionId(bad), Code.SECURITY_LEG_REFUSED, tokenReasons[i]);
            assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 1, "the batch around it settled");
            assertRefused(bad, sellerSigs[0], buyerSigs[0], Code.SECURITY_LEG_REFUSED, tokenReasons[i]);
        }
        assertEq(bond.balanceOf(buyer2), BONDS + replies.length, "every fine one settled");
        assertEq(hkd.balanceOf(address(dvp)) + bond.balanceOf(address(dvp)), 0, "the venue holds nothing");
    }

    // ---------------------------------------------------------------- contract parties (ERC-1271)

    uint256 internal constant WALLET_OWNER_KEY = 0x0A11E7;

    /// A registered HK institutional contract wallet owned by WALLET_OWNER_KEY, holding bonds and
    /// cash, which has approved the venue.
    function contractWallet() internal returns (OwnedWallet wallet) {
        wallet = new OwnedWallet(vm.addr(WALLET_OWNER_KEY));
        register(address(wallet), "wallet", "HK", INSTITUTIONAL);
        bond.mint(address(wallet), BONDS);
        hkd.mint(address(wallet), CASH);
        vm.prank(address(wallet));
        hkd.approve(address(dvp), type(uint256).max);
    }

    /// A contract wallet is a party like any other: its owner's key signs, the venue asks the
    /// wallet (ERC-1271), and the instruction settles, with the wallet selling or buying, singly
    /// or in a batch with EOAs. A signature by any other key is refused as that party's.
    function test_anHonestContractWalletCanBeAPartyAndSettles() public {
        OwnedWallet wallet = contractWallet();
        assertEq(bytes32(IERC1271.isValidSignature.selector), bytes32(bytes4(0x1626ba7e)), "the magic value");

        DvPSettlement.Instruction memory sale = trade(address(wallet), buyer, 10);
        bytes32 saleId = dvp.instructionId(sale);
        bytes memory walletSig = sign(WALLET_OWNER_KEY, saleId);
        bytes memory buyerSig = sign(BUYER_KEY, saleId);
        assertRefused(sale, sign(STRANGER_KEY, saleId), buyerSig, Code.BAD_SELLER_SIGNATURE, 0);
        assertRefused(sale, sign(SELLER_KEY, saleId), buyerSig, Code.BAD_SELLER_SIGNATURE, 0);
        assertRefused(sale, "", buyerSig, Code.BAD_SELLER_SIGNATURE, 0);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionSettled(
            saleId, address(wallet), buyer, address(bond), 10, address(hkd), 10 * PRICE, sale.nonce
        );
        dvp.settle(sale, walletSig, buyerSig);
        assertEq(bond.balanceOf(address(wallet)), BONDS - 10, "the wallet delivered");
        assertEq(hkd.balanceOf(address(wallet)), CASH + 10 * PRICE, "and was paid");
        assertRefused(sale, walletSig, buyerSig, Code.NONCE_USED, 0);

        // Buying, in a best-effort batch next to an EOA trade, and next to one with a bad wallet signature.
        DvPSettlement.Instruction memory purchase = trade(seller2, address(wallet), 4);
        DvPSettlement.Instruction memory forged = trade(seller, address(wallet), 1);
        DvPSettlement.Instruction[] memory l = list(trade(seller, buyer2, 2), purchase, forged);
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAllAllowingContracts(l);
        buyerSigs[1] = sign(WALLET_OWNER_KEY, dvp.instructionId(purchase));
        buyerSigs[2] = sign(BUYER_KEY, dvp.instructionId(forged));
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(forged), Code.BAD_BUYER_SIGNATURE, 0);
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 2, "the EOA trade and the wallet's purchase");
        assertEq(bond.balanceOf(address(wallet)), BONDS - 10 + 4, "the wallet received");
        assertEq(hkd.balanceOf(address(wallet)), CASH + 10 * PRICE - 4 * PRICE, "and paid");
    }

    /// A contract wallet cancels by signature like a key holder (the venue asks the wallet), and
    /// a cancellation signed by another key is refused.
    function test_aContractWalletCancelsBySignature() public {
        OwnedWallet wallet = contractWallet();
        DvPSettlement.Instruction memory ins = trade(address(wallet), buyer, 3);
        bytes32 id = dvp.instructionId(ins);
        bytes32 digest = Typed.cancelDigest(id, address(dvp));
        vm.expectRevert(abi.encodeWithSelector(DvPSettlement.BadCancelSignature.selector, address(wallet), id));
        dvp.cancelBySig(ins, address(wallet), sign(STRANGER_KEY, digest));
        vm.expectRevert(abi.encodeWithSelector(DvPSettlement.BadCancelSignature.selector, address(wallet), id));
        dvp.cancelBySig(ins, address(wallet), sign(WALLET_OWNER_KEY, id)); // the instruction, not Cancel
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionCancelled(id, address(wallet), ins.nonce);
        vm.prank(stranger);
        dvp.cancelBySig(ins, address(wallet), sign(WALLET_OWNER_KEY, digest));
        assertRefused(ins, sign(WALLET_OWNER_KEY, id), sign(BUYER_KEY, id), Code.CANCELLED, 0);
    }

    /// Only the exact magic value, as a well-formed bytes4 answer of a call that did not revert,
    /// vouches for a signature. Here the wallet is unregistered and holds nothing, so an accepted
    /// signature shows as the bond's refusal of the seller rather than as a bad signature.
    function test_aContractPartyAnsweringAWrongMagicValueIsRefused() public {
        bytes[8] memory wrong = [
            abi.encode(bytes4(0xffffffff)),
            abi.encode(bytes4(0x1626ba7f)), // one bit off
            abi.encode(uint256(0x1626ba7e)), // the magic right-aligned
            abi.encode(true),
            abi.encode(bytes32(0)),
            bytes(""),
            abi.encodePacked(bytes4(0x1626ba7e)), // four bytes, not a word
            abi.encodePacked(bytes31(bytes4(0x1626ba7e))) // a byte short of a word
        ];
        for (uint256 i = 0; i < wrong.length; ++i) {
            AnsweringToken party = new AnsweringToken(wrong[i]);
            DvPSettlement.Instruction memory sale = trade(address(party), buyer, 1);
            assertRefused(sale, "", sign(BUYER_KEY, dvp.instructionId(sale)), Code.BAD_SELLER_SIGNATURE, 0);
            DvPSettlement.Instruction memory purchase = trade(seller, address(party), 1);
            assertRefused(purchase, sign(SELLER_KEY, dvp.instructionId(purchase)), "", Code.BAD_BUYER_SIGNATURE, 0);
        }
        // Reverting with the magic value is no answer either.
        HostileToken reverter = new HostileToken(abi.encode(bytes4(0x1626ba7e)), 0);
        DvPSettlement.Instruction memory ins = trade(address(reverter), buyer, 1);
        assertRefused(ins, "", sign(BUYER_KEY, dvp.instructionId(ins)), Code.BAD_SELLER_SIGNATURE, 0);

        // The right answer passes the signature check and reaches the bond.
        AnsweringToken yes = new AnsweringToken(abi.encode(bytes4(0x1626ba7e)));
        ins = trade(address(yes), buyer, 1);
        assertRefused(
            ins, "", sign(BUYER_KEY, dvp.instructionId(ins)), Code.SECURITY_LEG_REFUSED, Code.SENDER_NOT_REGISTERED
        );
    }

    /// A contract party's answer gets 100,000 gas: plenty for an honest wallet (one that needs
    /// 80,000 is believed), and no more (one that needs 120,000 is refused).
    function test_aContractPartyGetsAHundredThousandGasToAnswer() public {
        SlowAnswer enough = new SlowAnswer(80_000, abi.encode(bytes4(0x1626ba7e)));
        SlowAnswer tooSlow = new SlowAnswer(120_000, abi.encode(bytes4(0x1626ba7e)));
        DvPSettlement.Instruction memory ins = trade(address(tooSlow), buyer, 1);
        assertRefused(ins, "", sign(BUYER_KEY, dvp.instructionId(ins)), Code.BAD_SELLER_SIGNATURE, 0);
        ins = trade(seller, address(tooSlow), 1);
        assertRefused(ins, sign(SELLER_KEY, dvp.instructionId(ins)), "", Code.BAD_BUYER_SIGNATURE, 0);
        ins = trade(address(enough), buyer, 1);
        assertRefused(
            ins, "", sign(BUYER_KEY, dvp.instructionId(ins)), Code.SECURITY_LEG_REFUSED, Code.SENDER_NOT_REGISTERED
        );
    }

    // ---------------------------------------------------------------- gas: one party cannot starve a batch

    /// Gas-burning contract parties, as seller or as buyer, ahead of and among fourteen good
    /// instructions: the batch settles the good ones within a normal 30M-gas block, at about the
    /// cost of the good ones alone plus a bounded 100,000 gas or so per burner, and reports each
    /// burner's instruction as a bad signature of its party. A signed cancellation naming the
    /// burner is refused the same way.
    function test_aGasBurningContractPartyFailsOnlyItsOwnInstruction() public {
        GasBurner burner = new GasBurner();
        DvPSettlement.Instruction[] memory l = new DvPSettlement.Instruction[](16);
        for (uint256 i = 1; i < l.length; ++i) {
            l[i] = trade(i % 2 == 0 ? seller : seller2, i % 3 == 0 ? buyer : buyer2, 1);
        }
        l[0] = trade(address(burner), buyer, 1);
        l[8] = trade(seller, address(burner), 1);
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAllAllowingContracts(l);
        uint256 goodOnly = costOfGoodBatch(14);
        uint256 boughtBefore = bond.balanceOf(buyer) + bond.balanceOf(buyer2);

        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(l[0]), Code.BAD_SELLER_SIGNATURE, 0);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(l[8]), Code.BAD_BUYER_SIGNATURE, 0);
        uint256 gasBefore = gasleft();
        (bool ok, bytes memory ret) = address(dvp).call{gas: 30_000_000}(
            abi.encodeCall(DvPSettlement.settleBatch, (l, sellerSigs, buyerSigs, true))
        );
        uint256 used = gasBefore - gasleft();
        assertTrue(ok, "a block's gas is enough");
        assertEq(abi.decode(ret, (uint256)), 14, "all fourteen good ones settled");
        assertEq(bond.balanceOf(buyer) + bond.balanceOf(buyer2), boughtBefore + 14, "delivered");
        assertFalse(dvp.isNonceUsed(l[0].nonce) || dvp.isNonceUsed(l[8].nonce), "the burners' nonces are free");
        assertLe(used, goodOnly + 2 * 150_000, "each burner cost at most its party's bounded check");

        bytes32 burnersId = dvp.instructionId(l[0]);
        vm.expectRevert(abi.encodeWithSelector(DvPSettlement.BadCancelSignature.selector, address(burner), burnersId));
        dvp.cancelBySig{gas: 300_000}(l[0], address(burner), "");
    }

    /// A hundred burners ahead of one good instruction still fit in a block.
    function test_aHundredGasBurningPartiesDoNotStarveABatch() public {
        GasBurner burner = new GasBurner();
        DvPSettlement.Instruction[] memory l = new DvPSettlement.Instruction[](101);
        for (uint256 i = 0; i < 100; ++i) {
            l[i] = i % 2 == 0 ? trade(address(burner), buyer, 1) : trade(seller, address(burner), 1);
        }
        l[100] = trade(seller2, buyer2, 7);
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAllAllowingContracts(l);
        (bool ok, bytes memory ret) = address(dvp).call{gas: 30_000_000}(
            abi.encodeCall(DvPSettlement.settleBatch, (l, sellerSigs, buyerSigs, true))
        );
        assertTrue(ok, "a block's gas is enough");
        assertEq(abi.decode(ret, (uint256)), 1, "the good one settled");
        assertEq(bond.balanceOf(buyer2), BONDS + 7, "delivered");
    }

    /// A gas-burning token the admin listed as cash, or as a security, fails only its own
    /// instruction in a best-effort batch run with a block's gas, at a bounded cost.
    function test_aGasBurningListedTokenFailsOnlyItsOwnInstruction() public {
        GasBurner burner = new GasBurner();
        dvp.setCashListed(address(burner), true);
        dvp.setListed(address(burner), true);
        uint256 goodOnly = costOfGoodBatch(14);
        DvPSettlement.Instruction[] memory l = new DvPSettlement.Instruction[](16);
        for (uint256 i = 1; i < l.length; ++i) {
            l[i] = trade(i % 2 == 0 ? seller : seller2, i % 3 == 0 ? buyer : buyer2, 1);
        }
        l[0] = trade(seller, buyer, 1);
        l[0].cashToken = address(burner);
        l[8] = trade(seller2, buyer, 1);
        l[8].securityToken = address(burner);
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);

        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(l[0]), Code.CASH_LEG_REFUSED, 0);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(l[8]), Code.SECURITY_LEG_REFUSED, 0);
        uint256 gasBefore = gasleft();
        (bool ok, bytes memory ret) = address(dvp).call{gas: 30_000_000}(
            abi.encodeCall(DvPSettlement.settleBatch, (l, sellerSigs, buyerSigs, true))
        );
        uint256 used = gasBefore - gasleft();
        assertTrue(ok, "a block's gas is enough");
        assertEq(abi.decode(ret, (uint256)), 14, "all fourteen good ones settled");
        assertLe(used, goodOnly + 2 * 450_000, "each burner cost at most a bounded leg");
        assertEq(hkd.balanceOf(address(dvp)) + bond.balanceOf(address(dvp)), 0, "the venue holds nothing");
    }

    /// The gas a best-effort batch of `n` fresh good instructions uses (they settle, between
    /// other parties than the tests' own so the books those tests look at are not touched:
    /// retail holds no bonds, so they go the other way).
    function costOfGoodBatch(uint256 n) internal returns (uint256 used) {
        DvPSettlement.Instruction[] memory l = new DvPSettlement.Instruction[](n);
        for (uint256 i = 0; i < n; ++i) {
            l[i] = trade(i % 2 == 0 ? buyer : buyer2, i % 3 == 0 ? seller : seller2, 1);
        }
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);
        uint256 gasBefore = gasleft();
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), n, "the good batch settled");
        used = gasBefore - gasleft();
    }

    /// Fifteen fresh good instructions settle in well under a million gas: a block holds many.
    function test_fifteenInstructionsSettleWithinAFractionOfABlock() public {
        DvPSettlement.Instruction[] memory l = new DvPSettlement.Instruction[](15);
        for (uint256 i = 0; i < l.length; ++i) {
            l[i] = trade(i % 2 == 0 ? seller : seller2, i % 3 == 0 ? buyer : buyer2, 1);
        }
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);
        uint256 gasBefore = gasleft();
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 15, "all settle");
        uint256 used = gasBefore - gasleft();
        assertLe(used, 1_000_000, "well within a block");
    }

    /// Like signAll, with an empty signature for a party that holds no key (a contract).
    function signAllAllowingContracts(DvPSettlement.Instruction[] memory l)
        internal
        view
        returns (bytes[] memory sellerSigs, bytes[] memory buyerSigs)
    {
        sellerSigs = new bytes[](l.length);
        buyerSigs = new bytes[](l.length);
        for (uint256 i = 0; i < l.length; ++i) {
            bytes32 id = dvp.instructionId(l[i]);
            if (keyOf[l[i].seller] != 0) sellerSigs[i] = sign(keyOf[l[i].seller], id);
            if (keyOf[l[i].buyer] != 0) buyerSigs[i] = sign(keyOf[l[i].buyer], id);
        }
    }

    // ---------------------------------------------------------------- findings

    /// A contract party vouches only with the exact magic word (as OpenZeppelin's SignatureChecker):
    /// an answer that merely starts with 0x1626ba7e, or a stub echoing its call data (which starts
    /// with the isValidSignature selector), signs for nothing.
    function test_aContractPartyMustAnswerTheWholeMagicWord() public {
        AnsweringToken dirty = new AnsweringToken(bytes.concat(bytes4(0x1626ba7e), bytes28(uint224(1))));
        DvPSettlement.Instruction memory ins = trade(address(dirty), buyer, 1);
        assertRefused(ins, "", sign(BUYER_KEY, dvp.instructionId(ins)), Code.BAD_SELLER_SIGNATURE, 0);

        Echo echo = new Echo();
        register(address(echo), "echo", "HK", INSTITUTIONAL);
        bond.mint(address(echo), 5);
        DvPSettlement.Instruction memory sale = trade(address(echo), buyer, 5);
        sale.cashAmount = 0;
        assertRefused(sale, "", sign(BUYER_KEY, dvp.instructionId(sale)), Code.BAD_SELLER_SIGNATURE, 0);
        assertEq(bond.balanceOf(address(echo)), 5, "the echoing contract keeps its bonds");
    }

    // ---------------------------------------------------------------- fuzz

    /// Random parties (eligible, retail, unregistered, the same wallet twice), quantities, prices,
    /// cash, allowances and troubles (frozen, KYC lapsed, expired, not yet due, either token
    /// delisted or both listed on the wrong list, cancelled): balances of each token are
    /// conserved, and the outcome is exactly what the independent oracle predicts.
    function testFuzz_aSettlementConservesBalancesAndMatchesThePrediction(
        uint256 roles,
        uint256 quantity,
        uint256 cashAmount,
        uint256 buyerCash,
        uint256 allowance,
        uint256 trouble
    ) public {
        uint256 s = pick(roles);
        uint256 b = pick(roles >> 8);
        if (s == b && (roles >> 16) % 4 != 0) b = (b + 1) % 4; // trading with oneself: one time in four
        DvPSettlement.Instruction memory ins = trade(keyed[s], keyed[b], 0);
        uint256 t = makeTrouble(ins, trouble);
        ins.quantity = (t & 1 != 0) ? bond.balanceOf(ins.seller) + 1 + quantity % 10 : bound(quantity, 0, 120);
        ins.cashAmount = bound(cashAmount, 0, CASH);
        setCash(ins.buyer, bound(buyerCash, 0, 2 * CASH));
        vm.prank(ins.buyer);
        hkd.approve(address(dvp), (t & 2 != 0) ? bound(allowance, 0, CASH) : type(uint256).max);

        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        if (t & 512 != 0) {
            vm.prank((trouble >> 100) % 2 == 0 ? ins.seller : ins.buyer);
            dvp.cancel(ins);
        }
        if (t & 32 != 0) vm.warp(ins.expiry + (trouble >> 200) % 2);

        Predict.Books memory expected = books();
        uint256 bondsBefore = sumOf(expected.who, true);
        uint256 cashBefore = sumOf(expected.who, false);
        Predict.State memory st = Predict.State({
            listed: t & (64 | 256 | 1024) == 0,
            nonceUsed: false,
            cancelled: t & 512 != 0,
            sellerSigOk: true,
            buyerSigOk: true
        });
        uint8 reason = Predict.venue(ins, st);
        uint8 tokenReason;
        if (reason == Code.OK) (reason, tokenReason) = Predict.legs(bond, registry, ins, expected);
        if (reason == Code.OK) Predict.move(expected, ins);

        try dvp.settle(ins, sellerSig, buyerSig) {
            assertEq(reason, Code.OK, "settled against the prediction");
            assertTrue(dvp.isNonceUsed(ins.nonce), "a settled nonce is used");
        } catch (bytes memory err) {
            assertEq(
                keccak256(err),
                keccak256(
                    abi.encodeWithSelector(
                        DvPSettlement.SettlementRefused.selector, dvp.instructionId(ins), reason, tokenReason
                    )
                ),
                "refused other than predicted"
            );
            assertTrue(reason != Code.OK, "refused against the prediction");
            assertFalse(dvp.isNonceUsed(ins.nonce), "a refused nonce stays free");
        }
        assertEq(dvp.isCancelled(dvp.instructionId(ins)), t & 512 != 0, "cancelled exactly when a party cancelled");
        assertBooks(expected, "balances moved other than predicted");
        assertEq(sumOf(expected.who, true), bondsBefore, "bonds conserved");
        assertEq(sumOf(expected.who, false), cashBefore, "cash conserved");
        assertEq(bond.balanceOf(address(dvp)) + hkd.balanceOf(address(dvp)), 0, "the venue holds nothing");
    }

    /// Mostly the four eligible investors, sometimes retail or the stranger.
    function pick(uint256 seed) internal pure returns (uint256) {
        uint256 r = seed % 8;
        return r < 4 ? r : r < 6 ? (seed >> 3) % 4 : r - 2;
    }

    /// Five times in eight none, two one, one any set: 1 seller short, 2 allowance limited,
    /// 4 buyer frozen, 8 seller frozen, 16 buyer's KYC lapsed, 32 expired, 64 bond delisted,
    /// 128 not yet due (1 s to 3 days ahead), 256 cash delisted, 512 cancelled by a party,
    /// 1024 the lists swapped (the bond listed as cash only, HKD as a security only).
    function makeTrouble(DvPSettlement.Instruction memory ins, uint256 trouble) internal returns (uint256 t) {
        uint256 mode = trouble % 8;
        if (mode < 2) t = 1 << ((trouble >> 3) % 11);
        else if (mode == 2) t = (trouble >> 3) & 0x7ff;
        if (t & 4 != 0) bond.setAddressFrozen(ins.buyer, true);
        if (t & 8 != 0) bond.setAddressFrozen(ins.seller, true);
        if (t & 16 != 0 && investorIdOf[ins.buyer] != 0) {
            IInvestorRegistry.Eligibility memory e = registry.eligibility(ins.buyer);
            registry.setInvestor(investorIdOf[ins.buyer], e.country, e.category, uint40(block.timestamp));
        }
        if (t & 64 != 0) dvp.setListed(address(bond), false);
        if (t & 128 != 0) ins.settlementDate = uint64(block.timestamp + 1 + (trouble >> 120) % 3 days);
        if (t & 256 != 0) dvp.setCashListed(address(hkd), false);
        if (t & 1024 != 0) {
            dvp.setListed(address(bond), false);
            dvp.setCashListed(address(hkd), false);
            dvp.setCashListed(address(bond), true);
            dvp.setListed(address(hkd), true);
        }
        assertEq(dvp.isListed(address(bond)), t & (64 | 1024) == 0, "the bond's listing");
        assertEq(dvp.isCashListed(address(hkd)), t & (256 | 1024) == 0, "HKD's listing");
    }

    function setCash(address who, uint256 amount) internal {
        uint256 balance = hkd.balanceOf(who);
        if (amount > balance) {
            hkd.mint(who, amount - balance);
        } else if (amount < balance) {
            vm.prank(who);
            hkd.burn(balance - amount);
        }
    }
}

/// @dev What the invariant fuzzer calls: create-and-sign instructions, settle them (singly and in
/// batches of both modes), cancel them (directly and by signature), freeze and unfreeze, list and
/// delist (the bond as a security, HKD as cash or as a security), move time on and top up cash and
/// allowances. Refusals are caught, never bubbled. Before every settlement
/// or cancellation the handler predicts the outcome with {Predict} and its own record of used
/// nonces and cancelled ids, and counts each disagreement (outcome, reason or balance movement)
/// in a ghost.
contract SecondaryHandler is Base {
    uint256 internal constant PRICE = 50_125_00;
    uint256 internal constant MAX_INSTRUCTIONS = 40;

    DvPSettlement public immutable dvp;
    BondToken public immutable bond;
    CashToken public immutable hkd;
    CashToken public immutable usd; // never listed on the venue
    InvestorRegistry public immutable registry;

    address[] internal actors; // the first four eligible, then retail, then unregistered
    uint256[] internal keys;

    DvPSettlement.Instruction[] internal instructions;
    bytes[] internal sellerSigs;
    bytes[] internal buyerSigs;
    bool[] internal sellerSigOk;
    bool[] internal buyerSigOk;
    bytes32[] public ids;

    // Ghosts.
    mapping(bytes32 id => uint256) public settlements; // InstructionSettled events seen
    mapping(bytes32 id => bool) public cancelled; // the handler's own record of cancelled ids
    mapping(uint256 nonce => bool) public spent; // the handler's own record of nonces used (by settlement)
    uint256 public ghostCashMinted;
    uint256 public ghostSettledTwice;
    uint256 public ghostSettledAfterCancel;
    uint256 public ghostMispredicted;
    uint256 public ghostWrongMovement;
    uint256 public nextNonce = 41;
    uint256 public currentTime;
    // The handler's own record of the venue's two lists (the bond is never listed as cash).
    bool public bondListed = true; // as a security
    bool public hkdCashListed = true;
    bool public hkdListedAsSecurity;

    // How much actually happened (to see the campaign is not vacuous).
    mapping(bytes32 action => uint256) public succeeded;
    mapping(uint8 reason => uint256) public refusals; // instructions refused, by SettlementFailure

    /// A batch as planned: which instructions, what each should come to, and the books after.
    struct Plan {
        uint256[] picks;
        uint8[] reasons;
        uint8[] tokenReasons;
        uint256 settles;
        bool failed;
        uint256 firstFailure;
        Predict.Books before;
        Predict.Books expected;
    }

    constructor(
        DvPSettlement dvp_,
        BondToken bond_,
        CashToken hkd_,
        CashToken usd_,
        InvestorRegistry registry_,
        address[] memory actors_,
        uint256[] memory keys_
    ) {
        dvp = dvp_;
        bond = bond_;
        hkd = hkd_;
        usd = usd_;
        registry = registry_;
        actors = actors_;
        keys = keys_;
        currentTime = block.timestamp;
    }

    function instructionCount() external view returns (uint256) {
        return ids.length;
    }

    /// Over every instruction: ids with more than one InstructionSettled; ids both settled and
    /// cancelled; nonces whose use (on the venue or in the handler's record) is not "an
    /// instruction carrying it settled", or that settled more than one instruction; and ids
    /// whose cancellation on the venue differs from the handler's record.
    function lifecycleViolations()
        external
        view
        returns (uint256 overSettled, uint256 settledAndCancelled, uint256 nonceMismatches, uint256 cancelMismatches)
    {
        for (uint256 i = 0; i < ids.length; ++i) {
            bytes32 id = ids[i];
            uint256 nonce = instructions[i].nonce;
            uint256 n = settlements[id];
            if (n > 1) ++overSettled;
            if (n != 0 && cancelled[id]) ++settledAndCancelled;
            if (dvp.isCancelled(id) != cancelled[id]) ++cancelMismatches;
            uint256 settledWithNonce;
            for (uint256 j = 0; j < ids.length; ++j) {
                if (instructions[j].nonce == nonce && settlements[ids[j]] != 0) ++settledWithNonce;
            }
            if (settledWithNonce > 1) ++nonceMismatches;
            if (dvp.isNonceUsed(nonce) != (settledWithNonce != 0) || spent[nonce] != (settledWithNonce != 0)) {
                ++nonceMismatches;
            }
        }
    }

    // ---------------------------------------------------------------- actions

    /// The seller and buyer sign a new instruction. Three in four are clean (two different
    /// eligible investors, valid signatures, the bond against HKD, something to deliver); the
    /// rest are wild: any parties (retail, the unregistered key holder, oneself), one in five
    /// with a bad signature, one in eight naming the cash token as the security, one in eight
    /// paying in the bond, one in eight paying in the unlisted USD, one in eight reusing an
    /// earlier instruction's nonce, possibly empty. Three in four are due at once, the others one or two days on; each
    /// expires an hour to ten days from now.
    function create(uint256 parties, uint256 quantity, uint256 cashAmount, uint256 life, uint256 mode) external {
        if (ids.length >= MAX_INSTRUCTIONS) return;
        createOne(parties, quantity, cashAmount, life, mode);
    }

    function createOne(uint256 parties, uint256 quantity, uint256 cashAmount, uint256 life, uint256 mode) internal {
        bool wild = mode % 4 == 0;
        uint256 s = wild ? pick(parties) : parties % 4;
        uint256 b = wild ? pick(parties >> 8) : (s + 1 + (parties >> 8) % 3) % 4;
        uint256 today = block.timestamp - (block.timestamp % 1 days);
        uint256 lag = (mode >> 24) % 8; // 0-5 due today, 6 tomorrow, 7 in two days
        nextNonce += 1 + (mode >> 8) % 300; // nonces spread over several bitmap words
        uint256 nonce = nextNonce;
        if (wild && (mode >> 32) % 8 == 7 && ids.length != 0) nonce = instructions[(mode >> 40) % ids.length].nonce;
        DvPSettlement.Instruction memory ins = DvPSettlement.Instruction({
            seller: actors[s],
            buyer: actors[b],
            securityToken: wild && (mode >> 2) % 8 == 0 ? address(hkd) : address(bond),
            quantity: bound(quantity, wild ? 0 : 1, 60),
            cashToken: wild && (mode >> 2) % 8 == 7
                ? address(usd)
                : wild && (mode >> 2) % 8 == 6 ? address(bond) : address(hkd),
            cashAmount: bound(cashAmount, 0, 30 * PRICE),
            tradeDate: uint64(today),
            settlementDate: uint64(today + (lag < 6 ? 0 : lag - 5) * 1 days),
            expiry: uint64(block.timestamp + bound(life, 1 hours, 10 days)),
            nonce: nonce
        });
        bytes32 id = dvp.instructionId(ins);
        bool badSeller = wild && (mode >> 5) % 10 == 1;
        bool badBuyer = wild && (mode >> 5) % 10 == 2;
        instructions.push(ins);
        ids.push(id);
        sellerSigs.push(sign(keys[badSeller ? (s + 1) % keys.length : s], id));
        buyerSigs.push(sign(keys[badBuyer ? (b + 1) % keys.length : b], id));
        sellerSigOk.push(!badSeller);
        buyerSigOk.push(!badBuyer);
        ++succeeded["create"];
    }

    /// Half the time the newest instruction still open (by the handler's record), or a fresh one
    /// if none is; otherwise any.
    function choose(uint256 seed) internal returns (uint256) {
        if (seed % 2 == 0 || ids.length == 0) {
            (bool found, uint256 i) = recentOpen(0);
            if (found) return i;
            if (ids.length < MAX_INSTRUCTIONS) {
                uint256 h = uint256(keccak256(abi.encode(seed, ids.length)));
                createOne(h, h >> 16, h >> 32, h >> 64, h >> 128);
                return ids.length - 1;
            }
        }
        return (seed >> 1) % ids.length;
    }

    /// The `nth` newest instruction neither cancelled nor carrying a used nonce (by the
    /// handler's record).
    function recentOpen(uint256 nth) internal view returns (bool, uint256) {
        uint256 seen;
        for (uint256 j = ids.length; j > 0; --j) {
            if (spent[instructions[j - 1].nonce] || cancelled[ids[j - 1]]) continue;
            if (seen++ == nth) return (true, j - 1);
        }
        return (false, 0);
    }

    function settle(uint256 which) external {
        uint256 i = choose(which);
        DvPSettlement.Instruction memory ins = instructions[i];
        Predict.Books memory expected = load();
        (uint8 reason, uint8 tokenReason) = predict(i, expected, new uint256[](0), 0);
        if (reason == Code.OK) Predict.move(expected, ins);

        vm.recordLogs();
        try dvp.settle(ins, sellerSigs[i], buyerSigs[i]) {
            countSettlements(vm.getRecordedLogs());
            if (reason != Code.OK) ++ghostMispredicted;
            spent[ins.nonce] = true;
            ++succeeded["settle"];
        } catch (bytes memory err) {
            vm.getRecordedLogs(); // rolled back: not counted
            if (reason == Code.OK || keccak256(err) != keccak256(refusal(ids[i], reason, tokenReason))) {
                ++ghostMispredicted;
            }
            ++succeeded["refused"];
            ++refusals[reason];
        }
        if (!Predict.same(expected, load())) ++ghostWrongMovement;
    }

    /// One to four instructions (repeats allowed), all or nothing or best effort.
    function settleBatch(uint256 picks, uint256 size, bool bestEffort) external {
        Plan memory plan = planBatch(picks, bound(size, 1, 4));
        uint256 n = plan.picks.length;
        DvPSettlement.Instruction[] memory l = new DvPSettlement.Instruction[](n);
        bytes[] memory ss = new bytes[](n);
        bytes[] memory bs = new bytes[](n);
        for (uint256 k = 0; k < n; ++k) {
            l[k] = instructions[plan.picks[k]];
            ss[k] = sellerSigs[plan.picks[k]];
            bs[k] = buyerSigs[plan.picks[k]];
        }

        vm.recordLogs();
        try dvp.settleBatch(l, ss, bs, bestEffort) returns (uint256 settled) {
            Vm.Log[] memory logs = vm.getRecordedLogs();
            countSettlements(logs);
            if (!bestEffort && plan.failed) ++ghostMispredicted;
            if (settled != plan.settles) ++ghostMispredicted;
            checkBatchEvents(logs, plan);
            for (uint256 k = 0; k < n; ++k) {
                if (plan.reasons[k] == Code.OK) spent[l[k].nonce] = true;
                else ++refusals[plan.reasons[k]];
            }
            if (!Predict.same(plan.expected, load())) ++ghostWrongMovement;
            succeeded[bestEffort ? bytes32("batchBestEffort") : bytes32("batchAllOrNothing")] += 1;
            succeeded["batchSettled"] += settled;
        } catch (bytes memory err) {
            vm.getRecordedLogs();
            uint256 f = plan.firstFailure;
            if (bestEffort || !plan.failed) {
                ++ghostMispredicted;
            } else if (keccak256(err) != keccak256(refusal(ids[plan.picks[f]], plan.reasons[f], plan.tokenReasons[f])))
            {
                ++ghostMispredicted;
            }
            if (!Predict.same(plan.before, load())) ++ghostWrongMovement;
            ++succeeded["batchRefused"];
        }
    }

    /// A party (one time in eight an outsider) cancels, directly or by a signature (one time in
    /// five a bad one) that anyone submits.
    function cancel(uint256 which, uint256 mode) external {
        uint256 i = choose(which);
        DvPSettlement.Instruction memory ins = instructions[i];
        address party = mode % 8 == 0 ? nonParty(ins, mode >> 8) : (mode & 2 == 0 ? ins.seller : ins.buyer);
        bytes memory expected = expectedCancelError(ins, ids[i], party, mode);

        Predict.Books memory before = load();
        bool usedBefore = dvp.isNonceUsed(ins.nonce);
        (bool ok, bytes memory err) = mode & 4 != 0 ? cancelBySig(ins, ids[i], party, mode) : cancelDirectly(ins, party);
        if (ok) {
            if (expected.length != 0) ++ghostMispredicted;
            cancelled[ids[i]] = true;
            ++succeeded[mode & 4 != 0 ? bytes32("cancelBySig") : bytes32("cancel")];
        } else {
            if (expected.length == 0 || keccak256(err) != keccak256(expected)) ++ghostMispredicted;
            ++succeeded["cancelRefused"];
        }
        if (dvp.isNonceUsed(ins.nonce) != usedBefore) ++ghostMispredicted; // cancelling never uses a nonce
        if (!Predict.same(before, load())) ++ghostWrongMovement;
    }

    /// What a cancellation must revert with, in the venue's order of checks (empty: it succeeds).
    function expectedCancelError(DvPSettlement.Instruction memory ins, bytes32 id, address party, uint256 mode)
        internal
        view
        returns (bytes memory)
    {
        if (party != ins.seller && party != ins.buyer) {
            return abi.encodeWithSelector(DvPSettlement.NotAParty.selector, party, id);
        }
        if (badCancelSig(mode)) return abi.encodeWithSelector(DvPSettlement.BadCancelSignature.selector, party, id);
        if (spent[ins.nonce]) return abi.encodeWithSelector(DvPSettlement.NonceUsed.selector, ins.nonce);
        if (cancelled[id]) return abi.encodeWithSelector(DvPSettlement.AlreadyCancelled.selector, id);
        return "";
    }

    function badCancelSig(uint256 mode) internal pure returns (bool) {
        return mode & 4 != 0 && mode % 5 == 0;
    }

    function cancelDirectly(DvPSettlement.Instruction memory ins, address party)
        internal
        returns (bool ok, bytes memory err)
    {
        vm.prank(party);
        try dvp.cancel(ins) {
            ok = true;
        } catch (bytes memory e) {
            err = e;
        }
    }

    /// `party`'s signed cancellation (with the next actor's key if it is to be a bad one), sent by
    /// any actor.
    function cancelBySig(DvPSettlement.Instruction memory ins, bytes32 id, address party, uint256 mode)
        internal
        returns (bool ok, bytes memory err)
    {
        uint256 signer = indexOf(party);
        if (badCancelSig(mode)) signer = (signer + 1) % keys.length;
        bytes memory sig = sign(keys[signer], Typed.cancelDigest(id, address(dvp)));
        vm.prank(actors[(mode >> 16) % actors.length]);
        try dvp.cancelBySig(ins, party, sig) {
            ok = true;
        } catch (bytes memory e) {
            err = e;
        }
    }

    /// The agent freezes one call in four and unfreezes otherwise.
    function setFrozen(uint256 who, uint256 mode) external {
        bond.setAddressFrozen(actors[who % actors.length], mode % 4 == 0);
        ++succeeded["freeze"];
    }

    /// The venue's admin lists or delists (`(mode >> 2) % 3`): 0 the bond as a security, 1 HKD as
    /// cash (each delisted when `mode % 4 == 0`, else listed), 2 HKD as a security as well (listed
    /// when `mode % 4 == 0`, else delisted).
    function setListing(uint256 mode) external {
        uint256 which = (mode >> 2) % 3;
        bool on = mode % 4 != 0;
        if (which == 0) {
            bondListed = on;
            dvp.setListed(address(bond), on);
        } else if (which == 1) {
            hkdCashListed = on;
            dvp.setCashListed(address(hkd), on);
        } else {
            hkdListedAsSecurity = !on;
            dvp.setListed(address(hkd), !on);
        }
        ++succeeded["listing"];
    }

    /// Time only moves forward, up to two days a step: instructions fall due and expire, a short
    /// KYC lapses.
    function warp(uint256 seconds_) external {
        currentTime += bound(seconds_, 1 hours, 2 days);
        vm.warp(currentTime);
        ++succeeded["warp"];
    }

    /// Mints cash to an actor and resets its allowance: unlimited, a random amount, or unchanged.
    function topUp(uint256 who, uint256 amount, uint256 mode) external {
        address a = actors[who % actors.length];
        amount = bound(amount, 0, 50 * PRICE);
        hkd.mint(a, amount);
        ghostCashMinted += amount;
        if (mode % 3 != 2) {
            vm.prank(a);
            hkd.approve(address(dvp), mode % 3 == 0 ? type(uint256).max : bound(mode >> 2, 0, 60 * PRICE));
        }
        ++succeeded["topUp"];
    }

    // ---------------------------------------------------------------- the oracle

    /// By the handler's record: the bond, and HKD if the admin chose, are listed as securities;
    /// HKD alone may be listed as cash (the bond never is, USD never on either list).
    function securityListed(address token) internal view returns (bool) {
        return token == address(bond) ? bondListed : token == address(hkd) && hkdListedAsSecurity;
    }

    function cashListed(address token) internal view returns (bool) {
        return token == address(hkd) && hkdCashListed;
    }

    function predict(uint256 i, Predict.Books memory b, uint256[] memory batchNonces, uint256 used)
        internal
        view
        returns (uint8, uint8)
    {
        DvPSettlement.Instruction memory ins = instructions[i];
        bool nonceUsed = spent[ins.nonce];
        for (uint256 j = 0; j < used; ++j) {
            if (batchNonces[j] == ins.nonce) nonceUsed = true;
        }
        Predict.State memory st = Predict.State({
            listed: securityListed(ins.securityToken) && cashListed(ins.cashToken),
            nonceUsed: nonceUsed,
            cancelled: cancelled[ids[i]],
            sellerSigOk: sellerSigOk[i],
            buyerSigOk: buyerSigOk[i]
        });
        uint8 reason = Predict.venue(ins, st);
        if (reason != Code.OK) return (reason, 0);
        return Predict.legs(bond, registry, ins, b);
    }

    /// Predicts a batch in order, carrying the books and the nonces it uses from one to the next.
    function planBatch(uint256 picks, uint256 size) internal returns (Plan memory plan) {
        plan.picks = new uint256[](size);
        plan.reasons = new uint8[](size);
        plan.tokenReasons = new uint8[](size);
        plan.before = load();
        plan.expected = Predict.copy(plan.before);
        uint256[] memory batchNonces = new uint256[](size);
        for (uint256 k = 0; k < size; ++k) {
            // Three times in four the newest open instructions, distinct; otherwise any, repeats allowed.
            (bool found, uint256 i) = picks % 4 != 0 ? recentOpen(k) : (false, 0);
            if (!found) i = choose(picks >> (k * 16 + 2));
            plan.picks[k] = i;
            (plan.reasons[k], plan.tokenReasons[k]) = predict(i, plan.expected, batchNonces, plan.settles);
            if (plan.reasons[k] == Code.OK) {
                Predict.move(plan.expected, instructions[i]);
                batchNonces[plan.settles++] = instructions[i].nonce;
            } else if (!plan.failed) {
                plan.failed = true;
                plan.firstFailure = k;
            }
        }
    }

    /// The venue's settled / failed events, in order, one per instruction of the batch.
    function checkBatchEvents(Vm.Log[] memory logs, Plan memory plan) internal {
        uint256 k;
        for (uint256 j = 0; j < logs.length; ++j) {
            if (logs[j].emitter != address(dvp)) continue;
            bytes32 topic = logs[j].topics[0];
            if (topic == DvPSettlement.InstructionSettled.selector) {
                if (k >= plan.picks.length || plan.reasons[k] != Code.OK || logs[j].topics[1] != ids[plan.picks[k]]) {
                    ++ghostMispredicted;
                }
                ++k;
            } else if (topic == DvPSettlement.SettlementFailed.selector) {
                (uint8 r, uint8 tr) = abi.decode(logs[j].data, (uint8, uint8));
                if (
                    k >= plan.picks.length || logs[j].topics[1] != ids[plan.picks[k]] || r != plan.reasons[k]
                        || tr != plan.tokenReasons[k]
                ) ++ghostMispredicted;
                ++k;
            }
        }
        if (k != plan.picks.length) ++ghostMispredicted;
    }

    function countSettlements(Vm.Log[] memory logs) internal {
        for (uint256 j = 0; j < logs.length; ++j) {
            if (logs[j].emitter != address(dvp) || logs[j].topics[0] != DvPSettlement.InstructionSettled.selector) {
                continue;
            }
            bytes32 id = logs[j].topics[1];
            if (settlements[id]++ != 0) ++ghostSettledTwice;
            if (cancelled[id]) ++ghostSettledAfterCancel;
        }
    }

    // ---------------------------------------------------------------- helpers

    function load() internal view returns (Predict.Books memory) {
        return Predict.load(bond, hkd, address(dvp), actors);
    }

    function refusal(bytes32 id, uint8 reason, uint8 tokenReason) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(DvPSettlement.SettlementRefused.selector, id, reason, tokenReason);
    }

    function sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// Mostly the four eligible investors, sometimes retail or the unregistered key holder.
    function pick(uint256 seed) internal pure returns (uint256) {
        uint256 r = seed % 8;
        return r < 4 ? r : r < 6 ? (seed >> 3) % 4 : r - 2;
    }

    function indexOf(address a) internal view returns (uint256) {
        for (uint256 i = 0; i < actors.length; ++i) {
            if (actors[i] == a) return i;
        }
        revert("not an actor");
    }

    function nonParty(DvPSettlement.Instruction memory ins, uint256 seed) internal view returns (address a) {
        for (uint256 j = 0; j < actors.length; ++j) {
            a = actors[(seed + j) % actors.length];
            if (a != ins.seller && a != ins.buyer) return a;
        }
    }
}

contract DvPSecondaryInvariantTest is SecondaryFixture {
    uint40 internal constant SHORT_KYC = uint40(ISSUE_DATE + 4 days);

    SecondaryHandler internal handler;
    CashToken internal usd;
    uint256 internal bondsAtStart;
    uint256 internal cashAtStart;

    function setUp() public override {
        super.setUp();
        // buyer2's KYC lapses four days in, so warps make an eligible investor ineligible.
        registry.setInvestor(investorIdOf[buyer2], "SG", PROFESSIONAL, SHORT_KYC);
        // A cash token the venue never lists, which the buyers hold and have approved.
        usd = new CashToken("USD", "Tokenized USD", address(this));
        for (uint256 i = 0; i < keyed.length; ++i) {
            usd.mint(keyed[i], CASH);
            vm.prank(keyed[i]);
            usd.approve(address(dvp), type(uint256).max);
        }

        handler = new SecondaryHandler(dvp, bond, hkd, usd, registry, keyed, keys);
        dvp.grantRole(dvp.SETTLEMENT_AGENT_ROLE(), address(handler));
        dvp.grantRole(dvp.DEFAULT_ADMIN_ROLE(), address(handler));
        bond.grantRole(bond.AGENT_ROLE(), address(handler));
        hkd.grantRole(hkd.MINTER_ROLE(), address(handler));
        bondsAtStart = sumOf(keyed, true);
        cashAtStart = sumOf(keyed, false);
        targetContract(address(handler));
    }

    // ---------------------------------------------------------------- invariants

    /// Money: settlement only moves balances. For each token the actors' balances (the venue's
    /// included, and it holds none) add up to what they started with, plus cash the handler
    /// minted; the never-listed USD never moves; every call moved exactly what the oracle said
    /// (nothing, for a refusal or a cancel).
    function invariant_settlementConservesBalancesAndTheVenueHoldsNothing() public view {
        assertEq(bond.balanceOf(address(dvp)), 0, "the venue holds bonds");
        assertEq(hkd.balanceOf(address(dvp)), 0, "the venue holds cash");
        assertEq(usd.balanceOf(address(dvp)), 0, "the venue holds USD");
        assertEq(sumOf(keyed, true), bondsAtStart, "bonds created or lost");
        assertEq(bond.totalSupply(), bondsAtStart, "bond supply changed");
        assertEq(sumOf(keyed, false), cashAtStart + handler.ghostCashMinted(), "cash created or lost");
        assertEq(hkd.totalSupply(), cashAtStart + handler.ghostCashMinted(), "cash supply");
        for (uint256 i = 0; i < keyed.length; ++i) {
            assertEq(usd.balanceOf(keyed[i]), CASH, "unlisted USD moved");
        }
        assertEq(bond.balanceOf(retail) + bond.balanceOf(stranger), 0, "an ineligible investor holds bonds");
        assertEq(handler.ghostWrongMovement(), 0, "balances moved other than predicted");
    }

    /// Instructions: each id settles at most once and a cancelled one never; a nonce is used
    /// exactly when an instruction carrying it settled, and settles one instruction at most;
    /// the venue's cancellations are the handler's; every settle, batch (events and count
    /// included) and cancellation came out as the oracle predicted, reasons and all.
    function invariant_anInstructionSettlesAtMostOnceNeverAfterCancellationAndAsPredicted() public view {
        assertEq(handler.ghostSettledTwice(), 0, "an instruction settled twice");
        assertEq(handler.ghostSettledAfterCancel(), 0, "a cancelled instruction settled");
        (uint256 overSettled, uint256 settledAndCancelled, uint256 nonceMismatches, uint256 cancelMismatches) =
            handler.lifecycleViolations();
        assertEq(overSettled, 0, "an id has more than one InstructionSettled");
        assertEq(settledAndCancelled, 0, "an id both settled and cancelled");
        assertEq(nonceMismatches, 0, "a nonce used other than by exactly one settlement");
        assertEq(cancelMismatches, 0, "the venue's cancellations differ from the handler's");
        assertEq(handler.ghostMispredicted(), 0, "an outcome or reason differed from the prediction");
    }

    // ---------------------------------------------------------------- the handler itself

    /// A fixed walk through the handler, so the invariants above are known not to be vacuous.
    /// Actors: 0 seller, 1 seller2, 2 buyer, 3 buyer2, 4 retail, 5 stranger. A clean create
    /// (mode 1) trades 1 + quantity bonds of actor `s = parties % 4` to actor
    /// `(s + 1 + (parties >> 8) % 3) % 4`, due today, or two days on with `7 << 24` in the mode;
    /// an even seed picks the newest open instruction, an odd one instruction `(seed >> 1) % count`.
    function test_handlerExercisesEveryActionAndTracksTheGhosts() public {
        handler.create(0 | (1 << 8), 9, 500_000_00, 1 days, 1); // #0 seller -> buyer, 10 bonds
        handler.settle(0); // #0 settles
        handler.settle(1); // #0 again: NONCE_USED
        handler.create(1 | (1 << 8), 4, 250_000_00, 2 days, 1); // #1 seller2 -> buyer2, 5 bonds
        handler.create(0 | (6 << 8), 1, 0, 2 days, 4); // #2 wild: seller -> retail, 1 bond
        handler.settleBatch(1, 1, true); // [#2, #1] best effort: #2 refused, #1 settles
        handler.create(2 | (1 << 8), 2, 0, 2 days, 1); // #3 buyer -> seller, 3 bonds
        handler.settleBatch(1, 1, false); // [#3, #2] all or nothing: refused at #2
        handler.cancel(0, 4 | (5 << 16)); // #3 cancelled by the seller's signature, sent by the stranger
        handler.settle(7); // #3: CANCELLED
        handler.cancel(7, 2); // #3 by the buyer directly: AlreadyCancelled
        handler.cancel(7, 8); // #3 by an outsider: NotAParty
        handler.cancel(1, 2); // #0 (settled) by its buyer: NonceUsed
        handler.create(1 | (0 << 8), 1, 100_000_00, 2 days, 1); // #4 seller2 -> buyer, 2 bonds
        // #5 wild: the stranger "sells" to the seller, 1 bond, reusing #4's nonce; then cancels it.
        handler.create(7 | (0 << 8), 1, 0, 2 days, 8 | (7 << 32) | (4 << 40));
        handler.cancel(0, 1); // #5 by the stranger directly: cancelled, #4 untouched
        handler.setFrozen(2, 0); // freeze the buyer
        handler.settle(0); // #4 (the newest open): RECEIVER_FROZEN
        handler.setFrozen(2, 1); // unfreeze
        handler.topUp(2, 0, 1); // the buyer's allowance cut to zero
        handler.settle(0); // #4: INSUFFICIENT_ALLOWANCE
        handler.topUp(2, 0, 0); // unlimited again
        handler.settle(0); // #4 settles, the stranger's cancellation notwithstanding
        handler.settle(11); // #5: NONCE_USED (its nonce settled #4), ahead of CANCELLED
        handler.create(0 | (2 << 8), 0, 0, 3 days, 1 | (7 << 24)); // #6 seller -> buyer2, 1 bond, due in 2 days
        handler.settle(0); // #6: NOT_YET_DUE
        handler.warp(2 days - 1 hours); // bound() maps x to 1 hour + x: two days on
        handler.settle(0); // #6 settles on its date
        handler.warp(2 days - 1 hours); // four days on: buyer2's KYC lapsed, #2 expired
        handler.create(0 | (2 << 8), 0, 0, 2 days, 1); // #7 seller -> buyer2, 1 bond
        handler.settle(0); // #7: RECEIVER_KYC_EXPIRED
        handler.settle(5); // #2: EXPIRED
        // Listing: HKD listed as a security too, then named as one; HKD delisted as cash.
        handler.setListing(2 << 2); // HKD listed as a security
        handler.create(0 | (2 << 8), 1, 0, 2 days, 0); // #8 wild: seller -> buyer, HKD named as the security
        handler.settle(0); // #8: SECURITY_LEG_REFUSED, no token reason (HKD has no settlementTransfer)
        handler.setListing(1 << 2); // HKD delisted as cash
        handler.settle(0); // #8: TOKEN_NOT_LISTED
        handler.setListing((1 << 2) | 1); // HKD relisted as cash
        handler.setListing((2 << 2) | 1); // HKD no longer listed as a security
        handler.create(0 | (2 << 8), 1, 0, 2 days, 6 << 2); // #9 wild: seller -> buyer, paid in bonds
        handler.settle(0); // #9: TOKEN_NOT_LISTED (the bond is no cash)
        handler.settle(17); // #8: TOKEN_NOT_LISTED (HKD is no security)
        handler.setListing(0); // the bond delisted
        handler.create(0 | (1 << 8), 0, 0, 2 days, 1); // #10 seller -> buyer, 1 bond for nothing
        handler.settle(0); // #10: TOKEN_NOT_LISTED
        handler.setListing(1); // the bond relisted
        handler.settle(0); // #10 settles
        assertTrue(
            handler.bondListed() && handler.hkdCashListed() && !handler.hkdListedAsSecurity(), "listed as at the start"
        );
        assertTrue(
            dvp.isListed(address(bond)) && dvp.isCashListed(address(hkd)) && !dvp.isListed(address(hkd))
                && !dvp.isCashListed(address(bond)),
            "the venue agrees"
        );

        assertEq(handler.instructionCount(), 11, "instructions");
        assertEq(handler.succeeded("create"), 11, "created");
        assertEq(handler.succeeded("listing"), 6, "listings");
        assertEq(handler.succeeded("settle"), 4, "single settles");
        assertEq(handler.succeeded("refused"), 13, "single refusals");
        assertEq(handler.succeeded("batchBestEffort"), 1, "best-effort batches");
        assertEq(handler.succeeded("batchSettled"), 1, "settled in batches");
        assertEq(handler.succeeded("batchRefused"), 1, "refused batches");
        assertEq(handler.succeeded("cancelBySig"), 1, "cancelled by signature");
        assertEq(handler.succeeded("cancel"), 1, "cancelled directly");
        assertEq(handler.succeeded("cancelRefused"), 3, "refused cancellations");
        assertEq(handler.refusals(Code.NONCE_USED), 2, "NONCE_USED");
        assertEq(handler.refusals(Code.CANCELLED), 1, "CANCELLED");
        assertEq(handler.refusals(Code.NOT_YET_DUE), 1, "NOT_YET_DUE");
        assertEq(handler.refusals(Code.SECURITY_LEG_REFUSED), 4, "SECURITY_LEG_REFUSED");
        assertEq(handler.refusals(Code.TOKEN_NOT_LISTED), 4, "TOKEN_NOT_LISTED");
        assertEq(handler.refusals(Code.CASH_LEG_REFUSED), 1, "CASH_LEG_REFUSED");
        assertEq(handler.refusals(Code.EXPIRED), 1, "EXPIRED");
        assertEq(bond.balanceOf(seller), BONDS - 12, "seller's bonds");
        assertEq(bond.balanceOf(seller2), BONDS - 7, "seller2's bonds");
        assertEq(bond.balanceOf(buyer), BONDS + 13, "buyer's bonds");
        assertEq(bond.balanceOf(buyer2), BONDS + 6, "buyer2's bonds");
        assertEq(hkd.balanceOf(buyer), CASH - 500_000_00 - 100_000_00, "buyer's cash");
        assertEq(hkd.balanceOf(seller2), CASH + 250_000_00 + 100_000_00, "seller2's cash");
        assertTrue(handler.cancelled(handler.ids(3)), "#3 cancelled");
        assertTrue(handler.cancelled(handler.ids(5)), "#5 cancelled");
        assertFalse(handler.cancelled(handler.ids(4)), "#4 not");
        assertEq(handler.settlements(handler.ids(0)), 1, "#0 settled once");
        assertEq(handler.settlements(handler.ids(3)), 0, "#3 never");
        assertEq(handler.settlements(handler.ids(4)), 1, "#4 settled");
        assertEq(handler.settlements(handler.ids(5)), 0, "#5 never");
        assertEq(handler.settlements(handler.ids(10)), 1, "#10 settled once relisted");
        invariant_settlementConservesBalancesAndTheVenueHoldsNothing();
        invariant_anInstructionSettlesAtMostOnceNeverAfterCancellationAndAsPredicted();
    }
}
