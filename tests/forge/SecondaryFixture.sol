// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "./Fixture.sol";
import {Predict, refusal} from "./SecondaryOracle.sol";
import {DvPSettlement} from "../../contracts/DvPSettlement.sol";

uint256 constant PRICE = 50_125_00; // HK$50,125 per bond, in cents

/// @dev An index into the key holders, as {SecondaryFixture} orders them: mostly the four
/// eligible investors (0-3), sometimes retail (4) or the unregistered stranger (5).
function pick(uint256 seed) pure returns (uint256) {
    uint256 r = seed % 8;
    return r < 4 ? r : r < 6 ? (seed >> 3) % 4 : r - 2;
}

/// @dev The fixture's world plus investors who hold private keys (they sign instructions):
/// two HK institutional sellers, an HK institutional and an SG professional buyer, an HK retail
/// investor and an unregistered key holder. Every eligible one holds bonds; all hold HKD and
/// have approved the venue without limit.
abstract contract SecondaryFixture is Fixture {
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
        vm.expectRevert(refusal(id, reason, tokenReason));
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

    /// A copy of `ins` (to change without touching the original).
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
}
