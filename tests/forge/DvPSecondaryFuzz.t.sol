// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Code, Predict, refusal} from "./SecondaryOracle.sol";
import {SecondaryFixture, pick} from "./SecondaryFixture.sol";
import {DvPSettlement} from "../../contracts/DvPSettlement.sol";
import {IInvestorRegistry} from "../../contracts/interfaces/IInvestorRegistry.sol";

/// @dev One settlement with everything random, against the independent oracle.
contract DvPSecondaryFuzzTest is SecondaryFixture {
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
                keccak256(refusal(dvp.instructionId(ins), reason, tokenReason)),
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
