// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {LifecycleScenario} from "./LifecycleFixture.sol";
import {PayingAgent} from "../../contracts/PayingAgent.sol";
import {SecurityToken} from "../../contracts/SecurityToken.sol";
import {BondToken} from "../../contracts/BondToken.sol";
import {IBondLifecycle} from "../../contracts/interfaces/IBondLifecycle.sol";
import {TransferReason} from "../../contracts/interfaces/ISecurityToken.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {SnapshotModule} from "../../contracts/modules/SnapshotModule.sol";

/// @dev The paying agent: coupons to the holders of record, redemption in batches, and what
/// the findings below pin.
contract LifecycleTest is LifecycleScenario {
    // ---------------------------------------------------------------- paying agent: coupons

    // Holders are paid in ascending address order: frank 0xF1 < grace 0xF2 < heidi 0xF3 <
    // bob 0xB0B < mallory 0x3A11 < alice 0xA11CE.

    function test_aCouponPaysEachHolderOfRecordOnce() public {
        vm.warp(R1);
        declare(1, COUPON);
        uint256 each = COUPON / SCALE;

        vm.expectRevert(abi.encodeWithSelector(PayingAgent.HoldersNotAscending.selector, frank, bob));
        pay(1, list(frank, bob, frank)); // a duplicate is refused, and the whole batch with it
        vm.expectRevert(abi.encodeWithSelector(PayingAgent.HoldersNotAscending.selector, frank, bob));
        pay(1, list(bob, frank)); // so is a batch out of order

        vm.expectEmit(true, true, true, true, address(agent));
        emit PayingAgent.CouponPaid(address(bond), 1, frank, 20, 20 * each);
        vm.expectEmit(true, true, true, true, address(agent));
        emit PayingAgent.CouponPaid(address(bond), 1, bob, 50, 50 * each);
        pay(1, list(frank, bob));
        assertEq(cash(frank), 20 * each, "frank once");
        assertEq(cash(bob), 50 * each, "bob once");
        assertTrue(agent.isCouponPaid(address(bond), 1, frank), "frank marked paid");
        assertTrue(agent.isCouponPaid(address(bond), 1, bob), "bob marked paid");
        assertFalse(agent.isCouponPaid(address(bond), 1, alice), "alice not yet");
        assertEq(agent.couponCursor(address(bond), 1), bob, "the cursor is the last holder passed");

        vm.expectRevert(abi.encodeWithSelector(PayingAgent.HoldersNotAscending.selector, frank, bob));
        pay(1, list(frank, bob)); // a re-run pays nothing
        vm.expectRevert(abi.encodeWithSelector(PayingAgent.CursorMismatch.selector, address(0), bob));
        agent.payCouponAfter(life, 1, address(0), list(alice)); // built to follow another batch
        assertEq(cash(frank), 20 * each, "frank still once");
        assertEq(cash(bob), 50 * each, "bob still once");
        PayingAgent.Payment memory c = agent.coupon(address(bond), 1);
        assertEq(c.paidQuantity, 70, "paid quantity");
        assertEq(c.paidAmount, 70 * each, "paid amount");
        assertFalse(c.complete, "alice is owed");
        assertTrue(bond.isSnapshotOpen(1), "snapshot open");

        vm.expectEmit(true, true, true, true, address(agent));
        emit PayingAgent.CouponCompleted(address(bond), 1, SUPPLY, SUPPLY * each);
        agent.payCouponAfter(life, 1, bob, list(alice));
        assertEq(cash(alice), 100 * each, "alice");
        assertEq(cash(issuer), TREASURY_CASH - SUPPLY * each, "the treasury paid exactly the coupon");
        assertEq(cash(address(agent)), 0, "the agent keeps nothing");

        vm.expectRevert(abi.encodeWithSelector(PayingAgent.PaymentComplete.selector, address(bond), 1));
        pay(1, list(alice));
    }

    function test_aCouponCompletesExactlyWhenAllRecordQuantityIsPaidAndClosesTheSnapshot() public {
        vm.warp(R1 + 1);
        bond.mint(grace, 30); // after the record: not owed
        declare(1, COUPON);
        pay(1, list(frank));
        pay(1, list(grace, heidi)); // nobody of record
        pay(1, new address[](0));
        pay(1, list(bob, mallory)); // mallory: nobody of record
        assertFalse(agent.coupon(address(bond), 1).complete, "alice is owed");
        assertTrue(bond.isSnapshotOpen(1), "open while owed");
        vm.expectEmit(true, true, true, true, address(bond));
        emit SnapshotModule.SnapshotClosed(1);
        pay(1, list(alice));
        assertTrue(agent.coupon(address(bond), 1).complete, "complete");
        assertEq(agent.coupon(address(bond), 1).paidQuantity, SUPPLY, "paid quantity is the record supply");
        assertFalse(bond.isSnapshotOpen(1), "snapshot released");
        assertEq(cash(grace), 0, "the buyer after the record date got nothing");
    }

    function test_theSellerOfRecordIsPaidAndTheBuyerAfterTheRecordDateIsNot() public {
        vm.warp(R1 - 1 hours);
        send(alice, heidi, 10); // bought before the record date: owed
        vm.warp(R1 + 1 hours);
        send(bob, grace, 50); // bob sells everything after the record date
        send(heidi, grace, 10);
        declare(1, COUPON);
        pay(1, list(frank, grace, heidi, bob));
        pay(1, list(alice));
        uint256 each = COUPON / SCALE;
        assertEq(cash(bob), 50 * each, "the seller of record is paid");
        assertEq(cash(heidi), 10 * each, "the buyer before the record date is paid");
        assertEq(cash(grace), 0, "the buyer after the record date is not");
        assertTrue(agent.isCouponPaid(address(bond), 1, grace), "grace passed, with nothing of record");
        assertEq(cash(alice), 90 * each, "alice");
        assertTrue(agent.coupon(address(bond), 1).complete, "complete");
    }

    function test_aCouponRoundsDownPerHolderAndTheResidueStaysWithTheIssuer() public {
        bond.mint(heidi, 1);
        vm.warp(R1);
        uint256 a = 33_333_333_333; // 3.3333333333 cents a token
        declare(1, a);
        pay(1, list(frank, heidi, bob, alice));
        assertEq(cash(alice), 333, "100 x 3.33.. = 333.33 -> 333");
        assertEq(cash(bob), 166, "50 x 3.33.. = 166.67 -> 166");
        assertEq(cash(frank), 66, "20 x 3.33.. = 66.67 -> 66");
        assertEq(cash(heidi), 3, "1 x 3.33.. -> 3");
        uint256 paid = 333 + 166 + 66 + 3;
        assertEq(agent.coupon(address(bond), 1).paidAmount, paid, "paid amount");
        assertEq(cash(issuer), TREASURY_CASH - paid, "the residue stays with the issuer");
        assertLe(paid, 171 * a / SCALE, "never more than the whole issue's coupon");
        assertEq(171 * a / SCALE - paid, 1, "a whole cent of residue (569.99 owed in all, 568 paid)");
        assertTrue(agent.coupon(address(bond), 1).complete, "complete");
    }

    function test_aHolderOwedLessThanACentIsMarkedPaidWithNothing() public {
        bond.mint(heidi, 1);
        vm.warp(R1);
        declare(1, SCALE / 2); // half a cent a token
        pay(1, list(frank, heidi));
        assertEq(cash(heidi), 0, "half a cent rounds to nothing");
        assertEq(cash(frank), 10, "20 x 0.5");
        assertTrue(agent.isCouponPaid(address(bond), 1, heidi), "heidi counted as paid");
        pay(1, list(bob, alice));
        assertTrue(agent.coupon(address(bond), 1).complete, "complete");
    }

    function test_shortTreasuryCashRevertsTheBatchAndPaysNobodyInIt() public {
        vm.warp(R1);
        declare(1, COUPON);
        uint256 each = COUPON / SCALE;
        uint256 left = 70 * each + 1; // enough for frank and bob, not for alice after them
        vm.startPrank(issuer);
        hkd.burn(cash(issuer) - left);
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, issuer, 1, 100 * each));
        pay(1, list(frank, bob, alice));
        assertEq(cash(frank), 0, "frank not paid");
        assertFalse(agent.isCouponPaid(address(bond), 1, frank), "frank not marked");
        assertEq(agent.couponCursor(address(bond), 1), address(0), "the cursor did not move");
        assertEq(agent.coupon(address(bond), 1).paidQuantity, 0, "nothing counted");
        assertEq(cash(issuer), left, "treasury untouched");

        pay(1, list(frank, bob)); // a batch the treasury can cover goes through
        assertEq(cash(bob), 50 * each, "bob paid");
        hkd.mint(issuer, 100 * each);
        pay(1, list(alice));
        assertTrue(agent.coupon(address(bond), 1).complete, "complete after the top-up");
        assertEq(cash(issuer), 1, "one cent left");
    }

    function test_aShortAllowanceRevertsTheBatchAndPaysNobodyInIt() public {
        vm.warp(R1);
        declare(1, COUPON);
        uint256 each = COUPON / SCALE;
        vm.prank(issuer);
        hkd.approve(address(agent), 50 * each + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(agent), 1, 100 * each)
        );
        pay(1, list(bob, alice));
        assertEq(cash(bob), 0, "bob not paid");
        assertEq(cash(issuer), TREASURY_CASH, "treasury untouched");
        assertEq(hkd.allowance(issuer, address(agent)), 50 * each + 1, "allowance untouched");
    }

    function test_onlyThePayingAgentRoleMayDeclarePayAndRedeem() public {
        vm.warp(R1);
        bytes32 role = agent.PAYING_AGENT_ROLE();
        vm.startPrank(mallory);
        unauthorized(mallory, role);
        agent.declareCoupon(life, 1, COUPON, block.timestamp);
        unauthorized(mallory, role);
        agent.payCoupon(life, 1, list(alice));
        unauthorized(mallory, role);
        agent.declareRedemption(life, PRINCIPAL);
        unauthorized(mallory, role);
        agent.redeem(life, list(alice));
        // Nor on the bond directly.
        unauthorized(mallory, bond.PAYING_AGENT_ROLE());
        bond.startRedemption();
        unauthorized(mallory, bond.PAYING_AGENT_ROLE());
        bond.markRedeemed();
        unauthorized(mallory, bond.BURNER_ROLE());
        bond.burn(alice, 1);
        vm.stopPrank();

        // A paying agent the bond never appointed cannot close it.
        PayingAgent other = new PayingAgent(address(this));
        other.setBondRegistered(address(bond), true);
        unauthorized(address(other), bond.PAYING_AGENT_ROLE());
        other.declareRedemption(life, PRINCIPAL);

        // A granted operator may act.
        address operator = address(0x0BE7);
        agent.grantRole(role, operator);
        vm.prank(operator);
        agent.declareCoupon(life, 1, COUPON, block.timestamp);
        assertTrue(agent.coupon(address(bond), 1).declared, "declared by the operator");
    }

    function test_aCouponIsNotPayableBeforeItsPaymentTime() public {
        vm.warp(R1);
        uint256 paymentTime = R1 + 7 days;
        vm.expectEmit(true, true, true, true, address(agent));
        emit PayingAgent.CouponDeclared(address(bond), 1, COUPON, paymentTime);
        agent.declareCoupon(life, 1, COUPON, paymentTime);
        vm.warp(paymentTime - 1);
        vm.expectRevert(abi.encodeWithSelector(PayingAgent.NotYetPayable.selector, paymentTime));
        pay(1, list(alice));
        vm.warp(paymentTime);
        pay(1, list(alice)); // the refused batch moved nothing
        assertEq(cash(alice), 100 * COUPON / SCALE, "paid on the payment date");
    }

    function test_declaringACouponNeedsItsRecordTimePassedAndHappensOnce() public {
        vm.warp(R1 - 1);
        vm.expectRevert(abi.encodeWithSelector(PayingAgent.RecordDateNotPassed.selector, address(bond), 1));
        declare(1, COUPON);
        vm.expectRevert(abi.encodeWithSelector(PayingAgent.RecordDateNotPassed.selector, address(bond), 0));
        declare(0, COUPON);
        vm.expectRevert(abi.encodeWithSelector(PayingAgent.NotDeclared.selector, address(bond), 1));
        pay(1, list(alice));

        vm.warp(R1);
        declare(1, COUPON);
        assertEq(bond.snapshotCount(), 1, "declaring opened the due snapshot");
        vm.expectRevert(abi.encodeWithSelector(PayingAgent.AlreadyDeclared.selector, address(bond), 1));
        declare(1, 2 * COUPON);
        assertEq(agent.coupon(address(bond), 1).amountPerToken, COUPON, "the first declaration stands");
        vm.expectRevert(abi.encodeWithSelector(PayingAgent.RecordDateNotPassed.selector, address(bond), 2));
        declare(2, COUPON);
        vm.warp(R3 + 365 days);
        vm.expectRevert(abi.encodeWithSelector(PayingAgent.RecordDateNotPassed.selector, address(bond), 4));
        declare(4, COUPON); // no such record time
    }

    function test_theCouponOfRecordIsStillPaidAfterTheBondIsRedeemed() public {
        vm.warp(R1 + 1 days);
        declare(1, COUPON);
        agent.declareRedemption(life, PRINCIPAL);
        agent.redeem(life, list(alice, bob, frank));
        assertTrue(bond.isRedeemed(), "redeemed");
        assertEq(bond.totalSupplyAt(1), SUPPLY, "the record supply survives the burns");
        pay(1, list(frank, bob, alice));
        uint256 each = COUPON / SCALE;
        assertEq(cash(alice), 100 * (each + DENOMINATION), "alice: coupon and principal");
        assertEq(cash(bob), 50 * (each + DENOMINATION), "bob: coupon and principal");
        assertTrue(agent.coupon(address(bond), 1).complete, "complete");
    }

    // ---------------------------------------------------------------- redemption

    function test_redemptionAtMaturityPaysAndBurnsInBatches() public {
        vm.warp(MATURITY_DATE);
        expectRestricted(alice, bob, 1, TransferReason.INSTRUMENT_CLOSED);
        send(alice, bob, 1); // closed by the date already
        expectRestricted(address(0), bob, 1, TransferReason.INSTRUMENT_CLOSED);
        bond.mint(bob, 1);
        assertFalse(bond.closed(), "not closed by redemption yet");

        vm.expectEmit(true, true, true, true, address(bond));
        emit SecurityToken.InstrumentClosed();
        vm.expectEmit(true, true, true, true, address(bond));
        emit BondToken.RedemptionStarted(false);
        vm.expectEmit(true, true, true, true, address(agent));
        emit PayingAgent.RedemptionDeclared(address(bond), PRINCIPAL, false);
        agent.declareRedemption(life, PRINCIPAL);
        assertTrue(bond.closed(), "closed");

        vm.expectEmit(true, true, true, true, address(agent));
        emit PayingAgent.PrincipalPaid(address(bond), alice, 100, 100 * DENOMINATION);
        agent.redeem(life, list(alice));
        assertEq(cash(alice), 100 * DENOMINATION, "alice paid par");
        assertEq(bond.balanceOf(alice), 0, "alice's bonds burned");
        assertEq(bond.totalSupply(), 70, "supply");
        assertFalse(bond.isRedeemed(), "not yet");

        vm.expectEmit(true, true, true, true, address(bond));
        emit BondToken.BondRedeemed();
        vm.expectEmit(true, true, true, true, address(agent));
        emit PayingAgent.RedemptionCompleted(address(bond), SUPPLY, SUPPLY * DENOMINATION);
        agent.redeem(life, list(bob, frank));
        assertEq(bond.totalSupply(), 0, "all burned");
        assertTrue(bond.isRedeemed(), "redeemed");
        PayingAgent.Payment memory r = agent.redemption(address(bond));
        assertTrue(r.complete, "complete");
        assertEq(r.paidQuantity, SUPPLY, "paid quantity");
        assertEq(r.paidAmount, SUPPLY * DENOMINATION, "paid amount");
        assertEq(cash(issuer), TREASURY_CASH - SUPPLY * DENOMINATION, "the treasury paid the principal");
        assertEq(cash(address(agent)) + bond.balanceOf(address(agent)), 0, "the agent holds nothing");
    }

    function test_anEarlyRedemptionClosesTheBondAtOnce() public {
        vm.warp(R1 + 3 days);
        vm.expectEmit(true, true, true, true, address(bond));
        emit BondToken.RedemptionStarted(true);
        vm.expectEmit(true, true, true, true, address(agent));
        emit PayingAgent.RedemptionDeclared(address(bond), PRINCIPAL, true);
        agent.declareRedemption(life, PRINCIPAL);

        expectRestricted(alice, bob, 1, TransferReason.INSTRUMENT_CLOSED);
        send(alice, bob, 1);
        expectRestricted(address(0), bob, 1, TransferReason.INSTRUMENT_CLOSED);
        bond.mint(bob, 1);
        expectRestricted(alice, bob, 1, TransferReason.INSTRUMENT_CLOSED);
        vm.prank(address(dvp));
        bond.settlementTransfer(alice, bob, 1);
        assertFalse(bond.canTransfer(alice, bob, 1), "canTransfer says no");
        uint8 reason = bond.detectTransferRestriction(alice, bob, 1);
        assertEq(uint256(reason), TransferReason.INSTRUMENT_CLOSED, "instrument closed");

        bond.burn(frank, 1); // burns still go through
        assertEq(bond.balanceOf(frank), 19, "burned");

        // startRedemption again does nothing more.
        vm.recordLogs();
        vm.prank(address(agent));
        bond.startRedemption();
        assertEq(vm.getRecordedLogs().length, 0, "no second RedemptionStarted");
    }

    function test_redeemIsBatchedAndSafeToRerun() public {
        vm.expectRevert(abi.encodeWithSelector(PayingAgent.NotDeclared.selector, address(bond), 0));
        agent.redeem(life, list(alice));
        agent.declareRedemption(life, PRINCIPAL);
        vm.expectRevert(abi.encodeWithSelector(PayingAgent.AlreadyDeclared.selector, address(bond), 0));
        agent.declareRedemption(life, 2 * PRINCIPAL);

        agent.redeem(life, list(alice, alice, grace)); // a duplicate, a non-holder
        agent.redeem(life, list(alice)); // a re-run
        agent.redeem(life, new address[](0));
        assertEq(cash(alice), 100 * DENOMINATION, "alice paid once");
        assertEq(agent.redemption(address(bond)).paidQuantity, 100, "counted once");
        assertFalse(agent.redemption(address(bond)).complete, "others outstanding");

        vm.prank(address(agent));
        vm.expectRevert(abi.encodeWithSelector(BondToken.NotFullyRedeemed.selector, 70));
        bond.markRedeemed();

        agent.redeem(life, list(frank, bob, frank));
        assertTrue(bond.isRedeemed(), "redeemed");
        assertEq(cash(bob), 50 * DENOMINATION, "bob");
        assertEq(cash(frank), 20 * DENOMINATION, "frank once");
        vm.expectRevert(abi.encodeWithSelector(PayingAgent.PaymentComplete.selector, address(bond), 0));
        agent.redeem(life, list(alice));
    }

    function test_aFrozenOrLapsedHolderIsStillRedeemed() public {
        bond.setAddressFrozen(bob, true);
        registry.setInvestor(keccak256("frank"), "HK", PROFESSIONAL, uint40(block.timestamp + 1 days));
        vm.warp(MATURITY_DATE);
        agent.declareRedemption(life, PRINCIPAL);
        agent.redeem(life, list(bob, frank, alice));
        assertEq(cash(bob), 50 * DENOMINATION, "the frozen holder is paid");
        assertEq(cash(frank), 20 * DENOMINATION, "the lapsed holder is paid");
        assertEq(bond.balanceOf(bob), 0, "burned");
        assertTrue(bond.isRedeemed(), "redeemed");
    }

    function test_aShortTreasuryRevertsTheRedemptionBatchAndBurnsNothing() public {
        agent.declareRedemption(life, PRINCIPAL);
        vm.prank(issuer);
        hkd.approve(address(agent), 100 * DENOMINATION);
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(agent), 0, 50 * DENOMINATION
            )
        );
        agent.redeem(life, list(alice, bob));
        assertEq(bond.balanceOf(alice), 100, "alice's bonds not burned");
        assertEq(cash(alice), 0, "alice not paid");
        assertEq(agent.redemption(address(bond)).paidQuantity, 0, "nothing counted");
    }

    function test_aPausedBondCannotBeRedeemed() public {
        agent.declareRedemption(life, PRINCIPAL);
        bond.pause();
        expectRestricted(alice, address(0), 100, TransferReason.PAUSED);
        agent.redeem(life, list(alice));
        bond.unpause();
        agent.redeem(life, list(alice));
        assertEq(bond.balanceOf(alice), 0, "redeemed once unpaused");
    }

    // ---------------------------------------------------------------- findings

    /// The count of open snapshots is a uint8: with more record times than it holds, a 256th
    /// snapshot opening while the others are still open would overflow it and revert every balance
    /// change for good. So an instrument takes at most MAX_RECORD_TIMES (255), and with all 255
    /// open at once the token still works.
    function test_atMost255RecordTimesAndAllOpenAtOnceStillWork() public {
        assertEq(bond.MAX_RECORD_TIMES(), 255, "a uint8 of open snapshots");
        uint64[] memory many = new uint64[](256);
        for (uint256 i = 0; i < 256; ++i) {
            many[i] = uint64(ISSUE_DATE + 1 days + i * 1 days);
        }
        vm.expectRevert(abi.encodeWithSelector(SnapshotModule.TooManyRecordTimes.selector, 256, 255));
        this.deployWith(many);

        assembly ("memory-safe") {
            mstore(many, 255)
        }
        BondToken big = deployLifecycleBond(many, MATURITY_DATE, address(agent));
        big.mint(alice, 10);
        vm.warp(ISSUE_DATE + 400 days); // every record time passed, none closed
        big.openDueSnapshots();
        assertEq(big.snapshotCount(), 255, "all 255 open");
        vm.prank(alice);
        big.transfer(bob, 1);
        big.mint(bob, 1);
        agent.declareRedemption(IBondLifecycle(address(big)), PRINCIPAL);
        agent.redeem(IBondLifecycle(address(big)), list(alice));
        assertEq(big.balanceOf(alice), 0, "redeemed");
    }

    /// External, so that expectRevert meets the deployment itself.
    function deployWith(uint64[] memory recordTimes) external returns (BondToken) {
        return deployLifecycleBond(recordTimes, MATURITY_DATE, address(agent));
    }

    /// Agent moves, forcedTransfer and recoverWallet, still move a closed bond (after maturity,
    /// or once redemption started): a holder who lost a key must still be paid, and a court order
    /// about who holds a bond awaiting redemption decides who is paid. Holder transfers stop.
    function test_agentMovesStillMoveAClosedBond() public {
        agent.declareRedemption(life, PRINCIPAL);
        assertTrue(bond.closed(), "closed");
        bond.forcedTransfer(alice, bob, 10);
        bond.recoverWallet(alice, alice2);
        vm.warp(MATURITY_DATE + 1);
        bond.forcedTransfer(bob, frank, 5);
        assertEq(bond.balanceOf(alice2), 90, "recovered after close");
        assertEq(bond.balanceOf(bob), 55, "forced in after close");
        assertEq(bond.balanceOf(frank), 25, "forced in after maturity");
    }
}
