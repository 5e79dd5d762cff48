// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Base} from "./Base.sol";
import {Fixture} from "./Fixture.sol";
import {BondToken} from "../../contracts/BondToken.sol";
import {CashToken} from "../../contracts/CashToken.sol";
import {PayingAgent} from "../../contracts/PayingAgent.sol";
import {SecurityToken} from "../../contracts/SecurityToken.sol";
import {IBondLifecycle} from "../../contracts/interfaces/IBondLifecycle.sol";
import {IInvestorRegistry} from "../../contracts/interfaces/IInvestorRegistry.sol";
import {ISecurityToken, TransferReason} from "../../contracts/interfaces/ISecurityToken.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

/// @dev The fixture's world plus a bond with a paying agent and coupon record times, and an
/// issuer treasury that has authorized the agent on HKD.
abstract contract LifecycleBase is Fixture {
    uint256 internal constant SCALE = 1e10; // PayingAgent.AMOUNT_SCALE
    uint256 internal constant TREASURY_CASH = 1e16;

    address internal frank = address(0xF1); // HK professional
    address internal grace = address(0xF2); // HK professional
    address internal heidi = address(0xF3); // SG professional

    PayingAgent internal agent;

    function setUp() public virtual override {
        super.setUp();
        register(frank, "frank", "HK", PROFESSIONAL);
        register(grace, "grace", "HK", PROFESSIONAL);
        register(heidi, "heidi", "SG", PROFESSIONAL);
        agent = new PayingAgent(address(this));
        hkd.mint(issuer, TREASURY_CASH);
        vm.prank(issuer);
        hkd.approve(address(agent), type(uint256).max);
    }

    /// The fixture's green bond terms, with a paying agent, record times and a maturity of our choosing.
    function deployLifecycleBond(uint64[] memory recordTimes, uint256 maturity, address payingAgent)
        internal
        returns (BondToken)
    {
        bytes2[] memory countries = new bytes2[](2);
        countries[0] = "HK";
        countries[1] = "SG";
        return new BondToken(
            SecurityToken.TokenConfig({
                name: "HKSAR Green Bond 2026",
                symbol: "HKGB26",
                admin: address(this),
                registry: IInvestorRegistry(address(registry)),
                currency: address(hkd),
                treasury: issuer,
                settlement: address(dvp),
                payingAgent: payingAgent,
                categoryMask: PROFESSIONAL_MASK,
                allowedJurisdictions: countries,
                recordTimes: recordTimes
            }),
            BondToken.BondTerms({
                isin: "HK0000987654",
                denomination: DENOMINATION,
                issueVolume: ISSUE_VOLUME,
                couponRate: 38_000,
                couponType: 1,
                couponFrequency: 2,
                issueDate: ISSUE_DATE,
                maturityDate: maturity,
                dayCountBasis: 3
            }),
            BondToken.GreenTerms({frameworkUri: "", frameworkSha256: bytes32(0), useOfProceeds: new string[](0)})
        );
    }

    function times(uint256 a, uint256 b, uint256 c) internal pure returns (uint64[] memory t) {
        t = new uint64[](3);
        t[0] = uint64(a);
        t[1] = uint64(b);
        t[2] = uint64(c);
    }

    function list(address a) internal pure returns (address[] memory l) {
        l = new address[](1);
        l[0] = a;
    }

    function list(address a, address b) internal pure returns (address[] memory l) {
        l = new address[](2);
        l[0] = a;
        l[1] = b;
    }

    function list(address a, address b, address c) internal pure returns (address[] memory l) {
        l = new address[](3);
        l[0] = a;
        l[1] = b;
        l[2] = c;
    }

    function list(address a, address b, address c, address d) internal pure returns (address[] memory l) {
        l = new address[](4);
        l[0] = a;
        l[1] = b;
        l[2] = c;
        l[3] = d;
    }
}

contract LifecycleTest is LifecycleBase {
    uint256 internal constant R1 = ISSUE_DATE + 30 days;
    uint256 internal constant R2 = ISSUE_DATE + 60 days;
    uint256 internal constant R3 = ISSUE_DATE + 90 days;
    uint256 internal constant COUPON = 95_000 * SCALE; // HK$950 a token (3.8% semi-annual on HK$50,000)
    uint256 internal constant PRINCIPAL = DENOMINATION * SCALE; // par
    uint256 internal constant SUPPLY = 170;

    IBondLifecycle internal life;

    function setUp() public override {
        super.setUp();
        bond = deployLifecycleBond(times(R1, R2, R3), MATURITY_DATE, address(agent));
        life = IBondLifecycle(address(bond));
        bond.mint(alice, 100);
        bond.mint(bob, 50);
        bond.mint(frank, 20);
    }

    // ---------------------------------------------------------------- helpers

    function expectRestricted(address from, address to, uint256 amount, uint8 reason) internal {
        vm.expectRevert(abi.encodeWithSelector(ISecurityToken.TransferRestricted.selector, from, to, amount, reason));
    }

    function send(address from, address to, uint256 amount) internal {
        vm.prank(from);
        bond.transfer(to, amount);
    }

    function declare(uint256 couponId, uint256 amountPerToken) internal {
        agent.declareCoupon(life, couponId, amountPerToken, block.timestamp);
    }

    function pay(uint256 couponId, address[] memory holders) internal {
        agent.payCoupon(life, couponId, holders);
    }

    function cash(address who) internal view returns (uint256) {
        return hkd.balanceOf(who);
    }

    function unauthorized(address who, bytes32 role) internal {
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, who, role));
    }

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
        vm.expectRevert(SecurityToken.RecordTimesNotAscending.selector);
        deployLifecycleBond(times(R1, R3, R2), MATURITY_DATE, address(agent));
        vm.expectRevert(SecurityToken.RecordTimesNotAscending.selector);
        deployLifecycleBond(times(R1, R1, R2), MATURITY_DATE, address(agent));
    }

    // ---------------------------------------------------------------- snapshots

    function test_snapshotsAreNotQueryableBeforeTheirRecordTime() public {
        vm.warp(R1 - 1);
        assertFalse(bond.isSnapshotOpen(1), "record time not passed");
        vm.expectRevert(abi.encodeWithSelector(SecurityToken.SnapshotNotOpen.selector, 1));
        bond.balanceOfAt(alice, 1);
        vm.expectRevert(abi.encodeWithSelector(SecurityToken.SnapshotNotOpen.selector, 1));
        bond.totalSupplyAt(1);
        vm.warp(R3 + 365 days);
        vm.expectRevert(abi.encodeWithSelector(SecurityToken.SnapshotNotOpen.selector, 0));
        bond.balanceOfAt(alice, 0);
        vm.expectRevert(abi.encodeWithSelector(SecurityToken.SnapshotNotOpen.selector, 4));
        bond.balanceOfAt(alice, 4);
    }

    function test_aSnapshotOpensLazilyOrOnOpenDueSnapshots() public {
        vm.warp(R1);
        assertTrue(bond.isSnapshotOpen(1), "queryable from its record time");
        assertEq(bond.snapshotCount(), 0, "not opened until something happens");
        assertEq(bond.balanceOfAt(alice, 1), 100, "a due snapshot answers the current balance");
        vm.expectEmit(true, true, true, true, address(bond));
        emit SecurityToken.SnapshotOpened(1, R1);
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
        emit SecurityToken.SnapshotOpened(1, R1);
        vm.expectEmit(true, true, true, true, address(bond));
        emit SecurityToken.SnapshotOpened(2, R2);
        vm.expectEmit(true, true, true, true, address(bond));
        emit SecurityToken.SnapshotOpened(3, R3);
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
        emit SecurityToken.SnapshotClosed(1);
        vm.prank(address(agent));
        bond.closeSnapshot(1);
        assertFalse(bond.isSnapshotOpen(1), "closed");
        vm.expectRevert(abi.encodeWithSelector(SecurityToken.SnapshotNotOpen.selector, 1));
        bond.balanceOfAt(alice, 1);
        vm.expectRevert(abi.encodeWithSelector(SecurityToken.SnapshotNotOpen.selector, 1));
        bond.totalSupplyAt(1);
        vm.prank(address(agent));
        vm.expectRevert(abi.encodeWithSelector(SecurityToken.SnapshotNotOpen.selector, 1));
        bond.closeSnapshot(1); // not twice
        vm.prank(address(agent));
        vm.expectRevert(abi.encodeWithSelector(SecurityToken.SnapshotNotOpen.selector, 2));
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
        pay(1, list(alice, alice2, bob, frank));
        assertEq(cash(alice), 100 * COUPON / SCALE, "the coupon goes to the wallet of record");
        assertEq(cash(alice2), 0, "not to the recovered wallet");
    }

    // ---------------------------------------------------------------- paying agent: coupons

    function test_aCouponPaysEachHolderOfRecordOnce() public {
        vm.warp(R1);
        declare(1, COUPON);
        uint256 each = COUPON / SCALE;

        vm.expectEmit(true, true, true, true, address(agent));
        emit PayingAgent.CouponPaid(address(bond), 1, alice, 100, 100 * each);
        vm.expectEmit(true, true, true, true, address(agent));
        emit PayingAgent.CouponPaid(address(bond), 1, bob, 50, 50 * each);
        pay(1, list(alice, alice, bob, alice)); // duplicates pay nothing extra
        assertEq(cash(alice), 100 * each, "alice once");
        assertEq(cash(bob), 50 * each, "bob once");
        assertTrue(agent.isCouponPaid(address(bond), 1, alice), "alice marked paid");
        assertFalse(agent.isCouponPaid(address(bond), 1, frank), "frank not yet");

        pay(1, list(bob, alice)); // a re-run pays nothing
        assertEq(cash(alice), 100 * each, "alice still once");
        assertEq(cash(bob), 50 * each, "bob still once");
        PayingAgent.Payment memory c = agent.coupon(address(bond), 1);
        assertEq(c.paidQuantity, 150, "paid quantity");
        assertEq(c.paidAmount, 150 * each, "paid amount");
        assertFalse(c.complete, "frank is owed");
        assertTrue(bond.isSnapshotOpen(1), "snapshot open");

        vm.expectEmit(true, true, true, true, address(agent));
        emit PayingAgent.CouponCompleted(address(bond), 1, SUPPLY, SUPPLY * each);
        pay(1, list(alice, frank));
        assertEq(cash(frank), 20 * each, "frank");
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
        pay(1, list(grace, heidi, mallory)); // nobody of record
        pay(1, new address[](0));
        pay(1, list(bob));
        assertFalse(agent.coupon(address(bond), 1).complete, "alice is owed");
        assertTrue(bond.isSnapshotOpen(1), "open while owed");
        vm.expectEmit(true, true, true, true, address(bond));
        emit SecurityToken.SnapshotClosed(1);
        pay(1, list(alice));
        assertTrue(agent.coupon(address(bond), 1).complete, "complete");
        assertEq(agent.coupon(address(bond), 1).paidQuantity, SUPPLY, "paid quantity is the record supply");
        assertFalse(bond.isSnapshotOpen(1), "snapshot released");
        assertEq(cash(grace), 0, "the buyer after the record date got nothing");
    }

    function testFuzz_aCouponCompletesOnItsLastHolderOfRecordWhateverTheBatches(uint256 seed) public {
        vm.warp(R1 + 1);
        send(alice, grace, 40); // after the record: grace is owed nothing
        address[6] memory people = [alice, bob, frank, grace, heidi, mallory];
        // Shuffle.
        for (uint256 i = 5; i > 0; --i) {
            uint256 j = uint256(keccak256(abi.encode(seed, i))) % (i + 1);
            (people[i], people[j]) = (people[j], people[i]);
        }
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
            address[] memory batch = new address[](end - start + 1);
            for (uint256 k = start; k < end; ++k) {
                batch[k - start] = people[k];
            }
            batch[end - start] = people[0]; // and a repeat of someone
            pay(1, batch);
            bool done = end > lastOfRecord;
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

    function test_theSellerOfRecordIsPaidAndTheBuyerAfterTheRecordDateIsNot() public {
        vm.warp(R1 - 1 hours);
        send(alice, heidi, 10); // bought before the record date: owed
        vm.warp(R1 + 1 hours);
        send(bob, grace, 50); // bob sells everything after the record date
        send(heidi, grace, 10);
        declare(1, COUPON);
        pay(1, list(grace, bob, heidi, alice));
        pay(1, list(frank));
        uint256 each = COUPON / SCALE;
        assertEq(cash(bob), 50 * each, "the seller of record is paid");
        assertEq(cash(heidi), 10 * each, "the buyer before the record date is paid");
        assertEq(cash(grace), 0, "the buyer after the record date is not");
        assertFalse(agent.isCouponPaid(address(bond), 1, grace), "grace not marked");
        assertEq(cash(alice), 90 * each, "alice");
        assertTrue(agent.coupon(address(bond), 1).complete, "complete");
    }

    function test_aCouponRoundsDownPerHolderAndTheResidueStaysWithTheIssuer() public {
        bond.mint(heidi, 1);
        vm.warp(R1);
        uint256 a = 33_333_333_333; // 3.3333333333 cents a token
        declare(1, a);
        pay(1, list(alice, bob, frank, heidi));
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
        pay(1, list(heidi, frank));
        assertEq(cash(heidi), 0, "half a cent rounds to nothing");
        assertEq(cash(frank), 10, "20 x 0.5");
        assertTrue(agent.isCouponPaid(address(bond), 1, heidi), "heidi counted as paid");
        pay(1, list(alice, bob));
        assertTrue(agent.coupon(address(bond), 1).complete, "complete");
    }

    function test_shortTreasuryCashRevertsTheBatchAndPaysNobodyInIt() public {
        vm.warp(R1);
        declare(1, COUPON);
        uint256 each = COUPON / SCALE;
        uint256 left = 100 * each + 1; // enough for alice, not for bob after her
        vm.startPrank(issuer);
        hkd.burn(cash(issuer) - left);
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, issuer, 1, 50 * each));
        pay(1, list(alice, bob));
        assertEq(cash(alice), 0, "alice not paid");
        assertFalse(agent.isCouponPaid(address(bond), 1, alice), "alice not marked");
        assertEq(agent.coupon(address(bond), 1).paidQuantity, 0, "nothing counted");
        assertEq(cash(issuer), left, "treasury untouched");

        pay(1, list(alice)); // a batch the treasury can cover goes through
        assertEq(cash(alice), 100 * each, "alice paid");
        hkd.mint(issuer, 70 * each);
        pay(1, list(bob, frank, alice));
        assertTrue(agent.coupon(address(bond), 1).complete, "complete after the top-up");
        assertEq(cash(issuer), 1, "one cent left");
    }

    function test_aShortAllowanceRevertsTheBatchAndPaysNobodyInIt() public {
        vm.warp(R1);
        declare(1, COUPON);
        uint256 each = COUPON / SCALE;
        vm.prank(issuer);
        hkd.approve(address(agent), 100 * each + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(agent), 1, 50 * each)
        );
        pay(1, list(alice, bob));
        assertEq(cash(alice), 0, "alice not paid");
        assertEq(cash(issuer), TREASURY_CASH, "treasury untouched");
        assertEq(hkd.allowance(issuer, address(agent)), 100 * each + 1, "allowance untouched");
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
        pay(1, list(alice));
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
        pay(1, list(alice, bob, frank));
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
        (bool ok, uint8 reason) = bond.canTransfer(alice, bob, 1);
        assertFalse(ok, "canTransfer says no");
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

    // ---------------------------------------------------------------- fuzz

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

        // Two batches in a seeded order, each with a repeat, one with everybody again.
        address[] memory first = new address[](4);
        address[] memory second = new address[](8);
        for (uint256 i = 0; i < 4; ++i) {
            first[i] = holders[uint256(keccak256(abi.encode(orderSeed, i))) % 6];
        }
        for (uint256 i = 0; i < 6; ++i) {
            second[i] = holders[(i + orderSeed % 6) % 6];
        }
        second[6] = first[0];
        second[7] = mallory;
        pay(1, first);
        if (!agent.coupon(address(bond), 1).complete) pay(1, second); // complete already if the first covered all

        uint256 total;
        for (uint256 i = 0; i < 6; ++i) {
            uint256 owed = quantities[i] * amountPerToken / SCALE;
            assertEq(cash(holders[i]), owed, "each holder: floor(q * a / 1e10), once");
            assertEq(agent.isCouponPaid(address(bond), 1, holders[i]), quantities[i] > 0, "marked iff owed quantity");
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

    // ---------------------------------------------------------------- findings

    /// FINDING (medium): the count of open snapshots is a uint8. When a 256th snapshot would open
    /// while the earlier ones are still open (never closed by a paying agent, or all opening at
    /// once after a quiet period), `++_openSnapshots` overflows and every balance change reverts
    /// with Panic(0x11): transfers, mints, burns — so also redemption — and `openDueSnapshots`
    /// itself. Nothing can be closed either (closeSnapshot needs an opened snapshot), so the token
    /// is stuck for good. Nothing bounds the length of `recordTimes` at deployment.
    function test_FINDING_aTokenWith256UnclosedRecordTimesIsBrickedByAUint8Overflow() public {
        uint64[] memory many = new uint64[](256);
        for (uint256 i = 0; i < 256; ++i) {
            many[i] = uint64(ISSUE_DATE + 1 days + i * 1 days);
        }
        BondToken big = deployLifecycleBond(many, MATURITY_DATE, address(agent));
        big.mint(alice, 10);

        // 255 open snapshots are fine.
        vm.warp(ISSUE_DATE + 255 days);
        big.openDueSnapshots();
        assertEq(big.snapshotCount(), 255, "255 open");
        vm.prank(alice);
        big.transfer(bob, 1);

        // The 256th overflows the uint8 counter.
        vm.warp(ISSUE_DATE + 256 days);
        bytes memory overflow = abi.encodeWithSignature("Panic(uint256)", 0x11);
        vm.expectRevert(overflow);
        big.openDueSnapshots();
        vm.prank(alice);
        vm.expectRevert(overflow);
        big.transfer(bob, 1);
        vm.expectRevert(overflow);
        big.mint(bob, 1);
        agent.declareRedemption(IBondLifecycle(address(big)), PRINCIPAL);
        vm.expectRevert(overflow);
        agent.redeem(IBondLifecycle(address(big)), list(alice)); // the burn overflows too
        assertEq(big.balanceOf(alice), 9, "alice's bonds can never be redeemed");
    }

    /// FINDING (low, possibly intended): agent moves — forcedTransfer and recoverWallet — skip the
    /// instrument check, so they still move a bond after maturity or after redemption started,
    /// although the contract says a closed instrument allows "burns only". (A recovery after
    /// close is arguably useful; a forced transfer during redemption just changes who is paid.)
    function test_FINDING_agentMovesStillMoveAClosedBond() public {
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

// ==================================================================== invariant campaign

/// @dev What the invariant fuzzer calls: transfers and mints, time moving across record dates,
/// coupon declarations and payments in random batches (repeats included), a redemption declared
/// early or at maturity and paid in random batches, treasury top-ups and allowance cuts. The
/// handler keeps its own record of every holding at each record time (taken when a warp crosses
/// it), and checks each payment against it; refused calls are caught and checked against what
/// the rules predict.
contract LifecycleHandler is Base {
    uint256 internal constant SCALE = 1e10;

    BondToken public immutable bond;
    IBondLifecycle internal immutable life;
    PayingAgent public immutable agent;
    CashToken public immutable hkd;
    address public immutable treasury;
    address[] public actors;
    uint64[] internal recordTimes;
    uint256 public currentTime;
    uint256 public passed; // record times crossed so far
    uint256[] internal declaredIds;

    // The independent record of the holdings at each record time.
    mapping(uint256 id => bool) public recordTaken;
    mapping(uint256 id => mapping(address => uint256)) public recordBalance;
    mapping(uint256 id => uint256) public recordSupply;

    // Ghosts.
    mapping(uint256 id => mapping(address => uint256)) public ghostCouponReceived;
    mapping(uint256 id => mapping(address => uint256)) public ghostCouponPayments;
    uint256 public ghostDoublePayments; // a holder received cash for a coupon it was already paid
    uint256 public ghostWrongAmounts; // a holder received other than floor(record x amount / 1e10)
    uint256 public ghostCompletionMismatches; // completion disagreed with the record supply
    uint256 public ghostSnapshotMismatches; // balanceOfAt / totalSupplyAt disagreed with the record
    uint256 public ghostTreasuryMismatches; // the treasury's outflow was not what holders received
    uint256 public ghostUnexpectedSuccesses;
    uint256 public ghostUnexpectedRefusals;
    uint256 public ghostCashMinted;
    uint256 public ghostBondsMinted;
    uint256 public ghostBondsRedeemed;
    uint256 public ghostRedeemMismatches;
    mapping(bytes32 action => uint256) public succeeded;

    constructor(BondToken bond_, PayingAgent agent_, CashToken hkd_, address[] memory actors_) {
        bond = bond_;
        life = IBondLifecycle(address(bond_));
        agent = agent_;
        hkd = hkd_;
        treasury = bond_.treasury();
        actors = actors_;
        recordTimes = bond_.recordTimes();
        currentTime = block.timestamp;
        ghostBondsMinted = bond_.totalSupply();
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function recordCount() external view returns (uint256) {
        return recordTimes.length;
    }

    /// The handler's record for snapshot `id`, per actor: holding at the record time, payments, cash received.
    function ledger(uint256 id)
        external
        view
        returns (bool taken, uint256 supply, uint256[] memory held, uint256[] memory payments, uint256[] memory received)
    {
        taken = recordTaken[id];
        supply = recordSupply[id];
        held = new uint256[](actors.length);
        payments = new uint256[](actors.length);
        received = new uint256[](actors.length);
        for (uint256 i = 0; i < actors.length; ++i) {
            held[i] = recordBalance[id][actors[i]];
            payments[i] = ghostCouponPayments[id][actors[i]];
            received[i] = ghostCouponReceived[id][actors[i]];
        }
    }

    /// Mostly a snapshot whose record time passed (or a declared coupon), one call in eight any id.
    function pickId(uint256 seed, bool declaredOnly) internal view returns (uint256) {
        uint256 pool = declaredOnly ? declaredIds.length : passed;
        if (pool == 0 || seed % 8 == 0) return 1 + (seed >> 3) % recordTimes.length;
        return declaredOnly ? declaredIds[(seed >> 3) % pool] : 1 + (seed >> 3) % pool;
    }

    function outcome(bytes32 action, bool success, bool allowed) internal {
        if (success) {
            ++succeeded[action];
            if (!allowed) ++ghostUnexpectedSuccesses;
        } else if (allowed) {
            ++ghostUnexpectedRefusals;
        }
    }

    /// A batch of up to eleven actors, repeats likely: length from the low byte, each from the next.
    function batchFrom(uint256 seed) public view returns (address[] memory batch) {
        batch = new address[](uint8(seed) % 12);
        for (uint256 i = 0; i < batch.length; ++i) {
            batch[i] = actors[uint8(seed >> (8 * i + 8)) % actors.length];
        }
    }

    function firstIn(address[] memory batch, uint256 i) internal pure returns (bool) {
        for (uint256 j = 0; j < i; ++j) {
            if (batch[j] == batch[i]) return false;
        }
        return true;
    }

    function spendable() internal view returns (uint256) {
        uint256 balance = hkd.balanceOf(treasury);
        uint256 allowance = hkd.allowance(treasury, address(agent));
        return balance < allowance ? balance : allowance;
    }

    function open() internal view returns (bool) {
        return block.timestamp < bond.maturityDate() && !bond.closed();
    }

    // ---------------------------------------------------------------- bond moves

    function transfer(uint256 fromSeed, uint256 toSeed, uint256 amount) external {
        address from = actors[fromSeed % actors.length];
        address to = actors[toSeed % actors.length];
        uint256 balance = bond.balanceOf(from);
        amount = bound(amount, 0, balance);
        vm.prank(from);
        try bond.transfer(to, amount) {
            outcome("transfer", true, open());
        } catch {
            outcome("transfer", false, open());
        }
    }

    function mint(uint256 toSeed, uint256 amount) external {
        address to = actors[toSeed % actors.length];
        amount = bound(amount, 0, 50);
        try bond.mint(to, amount) {
            ghostBondsMinted += amount;
            outcome("mint", true, open());
        } catch {
            outcome("mint", false, open());
        }
    }

    /// Time moves forward up to 25 days; crossing a record time takes the record of holdings.
    function warp(uint256 seconds_) external {
        uint256 next = currentTime + bound(seconds_, 1 hours, 25 days);
        for (uint256 id = 1; id <= recordTimes.length; ++id) {
            if (!recordTaken[id] && recordTimes[id - 1] <= next) {
                recordTaken[id] = true;
                ++passed;
                recordSupply[id] = bond.totalSupply();
                for (uint256 i = 0; i < actors.length; ++i) {
                    recordBalance[id][actors[i]] = bond.balanceOf(actors[i]);
                }
            }
        }
        currentTime = next;
        vm.warp(next);
        ++succeeded["warp"];
    }

    // ---------------------------------------------------------------- coupons

    function declareCoupon(uint256 idSeed, uint256 amountPerToken, uint256 delay) external {
        uint256 id = pickId(idSeed, false);
        amountPerToken = bound(amountPerToken, 0, 1e16); // up to HK$10,000 a token, any fraction of a cent
        uint256 paymentTime = block.timestamp + (delay % 2 == 0 ? 0 : bound(delay, 0, 3 days));
        bool allowed = !agent.coupon(address(bond), id).declared && recordTaken[id];
        try agent.declareCoupon(life, id, amountPerToken, paymentTime) {
            declaredIds.push(id);
            outcome("declareCoupon", true, allowed);
        } catch {
            outcome("declareCoupon", false, allowed);
        }
    }

    function payCoupon(uint256 idSeed, uint256 batchSeed) external {
        uint256 id = pickId(idSeed, true);
        address[] memory batch = batchFrom(batchSeed);
        PayingAgent.Payment memory c = agent.coupon(address(bond), id);
        if (c.declared && !c.complete) checkSnapshot(id, batch);

        // What the record says is owed to this batch.
        uint256 owed;
        uint256[] memory cashBefore = new uint256[](batch.length);
        bool[] memory paidBefore = new bool[](batch.length);
        for (uint256 i = 0; i < batch.length; ++i) {
            cashBefore[i] = hkd.balanceOf(batch[i]);
            paidBefore[i] = agent.isCouponPaid(address(bond), id, batch[i]);
            if (firstIn(batch, i) && !paidBefore[i]) owed += recordBalance[id][batch[i]] * c.amountPerToken / SCALE;
        }
        uint256 treasuryBefore = hkd.balanceOf(treasury);
        bool allowed = c.declared && !c.complete && block.timestamp >= c.paymentTime && owed <= spendable();

        try agent.payCoupon(life, id, batch) {
            outcome("payCoupon", true, allowed);
        } catch {
            outcome("payCoupon", false, allowed);
            return;
        }

        uint256 received = checkPaid(id, c.amountPerToken, batch, cashBefore, paidBefore);
        if (treasuryBefore - hkd.balanceOf(treasury) != received) ++ghostTreasuryMismatches;
        PayingAgent.Payment memory after_ = agent.coupon(address(bond), id);
        if (after_.complete != (after_.paidQuantity == recordSupply[id])) ++ghostCompletionMismatches;
        if (after_.complete && !c.complete) ++succeeded["couponCompleted"];
    }

    /// The bond's snapshot agrees with the handler's record for this batch.
    function checkSnapshot(uint256 id, address[] memory batch) internal {
        if (bond.totalSupplyAt(id) != recordSupply[id]) ++ghostSnapshotMismatches;
        for (uint256 i = 0; i < batch.length; ++i) {
            if (bond.balanceOfAt(batch[i], id) != recordBalance[id][batch[i]]) ++ghostSnapshotMismatches;
        }
    }

    /// Each holder newly paid got floor(record x amount / 1e10); nobody else got anything.
    function checkPaid(
        uint256 id,
        uint256 amountPerToken,
        address[] memory batch,
        uint256[] memory cashBefore,
        bool[] memory paidBefore
    ) internal returns (uint256 received) {
        for (uint256 i = 0; i < batch.length; ++i) {
            if (!firstIn(batch, i)) continue;
            address holder = batch[i];
            uint256 delta = hkd.balanceOf(holder) - cashBefore[i];
            received += delta;
            ghostCouponReceived[id][holder] += delta;
            bool paidNow = agent.isCouponPaid(address(bond), id, holder);
            if (paidNow && !paidBefore[i]) {
                ++ghostCouponPayments[id][holder];
                if (delta != recordBalance[id][holder] * amountPerToken / SCALE) ++ghostWrongAmounts;
            } else if (delta != 0) {
                ++ghostDoublePayments;
            }
            // Marked paid exactly when owed a quantity.
            if (paidNow != (recordBalance[id][holder] > 0)) ++ghostWrongAmounts;
        }
    }

    // ---------------------------------------------------------------- redemption

    /// Declared on one call in ten before maturity (an early call), always from maturity.
    function declareRedemption(uint256 mode, uint256 amountPerToken) external {
        if (block.timestamp < bond.maturityDate() && mode % 10 != 0) return;
        amountPerToken = bound(amountPerToken, 0, bond.denomination() * SCALE);
        bool allowed = !agent.redemption(address(bond)).declared;
        try agent.declareRedemption(life, amountPerToken) {
            outcome("declareRedemption", true, allowed);
        } catch {
            outcome("declareRedemption", false, allowed);
        }
    }

    function redeem(uint256 batchSeed) external {
        address[] memory batch = batchFrom(batchSeed);
        PayingAgent.Payment memory r = agent.redemption(address(bond));
        uint256 owed;
        uint256 quantity;
        uint256[] memory cashBefore = new uint256[](batch.length);
        uint256[] memory bondsBefore = new uint256[](batch.length);
        for (uint256 i = 0; i < batch.length; ++i) {
            cashBefore[i] = hkd.balanceOf(batch[i]);
            bondsBefore[i] = bond.balanceOf(batch[i]);
            if (firstIn(batch, i)) {
                owed += bondsBefore[i] * r.amountPerToken / SCALE;
                quantity += bondsBefore[i];
            }
        }
        bool allowed = r.declared && !r.complete && owed <= spendable();
        try agent.redeem(life, batch) {
            outcome("redeem", true, allowed);
        } catch {
            outcome("redeem", false, allowed);
            return;
        }
        ghostBondsRedeemed += quantity;
        for (uint256 i = 0; i < batch.length; ++i) {
            if (!firstIn(batch, i)) continue;
            if (bond.balanceOf(batch[i]) != 0) ++ghostRedeemMismatches;
            if (hkd.balanceOf(batch[i]) - cashBefore[i] != bondsBefore[i] * r.amountPerToken / SCALE) {
                ++ghostRedeemMismatches;
            }
        }
        if (bond.isRedeemed() != (bond.totalSupply() == 0)) ++ghostRedeemMismatches;
        if (bond.isRedeemed()) ++succeeded["redeemed"];
    }

    // ---------------------------------------------------------------- the treasury

    function topUp(uint256 amount) external {
        amount = bound(amount, 0, 2e9);
        hkd.mint(treasury, amount);
        ghostCashMinted += amount;
        ++succeeded["topUp"];
    }

    /// One call in five cuts the agent's allowance to a small amount; otherwise restores it.
    function setAllowance(uint256 mode, uint256 amount) external {
        uint256 allowance = mode % 5 == 0 ? bound(amount, 0, 1e8) : type(uint256).max;
        vm.prank(treasury);
        hkd.approve(address(agent), allowance);
        ++succeeded["allowance"];
    }
}

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
    /// forge-config: default.invariant.runs = 32
    /// forge-config: default.invariant.depth = 60
    function invariant_couponsPayEachHolderOfRecordOnceAndCompleteOnTheRecordSupply() public view {
        checkCouponsAndSnapshots();
    }

    /// Cash is conserved and the paying agent never holds cash or bonds.
    /// forge-config: default.invariant.runs = 32
    /// forge-config: default.invariant.depth = 60
    function invariant_cashIsConservedAndThePayingAgentHoldsNothing() public view {
        checkCashIsConserved();
        checkThePayingAgentNeverHoldsCashOrBonds();
    }

    /// Bond supply follows mints and redemptions, and every call went as the rules predict.
    /// forge-config: default.invariant.runs = 32
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
                bool paid = c.declared && agent.isCouponPaid(address(lbond), id, actors[i]);
                same(payments[i], paid ? 1 : 0, "payments per holder");
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
        handler.payCoupon(0, seedOf(idx(5, 2, 2))); // heidi (nothing of record), bob twice
        handler.payCoupon(0, seedOf(idx(2, 0, 1))); // bob again, alice, alice2 (nothing)
        handler.setAllowance(0, 5); // allowance cut to 5 cents
        handler.payCoupon(0, seedOf(idx(3, 4, 5))); // refused: frank and grace need more
        handler.setAllowance(1, 0);
        handler.payCoupon(0, seedOf(idx(3, 3, 0))); // frank: grace's 10 of record still owed
        handler.payCoupon(0, seedOf(idx(4, 5, 4))); // grace: complete
        handler.payCoupon(0, seedOf(idx(0, 0, 0))); // refused: complete
        handler.mint(5, 7);
        handler.declareRedemption(0, 50_000_00 * SCALE); // an early call
        handler.transfer(0, 1, 1); // refused: closed
        handler.mint(5, 1); // refused: closed
        handler.topUp(2e9);
        handler.redeem(seedOf(idx(0, 4, 0))); // alice, grace (10 + 60)
        handler.redeem(seedOf(idx(3, 5, 1))); // frank, heidi: nothing left, redeemed
        handler.redeem(seedOf(idx(2, 2, 2))); // refused: complete

        assertEq(handler.succeeded("couponCompleted"), 1, "a coupon completed");
        assertEq(handler.succeeded("payCoupon"), 4, "four paying batches");
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
