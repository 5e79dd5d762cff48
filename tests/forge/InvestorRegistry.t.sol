// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "./Fixture.sol";
import {InvestorRegistry} from "../../contracts/InvestorRegistry.sol";
import {SecurityToken} from "../../contracts/SecurityToken.sol";
import {IInvestorRegistry, EligibilityWord} from "../../contracts/interfaces/IInvestorRegistry.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {AgentModule} from "../../contracts/modules/AgentModule.sol";

contract InvestorRegistryTest is Fixture {
    using EligibilityWord for uint256;

    bytes32 internal constant ALICE = keccak256("alice");
    bytes32 internal constant BOB = keccak256("bob");
    bytes32 internal constant ERIN = keccak256("erin");

    address internal erin1 = address(0xE1);
    address internal erin2 = address(0xE2);
    address internal erin3 = address(0xE3);

    function expectUnauthorized(address account) internal {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, account, registry.REGISTRAR_ROLE()
            )
        );
    }

    function assertRecord(address wallet, bytes2 country, uint8 category, uint40 expiry, string memory who)
        internal
        view
    {
        IInvestorRegistry.Eligibility memory e = registry.eligibility(wallet);
        assertEq(bytes32(e.country), bytes32(country), string.concat(who, ": country"));
        assertEq(uint256(e.category), category, string.concat(who, ": category"));
        assertEq(uint256(e.kycExpiry), expiry, string.concat(who, ": kycExpiry"));
    }

    // ---------------------------------------------------------------- investors

    function test_setInvestorRegistersAnInvestorAndEmitsInvestorUpdated() public {
        vm.expectEmit(true, false, false, true, address(registry));
        emit IInvestorRegistry.InvestorUpdated(ERIN, "JP", PROFESSIONAL, KYC_EXPIRY);
        registry.setInvestor(ERIN, "JP", PROFESSIONAL, KYC_EXPIRY);

        (bytes2 country, uint8 category, uint40 expiry) = registry.investor(ERIN);
        assertEq(bytes32(country), bytes32(bytes2("JP")), "country");
        assertEq(uint256(category), PROFESSIONAL, "category");
        assertEq(uint256(expiry), KYC_EXPIRY, "kycExpiry");
        assertEq(registry.walletsOf(ERIN).length, 0, "no wallets yet");
    }

    function test_setInvestorOverwritesAnExistingRecord() public {
        vm.expectEmit(true, false, false, true, address(registry));
        emit IInvestorRegistry.InvestorUpdated(BOB, "HK", INSTITUTIONAL, KYC_EXPIRY + 1);
        registry.setInvestor(BOB, "HK", INSTITUTIONAL, KYC_EXPIRY + 1);
        (bytes2 country, uint8 category, uint40 expiry) = registry.investor(BOB);
        assertEq(bytes32(country), bytes32(bytes2("HK")), "country");
        assertEq(uint256(category), INSTITUTIONAL, "category");
        assertEq(uint256(expiry), KYC_EXPIRY + 1, "kycExpiry");
        assertRecord(bob, "HK", INSTITUTIONAL, KYC_EXPIRY + 1, "bob's wallet follows");
    }

    function test_anInvestorUpdatePropagatesToAllItsWallets() public {
        registry.setInvestor(ERIN, "JP", PROFESSIONAL, KYC_EXPIRY);
        registry.addWallet(ERIN, erin1);
        registry.addWallet(ERIN, erin2);
        registry.addWallet(ERIN, erin3);

        registry.setInvestor(ERIN, "SG", RETAIL, KYC_EXPIRY + 100);
        assertRecord(erin1, "SG", RETAIL, KYC_EXPIRY + 100, "erin1");
        assertRecord(erin2, "SG", RETAIL, KYC_EXPIRY + 100, "erin2");
        assertRecord(erin3, "SG", RETAIL, KYC_EXPIRY + 100, "erin3");
        assertRecord(alice, "HK", INSTITUTIONAL, KYC_EXPIRY, "other investors untouched");

        registry.setInvestor(ALICE, "SG", PROFESSIONAL, KYC_EXPIRY - 1);
        assertRecord(alice, "SG", PROFESSIONAL, KYC_EXPIRY - 1, "alice");
        assertRecord(alice2, "SG", PROFESSIONAL, KYC_EXPIRY - 1, "alice2");
    }

    function test_removeInvestorUnlinksEveryWalletAndForgetsTheRecord() public {
        vm.expectEmit(true, true, false, true, address(registry));
        emit IInvestorRegistry.WalletRemoved(ALICE, alice2); // popped from the end
        vm.expectEmit(true, true, false, true, address(registry));
        emit IInvestorRegistry.WalletRemoved(ALICE, alice);
        vm.expectEmit(true, false, false, true, address(registry));
        emit IInvestorRegistry.InvestorRemoved(ALICE);
        registry.removeInvestor(ALICE);

        (bytes2 country, uint8 category, uint40 expiry) = registry.investor(ALICE);
        assertEq(bytes32(country), bytes32(0), "country cleared");
        assertEq(uint256(category), 0, "category cleared");
        assertEq(uint256(expiry), 0, "kycExpiry cleared");
        assertEq(registry.walletsOf(ALICE).length, 0, "no wallets");
        assertEq(registry.investorOf(alice), bytes32(0), "alice unlinked");
        assertEq(registry.investorOf(alice2), bytes32(0), "alice2 unlinked");
        assertRecord(alice, 0, 0, 0, "alice");
        assertRecord(alice2, 0, 0, 0, "alice2");
        assertFalse(registry.isVerified(alice), "alice no longer verified");

        vm.expectRevert(abi.encodeWithSelector(InvestorRegistry.UnknownInvestor.selector, ALICE));
        registry.removeInvestor(ALICE);
        vm.expectRevert(abi.encodeWithSelector(InvestorRegistry.UnknownInvestor.selector, ALICE));
        registry.addWallet(ALICE, alice);
    }

    function test_aRemovedInvestorCanBeRegisteredAgain() public {
        registry.removeInvestor(ALICE);
        registry.setInvestor(ALICE, "HK", PROFESSIONAL, KYC_EXPIRY);
        registry.addWallet(ALICE, alice2);
        assertEq(registry.investorOf(alice2), ALICE, "relinked");
        assertRecord(alice2, "HK", PROFESSIONAL, KYC_EXPIRY, "alice2");
        assertRecord(alice, 0, 0, 0, "alice stays unlinked");
    }

    // ---------------------------------------------------------------- wallets

    function test_addWalletLinksAWalletAndEmitsWalletAdded() public {
        registry.setInvestor(ERIN, "JP", PROFESSIONAL, KYC_EXPIRY);
        vm.expectEmit(true, true, false, true, address(registry));
        emit IInvestorRegistry.WalletAdded(ERIN, erin1);
        registry.addWallet(ERIN, erin1);

        assertEq(registry.investorOf(erin1), ERIN, "investorOf");
        address[] memory wallets = registry.walletsOf(ERIN);
        assertEq(wallets.length, 1, "one wallet");
        assertEq(wallets[0], erin1, "walletsOf");
        assertRecord(erin1, "JP", PROFESSIONAL, KYC_EXPIRY, "erin1");
        assertTrue(registry.isVerified(erin1), "verified");
    }

    function test_removeWalletUnlinksOnlyThatWalletAndEmitsWalletRemoved() public {
        registry.setInvestor(ERIN, "JP", PROFESSIONAL, KYC_EXPIRY);
        registry.addWallet(ERIN, erin1);
        registry.addWallet(ERIN, erin2);
        registry.addWallet(ERIN, erin3);

        vm.expectEmit(true, true, false, true, address(registry));
        emit IInvestorRegistry.WalletRemoved(ERIN, erin1);
        registry.removeWallet(erin1);

        assertEq(registry.investorOf(erin1), bytes32(0), "erin1 unlinked");
        assertRecord(erin1, 0, 0, 0, "erin1 record cleared");
        assertFalse(registry.isVerified(erin1), "erin1 not verified");
        address[] memory wallets = registry.walletsOf(ERIN);
        assertEq(wallets.length, 2, "two left");
        assertEq(wallets[0], erin3, "the last wallet took the removed slot");
        assertEq(wallets[1], erin2, "erin2 stays");
        assertRecord(erin2, "JP", PROFESSIONAL, KYC_EXPIRY, "erin2 untouched");

        // A removed wallet no longer follows its former investor's updates...
        registry.setInvestor(ERIN, "SG", PROFESSIONAL, KYC_EXPIRY);
        assertRecord(erin1, 0, 0, 0, "erin1 stays cleared");
        assertRecord(erin3, "SG", PROFESSIONAL, KYC_EXPIRY, "erin3 follows");
        // ...and may join another investor.
        registry.addWallet(BOB, erin1);
        assertEq(registry.investorOf(erin1), BOB, "erin1 now bob's");
        assertRecord(erin1, "SG", PROFESSIONAL, KYC_EXPIRY, "erin1 has bob's record");
    }

    function test_anInvestorMayLoseItsLastWalletAndKeepItsRecord() public {
        registry.removeWallet(alice);
        registry.removeWallet(alice2);
        assertEq(registry.walletsOf(ALICE).length, 0, "no wallets");
        (,, uint40 expiry) = registry.investor(ALICE);
        assertEq(uint256(expiry), KYC_EXPIRY, "record kept");
        registry.addWallet(ALICE, alice);
        assertRecord(alice, "HK", INSTITUTIONAL, KYC_EXPIRY, "relinked");
    }

    // ---------------------------------------------------------------- reads

    function test_eligibilityPairReturnsPackedWords() public view {
        (uint256 a, uint256 b) = registry.eligibilityPair(alice, bob);
        assertEq(a, EligibilityWord.pack(KYC_EXPIRY, "HK", INSTITUTIONAL), "alice's word");
        assertEq(b, EligibilityWord.pack(KYC_EXPIRY, "SG", PROFESSIONAL), "bob's word");
        assertEq(a.kycExpiry(), KYC_EXPIRY, "expiry in bits 0-39");
        assertEq(bytes32(a.country()), bytes32(bytes2("HK")), "country in bits 40-55");
        assertEq(uint256(a.category()), INSTITUTIONAL, "category in bits 56-63");
        assertEq(a, uint256(KYC_EXPIRY) | (uint256(0x484B) << 40) | (uint256(INSTITUTIONAL) << 56), "bit layout");

        (a, b) = registry.eligibilityPair(mallory, alice2);
        assertEq(a, 0, "unregistered is zero");
        assertEq(b, EligibilityWord.pack(KYC_EXPIRY, "HK", INSTITUTIONAL), "second wallet carries the record");
    }

    function test_eligibilityPairReturnsZeroForTheZeroAddressAsFirstArgument() public view {
        (uint256 a, uint256 b) = registry.eligibilityPair(address(0), alice);
        assertEq(a, 0, "no sender on a mint");
        assertEq(b, EligibilityWord.pack(KYC_EXPIRY, "HK", INSTITUTIONAL), "receiver word");
        (a, b) = registry.eligibilityPair(alice, address(0));
        assertEq(b, 0, "the zero address is never registered");
    }

    function test_unregisteredWalletsHaveAnAllZeroRecord() public view {
        assertRecord(mallory, 0, 0, 0, "mallory");
        assertEq(registry.investorOf(mallory), bytes32(0), "investorOf");
        assertFalse(registry.isVerified(mallory), "not verified");
        assertFalse(registry.isVerified(address(0)), "zero address not verified");
    }

    function test_isVerifiedFlipsAtKycExpiry() public {
        vm.warp(KYC_EXPIRY - 1);
        assertTrue(registry.isVerified(alice), "verified the second before");
        assertTrue(registry.isVerified(alice2), "second wallet too");
        vm.warp(KYC_EXPIRY);
        assertFalse(registry.isVerified(alice), "expired at kycExpiry");
        assertFalse(registry.isVerified(alice2), "second wallet too");
        registry.setInvestor(ALICE, "HK", INSTITUTIONAL, KYC_EXPIRY + 1);
        assertTrue(registry.isVerified(alice), "renewed");
        assertTrue(registry.isVerified(alice2), "renewed on every wallet");
    }

    function test_aPastKycExpiryRegistersAnUnverifiedInvestor() public {
        registry.setInvestor(ERIN, "JP", PROFESSIONAL, uint40(block.timestamp));
        registry.addWallet(ERIN, erin1);
        assertEq(registry.investorOf(erin1), ERIN, "linked");
        assertFalse(registry.isVerified(erin1), "but not verified");
    }

    // ---------------------------------------------------------------- errors

    function test_zeroInvestorIdIsRefused() public {
        vm.expectRevert(InvestorRegistry.ZeroInvestorId.selector);
        registry.setInvestor(bytes32(0), "HK", RETAIL, KYC_EXPIRY);
    }

    function test_countryMustBeTwoUpperCaseLetters() public {
        bytes2[6] memory bad = [bytes2("hk"), bytes2("Hk"), bytes2("hK"), bytes2("H1"), bytes2(0), bytes2("@[")];
        for (uint256 i = 0; i < bad.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(InvestorRegistry.InvalidCountry.selector, bad[i]));
            registry.setInvestor(ERIN, bad[i], RETAIL, KYC_EXPIRY);
        }
        registry.setInvestor(ERIN, "AZ", RETAIL, KYC_EXPIRY);
        registry.setInvestor(ERIN, "ZA", RETAIL, KYC_EXPIRY);
    }

    /// Categories fit a token's one-byte category mask.
    function test_categoryMustBeOneToSeven() public {
        vm.expectRevert(abi.encodeWithSelector(InvestorRegistry.InvalidCategory.selector, uint8(0)));
        registry.setInvestor(ERIN, "HK", 0, KYC_EXPIRY);
        vm.expectRevert(abi.encodeWithSelector(InvestorRegistry.InvalidCategory.selector, uint8(8)));
        registry.setInvestor(ERIN, "HK", 8, KYC_EXPIRY);
        vm.expectRevert(abi.encodeWithSelector(InvestorRegistry.InvalidCategory.selector, uint8(255)));
        registry.setInvestor(ERIN, "HK", 255, KYC_EXPIRY);
        registry.setInvestor(ERIN, "HK", 1, KYC_EXPIRY);
        registry.setInvestor(ERIN, "HK", 7, KYC_EXPIRY);
    }

    function test_kycExpiryMustNotBeZero() public {
        vm.expectRevert(abi.encodeWithSelector(InvestorRegistry.InvalidKycExpiry.selector, uint40(0)));
        registry.setInvestor(ERIN, "HK", RETAIL, 0);
    }

    function test_addWalletNeedsAKnownInvestor() public {
        vm.expectRevert(abi.encodeWithSelector(InvestorRegistry.UnknownInvestor.selector, ERIN));
        registry.addWallet(ERIN, erin1);
    }

    function test_removeInvestorNeedsAKnownInvestor() public {
        vm.expectRevert(abi.encodeWithSelector(InvestorRegistry.UnknownInvestor.selector, ERIN));
        registry.removeInvestor(ERIN);
    }

    function test_aWalletBelongsToOneInvestorOnly() public {
        vm.expectRevert(abi.encodeWithSelector(InvestorRegistry.WalletAlreadyRegistered.selector, alice2, ALICE));
        registry.addWallet(BOB, alice2);
        vm.expectRevert(abi.encodeWithSelector(InvestorRegistry.WalletAlreadyRegistered.selector, alice, ALICE));
        registry.addWallet(ALICE, alice);
    }

    function test_removeWalletNeedsARegisteredWallet() public {
        vm.expectRevert(abi.encodeWithSelector(InvestorRegistry.WalletNotRegistered.selector, mallory));
        registry.removeWallet(mallory);
        registry.removeWallet(alice2);
        vm.expectRevert(abi.encodeWithSelector(InvestorRegistry.WalletNotRegistered.selector, alice2));
        registry.removeWallet(alice2);
    }

    function test_anInvestorHoldsAtMostSixteenWallets() public {
        assertEq(registry.MAX_WALLETS_PER_INVESTOR(), 16, "limit");
        // alice already has alice and alice2.
        for (uint160 i = 0; i < 14; ++i) {
            registry.addWallet(ALICE, address(0x10000 + i));
        }
        assertEq(registry.walletsOf(ALICE).length, 16, "sixteen");
        vm.expectRevert(abi.encodeWithSelector(InvestorRegistry.TooManyWallets.selector, ALICE));
        registry.addWallet(ALICE, address(0x20000));

        // An update still reaches all sixteen, and removing one makes room again.
        registry.setInvestor(ALICE, "SG", INSTITUTIONAL, KYC_EXPIRY);
        assertRecord(address(0x10000 + 13), "SG", INSTITUTIONAL, KYC_EXPIRY, "sixteenth wallet");
        registry.removeWallet(alice2);
        registry.addWallet(ALICE, address(0x20000));
        assertEq(registry.investorOf(address(0x20000)), ALICE, "room again");
    }

    function test_zeroWalletIsRefused() public {
        vm.expectRevert(InvestorRegistry.ZeroWallet.selector);
        registry.addWallet(ALICE, address(0));
    }

    // ---------------------------------------------------------------- access and batching

    function test_onlyRegistrarsWrite() public {
        vm.startPrank(mallory);
        expectUnauthorized(mallory);
        registry.setInvestor(ERIN, "HK", RETAIL, KYC_EXPIRY);
        expectUnauthorized(mallory);
        registry.addWallet(ALICE, mallory);
        expectUnauthorized(mallory);
        registry.removeWallet(alice2);
        expectUnauthorized(mallory);
        registry.removeInvestor(ALICE);
        vm.stopPrank();

        // The admin can appoint another registrar.
        registry.grantRole(registry.REGISTRAR_ROLE(), mallory);
        vm.prank(mallory);
        registry.setInvestor(ERIN, "HK", RETAIL, KYC_EXPIRY);
        (,, uint40 expiry) = registry.investor(ERIN);
        assertEq(uint256(expiry), KYC_EXPIRY, "new registrar wrote");
    }

    function test_registrarRoleIsNotAdmin() public {
        registry.grantRole(registry.REGISTRAR_ROLE(), mallory);
        bytes32 registrar = registry.REGISTRAR_ROLE();
        vm.prank(mallory);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, mallory, bytes32(0))
        );
        registry.grantRole(registrar, dave);
    }

    function test_multicallBatchesSeveralWritesInOneCall() public {
        bytes[] memory calls = new bytes[](4);
        calls[0] = abi.encodeCall(InvestorRegistry.setInvestor, (ERIN, "JP", PROFESSIONAL, KYC_EXPIRY));
        calls[1] = abi.encodeCall(InvestorRegistry.addWallet, (ERIN, erin1));
        calls[2] = abi.encodeCall(InvestorRegistry.addWallet, (ERIN, erin2));
        calls[3] = abi.encodeCall(InvestorRegistry.removeWallet, (carol));
        registry.multicall(calls);

        assertEq(registry.walletsOf(ERIN).length, 2, "two wallets");
        assertRecord(erin1, "JP", PROFESSIONAL, KYC_EXPIRY, "erin1");
        assertRecord(erin2, "JP", PROFESSIONAL, KYC_EXPIRY, "erin2");
        assertEq(registry.investorOf(carol), bytes32(0), "carol removed");
    }

    function test_multicallIsAllOrNothing() public {
        bytes[] memory calls = new bytes[](3);
        calls[0] = abi.encodeCall(InvestorRegistry.setInvestor, (ERIN, "JP", PROFESSIONAL, KYC_EXPIRY));
        calls[1] = abi.encodeCall(InvestorRegistry.addWallet, (ERIN, erin1));
        calls[2] = abi.encodeCall(InvestorRegistry.addWallet, (ERIN, alice)); // alice is taken
        vm.expectRevert(abi.encodeWithSelector(InvestorRegistry.WalletAlreadyRegistered.selector, alice, ALICE));
        registry.multicall(calls);
        (,, uint40 expiry) = registry.investor(ERIN);
        assertEq(uint256(expiry), 0, "erin not registered");
        assertEq(registry.investorOf(erin1), bytes32(0), "erin1 not linked");
    }

    function test_multicallKeepsTheCallerForAccessControl() public {
        bytes[] memory calls = new bytes[](1);
        calls[0] = abi.encodeCall(InvestorRegistry.setInvestor, (ERIN, "JP", PROFESSIONAL, KYC_EXPIRY));
        expectUnauthorized(mallory);
        vm.prank(mallory);
        registry.multicall(calls);
    }

    // ---------------------------------------------------------------- findings (see the report)

    /// Recovery needs both wallets linked to one investor, which removal undoes; a forced
    /// transfer to an eligible wallet is what is left (as removeInvestor's NatSpec says).
    function test_aRemovedInvestorsWalletsCanBeForceTransferredButNotRecovered() public {
        bond.mint(alice, 10);
        registry.removeInvestor(ALICE);
        vm.expectRevert(abi.encodeWithSelector(AgentModule.NotSameInvestor.selector, alice, alice2));
        bond.recoverWallet(alice, alice2);
        bond.forcedTransfer(alice, bob, 10);
        assertEq(bond.balanceOf(bob), 10, "moved to another investor");
    }

    // ---------------------------------------------------------------- fuzz

    /// Any valid record packs into a word that eligibility() and eligibilityPair() give back intact.
    function testFuzz_eligibilityWordRoundTrips(uint8 c0, uint8 c1, uint8 category, uint40 expiry) public {
        bytes2 country = bytes2(uint16(0x41 + c0 % 26) << 8 | uint16(0x41 + c1 % 26));
        category = uint8(bound(category, 1, 7));
        expiry = uint40(bound(expiry, 1, type(uint40).max));

        registry.setInvestor(ERIN, country, category, expiry);
        registry.addWallet(ERIN, erin1);
        assertRecord(erin1, country, category, expiry, "eligibility()");

        (uint256 word, uint256 other) = registry.eligibilityPair(erin1, alice);
        assertEq(word, EligibilityWord.pack(expiry, country, category), "packed word");
        assertEq(word.kycExpiry(), expiry, "decoded expiry");
        assertEq(bytes32(word.country()), bytes32(country), "decoded country");
        assertEq(uint256(word.category()), category, "decoded category");
        assertEq(word >> 64, 0, "nothing above bit 63");
        assertEq(other, EligibilityWord.pack(KYC_EXPIRY, "HK", INSTITUTIONAL), "neighbour untouched");
        assertEq(registry.isVerified(erin1), block.timestamp < expiry, "isVerified agrees with the expiry");
    }

    /// Any country with a byte outside A-Z is refused.
    function testFuzz_nonUpperCaseCountriesAreRefused(bytes2 country) public {
        bool valid = uint8(country[0]) >= 0x41 && uint8(country[0]) <= 0x5A && uint8(country[1]) >= 0x41
            && uint8(country[1]) <= 0x5A;
        vm.assume(!valid);
        vm.expectRevert(abi.encodeWithSelector(InvestorRegistry.InvalidCountry.selector, country));
        registry.setInvestor(ERIN, country, RETAIL, KYC_EXPIRY);
    }
}
