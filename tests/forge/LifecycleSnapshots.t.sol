// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {LifecycleScenario} from "./LifecycleFixture.sol";
import {SecurityToken} from "../../contracts/SecurityToken.sol";
import {SnapshotModule} from "../../contracts/modules/SnapshotModule.sol";

/// @dev Record-time snapshots: when they open, what they answer, when they close.
contract LifecycleSnapshotTest is LifecycleScenario {
    /// The gas one transfer of a bond from `from` to `to` uses.
    function transferGas(address from, address to) internal returns (uint256 used) {
        vm.prank(from);
        uint256 start = gasleft();
        bond.transfer(to, 1);
        used = start - gasleft();
    }

    // ---------------------------------------------------------------- configuration

    function test_payingAgentInTheConfigGetsThePayingAgentAndBurnerRoles() public view {
        assertTrue(bond.hasRole(bond.PAYING_AGENT_ROLE(), address(agent)), "paying agent role");
        assertTrue(bond.hasRole(bond.BURNER_ROLE(), address(agent)), "burner role");
        assertFalse(bond.hasRole(bond.MINTER_ROLE(), address(agent)), "no minter role");
        assertFalse(bond.hasRole(bond.PAYING_AGENT_ROLE(), address(this)), "the admin is not the paying agent");
        uint64[] memory t = bond.recordTimes();
        assertEq(t.length, 3, "three record times");
        assertEq(uint256(t[1]), R2, "second record time");
        assertEq(bond.snapshotCount(), 0, "none opened yet");
    }

    function test_recordTimesMustAscendStrictly() public {
        vm.expectRevert(SnapshotModule.RecordTimesNotAscending.selector);
        deployLifecycleBond(times(R1, R3, R2), MATURITY_DATE, address(agent));
        vm.expectRevert(SnapshotModule.RecordTimesNotAscending.selector);
        deployLifecycleBond(times(R1, R1, R2), MATURITY_DATE, address(agent));
    }

    // ---------------------------------------------------------------- snapshots

    function test_snapshotsAreNotQueryableBeforeTheirRecordTime() public {
        vm.warp(R1 - 1);
        assertFalse(bond.isSnapshotOpen(1), "record time not passed");
        vm.expectRevert(abi.encodeWithSelector(SnapshotModule.SnapshotNotOpen.selector, 1));
        bond.balanceOfAt(alice, 1);
        vm.expectRevert(abi.encodeWithSelector(SnapshotModule.SnapshotNotOpen.selector, 1));
        bond.totalSupplyAt(1);
        vm.warp(R3 + 365 days);
        vm.expectRevert(abi.encodeWithSelector(SnapshotModule.SnapshotNotOpen.selector, 0));
        bond.balanceOfAt(alice, 0);
        vm.expectRevert(abi.encodeWithSelector(SnapshotModule.SnapshotNotOpen.selector, 4));
        bond.balanceOfAt(alice, 4);
    }

    function test_aSnapshotOpensLazilyOrOnOpenDueSnapshots() public {
        vm.warp(R1);
        assertTrue(bond.isSnapshotOpen(1), "queryable from its record time");
        assertEq(bond.snapshotCount(), 0, "not opened until something happens");
        assertEq(bond.balanceOfAt(alice, 1), 100, "a due snapshot answers the current balance");
        vm.expectEmit(true, true, true, true, address(bond));
        emit SnapshotModule.SnapshotOpened(1, R1);
        bond.openDueSnapshots();
        assertEq(bond.snapshotCount(), 1, "opened");
        vm.recordLogs();
        bond.openDueSnapshots();
        assertEq(vm.getRecordedLogs().length, 0, "idempotent: nothing emitted again");
        assertEq(bond.snapshotCount(), 1, "still one");
    }

    function test_theRecordTimeItselfIsAfterTheRecord() public {
        vm.warp(R1 - 1);
        send(alice, bob, 10); // before the record time: counts
        vm.warp(R1);
        send(alice, bob, 5); // at the record time: already after the record
        assertEq(bond.balanceOfAt(alice, 1), 90, "alice at the record time");
        assertEq(bond.balanceOfAt(bob, 1), 60, "bob at the record time");
        assertEq(bond.balanceOf(alice), 85, "alice now");
    }

    function test_recordBalancesAndSupplySurviveLaterTransfersMintsAndBurns() public {
        vm.warp(R1 + 1 days);
        send(alice, bob, 40);
        bond.mint(frank, 10);
        bond.burn(bob, 5);
        send(alice, grace, 60);
        send(grace, alice, 7);
        bond.forcedTransfer(bob, heidi, 3);

        assertEq(bond.balanceOfAt(alice, 1), 100, "alice");
        assertEq(bond.balanceOfAt(bob, 1), 50, "bob");
        assertEq(bond.balanceOfAt(frank, 1), 20, "frank");
        assertEq(bond.balanceOfAt(grace, 1), 0, "grace");
        assertEq(bond.balanceOfAt(heidi, 1), 0, "heidi");
        assertEq(bond.totalSupplyAt(1), SUPPLY, "supply at the record time");
        assertEq(bond.totalSupply(), SUPPLY + 10 - 5, "supply now");

        // The next record time sees the new holdings; the first snapshot is unchanged.
        vm.warp(R2);
        send(alice, frank, 7);
        bond.burn(frank, 37);
        assertEq(bond.balanceOfAt(alice, 2), 7, "alice at the second record time");
        assertEq(bond.balanceOfAt(bob, 2), 82, "bob at the second record time");
        assertEq(bond.balanceOfAt(frank, 2), 30, "frank at the second record time");
        assertEq(bond.balanceOfAt(grace, 2), 53, "grace at the second record time");
        assertEq(bond.balanceOfAt(heidi, 2), 3, "heidi at the second record time");
        assertEq(bond.totalSupplyAt(2), 175, "supply at the second record time");
        assertEq(bond.balanceOfAt(alice, 1), 100, "alice at the first, still");
        assertEq(bond.balanceOfAt(frank, 1), 20, "frank at the first, still");
        assertEq(bond.totalSupplyAt(1), SUPPLY, "supply at the first, still");
        assertEq(bond.totalSupply(), 138, "supply now");
    }

    function test_aSellerAfterTheRecordKeepsItsRecordBalanceAndTheBuyerHasNone() public {
        vm.warp(R1 + 1 hours);
        send(bob, grace, 50);
        assertEq(bond.balanceOf(bob), 0, "bob sold everything");
        assertEq(bond.balanceOfAt(bob, 1), 50, "bob is the holder of record");
        assertEq(bond.balanceOfAt(grace, 1), 0, "grace bought after the record time");
        assertEq(bond.totalSupplyAt(1), SUPPLY, "supply");
    }

    function test_severalRecordTimesPassingAtOnceEachAnswerTheHoldingAtItsTime() public {
        vm.warp(R3 + 1 days); // three record times pass with nothing moving
        assertEq(bond.snapshotCount(), 0, "none opened yet");
        vm.expectEmit(true, true, true, true, address(bond));
        emit SnapshotModule.SnapshotOpened(1, R1);
        vm.expectEmit(true, true, true, true, address(bond));
        emit SnapshotModule.SnapshotOpened(2, R2);
        vm.expectEmit(true, true, true, true, address(bond));
        emit SnapshotModule.SnapshotOpened(3, R3);
        send(alice, grace, 30); // the first move opens all three, then records
        bond.mint(heidi, 5);
        send(frank, alice, 20);
        assertEq(bond.snapshotCount(), 3, "three opened");
        for (uint256 id = 1; id <= 3; ++id) {
            assertEq(bond.balanceOfAt(alice, id), 100, "alice");
            assertEq(bond.balanceOfAt(bob, id), 50, "bob");
            assertEq(bond.balanceOfAt(frank, id), 20, "frank");
            assertEq(bond.balanceOfAt(grace, id), 0, "grace");
            assertEq(bond.balanceOfAt(heidi, id), 0, "heidi");
            assertEq(bond.totalSupplyAt(id), SUPPLY, "supply");
        }
    }

    function test_movesBetweenRecordTimesGiveEachSnapshotItsOwnHolding() public {
        vm.warp(R1);
        send(alice, grace, 10); // alice 90, grace 10
        vm.warp(R2);
        bond.mint(grace, 5); // grace 15, supply 175
        vm.warp(R3);
        send(grace, bob, 15); // grace 0, bob 65
        bond.burn(alice, 90); // alice 0, supply 85
        assertEq(bond.balanceOfAt(alice, 1), 100, "alice 1");
        assertEq(bond.balanceOfAt(alice, 2), 90, "alice 2");
        assertEq(bond.balanceOfAt(alice, 3), 90, "alice 3");
        assertEq(bond.balanceOfAt(grace, 1), 0, "grace 1");
        assertEq(bond.balanceOfAt(grace, 2), 10, "grace 2");
        assertEq(bond.balanceOfAt(grace, 3), 15, "grace 3");
        assertEq(bond.balanceOfAt(bob, 3), 50, "bob 3");
        assertEq(bond.totalSupplyAt(1), 170, "supply 1");
        assertEq(bond.totalSupplyAt(2), 170, "supply 2");
        assertEq(bond.totalSupplyAt(3), 175, "supply 3");
        assertEq(bond.totalSupply(), 85, "supply now");
    }

    function test_aClosedSnapshotRefusesQueries() public {
        vm.warp(R1);
        bond.openDueSnapshots();
        unauthorized(mallory, bond.PAYING_AGENT_ROLE());
        vm.prank(mallory);
        bond.closeSnapshot(1);
        unauthorized(address(this), bond.PAYING_AGENT_ROLE()); // the issuer is not the paying agent
        bond.closeSnapshot(1);

        vm.expectEmit(true, true, true, true, address(bond));
        emit SnapshotModule.SnapshotClosed(1);
        vm.prank(address(agent));
        bond.closeSnapshot(1);
        assertFalse(bond.isSnapshotOpen(1), "closed");
        vm.expectRevert(abi.encodeWithSelector(SnapshotModule.SnapshotNotOpen.selector, 1));
        bond.balanceOfAt(alice, 1);
        vm.expectRevert(abi.encodeWithSelector(SnapshotModule.SnapshotNotOpen.selector, 1));
        bond.totalSupplyAt(1);
        vm.prank(address(agent));
        vm.expectRevert(abi.encodeWithSelector(SnapshotModule.SnapshotNotOpen.selector, 1));
        bond.closeSnapshot(1); // not twice
        vm.prank(address(agent));
        vm.expectRevert(abi.encodeWithSelector(SnapshotModule.SnapshotNotOpen.selector, 2));
        bond.closeSnapshot(2); // nor one not opened yet
    }

    function test_closingOneSnapshotLeavesTheOthersAnswering() public {
        vm.warp(R1);
        send(alice, bob, 10); // alice 90, bob 60 (after record 1)
        vm.warp(R2);
        bond.openDueSnapshots();
        vm.prank(address(agent));
        bond.closeSnapshot(2); // closed out of order: snapshot 1 still open, so recording goes on
        send(alice, bob, 20);
        assertEq(bond.balanceOfAt(alice, 1), 100, "alice 1");
        assertEq(bond.balanceOfAt(bob, 1), 50, "bob 1");
        vm.prank(address(agent));
        bond.closeSnapshot(1);
        vm.warp(R3);
        send(bob, alice, 80);
        assertEq(bond.balanceOfAt(alice, 3), 70, "alice 3");
        assertEq(bond.balanceOfAt(bob, 3), 80, "bob 3");
        assertEq(bond.totalSupplyAt(3), SUPPLY, "supply 3");
    }

    function test_recordingStopsWhileNoSnapshotIsOpen() public {
        transferGas(alice, bob); // warm every slot a transfer touches
        uint256 beforeRecord = transferGas(alice, bob);

        vm.warp(R1);
        bond.openDueSnapshots();
        uint256 recording = transferGas(alice, bob); // first change of both balances: two checkpoints
        uint256 recorded = transferGas(alice, bob); // both already recorded for this snapshot
        vm.prank(address(agent));
        bond.closeSnapshot(1);
        uint256 afterClose = transferGas(alice, bob);

        vm.assertGe(recording, beforeRecord + 20_000, "recording costs storage");
        assertLe(recorded, beforeRecord + 3_000, "a recorded balance is not recorded again");
        assertLe(afterClose, beforeRecord + 300, "no open snapshot: a plain transfer");
        assertLe(beforeRecord, afterClose + 300, "no open snapshot: a plain transfer (other side)");
        assertEq(bond.balanceOf(alice), 95, "five moved");
    }

    function test_aMoveWithNoSnapshotOpenIsNotRecorded() public {
        vm.warp(R1);
        bond.openDueSnapshots();
        vm.prank(address(agent));
        bond.closeSnapshot(1);
        send(alice, bob, 30); // nothing open: not recorded
        vm.warp(R2);
        // A due (unopened) snapshot answers the current balances, which are the record holdings.
        assertEq(bond.balanceOfAt(alice, 2), 70, "alice 2 before any move");
        send(bob, alice, 80);
        assertEq(bond.balanceOfAt(alice, 2), 70, "alice 2");
        assertEq(bond.balanceOfAt(bob, 2), 80, "bob 2");
    }

    function test_walletRecoveryAfterTheRecordLeavesTheRecordWithTheLostWallet() public {
        vm.warp(R1 + 1);
        bond.recoverWallet(alice, alice2);
        assertEq(bond.balanceOfAt(alice, 1), 100, "the lost wallet is the holder of record");
        assertEq(bond.balanceOfAt(alice2, 1), 0, "the new wallet held nothing then");
        declare(1, COUPON);
        pay(1, list(frank, bob, alice, alice2)); // ascending
        assertEq(cash(alice), 100 * COUPON / SCALE, "the coupon goes to the wallet of record");
        assertEq(cash(alice2), 0, "not to the recovered wallet");
    }
}
