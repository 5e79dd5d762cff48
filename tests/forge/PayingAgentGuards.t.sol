// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {LifecycleScenario} from "./LifecycleFixture.sol";
import {PayingAgent} from "../../contracts/PayingAgent.sol";
import {BondToken} from "../../contracts/BondToken.sol";
import {IBondLifecycle} from "../../contracts/interfaces/IBondLifecycle.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @dev A "bond" that calls back into the paying agent while it is being declared.
contract ReenteringBond {
    PayingAgent internal immutable agent;

    constructor(PayingAgent agent_) {
        agent = agent_;
    }

    function openDueSnapshots() external {
        agent.declareCoupon(IBondLifecycle(address(this)), 1, 1, 0);
    }

    function isSnapshotOpen(uint256) external pure returns (bool) {
        return true;
    }
}

/// @dev The paying agent acts only for bonds its admin registered, never for one a paying-agent
/// key made up, and pays from an allowance of exactly what is due.
contract PayingAgentGuardsTest is LifecycleScenario {
    address internal operator = address(0x0BE7); // holds the paying agent role only

    function setUp() public override {
        super.setUp();
        agent.grantRole(agent.PAYING_AGENT_ROLE(), operator);
    }

    function test_onlyTheAdminRegistersABond() public {
        BondToken other = deployBond(address(this), times(R1, R2, R3), MATURITY_DATE, address(agent));
        bytes32 admin = agent.DEFAULT_ADMIN_ROLE();
        unauthorized(operator, admin);
        vm.prank(operator);
        agent.setBondRegistered(address(other), true);
        unauthorized(mallory, admin);
        vm.prank(mallory);
        agent.setBondRegistered(address(other), true);
        assertFalse(agent.isBondRegistered(address(other)), "not registered");

        vm.expectEmit(true, true, true, true, address(agent));
        emit PayingAgent.BondRegistered(address(other), true);
        agent.setBondRegistered(address(other), true);
        assertTrue(agent.isBondRegistered(address(other)), "registered");
    }

    function test_anUnregisteredBondIsNeitherDeclaredNorPaid() public {
        // The same bond, deployed but never registered with the agent.
        BondToken other = deployBond(address(this), times(R1, R2, R3), MATURITY_DATE, address(agent));
        other.mint(alice, 10);
        IBondLifecycle unregistered = IBondLifecycle(address(other));
        vm.warp(R1);
        vm.startPrank(operator);
        vm.expectRevert(abi.encodeWithSelector(PayingAgent.BondNotRegistered.selector, address(other)));
        agent.declareCoupon(unregistered, 1, COUPON, block.timestamp);
        vm.expectRevert(abi.encodeWithSelector(PayingAgent.BondNotRegistered.selector, address(other)));
        agent.payCoupon(unregistered, 1, list(alice));
        vm.expectRevert(abi.encodeWithSelector(PayingAgent.BondNotRegistered.selector, address(other)));
        agent.declareRedemption(unregistered, PRINCIPAL);
        vm.expectRevert(abi.encodeWithSelector(PayingAgent.BondNotRegistered.selector, address(other)));
        agent.redeem(unregistered, list(alice));
        vm.stopPrank();
        assertEq(cash(issuer), TREASURY_CASH, "treasury untouched");
    }

    function test_aMadeUpBondCannotReachTheTreasury() public {
        // Whatever a contract at this address would answer (this treasury, this cash token, any
        // balance), the agent asks nothing of it.
        IBondLifecycle fake = IBondLifecycle(address(0xFA4E));
        vm.startPrank(operator);
        vm.expectRevert(abi.encodeWithSelector(PayingAgent.BondNotRegistered.selector, address(fake)));
        agent.declareCoupon(fake, 1, type(uint256).max, 0);
        vm.expectRevert(abi.encodeWithSelector(PayingAgent.BondNotRegistered.selector, address(fake)));
        agent.payCoupon(fake, 1, list(operator));
        vm.stopPrank();
        assertEq(cash(issuer), TREASURY_CASH, "treasury untouched");
    }

    function test_aWithdrawnBondIsRefused() public {
        vm.expectEmit(true, true, true, true, address(agent));
        emit PayingAgent.BondRegistered(address(bond), false);
        agent.setBondRegistered(address(bond), false);
        vm.warp(R1);
        vm.expectRevert(abi.encodeWithSelector(PayingAgent.BondNotRegistered.selector, address(bond)));
        declare(1, COUPON);
    }

    function test_declaringCannotBeReentered() public {
        ReenteringBond reentering = new ReenteringBond(agent);
        agent.setBondRegistered(address(reentering), true);
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        agent.declareCoupon(IBondLifecycle(address(reentering)), 1, COUPON, 0);
        assertFalse(agent.coupon(address(reentering), 1).declared, "not declared");
    }

    function test_anAllowanceOfExactlyWhatIsDuePaysEveryHolderAndEndsAtZero() public {
        vm.warp(R1);
        declare(1, COUPON);
        uint256 due = SUPPLY * (COUPON / SCALE);
        vm.prank(issuer);
        hkd.approve(address(agent), due);
        pay(1, list(frank, bob, alice)); // ascending
        assertTrue(agent.coupon(address(bond), 1).complete, "complete");
        assertEq(agent.coupon(address(bond), 1).paidAmount, due, "paid what was due");
        assertEq(hkd.allowance(issuer, address(agent)), 0, "nothing left to draw on");
        assertEq(cash(issuer), TREASURY_CASH - due, "the treasury paid exactly that");
    }

    function test_aRedemptionFromExactlyWhatIsDueEndsAtZero() public {
        vm.warp(R1);
        declare(1, COUPON);
        vm.prank(issuer);
        hkd.approve(address(agent), SUPPLY * (COUPON / SCALE));
        pay(1, list(frank, bob, alice)); // ascending
        vm.warp(R2);
        declare(2, COUPON);
        vm.prank(issuer);
        hkd.approve(address(agent), SUPPLY * (COUPON / SCALE));
        pay(2, list(frank, bob, alice)); // ascending
        vm.warp(R3);
        declare(3, COUPON);
        vm.prank(issuer);
        hkd.approve(address(agent), SUPPLY * (COUPON / SCALE));
        pay(3, list(frank, bob, alice)); // ascending
        vm.warp(MATURITY_DATE);
        agent.declareRedemption(life, PRINCIPAL);
        vm.prank(issuer);
        hkd.approve(address(agent), SUPPLY * DENOMINATION);
        agent.redeem(life, list(alice, bob, frank));
        assertTrue(bond.isRedeemed(), "redeemed");
        assertEq(hkd.allowance(issuer, address(agent)), 0, "nothing left to draw on");
    }
}
