// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "./Fixture.sol";
import {FundToken} from "../../contracts/FundToken.sol";
import {SecurityToken} from "../../contracts/SecurityToken.sol";
import {DvPSettlement} from "../../contracts/DvPSettlement.sol";
import {IFundToken} from "../../contracts/interfaces/IFundToken.sol";
import {IInvestorRegistry} from "../../contracts/interfaces/IInvestorRegistry.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

/// @dev ETF creation and redemption through the DvP venue: units and cash in one transaction.
contract FundSettlementTest is Fixture {
    uint256 internal constant UNIT = 50_000;
    uint256 internal constant NAV = 25_4321 * 1e4; // HK$25.4321 a unit
    uint256 internal constant ONE_UNIT_CASH = 127_160_500; // 50,000 x 2543.21 cents
    address internal ap = address(0xA9);
    FundToken internal fund;

    function setUp() public override {
        super.setUp();
        register(ap, "ap", "HK", 5);
        bytes2[] memory none = new bytes2[](0);
        fund = new FundToken(
            SecurityToken.TokenConfig({
                name: "Tokenized HSI ETF (sample)",
                symbol: "THSI",
                admin: address(this),
                registry: IInvestorRegistry(address(registry)),
                currency: address(hkd),
                treasury: issuer,
                settlement: address(dvp),
                payingAgent: address(0),
                categoryMask: PROFESSIONAL_MASK,
                allowedJurisdictions: none,
                recordTimes: new uint64[](0)
            }),
            FundToken.FundTerms({fundCode: "03999", creationUnit: UNIT, navMaxAge: 1 days, initialNav: NAV})
        );
        fund.grantRole(fund.AUTHORIZED_PARTICIPANT_ROLE(), ap);
        dvp.setListed(address(fund), true);
        hkd.mint(ap, 10 * ONE_UNIT_CASH);
        vm.prank(ap);
        hkd.approve(address(dvp), type(uint256).max);
        vm.prank(issuer); // the fund's cash account authorizes redemption payouts
        hkd.approve(address(dvp), type(uint256).max);
    }

    function test_aCreationMintsUnitsAndCollectsTheirCashInOneTransaction() public {
        vm.expectEmit(true, true, false, true, address(dvp));
        emit DvPSettlement.CreationSettled(address(fund), ap, 2, 2 * UNIT, address(hkd), 2 * ONE_UNIT_CASH, NAV);
        dvp.settleCreation(fund, ap, 2);
        assertEq(fund.balanceOf(ap), 2 * UNIT, "units to the AP");
        assertEq(hkd.balanceOf(issuer), 2 * ONE_UNIT_CASH, "cash to the fund's account");
        assertEq(hkd.balanceOf(address(dvp)), 0, "the venue holds nothing");
    }

    function test_aRedemptionBurnsUnitsAndPaysFromTheFundsAccount() public {
        dvp.settleCreation(fund, ap, 3);
        uint256 apCash = hkd.balanceOf(ap);
        vm.expectEmit(true, true, false, true, address(dvp));
        emit DvPSettlement.RedemptionSettled(address(fund), ap, 1, UNIT, address(hkd), ONE_UNIT_CASH, NAV);
        dvp.settleRedemption(fund, ap, 1);
        assertEq(fund.balanceOf(ap), 2 * UNIT, "units burned");
        assertEq(hkd.balanceOf(ap), apCash + ONE_UNIT_CASH, "paid at NAV");
        assertEq(fund.totalSupply(), 2 * UNIT, "units outstanding");
    }

    function test_anApShortOfCashCreatesNothing() public {
        uint256 tooMany = 11;
        vm.expectRevert(); // the cash leg fails after the mint, and undoes it
        dvp.settleCreation(fund, ap, tooMany);
        assertEq(fund.totalSupply(), 0, "no units");
        assertEq(hkd.balanceOf(issuer), 0, "no cash");
    }

    function test_aFundAccountThatDidNotAuthorizePayoutsRedeemsNothing() public {
        dvp.settleCreation(fund, ap, 1);
        vm.prank(issuer);
        hkd.approve(address(dvp), 0);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(dvp), 0, ONE_UNIT_CASH)
        );
        dvp.settleRedemption(fund, ap, 1);
        assertEq(fund.balanceOf(ap), UNIT, "units intact");
    }

    function test_aStaleNavBlocksCreationAndRedemptionAtTheVenue() public {
        dvp.settleCreation(fund, ap, 1);
        vm.warp(block.timestamp + 1 days + 1);
        (, uint256 at) = fund.nav();
        vm.expectRevert(abi.encodeWithSelector(FundToken.NavStale.selector, at, 1 days));
        dvp.settleCreation(fund, ap, 1);
        vm.expectRevert(abi.encodeWithSelector(FundToken.NavStale.selector, at, 1 days));
        dvp.settleRedemption(fund, ap, 1);
    }

    function test_onlyListedFundsAndTheVenuesAgentSettle() public {
        dvp.setListed(address(fund), false);
        vm.expectRevert(abi.encodeWithSelector(DvPSettlement.TokenNotListed.selector, address(fund)));
        dvp.settleCreation(fund, ap, 1);
        dvp.setListed(address(fund), true);
        bytes32 role = dvp.SETTLEMENT_AGENT_ROLE();
        vm.prank(ap);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, ap, role));
        dvp.settleCreation(fund, ap, 1);
    }

    function test_aParticipantWithoutTheRoleCannotCreate() public {
        hkd.mint(alice, ONE_UNIT_CASH);
        vm.prank(alice);
        hkd.approve(address(dvp), type(uint256).max);
        vm.expectRevert(abi.encodeWithSelector(FundToken.NotAuthorizedParticipant.selector, alice));
        dvp.settleCreation(fund, alice, 1);
    }

    /// Across any creations and redemptions at any NAVs, cash is only moved, and the fund's
    /// account never pays out more for units than it took in for them at the same NAV.
    function testFuzz_theFundNeverPaysOutMoreThanNavTimesUnits(uint256 nav, uint8 created, uint8 redeemed) public {
        nav = bound(nav, 1, 1e12);
        uint256 c = bound(created, 1, 5);
        uint256 r = bound(redeemed, 1, c);
        fund.publishNav(nav);
        hkd.mint(ap, c * (UNIT * nav / 1e6 + 1));
        uint256 total = hkd.totalSupply();
        uint256 accountBefore = hkd.balanceOf(issuer);
        dvp.settleCreation(fund, ap, c);
        uint256 paidIn = hkd.balanceOf(issuer) - accountBefore;
        dvp.settleRedemption(fund, ap, r);
        uint256 paidOut = paidIn + accountBefore - hkd.balanceOf(issuer);
        assertLe(paidOut * 1e6, r * UNIT * nav, "redemption pays at most NAV x units");
        assertLe(paidOut * c, paidIn * r, "per creation unit, no more out than in");
        assertEq(hkd.totalSupply(), total, "cash only moved");
        assertEq(fund.totalSupply(), (c - r) * UNIT, "units outstanding");
        assertEq(IFundToken(address(fund)).treasury(), issuer, "the fund's account");
    }
}
