// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "./Fixture.sol";
import {FundToken} from "../../contracts/FundToken.sol";
import {SecurityToken} from "../../contracts/SecurityToken.sol";
import {ISecurityToken, TransferReason} from "../../contracts/interfaces/ISecurityToken.sol";
import {IInvestorRegistry} from "../../contracts/interfaces/IInvestorRegistry.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

/// @dev The test contract is the fund's admin, manager and settlement venue.
contract FundTokenTest is Fixture {
    uint8 internal constant AP_CATEGORY = 5;
    uint256 internal constant UNIT = 50_000; // units per creation unit
    uint256 internal constant NAV = 25_4321 * 1e4; // HK$25.4321 a unit: 2543.21 cents x 1e6
    uint256 internal constant MAX_AGE = 1 days;

    FundToken internal fund;
    address internal ap = address(0xA9);

    function setUp() public override {
        super.setUp();
        register(ap, "ap", "HK", AP_CATEGORY);
        fund = deployFund(NAV);
        fund.grantRole(fund.AUTHORIZED_PARTICIPANT_ROLE(), ap);
    }

    function deployFund(uint256 nav) internal returns (FundToken) {
        bytes2[] memory none = new bytes2[](0);
        return new FundToken(
            SecurityToken.TokenConfig({
                name: "Tokenized HSI ETF (sample)",
                symbol: "HSIE",
                admin: address(this),
                registry: IInvestorRegistry(address(registry)),
                currency: address(hkd),
                treasury: issuer,
                settlement: address(this),
                payingAgent: address(0),
                categoryMask: PROFESSIONAL_MASK,
                allowedJurisdictions: none,
                recordTimes: new uint64[](0)
            }),
            FundToken.FundTerms({fundCode: "03999", creationUnit: UNIT, navMaxAge: MAX_AGE, initialNav: nav})
        );
    }

    function test_launchesWithItsTermsAndInitialNav() public view {
        assertEq(fund.fundCode(), "03999", "fund code");
        assertEq(fund.creationUnit(), UNIT, "creation unit");
        assertEq(fund.navMaxAge(), MAX_AGE, "max age");
        assertEq(fund.currency(), address(hkd), "currency is the cash token, as on bonds");
        assertEq(uint256(fund.decimals()), 0, "whole units");
        (uint256 nav, uint256 at) = fund.nav();
        assertEq(nav, NAV, "initial NAV");
        assertEq(at, block.timestamp, "published at launch");
        assertTrue(fund.supportsInterface(type(ISecurityToken).interfaceId), "a security token");
    }

    function test_onlyTheFundManagerPublishesNav() public {
        vm.warp(block.timestamp + 1 hours);
        fund.publishNav(NAV + 1);
        (uint256 nav, uint256 at) = fund.nav();
        assertEq(nav, NAV + 1, "new NAV");
        assertEq(at, block.timestamp, "its time");
        bytes32 role = fund.FUND_MANAGER_ROLE();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        fund.publishNav(1);
        vm.expectRevert(FundToken.ZeroNav.selector);
        fund.publishNav(0);
    }

    function test_creationMintsWholeCreationUnitsAndPricesCashRoundedUp() public {
        (uint256 units, uint256 cash) = fund.mintCreation(ap, 2);
        assertEq(units, 2 * UNIT, "two creation units");
        assertEq(fund.balanceOf(ap), 2 * UNIT, "minted to the AP");
        // 100,000 units x 2543.21 cents = 254,321,000 cents exactly
        assertEq(cash, 254_321_000, "cash at NAV");
    }

    function test_redemptionBurnsUnitsAndPricesCashRoundedDown() public {
        fund.mintCreation(ap, 3);
        (uint256 units, uint256 cash) = fund.burnRedemption(ap, 1);
        assertEq(units, UNIT, "one creation unit");
        assertEq(fund.balanceOf(ap), 2 * UNIT, "burned");
        assertEq(cash, 127_160_500, "cash at NAV");
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, ap, 2 * UNIT, 3 * UNIT)
        );
        fund.burnRedemption(ap, 3);
    }

    function test_aStaleNavBlocksCreationAndRedemption() public {
        fund.mintCreation(ap, 1);
        (, uint256 at) = fund.nav();
        vm.warp(at + MAX_AGE);
        assertTrue(fund.isNavFresh(), "fresh to the last second");
        vm.warp(at + MAX_AGE + 1);
        assertFalse(fund.isNavFresh(), "stale");
        vm.expectRevert(abi.encodeWithSelector(FundToken.NavStale.selector, at, MAX_AGE));
        fund.mintCreation(ap, 1);
        vm.expectRevert(abi.encodeWithSelector(FundToken.NavStale.selector, at, MAX_AGE));
        fund.burnRedemption(ap, 1);
        fund.publishNav(NAV);
        fund.burnRedemption(ap, 1);
    }

    function test_onlyAuthorizedParticipantsCreateAndOnlyTheVenueMints() public {
        vm.expectRevert(abi.encodeWithSelector(FundToken.NotAuthorizedParticipant.selector, alice));
        fund.mintCreation(alice, 1);
        bytes32 role = fund.SETTLEMENT_ROLE();
        vm.prank(ap);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, ap, role));
        fund.mintCreation(ap, 1);
        vm.expectRevert(FundToken.NoCreationUnits.selector);
        fund.mintCreation(ap, 0);
    }

    function test_anApStillPassesTheComplianceHook() public {
        address foreignAp = address(0xF0);
        register(foreignAp, "foreign-ap", "HK", AP_CATEGORY);
        fund.grantRole(fund.AUTHORIZED_PARTICIPANT_ROLE(), foreignAp);
        fund.setAddressFrozen(foreignAp, true);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISecurityToken.TransferRestricted.selector, address(0), foreignAp, UNIT, TransferReason.RECEIVER_FROZEN
            )
        );
        fund.mintCreation(foreignAp, 1);
    }

    function test_unitsTradeBetweenEligibleHoldersOnly() public {
        fund.mintCreation(ap, 1);
        vm.prank(ap);
        fund.transfer(alice, 1_000);
        assertEq(fund.balanceOf(alice), 1_000, "secondary transfer");
        vm.prank(ap);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISecurityToken.TransferRestricted.selector, ap, carol, 1, TransferReason.CATEGORY_NOT_ALLOWED
            )
        );
        fund.transfer(carol, 1);
    }

    /// The fund never pays out more than NAV x units, nor takes in less; the two differ by at most a cent.
    function testFuzz_creationAndRedemptionRoundInTheFundsFavour(uint256 nav, uint256 creationUnits) public {
        nav = bound(nav, 1, 1e18); // up to 10^12 cents a unit, times 1e6
        creationUnits = bound(creationUnits, 1, 1_000);
        fund.publishNav(nav);
        (uint256 units, uint256 paidIn) = fund.creationCash(creationUnits);
        (, uint256 paidOut) = fund.redemptionCash(creationUnits);
        uint256 exactTimesScale = units * nav; // cash x NAV_SCALE, exactly
        assertLe(paidOut * fund.NAV_SCALE(), exactTimesScale, "redemption pays at most NAV x units");
        assertLe(exactTimesScale, paidIn * fund.NAV_SCALE(), "creation takes at least NAV x units");
        assertLe(paidIn - paidOut, 1, "they differ by rounding only");
    }

    /// Creating then redeeming the same units at one NAV never leaves the fund worse off.
    function testFuzz_aRoundTripNeverCostsTheFund(uint256 nav, uint256 creationUnits) public {
        nav = bound(nav, 1, 1e15);
        creationUnits = bound(creationUnits, 1, 100);
        fund.publishNav(nav);
        (, uint256 paidIn) = fund.mintCreation(ap, creationUnits);
        (, uint256 paidOut) = fund.burnRedemption(ap, creationUnits);
        assertLe(paidOut, paidIn, "the fund keeps the rounding");
        assertEq(fund.totalSupply(), 0, "all units gone");
    }
}
