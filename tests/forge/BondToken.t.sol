// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "./Fixture.sol";
import {BondToken} from "../../contracts/BondToken.sol";
import {SecurityToken} from "../../contracts/SecurityToken.sol";
import {ISecurityToken, TransferReason} from "../../contracts/interfaces/ISecurityToken.sol";
import {IERC7092, IERC7092ESG} from "../../contracts/interfaces/IERC7092.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {AgentModule} from "../../contracts/modules/AgentModule.sol";
import {DocumentModule} from "../../contracts/modules/DocumentModule.sol";

contract BondTokenTest is Fixture {
    function setUp() public override {
        super.setUp();
        bond.mint(alice, 100);
        bond.mint(bob, 50);
    }

    function expectRestricted(address from, address to, uint256 amount, uint8 reason) internal {
        vm.expectRevert(abi.encodeWithSelector(ISecurityToken.TransferRestricted.selector, from, to, amount, reason));
    }

    // ---------------------------------------------------------------- ERC-7092 surface

    function test_exposesTheErc7092Terms() public view {
        assertEq(bond.isin(), "HK0000987654", "isin");
        assertEq(bond.name(), "HKSAR Green Bond 2026", "name");
        assertEq(bond.symbol(), "HKGB26", "symbol");
        assertEq(bond.currency(), address(hkd), "currency");
        assertEq(bond.currencyOfCoupon(), address(hkd), "currencyOfCoupon");
        assertEq(bond.denomination(), DENOMINATION, "denomination");
        assertEq(bond.issueVolume(), ISSUE_VOLUME, "issueVolume");
        assertEq(bond.couponRate(), 38_000, "couponRate is the annual rate x 1e6");
        assertEq(bond.couponType(), 1, "fixed");
        assertEq(bond.couponFrequency(), 2, "semi-annual");
        assertEq(bond.dayCountBasis(), 3, "ACT/365");
        assertEq(bond.issueDate(), ISSUE_DATE, "issueDate");
        assertEq(bond.maturityDate(), MATURITY_DATE, "maturityDate");
        assertEq(uint256(bond.decimals()), 0, "one token is one denomination");
        assertEq(bond.principalOf(alice), 100 * DENOMINATION, "principalOf");
    }

    function test_supportsErc165ForErc7092() public view {
        assertTrue(bond.supportsInterface(type(IERC7092).interfaceId), "IERC7092");
        assertTrue(bond.supportsInterface(type(IERC7092ESG).interfaceId), "IERC7092ESG");
        assertTrue(bond.supportsInterface(type(ISecurityToken).interfaceId), "ISecurityToken");
        assertTrue(bond.supportsInterface(0x01ffc9a7), "IERC165");
        assertFalse(bond.supportsInterface(0xffffffff), "0xffffffff");
    }

    function test_carriesTheGreenFrameworkAndUseOfProceeds() public view {
        (string memory uri, bytes32 hash) = bond.greenBondFramework();
        assertEq(uri, "https://example.org/green-bond-framework.pdf", "framework uri");
        assertEq(hash, sha256("framework"), "framework sha256");
        string[] memory uses = bond.useOfProceeds();
        assertEq(uses.length, 2, "two categories");
        assertEq(uses[1], "renewable_energy", "category");
        assertEq(bond.getAllDocuments().length, 1, "one document");
    }

    function test_transferWithDataTakesPrincipal() public {
        vm.prank(alice);
        bond.transfer(bob, 3 * DENOMINATION, "");
        assertEq(bond.balanceOf(bob), 53, "bob got 3 tokens");
        assertEq(bond.principalOf(alice), 97 * DENOMINATION, "alice principal");
    }

    function test_principalMustBeWholeDenominations() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(BondToken.PrincipalNotMultipleOfDenomination.selector, DENOMINATION + 1));
        bond.transfer(bob, DENOMINATION + 1, "");
    }

    function test_transferFromWithDataSpendsTokenAllowance() public {
        vm.prank(alice);
        bond.approve(bob, 5);
        vm.prank(bob);
        bond.transferFrom(alice, bob, 2 * DENOMINATION, "");
        assertEq(bond.allowance(alice, bob), 3, "allowance in tokens");
        vm.prank(alice);
        bond.decreaseAllowance(bob, DENOMINATION);
        assertEq(bond.allowance(alice, bob), 2, "decreased by one denomination");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(BondToken.AllowanceBelowDecrease.selector, bob, 2, 3));
        bond.decreaseAllowance(bob, 3 * DENOMINATION);
    }

    function test_batchFunctions() public {
        address[] memory to = new address[](2);
        to[0] = bob;
        to[1] = alice2;
        uint256[] memory amounts = new uint256[](2);
        amounts[0] = DENOMINATION;
        amounts[1] = 2 * DENOMINATION;
        bytes[] memory data = new bytes[](2);

        vm.prank(alice);
        bond.batchTransfer(to, amounts, data);
        assertEq(bond.balanceOf(bob), 51, "bob");
        assertEq(bond.balanceOf(alice2), 2, "alice2");

        address[] memory spenders = new address[](1);
        spenders[0] = bob;
        uint256[] memory allowances = new uint256[](1);
        allowances[0] = 4 * DENOMINATION;
        vm.prank(alice);
        bond.batchApprove(spenders, allowances);
        assertEq(bond.allowance(alice, bob), 4, "batchApprove in principal");

        address[] memory from = new address[](2);
        from[0] = alice;
        from[1] = alice;
        to[1] = bob;
        vm.prank(bob);
        bond.batchTransferFrom(from, to, amounts, data);
        assertEq(bond.balanceOf(bob), 54, "bob after batchTransferFrom");
        assertEq(bond.allowance(alice, bob), 1, "allowance spent");

        allowances[0] = DENOMINATION;
        vm.prank(alice);
        bond.batchDecreaseAllowance(spenders, allowances);
        assertEq(bond.allowance(alice, bob), 0, "batchDecreaseAllowance");
    }

    function test_batchLengthsMustMatch() public {
        address[] memory to = new address[](2);
        uint256[] memory amounts = new uint256[](1);
        bytes[] memory data = new bytes[](2);
        vm.prank(alice);
        vm.expectRevert(SecurityToken.LengthMismatch.selector);
        bond.batchTransfer(to, amounts, data);
    }

    // ---------------------------------------------------------------- the compliance hook

    function test_eligibleInvestorsTransfer() public {
        vm.prank(alice);
        bond.transfer(bob, 10);
        assertEq(bond.balanceOf(bob), 60, "bob");
        assertTrue(bond.canTransfer(alice, bob, 10), "canTransfer");
        uint8 reason = bond.detectTransferRestriction(alice, bob, 10);
        assertEq(uint256(reason), 0, "OK");
    }

    function test_unregisteredReceiverIsRefused() public {
        expectRestricted(alice, mallory, 1, TransferReason.RECEIVER_NOT_REGISTERED);
        vm.prank(alice);
        bond.transfer(mallory, 1);
    }

    function test_retailIsRefusedWhenProfessionalOnly() public {
        assertFalse(bond.canTransfer(alice, carol, 1), "carol is retail");
        uint8 reason = bond.detectTransferRestriction(alice, carol, 1);
        assertEq(uint256(reason), TransferReason.CATEGORY_NOT_ALLOWED, "reason");
        expectRestricted(alice, carol, 1, TransferReason.CATEGORY_NOT_ALLOWED);
        vm.prank(alice);
        bond.transfer(carol, 1);
    }

    function test_disallowedJurisdictionIsRefused() public {
        expectRestricted(alice, dave, 1, TransferReason.JURISDICTION_NOT_ALLOWED);
        vm.prank(alice);
        bond.transfer(dave, 1);
        bytes2[] memory us = new bytes2[](1);
        us[0] = "US";
        bond.setJurisdictions(us, true);
        vm.prank(alice);
        bond.transfer(dave, 1);
        assertEq(bond.balanceOf(dave), 1, "US allowed now");
    }

    function test_expiredKycBlocksBothSides() public {
        vm.warp(KYC_EXPIRY);
        uint8 reason = bond.detectTransferRestriction(alice, bob, 1);
        assertEq(uint256(reason), TransferReason.SENDER_KYC_EXPIRED, "sender expired first");
        registry.setInvestor(keccak256("alice"), "HK", INSTITUTIONAL, KYC_EXPIRY + 365 days);
        reason = bond.detectTransferRestriction(alice, bob, 1);
        assertEq(uint256(reason), TransferReason.RECEIVER_KYC_EXPIRED, "receiver expired");
    }

    function test_frozenWalletsNeitherSendNorReceive() public {
        bond.setAddressFrozen(bob, true);
        assertTrue(bond.isFrozen(bob), "frozen");
        expectRestricted(alice, bob, 1, TransferReason.RECEIVER_FROZEN);
        vm.prank(alice);
        bond.transfer(bob, 1);
        expectRestricted(bob, alice, 1, TransferReason.SENDER_FROZEN);
        vm.prank(bob);
        bond.transfer(alice, 1);
        bond.setAddressFrozen(bob, false);
        vm.prank(bob);
        bond.transfer(alice, 1);
    }

    function test_pauseStopsTransfersAndMints() public {
        bond.pause();
        expectRestricted(alice, bob, 1, TransferReason.PAUSED);
        vm.prank(alice);
        bond.transfer(bob, 1);
        expectRestricted(address(0), bob, 1, TransferReason.PAUSED);
        bond.mint(bob, 1);
        bond.unpause();
        bond.mint(bob, 1);
    }

    function test_canTransferReportsInsufficientBalance() public view {
        assertFalse(bond.canTransfer(bob, alice, 51), "not enough");
        uint8 reason = bond.detectTransferRestriction(bob, alice, 51);
        assertEq(uint256(reason), TransferReason.INSUFFICIENT_BALANCE, "reason");
    }

    function test_mintingStopsAtTheIssueVolume() public {
        uint256 cap = ISSUE_VOLUME / DENOMINATION;
        bond.mint(alice, cap - 150);
        expectRestricted(address(0), alice, 1, TransferReason.SUPPLY_CAP_EXCEEDED);
        bond.mint(alice, 1);
    }

    function test_onlyRolesMintBurnAndAct() public {
        vm.startPrank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, bond.MINTER_ROLE())
        );
        bond.mint(alice, 1);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, bond.AGENT_ROLE())
        );
        bond.forcedTransfer(bob, alice, 1);
        vm.stopPrank();
    }

    // ---------------------------------------------------------------- agent powers

    function test_forcedTransferIgnoresSenderStateButNotReceiver() public {
        bond.setAddressFrozen(bob, true);
        bond.pause();
        bond.forcedTransfer(bob, alice, 5);
        assertEq(bond.balanceOf(alice), 105, "moved while sender frozen and paused");
        expectRestricted(alice, carol, 1, TransferReason.CATEGORY_NOT_ALLOWED);
        bond.forcedTransfer(alice, carol, 1);
    }

    function test_walletRecoveryMovesEverythingToTheSameInvestor() public {
        bond.setAddressFrozen(alice, true);
        bond.recoverWallet(alice, alice2);
        assertEq(bond.balanceOf(alice), 0, "lost wallet emptied");
        assertEq(bond.balanceOf(alice2), 100, "new wallet holds it");
        assertTrue(bond.isFrozen(alice2), "freeze carried over");
        assertFalse(bond.isFrozen(alice), "lost wallet unfrozen");
        vm.expectRevert(abi.encodeWithSelector(AgentModule.NotSameInvestor.selector, bob, alice));
        bond.recoverWallet(bob, alice);
    }

    function test_burnReducesSupply() public {
        bond.burn(bob, 50);
        assertEq(bond.totalSupply(), 100, "supply");
    }

    function test_documentsFollowErc1643() public {
        bond.setDocument("OFFERING_CIRCULAR", "ipfs://oc", sha256("oc"));
        (string memory uri, bytes32 hash, uint256 at) = bond.getDocument("OFFERING_CIRCULAR");
        assertEq(uri, "ipfs://oc", "uri");
        assertEq(hash, sha256("oc"), "hash");
        assertEq(at, block.timestamp, "timestamp");
        assertEq(bond.getAllDocuments().length, 2, "two documents");
        bond.removeDocument("OFFERING_CIRCULAR");
        assertEq(bond.getAllDocuments().length, 1, "one left");
        vm.expectRevert(abi.encodeWithSelector(DocumentModule.DocumentNotFound.selector, bytes32("OFFERING_CIRCULAR")));
        bond.removeDocument("OFFERING_CIRCULAR");
    }

    function test_termsAreValidatedAtDeployment() public {
        vm.expectRevert();
        new BondToken(config(), terms(DENOMINATION, ISSUE_VOLUME + 1, ISSUE_DATE, MATURITY_DATE), noGreen());
        vm.expectRevert(abi.encodeWithSelector(BondToken.MaturityNotAfterIssue.selector, ISSUE_DATE, ISSUE_DATE));
        new BondToken(config(), terms(DENOMINATION, ISSUE_VOLUME, ISSUE_DATE, ISSUE_DATE), noGreen());
    }

    // ---------------------------------------------------------------- fuzz

    /// canTransfer and transfer agree, whoever the parties and whatever the amount.
    function testFuzz_canTransferPredictsTheOutcome(uint8 fromIndex, uint8 toIndex, uint256 amount, bool freeze)
        public
    {
        address[6] memory actors = [alice, alice2, bob, carol, dave, mallory];
        address from = actors[fromIndex % 6];
        address to = actors[toIndex % 6];
        amount = bound(amount, 0, 200);
        if (freeze) bond.setAddressFrozen(bob, true);

        bool ok = bond.canTransfer(from, to, amount);
        uint8 reason = bond.detectTransferRestriction(from, to, amount);
        assertEq(ok, reason == TransferReason.OK, "canTransfer is detectTransferRestriction == 0");
        uint256 before = bond.balanceOf(from) + (from == to ? 0 : bond.balanceOf(to));
        vm.prank(from);
        (bool success, bytes memory ret) = address(bond).call(abi.encodeWithSignature("transfer(address,uint256)", to, amount));
        assertEq(success, ok, "canTransfer predicted the outcome");
        if (!success && reason != TransferReason.INSUFFICIENT_BALANCE) {
            assertEq(
                keccak256(ret),
                keccak256(abi.encodeWithSelector(ISecurityToken.TransferRestricted.selector, from, to, amount, reason)),
                "reverted with the predicted reason"
            );
        }
        assertEq(bond.balanceOf(from) + (from == to ? 0 : bond.balanceOf(to)), before, "balances conserved");
    }

    /// Principal in whole denominations always moves exactly principal / denomination tokens.
    function testFuzz_principalTransfersMoveWholeTokens(uint256 tokens) public {
        tokens = bound(tokens, 0, 100);
        vm.prank(alice);
        bond.transfer(bob, tokens * DENOMINATION, "");
        assertEq(bond.principalOf(bob), (50 + tokens) * DENOMINATION, "principalOf bob");
        assertEq(bond.balanceOf(alice), 100 - tokens, "alice tokens");
    }

    // ---------------------------------------------------------------- helpers

    function config() internal view returns (SecurityToken.TokenConfig memory cfg) {
        cfg.name = "x";
        cfg.symbol = "x";
        cfg.admin = address(this);
        cfg.registry = registry;
        cfg.currency = address(hkd);
        cfg.categoryMask = PROFESSIONAL_MASK;
    }

    function terms(uint256 denom, uint256 volume, uint256 issue, uint256 maturity)
        internal
        pure
        returns (BondToken.BondTerms memory t)
    {
        t.isin = "HK0000987654";
        t.denomination = denom;
        t.issueVolume = volume;
        t.couponType = 1;
        t.couponFrequency = 2;
        t.issueDate = issue;
        t.maturityDate = maturity;
    }

    function noGreen() internal pure returns (BondToken.GreenTerms memory g) {}
}
