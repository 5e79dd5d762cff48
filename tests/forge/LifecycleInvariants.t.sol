// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {LifecycleBase} from "./LifecycleFixture.sol";
import {LifecycleHandler} from "./LifecycleHandler.sol";
import {BondToken} from "../../contracts/BondToken.sol";
import {PayingAgent} from "../../contracts/PayingAgent.sol";

contract LifecycleInvariantTest is LifecycleBase {
    uint256 internal constant INITIAL_TREASURY = 3e9; // HK$30m: short now and then

    LifecycleHandler internal handler;
    BondToken internal lbond;
    address[] internal actors;
    uint256 internal initialCash;

    function setUp() public override {
        super.setUp();
        uint64[] memory t = new uint64[](7);
        for (uint256 i = 0; i < 7; ++i) {
            t[i] = uint64(ISSUE_DATE + (i + 1) * 10 days);
        }
        lbond = deployLifecycleBond(t, ISSUE_DATE + 90 days, address(agent));
        // A treasury that is short now and then.
        vm.startPrank(issuer);
        hkd.burn(hkd.balanceOf(issuer) - INITIAL_TREASURY);
        vm.stopPrank();

        actors = [alice, alice2, bob, frank, grace, heidi];
        lbond.mint(alice, 100);
        lbond.mint(bob, 60);
        lbond.mint(frank, 30);
        lbond.mint(grace, 10);

        handler = new LifecycleHandler(lbond, agent, hkd, actors);
        agent.grantRole(agent.PAYING_AGENT_ROLE(), address(handler));
        lbond.grantRole(lbond.MINTER_ROLE(), address(handler));
        hkd.grantRole(hkd.MINTER_ROLE(), address(handler));
        initialCash = cashHeld();
        targetContract(address(handler));
    }

    function cashHeld() internal view returns (uint256 sum) {
        for (uint256 i = 0; i < actors.length; ++i) {
            sum += hkd.balanceOf(actors[i]);
        }
        sum += hkd.balanceOf(issuer) + hkd.balanceOf(address(agent));
    }

    // ---------------------------------------------------------------- invariants
    // Three campaigns (each invariant function drives its own), each asserting several properties.

    /// No holder is ever paid twice for a coupon; a completed coupon paid exactly the record-date
    /// supply; open snapshots answer the record holdings.
    /// forge-config: default.invariant.runs = 168
    /// forge-config: default.invariant.depth = 60
    function invariant_couponsPayEachHolderOfRecordOnceAndCompleteOnTheRecordSupply() public view {
        checkCouponsAndSnapshots();
    }

    /// Cash is conserved and the paying agent never holds cash or bonds.
    /// forge-config: default.invariant.runs = 168
    /// forge-config: default.invariant.depth = 60
    function invariant_cashIsConservedAndThePayingAgentHoldsNothing() public view {
        checkCashIsConserved();
        checkThePayingAgentNeverHoldsCashOrBonds();
    }

    /// Bond supply follows mints and redemptions, and every call went as the rules predict.
    /// forge-config: default.invariant.runs = 168
    /// forge-config: default.invariant.depth = 60
    function invariant_bondSupplyAndTheLifecycleRulesAgree() public view {
        checkBondSupplyFollowsMintsAndRedemptions();
        checkTheLifecycleRulesAgree();
        checkThePayingAgentNeverHoldsCashOrBonds();
    }

    // The checks run after every call of a campaign: assert through the cheatcode only on a
    // mismatch, which keeps a campaign fast.
    function same(uint256 a, uint256 b, string memory err) internal pure {
        if (a != b) assertEq(a, b, err);
    }

    function same(bool a, bool b, string memory err) internal pure {
        if (a != b) assertEq(a, b, err);
    }

    function atMost(uint256 a, uint256 b, string memory err) internal pure {
        if (a > b) assertLe(a, b, err);
    }

    /// For every record time: no holder is ever paid twice for its coupon, and each paid holder got
    /// floor(record x amount / 1e10); the coupon's paid quantity is the paid holders' record
    /// holdings, and the whole record-date supply once complete, which released the snapshot; an
    /// open snapshot answers the holdings the handler recorded when the record time passed.
    function checkCouponsAndSnapshots() internal view {
        same(handler.ghostDoublePayments(), 0, "paid twice");
        same(handler.ghostWrongAmounts(), 0, "wrong amount");
        same(handler.ghostCompletionMismatches(), 0, "completion against the record supply");
        same(handler.ghostSnapshotMismatches(), 0, "snapshot disagreed during payment");
        uint256 n = handler.recordCount();
        for (uint256 id = 1; id <= n; ++id) {
            (bool taken, uint256 supply, uint256[] memory held, uint256[] memory payments, uint256[] memory received) =
                handler.ledger(id);
            PayingAgent.Payment memory c = agent.coupon(address(lbond), id);
            bool open = lbond.isSnapshotOpen(id);
            same(open, taken && !c.complete, "open iff its record time passed and unpaid");
            if (!taken) {
                same(c.declared, false, "declared before its record time");
                continue;
            }
            uint256 paidRecord;
            for (uint256 i = 0; i < actors.length; ++i) {
                // Passed (at or below the cursor) is not paid: a batch may skip a holder, who
                // then can never be paid on this coupon (and it never completes).
                bool paid = payments[i] == 1;
                atMost(payments[i], 1, "payments per holder");
                if (paid) same(c.declared && agent.isCouponPaid(address(lbond), id, actors[i]), true, "paid is passed");
                same(received[i], paid ? held[i] * c.amountPerToken / SCALE : 0, "cash per holder");
                if (paid) paidRecord += held[i];
            }
            same(c.paidQuantity, paidRecord, "paid quantity is the paid holders' record holdings");
            atMost(c.paidQuantity, supply, "never above the record supply");
            if (c.complete) same(c.paidQuantity, supply, "complete: the whole record supply");
            if (!open) continue;
            same(lbond.totalSupplyAt(id), supply, "supply at the record time");
            for (uint256 i = 0; i < actors.length; ++i) {
                same(lbond.balanceOfAt(actors[i], id), held[i], "holding at the record time");
            }
        }
    }

    /// Cash only moves between the actors and the treasury; it is created only by tracked top-ups.
    function checkCashIsConserved() internal view {
        assertEq(cashHeld(), initialCash + handler.ghostCashMinted(), "cash held");
        assertEq(hkd.totalSupply(), initialCash + handler.ghostCashMinted(), "cash supply");
        assertEq(handler.ghostTreasuryMismatches(), 0, "treasury outflow is what holders received");
    }

    /// The paying agent is a conduit: it never holds cash or bonds.
    function checkThePayingAgentNeverHoldsCashOrBonds() internal view {
        assertEq(hkd.balanceOf(address(agent)), 0, "agent cash");
        assertEq(lbond.balanceOf(address(agent)), 0, "agent bonds");
    }

    /// Bond supply is what was minted less what was redeemed, all held by actors; redeemed iff empty
    /// after a redemption; closed iff a redemption was declared.
    function checkBondSupplyFollowsMintsAndRedemptions() internal view {
        uint256 sum;
        for (uint256 i = 0; i < actors.length; ++i) {
            sum += lbond.balanceOf(actors[i]);
        }
        assertEq(sum, lbond.totalSupply(), "held by actors");
        assertEq(handler.ghostBondsMinted() - handler.ghostBondsRedeemed(), lbond.totalSupply(), "minted - redeemed");
        assertEq(handler.ghostRedeemMismatches(), 0, "redemption paid and burned exactly");
        assertEq(lbond.closed(), agent.redemption(address(lbond)).declared, "closed iff redemption declared");
        if (lbond.isRedeemed()) assertEq(lbond.totalSupply(), 0, "redeemed: nothing left");
    }

    /// Every call went through or was refused exactly as the rules predict.
    function checkTheLifecycleRulesAgree() internal view {
        assertEq(handler.ghostUnexpectedSuccesses(), 0, "a forbidden call went through");
        assertEq(handler.ghostUnexpectedRefusals(), 0, "an allowed call was refused");
    }

    // ---------------------------------------------------------------- the handler itself

    /// A batch seed: its length, then one actor index a byte.
    function seedOf(uint8[] memory indices) internal pure returns (uint256 seed) {
        seed = indices.length;
        for (uint256 i = 0; i < indices.length; ++i) {
            seed |= uint256(indices[i]) << (8 * i + 8);
        }
    }

    function idx(uint8 a, uint8 b, uint8 c) internal pure returns (uint8[] memory l) {
        l = new uint8[](3);
        l[0] = a;
        l[1] = b;
        l[2] = c;
    }

    /// A fixed walk through the handler so the invariants are known not to be vacuous.
    function test_handlerWalkPaysACouponInBatchesAndRedeems() public {
        // actors: 0 alice, 1 alice2, 2 bob, 3 frank, 4 grace, 5 heidi
        handler.declareCoupon(0, 95_000 * SCALE, 0); // record time 1 not passed: refused
        handler.warp(12 days - 1 hours);
        handler.warp(9 days - 1 hours); // day 21: past record times 1 and 2
        handler.transfer(2, 4, 60); // bob sells everything to grace after the record
        handler.declareCoupon(0, 95_000 * SCALE + 3, 0); // a fraction of a cent on top
        // In ascending order: frank, grace, heidi, bob, alice, alice2.
        handler.payCoupon(0, seedOf(idx(5, 2, 2))); // refused: bob twice, and heidi before him is out of order
        handler.payCouponInOrder(0, 1); // frank
        handler.setAllowance(0, 5); // allowance cut to 5 cents
        handler.payCouponInOrder(0, 3); // refused: grace and bob need more
        handler.setAllowance(1, 0);
        handler.payCouponInOrder(0, 3); // grace, heidi (nothing of record), bob
        handler.payCoupon(0, seedOf(idx(3, 3, 0))); // refused: frank again, below the cursor
        handler.payCouponInOrder(0, 2); // alice, alice2 (nothing): complete
        handler.payCouponInOrder(0, 1); // refused: complete
        handler.mint(5, 7);
        handler.declareRedemption(0, 50_000_00 * SCALE); // an early call
        handler.transfer(0, 1, 1); // refused: closed
        handler.mint(5, 1); // refused: closed
        handler.topUp(2e9);
        handler.redeem(seedOf(idx(0, 4, 0))); // alice, grace (10 + 60)
        handler.redeem(seedOf(idx(3, 5, 1))); // frank, heidi: nothing left, redeemed
        handler.redeem(seedOf(idx(2, 2, 2))); // refused: complete

        assertEq(handler.succeeded("couponCompleted"), 1, "a coupon completed");
        assertEq(handler.succeeded("payCoupon"), 3, "three paying batches");
        assertEq(handler.succeeded("declareRedemption"), 1, "redemption declared");
        assertEq(handler.succeeded("redeemed"), 1, "redeemed");
        assertEq(hkd.balanceOf(bob), 60 * 95_000, "bob, seller of record: 60 x HK$950 (the fraction rounds away)");
        assertEq(hkd.balanceOf(grace), 10 * 95_000 + 70 * 50_000_00, "grace: coupon on 10, principal on 70");
        assertEq(hkd.balanceOf(alice), 100 * 95_000 + 100 * 50_000_00, "alice: coupon and principal");
        assertTrue(lbond.isRedeemed(), "redeemed");
        checkCouponsAndSnapshots();
        checkCashIsConserved();
        checkThePayingAgentNeverHoldsCashOrBonds();
        checkBondSupplyFollowsMintsAndRedemptions();
        checkTheLifecycleRulesAgree();
    }
}
