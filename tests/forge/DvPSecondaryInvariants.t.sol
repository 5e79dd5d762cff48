// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Code} from "./SecondaryOracle.sol";
import {SecondaryFixture} from "./SecondaryFixture.sol";
import {SecondaryHandler} from "./SecondaryHandler.sol";
import {CashToken} from "../../contracts/CashToken.sol";

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

        handler = new SecondaryHandler(dvp, bond, hkd, usd, registry, keys);
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
