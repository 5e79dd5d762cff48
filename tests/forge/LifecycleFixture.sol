// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "./Fixture.sol";
import {BondToken} from "../../contracts/BondToken.sol";
import {PayingAgent} from "../../contracts/PayingAgent.sol";
import {IBondLifecycle} from "../../contracts/interfaces/IBondLifecycle.sol";
import {ISecurityToken} from "../../contracts/interfaces/ISecurityToken.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

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

    /// The fixture's green bond, administered by this test, with a paying agent, record times and
    /// a maturity of our choosing; registered with the fixture's agent when that is its agent.
    function deployLifecycleBond(uint64[] memory recordTimes, uint256 maturity, address payingAgent)
        internal
        returns (BondToken b)
    {
        b = deployBond(address(this), recordTimes, maturity, payingAgent);
        if (payingAgent == address(agent)) agent.setBondRegistered(address(b), true);
    }

    /// Three record times.
    function times(uint256 a, uint256 b, uint256 c) internal pure returns (uint64[] memory t) {
        t = new uint64[](3);
        t[0] = uint64(a);
        t[1] = uint64(b);
        t[2] = uint64(c);
    }

    /// A batch of holders.
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

/// @dev A lifecycle bond with three record times R1-R3 and a paying agent, held by alice (100),
/// bob (50) and frank (20), and the moves and calls its tests are written in.
abstract contract LifecycleScenario is LifecycleBase {
    uint256 internal constant R1 = ISSUE_DATE + 30 days;
    uint256 internal constant R2 = ISSUE_DATE + 60 days;
    uint256 internal constant R3 = ISSUE_DATE + 90 days;
    uint256 internal constant COUPON = 95_000 * SCALE; // HK$950 a token (3.8% semi-annual on HK$50,000)
    uint256 internal constant PRINCIPAL = DENOMINATION * SCALE; // par
    uint256 internal constant SUPPLY = 170;

    IBondLifecycle internal life;

    function setUp() public virtual override {
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
}
