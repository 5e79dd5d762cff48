// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Code, Typed} from "./SecondaryOracle.sol";
import {SecondaryFixture, PRICE} from "./SecondaryFixture.sol";
import {DvPSettlement} from "../../contracts/DvPSettlement.sol";

/// @dev Cancelling a signed instruction: by a party directly or by signature, and what it voids.
contract DvPSecondaryCancelTest is SecondaryFixture {
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
}
