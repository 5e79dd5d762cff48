// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {LifecycleScenario} from "./LifecycleFixture.sol";
import {PayingAgent} from "../../contracts/PayingAgent.sol";
import {IBondLifecycle} from "../../contracts/interfaces/IBondLifecycle.sol";

/// @dev Coupons paid in random batches and amounts: each holder of record once, the floor of its due.
contract LifecycleFuzzTest is LifecycleScenario {
    function testFuzz_aCouponCompletesOnItsLastHolderOfRecordWhateverTheBatches(uint256 seed) public {
        vm.warp(R1 + 1);
        send(alice, grace, 40); // after the record: grace is owed nothing
        address[6] memory people = [alice, bob, frank, grace, heidi, mallory];
        sortAscending(people); // the paying agent pays in ascending address order
        uint256 lastOfRecord;
        for (uint256 i = 0; i < 6; ++i) {
            if (people[i] == alice || people[i] == bob || people[i] == frank) lastOfRecord = i;
        }
        declare(1, COUPON);
        uint256 start = 0;
        uint256 round = 0;
        while (start < 6) {
            uint256 size = 1 + uint256(keccak256(abi.encode(seed, "size", round++))) % 3;
            uint256 end = start + size > 6 ? 6 : start + size;
            address[] memory batch = new address[](end - start);
            for (uint256 k = start; k < end; ++k) {
                batch[k - start] = people[k];
            }
            pay(1, batch);
            bool done = end > lastOfRecord;
            if (!done) {
                // A re-run of the same batch (a crash before its receipt) pays nobody twice.
                vm.expectRevert(
                    abi.encodeWithSelector(PayingAgent.HoldersNotAscending.selector, batch[0], batch[batch.length - 1])
                );
                pay(1, batch);
            }
            assertEq(agent.coupon(address(bond), 1).complete, done, "complete exactly after the last holder of record");
            assertEq(bond.isSnapshotOpen(1), !done, "snapshot open until complete");
            start = end;
            if (done) break;
        }
        uint256 each = COUPON / SCALE;
        assertEq(cash(alice), 100 * each, "alice");
        assertEq(cash(bob), 50 * each, "bob");
        assertEq(cash(frank), 20 * each, "frank");
        assertEq(cash(grace) + cash(heidi) + cash(mallory), 0, "nobody else");
        assertEq(cash(issuer), TREASURY_CASH - SUPPLY * each, "treasury");
    }

    function testFuzz_aCouponPaysEachHolderTheFloorOfItsRecordQuantityOnce(
        uint256[6] memory quantities,
        uint256 amountPerToken,
        uint256 orderSeed
    ) public {
        bond = deployLifecycleBond(times(R1, R2, R3), MATURITY_DATE, address(agent));
        life = IBondLifecycle(address(bond));
        address[6] memory holders = [alice, bob, frank, grace, heidi, alice2];
        uint256 supply;
        for (uint256 i = 0; i < 6; ++i) {
            quantities[i] = bound(quantities[i], 0, 5_000);
            if (quantities[i] > 0) bond.mint(holders[i], quantities[i]);
            supply += quantities[i];
        }
        amountPerToken = bound(amountPerToken, 0, 1e20);
        vm.warp(R1 + 1);
        // Moves after the record time change nothing owed.
        if (quantities[0] > 0) send(alice, bob, quantities[0]);
        bond.mint(grace, 7);
        declare(1, amountPerToken);

        // Two ascending batches split at a seeded point, mallory (nothing of record) in the second.
        address[7] memory all = [holders[0], holders[1], holders[2], holders[3], holders[4], holders[5], mallory];
        sortAscending(all);
        uint256 cut = orderSeed % 8;
        address[] memory first = new address[](cut);
        address[] memory second = new address[](7 - cut);
        for (uint256 i = 0; i < 7; ++i) {
            if (i < cut) first[i] = all[i];
            else second[i - cut] = all[i];
        }
        pay(1, first);
        if (!agent.coupon(address(bond), 1).complete) pay(1, second); // complete already if the first covered all

        uint256 total;
        for (uint256 i = 0; i < 6; ++i) {
            uint256 owed = quantities[i] * amountPerToken / SCALE;
            assertEq(cash(holders[i]), owed, "each holder: floor(q * a / 1e10), once");
            if (quantities[i] > 0) assertTrue(agent.isCouponPaid(address(bond), 1, holders[i]), "every holder of record passed");
            total += owed;
        }
        assertEq(cash(issuer), TREASURY_CASH - total, "the treasury paid exactly the sum");
        assertLe(total, supply * amountPerToken / SCALE, "never above the issue-wide amount");
        PayingAgent.Payment memory c = agent.coupon(address(bond), 1);
        assertEq(c.paidAmount, total, "paid amount");
        assertEq(c.paidQuantity, supply, "paid quantity");
        assertTrue(c.complete, "complete");
        assertFalse(bond.isSnapshotOpen(1), "snapshot closed");
    }

    function sortAscending(address[6] memory a) internal pure {
        for (uint256 i = 1; i < a.length; ++i) {
            for (uint256 j = i; j > 0 && a[j - 1] > a[j]; --j) {
                (a[j - 1], a[j]) = (a[j], a[j - 1]);
            }
        }
    }

    function sortAscending(address[7] memory a) internal pure {
        for (uint256 i = 1; i < a.length; ++i) {
            for (uint256 j = i; j > 0 && a[j - 1] > a[j]; --j) {
                (a[j - 1], a[j]) = (a[j], a[j - 1]);
            }
        }
    }
}
