// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Vm} from "./Base.sol";
import {Fixture} from "./Fixture.sol";
import {SecurityToken} from "../../contracts/SecurityToken.sol";
import {ISecurityToken, TransferReason} from "../../contracts/interfaces/ISecurityToken.sol";
import {IERC7943Fungible} from "../../contracts/interfaces/IERC7943.sol";
import {IERC1404} from "../../contracts/interfaces/IERC1404.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {TokenBase} from "../../contracts/modules/TokenBase.sol";

/// @dev The bond as other systems see it: ERC-7943 (uRWA) checks, frozen amounts and forced
/// transfers, and ERC-1404 reason codes with their messages. alice holds 100, bob 50.
contract ERC7943Test is Fixture {
    bytes4 internal constant ERC7943_FUNGIBLE_ID = 0x3edbb4c4;

    function setUp() public override {
        super.setUp();
        bond.mint(alice, 100);
        bond.mint(bob, 50);
    }

    function expectUnfrozenShort(address account, uint256 amount, uint256 unfrozen) internal {
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC7943Fungible.ERC7943InsufficientUnfrozenBalance.selector, account, amount, unfrozen
            )
        );
    }

    function send(address from, address to, uint256 amount) internal {
        vm.prank(from);
        bond.transfer(to, amount);
    }

    // ---------------------------------------------------------------- ERC-165

    /// The interface's id is the standard's: every signature is the final text's.
    function test_theFungibleInterfaceIdIsTheStandards() public pure {
        assertEq(bytes32(type(IERC7943Fungible).interfaceId), bytes32(ERC7943_FUNGIBLE_ID), "type(IERC7943Fungible)");
        bytes4 bySignature = bytes4(keccak256("forcedTransfer(address,address,uint256)"))
            ^ bytes4(keccak256("setFrozenTokens(address,uint256)")) ^ bytes4(keccak256("canSend(address)"))
            ^ bytes4(keccak256("canReceive(address)")) ^ bytes4(keccak256("getFrozenTokens(address)"))
            ^ bytes4(keccak256("canTransfer(address,address,uint256)"));
        assertEq(bytes32(bySignature), bytes32(ERC7943_FUNGIBLE_ID), "from the final text's signatures");
    }

    function test_theEventsAndErrorsAreTheStandards() public pure {
        assertEq(
            IERC7943Fungible.ForcedTransfer.selector, keccak256("ForcedTransfer(address,address,uint256)"), "ForcedTransfer"
        );
        assertEq(IERC7943Fungible.Frozen.selector, keccak256("Frozen(address,uint256)"), "Frozen");
        assertEq(
            bytes32(IERC7943Fungible.ERC7943CannotSend.selector),
            bytes32(bytes4(keccak256("ERC7943CannotSend(address)"))),
            "CannotSend"
        );
        assertEq(
            bytes32(IERC7943Fungible.ERC7943CannotReceive.selector),
            bytes32(bytes4(keccak256("ERC7943CannotReceive(address)"))),
            "CannotReceive"
        );
        assertEq(
            bytes32(IERC7943Fungible.ERC7943CannotTransfer.selector),
            bytes32(bytes4(keccak256("ERC7943CannotTransfer(address,address,uint256)"))),
            "CannotTransfer"
        );
        assertEq(
            bytes32(IERC7943Fungible.ERC7943InsufficientUnfrozenBalance.selector),
            bytes32(bytes4(keccak256("ERC7943InsufficientUnfrozenBalance(address,uint256,uint256)"))),
            "InsufficientUnfrozenBalance"
        );
    }

    function test_theBondAnswersErc165ForErc7943() public view {
        assertTrue(bond.supportsInterface(ERC7943_FUNGIBLE_ID), "ERC-7943 fungible");
        assertTrue(bond.supportsInterface(type(ISecurityToken).interfaceId), "ISecurityToken");
        assertTrue(bond.supportsInterface(0x01ffc9a7), "ERC-165");
        assertFalse(bond.supportsInterface(0xbf1ef5fe), "not the non-fungible interface");
        assertFalse(bond.supportsInterface(0x41c4fbad), "not the multi-token interface");
    }

    // ---------------------------------------------------------------- canSend, canReceive, canTransfer

    function test_canSendAndCanReceiveAreAccountRules() public {
        assertTrue(bond.canSend(alice) && bond.canReceive(alice), "alice");
        assertFalse(bond.canSend(mallory) || bond.canReceive(mallory), "mallory is not registered");
        assertTrue(bond.canSend(carol), "carol is registered: she may send");
        assertFalse(bond.canReceive(carol), "but, retail, not receive a professional-only bond");
        assertTrue(bond.canSend(dave), "dave may send");
        assertFalse(bond.canReceive(dave), "but not receive from the US");
        assertFalse(bond.canSend(address(0)) || bond.canReceive(address(0)), "the zero address");

        bond.setAddressFrozen(bob, true);
        assertFalse(bond.canSend(bob) || bond.canReceive(bob), "a frozen wallet");
        bond.setAddressFrozen(bob, false);

        // A frozen amount and a pause are transfer rules, not account rules.
        bond.setFrozenTokens(alice, 100);
        bond.pause();
        assertTrue(bond.canSend(alice) && bond.canReceive(alice), "alice, all frozen, paused");
        assertFalse(bond.canTransfer(alice, bob, 1), "but she cannot transfer");

        vm.warp(KYC_EXPIRY);
        assertFalse(bond.canSend(alice) || bond.canReceive(alice), "KYC expired");
    }

    function test_canTransferIsDetectTransferRestrictionSaysNothing() public {
        assertTrue(bond.canTransfer(alice, bob, 100), "alice -> bob, all of it");
        assertFalse(bond.canTransfer(alice, bob, 101), "more than she holds");
        assertFalse(bond.canTransfer(alice, carol, 1), "to retail");
        assertFalse(bond.canTransfer(mallory, bob, 0), "from an unregistered wallet");
        bond.pause();
        assertFalse(bond.canTransfer(alice, bob, 1), "paused");
    }

    /// A mint or a burn is no holder's transfer: canTransfer says no, detectTransferRestriction answers.
    function test_canTransferIsFalseForTheZeroAddress() public view {
        assertFalse(bond.canTransfer(address(0), alice, 1), "a mint");
        assertFalse(bond.canTransfer(alice, address(0), 1), "a burn");
        assertEq(bond.detectTransferRestriction(address(0), alice, 1), TransferReason.OK, "the mint may go ahead");
        assertEq(bond.detectTransferRestriction(alice, address(0), 1), TransferReason.OK, "and the burn");
    }

    // ---------------------------------------------------------------- frozen amounts

    function test_setFrozenTokensOverwritesAndEmits() public {
        vm.expectEmit(true, true, true, true, address(bond));
        emit IERC7943Fungible.Frozen(alice, 30);
        assertTrue(bond.setFrozenTokens(alice, 30), "returns true");
        assertEq(bond.getFrozenTokens(alice), 30, "30 frozen");
        bond.setFrozenTokens(alice, 10);
        assertEq(bond.getFrozenTokens(alice), 10, "overwritten, not added");
        bond.setFrozenTokens(alice, 1_000);
        assertEq(bond.getFrozenTokens(alice), 1_000, "more than she holds");
        vm.expectEmit(true, true, true, true, address(bond));
        emit IERC7943Fungible.Frozen(alice, 1_000);
        bond.setFrozenTokens(alice, 1_000); // the same amount again still says so
        bond.setFrozenTokens(alice, 0);
        assertEq(bond.getFrozenTokens(alice), 0, "unfrozen");
    }

    function test_onlyAnAgentSetsFrozenTokensOrForcesATransfer() public {
        vm.startPrank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, bond.AGENT_ROLE())
        );
        bond.setFrozenTokens(bob, 1);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, bond.AGENT_ROLE())
        );
        bond.forcedTransfer(bob, alice, 1);
        vm.stopPrank();
        vm.expectRevert(TokenBase.ZeroAddress.selector);
        bond.setFrozenTokens(address(0), 1);
    }

    /// Amounts no balance can reach freeze everything and read back as the largest amount.
    function test_anAmountBeyondEveryBalanceFreezesEverything() public {
        bond.setFrozenTokens(alice, type(uint256).max);
        assertEq(bond.getFrozenTokens(alice), type(uint256).max, "everything");
        vm.expectEmit(true, true, true, true, address(bond));
        emit IERC7943Fungible.Frozen(alice, type(uint256).max);
        bond.setFrozenTokens(alice, uint256(type(uint248).max));
        bond.setFrozenTokens(alice, uint256(type(uint248).max) - 1);
        assertEq(bond.getFrozenTokens(alice), uint256(type(uint248).max) - 1, "kept exactly below that");
        bond.setFrozenTokens(alice, type(uint256).max);
        expectUnfrozenShort(alice, 1, 0);
        send(alice, bob, 1);
        bond.forcedTransfer(alice, bob, 40);
        assertEq(bond.getFrozenTokens(alice), type(uint256).max, "what remains stays frozen");
    }

    function test_aTransferMaySpendOnlyUnfrozenTokens() public {
        bond.setFrozenTokens(alice, 30);
        assertTrue(bond.canTransfer(alice, bob, 70), "70 unfrozen");
        assertFalse(bond.canTransfer(alice, bob, 71), "71 is not");
        assertEq(bond.detectTransferRestriction(alice, bob, 71), TransferReason.INSUFFICIENT_UNFROZEN_BALANCE, "code");
        expectUnfrozenShort(alice, 71, 70);
        send(alice, bob, 71);
        send(alice, bob, 70);
        assertEq(bond.balanceOf(alice), 30, "the frozen 30 remain");
        expectUnfrozenShort(alice, 1, 0);
        send(alice, bob, 1);
        // Beyond the balance, ERC-20's own error (and reason) rather than the frozen one.
        assertEq(bond.detectTransferRestriction(alice, bob, 31), TransferReason.INSUFFICIENT_BALANCE, "beyond balance");
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, alice, 30, 31));
        send(alice, bob, 31);
        assertEq(bond.getFrozenTokens(alice), 30, "a holder's transfers never change the frozen amount");
    }

    function test_transferFromAndSettlementMayNotSpendFrozenTokensEither() public {
        bond.setFrozenTokens(alice, 90);
        vm.prank(alice);
        bond.approve(bob, 100);
        expectUnfrozenShort(alice, 11, 10);
        vm.prank(bob);
        bond.transferFrom(alice, bob, 11);
        expectUnfrozenShort(alice, 11, 10);
        vm.prank(address(dvp));
        bond.settlementTransfer(alice, bob, 11);
        vm.prank(address(dvp));
        bond.settlementTransfer(alice, bob, 10);
        assertEq(bond.balanceOf(alice), 90, "only the unfrozen 10 moved");
    }

    /// A redemption burns only unfrozen tokens: the agent lifts or seizes frozen ones first.
    function test_aBurnMayNotTakeFrozenTokens() public {
        bond.setFrozenTokens(bob, 20);
        assertEq(
            bond.detectTransferRestriction(bob, address(0), 31), TransferReason.INSUFFICIENT_UNFROZEN_BALANCE, "burn 31"
        );
        expectUnfrozenShort(bob, 31, 30);
        bond.burn(bob, 31);
        bond.burn(bob, 30);
        bond.setFrozenTokens(bob, 0);
        bond.burn(bob, 20);
        assertEq(bond.totalSupply(), 100, "supply");
    }

    /// Frozen beyond the balance holds back what arrives later.
    function test_aFrozenAmountAboveTheBalanceHoldsBackLaterReceipts() public {
        bond.setFrozenTokens(bob, 80);
        expectUnfrozenShort(bob, 1, 0);
        send(bob, alice, 1);
        send(alice, bob, 40); // bob holds 90, 80 of them frozen
        expectUnfrozenShort(bob, 11, 10);
        send(bob, alice, 11);
        send(bob, alice, 10);
        assertEq(bond.balanceOf(bob), 80, "bob");
    }

    function test_theWholeWalletFreezeAndTheFrozenAmountAreIndependent() public {
        bond.setAddressFrozen(alice, true);
        bond.setFrozenTokens(alice, 10);
        assertEq(bond.detectTransferRestriction(alice, bob, 1), TransferReason.SENDER_FROZEN, "the wallet first");
        bond.setAddressFrozen(alice, false);
        assertEq(bond.getFrozenTokens(alice), 10, "the amount stays");
        assertEq(bond.detectTransferRestriction(alice, bob, 91), TransferReason.INSUFFICIENT_UNFROZEN_BALANCE, "91");
        bond.setAddressFrozen(alice, true);
        bond.setFrozenTokens(alice, 0);
        assertTrue(bond.isFrozen(alice), "the wallet stays frozen");
        assertEq(bond.detectTransferRestriction(alice, bob, 1), TransferReason.SENDER_FROZEN, "still");
        bond.setAddressFrozen(alice, false);
        send(alice, bob, 100);
    }

    // ---------------------------------------------------------------- forced transfers

    /// Taking frozen tokens unfreezes them first: Frozen, then Transfer, then ForcedTransfer.
    function test_aForcedTransferUnfreezesWhatItTakesFirst() public {
        bond.setFrozenTokens(alice, 80); // 20 unfrozen
        vm.recordLogs();
        assertTrue(bond.forcedTransfer(alice, bob, 50), "returns true");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 3, "three events");
        assertEq(logs[0].topics[0], IERC7943Fungible.Frozen.selector, "Frozen first");
        assertEq(logs[0].topics[1], bytes32(uint256(uint160(alice))), "for alice");
        assertEq(abi.decode(logs[0].data, (uint256)), 50, "80 - (50 - 20) left frozen");
        assertEq(logs[1].topics[0], IERC20.Transfer.selector, "then the transfer");
        assertEq(logs[2].topics[0], IERC7943Fungible.ForcedTransfer.selector, "then ForcedTransfer");
        assertEq(logs[2].topics[1], bytes32(uint256(uint160(alice))), "from");
        assertEq(logs[2].topics[2], bytes32(uint256(uint160(bob))), "to");
        assertEq(abi.decode(logs[2].data, (uint256)), 50, "amount");
        assertEq(bond.getFrozenTokens(alice), 50, "frozen");
        assertEq(bond.balanceOf(alice), 50, "balance");
    }

    function test_aForcedTransferOfUnfrozenTokensLeavesTheFrozenAmount() public {
        bond.setFrozenTokens(alice, 80);
        vm.recordLogs();
        bond.forcedTransfer(alice, bob, 20);
        assertEq(vm.getRecordedLogs().length, 2, "Transfer and ForcedTransfer, no Frozen");
        assertEq(bond.getFrozenTokens(alice), 80, "still 80");
    }

    /// The known pitfall: a forced transfer to the same wallet moves nothing, so unfreezes nothing.
    function test_aForcedTransferToTheSameWalletKeepsTheFrozenAmount() public {
        bond.setFrozenTokens(alice, 80);
        vm.recordLogs();
        bond.forcedTransfer(alice, alice, 100);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i = 0; i < logs.length; ++i) {
            assertFalse(logs[i].topics[0] == IERC7943Fungible.Frozen.selector, "no Frozen event");
        }
        assertEq(bond.getFrozenTokens(alice), 80, "still 80 frozen");
        assertEq(bond.balanceOf(alice), 100, "still 100");
        expectUnfrozenShort(alice, 21, 20);
        send(alice, bob, 21);
    }

    function test_aForcedTransferBeyondTheBalanceRevertsAndUnfreezesNothing() public {
        bond.setFrozenTokens(alice, 80);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, alice, 100, 101));
        bond.forcedTransfer(alice, bob, 101);
        assertEq(bond.getFrozenTokens(alice), 80, "unchanged");
    }

    function test_aForcedTransferStillNeedsAnEligibleReceiver() public {
        bond.setFrozenTokens(alice, 100);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISecurityToken.TransferRestricted.selector, alice, carol, 1, TransferReason.CATEGORY_NOT_ALLOWED
            )
        );
        bond.forcedTransfer(alice, carol, 1);
        assertEq(bond.getFrozenTokens(alice), 100, "unchanged");
    }

    function test_aRecoveredWalletCarriesItsFrozenAmount() public {
        bond.setFrozenTokens(alice, 30);
        bond.setFrozenTokens(alice2, 5);
        vm.recordLogs();
        bond.recoverWallet(alice, alice2);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs[0].topics[0], IERC7943Fungible.Frozen.selector, "the lost wallet is unfrozen first");
        assertEq(logs[1].topics[0], IERC20.Transfer.selector, "then the balance moves");
        assertEq(bond.getFrozenTokens(alice), 0, "lost wallet");
        assertEq(bond.getFrozenTokens(alice2), 35, "new wallet: its own 5 and the lost wallet's 30");
        expectUnfrozenShort(alice2, 66, 65);
        send(alice2, bob, 66);
    }

    // ---------------------------------------------------------------- ERC-1404

    function test_everyReasonHasItsCodeAndMessage() public {
        assertCode(alice, bob, 1, TransferReason.OK, "No restriction");
        assertCode(alice, mallory, 1, TransferReason.RECEIVER_NOT_REGISTERED, "Receiver is not a registered investor");
        assertCode(mallory, bob, 1, TransferReason.SENDER_NOT_REGISTERED, "Sender is not a registered investor");
        assertCode(
            alice, carol, 1, TransferReason.CATEGORY_NOT_ALLOWED, "Receiver's investor category may not hold it"
        );
        assertCode(alice, dave, 1, TransferReason.JURISDICTION_NOT_ALLOWED, "Receiver's country is not allowed");
        assertCode(bob, alice, 51, TransferReason.INSUFFICIENT_BALANCE, "Sender's balance is too low");
        uint256 cap = ISSUE_VOLUME / DENOMINATION;
        assertCode(address(0), alice, cap, TransferReason.SUPPLY_CAP_EXCEEDED, "It would exceed the issue volume");
        bond.setFrozenTokens(bob, 50);
        uint8 unfrozenShort = TransferReason.INSUFFICIENT_UNFROZEN_BALANCE;
        assertCode(bob, alice, 1, unfrozenShort, "Sender's unfrozen balance is too low");
        bond.setAddressFrozen(bob, true);
        assertCode(bob, alice, 1, TransferReason.SENDER_FROZEN, "Sender's wallet is frozen");
        assertCode(alice, bob, 1, TransferReason.RECEIVER_FROZEN, "Receiver's wallet is frozen");
        bond.pause();
        assertCode(alice, bob, 1, TransferReason.PAUSED, "Transfers are paused");
        bond.unpause();
        bond.setAddressFrozen(bob, false);

        vm.warp(KYC_EXPIRY);
        assertCode(alice, bob, 1, TransferReason.SENDER_KYC_EXPIRED, "Sender's KYC has expired");
        registry.setInvestor(keccak256("alice"), "HK", INSTITUTIONAL, KYC_EXPIRY + 365 days);
        assertCode(alice, bob, 1, TransferReason.RECEIVER_KYC_EXPIRED, "Receiver's KYC has expired");
        registry.setInvestor(keccak256("bob"), "SG", PROFESSIONAL, KYC_EXPIRY + 365 days);
        assertCode(alice, bob, 1, TransferReason.INSTRUMENT_CLOSED, "The instrument is closed to transfers"); // matured

        // The venue reports it for a cash leg; the bond never answers it, but a wallet may ask.
        uint8 allowance = TransferReason.INSUFFICIENT_ALLOWANCE;
        assertEq(bond.messageForTransferRestriction(allowance), "Allowance is too low", "13");
        assertEq(bond.messageForTransferRestriction(15), "Unknown restriction code", "15");
        assertEq(bond.messageForTransferRestriction(255), "Unknown restriction code", "255");
    }

    /// Every code in the table has a message of its own.
    function test_theMessagesAreDistinct() public view {
        for (uint8 a = 0; a <= TransferReason.INSUFFICIENT_UNFROZEN_BALANCE; ++a) {
            string memory m = bond.messageForTransferRestriction(a);
            assertTrue(bytes(m).length > 0, "a message");
            for (uint8 b = 0; b < a; ++b) {
                assertFalse(keccak256(bytes(m)) == keccak256(bytes(bond.messageForTransferRestriction(b))), "distinct");
            }
        }
    }

    function assertCode(address from, address to, uint256 amount, uint8 code, string memory message) internal view {
        IERC1404 restricted = IERC1404(address(bond));
        assertEq(restricted.detectTransferRestriction(from, to, amount), code, message);
        assertEq(restricted.messageForTransferRestriction(code), message, "message");
        if (from != address(0)) assertEq(bond.canTransfer(from, to, amount), code == TransferReason.OK, "canTransfer");
    }

    // ---------------------------------------------------------------- fuzz

    /// Whatever is frozen and whatever is asked, a holder's transfer succeeds exactly when the
    /// unfrozen balance covers it, canTransfer says so beforehand, and the frozen tokens stay.
    function testFuzz_aTransferNeverSpendsFrozenTokens(uint256 frozen, uint256 amount, bool byVenue) public {
        frozen = bound(frozen, 0, 200);
        amount = bound(amount, 0, 150);
        bond.setFrozenTokens(alice, frozen);
        uint256 unfrozen = frozen >= 100 ? 0 : 100 - frozen;
        bool predicted = bond.canTransfer(alice, bob, amount);
        assertEq(predicted, amount <= unfrozen, "canTransfer");

        if (amount > 100) {
            vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, alice, 100, amount));
        } else if (amount > unfrozen) {
            expectUnfrozenShort(alice, amount, unfrozen);
        }
        vm.prank(byVenue ? address(dvp) : alice);
        if (byVenue) bond.settlementTransfer(alice, bob, amount);
        else bond.transfer(bob, amount);

        assertEq(bond.getFrozenTokens(alice), frozen, "frozen amount unchanged");
        assertGe(bond.balanceOf(alice), frozen < 100 ? frozen : 100, "the frozen tokens stayed");
        assertEq(bond.balanceOf(alice) + bond.balanceOf(bob), 150, "conserved");
    }

    /// A forced transfer takes unfrozen tokens first and unfreezes only the frozen ones it takes;
    /// to the same wallet it unfreezes nothing.
    function testFuzz_aForcedTransferUnfreezesOnlyWhatItTakes(uint256 frozen, uint256 amount, bool self) public {
        frozen = bound(frozen, 0, 200);
        amount = bound(amount, 0, 100);
        bond.setFrozenTokens(alice, frozen);
        uint256 unfrozen = frozen >= 100 ? 0 : 100 - frozen;
        bond.forcedTransfer(alice, self ? alice : bob, amount);
        uint256 expected = self || amount <= unfrozen ? frozen : frozen - (amount - unfrozen);
        assertEq(bond.getFrozenTokens(alice), expected, "frozen after");
        assertEq(bond.balanceOf(alice), self ? 100 : 100 - amount, "balance after");
        // The frozen tokens held (frozen, up to the balance) fell by no more than it took.
        uint256 heldBefore = frozen < 100 ? frozen : 100;
        uint256 heldAfter = expected < bond.balanceOf(alice) ? expected : bond.balanceOf(alice);
        assertLe(heldAfter, heldBefore, "held frozen never grows");
        assertGe(heldAfter + (self ? 0 : amount), heldBefore, "and falls by at most what moved");
    }
}
