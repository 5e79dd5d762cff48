// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Code, Predict, Typed} from "./SecondaryOracle.sol";
import {SecondaryFixture, PRICE} from "./SecondaryFixture.sol";
import {AnsweringToken} from "./Stubs.sol";
import {CashToken} from "../../contracts/CashToken.sol";
import {DvPSettlement, SettlementFailure} from "../../contracts/DvPSettlement.sol";
import {TransferReason} from "../../contracts/interfaces/ISecurityToken.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @dev Secondary settlement of signed instructions: both legs or nothing, the signed message,
/// replay, expiry and the settlement date, the checks in order, the two legs, batches, and
/// who may call.
contract DvPSecondaryTest is SecondaryFixture {
    // ---------------------------------------------------------------- settling

    function test_aSignedInstructionSettlesBothLegsAtomically() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 40);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        bytes32 id = dvp.instructionId(ins);
        assertEq(bond.balanceOf(address(dvp)), 0, "the venue holds no bonds before");
        assertEq(hkd.balanceOf(address(dvp)), 0, "the venue holds no cash before");
        uint256 bondSupply = bond.totalSupply();
        uint256 cashSupply = hkd.totalSupply();

        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionSettled(id, seller, buyer, address(bond), 40, address(hkd), 40 * PRICE, ins.nonce);
        dvp.settle(ins, sellerSig, buyerSig);

        assertEq(bond.balanceOf(seller), BONDS - 40, "the seller delivered");
        assertEq(bond.balanceOf(buyer), BONDS + 40, "the buyer received");
        assertEq(hkd.balanceOf(buyer), CASH - 40 * PRICE, "the buyer paid");
        assertEq(hkd.balanceOf(seller), CASH + 40 * PRICE, "the seller was paid");
        assertEq(bond.balanceOf(address(dvp)), 0, "the venue holds no bonds after");
        assertEq(hkd.balanceOf(address(dvp)), 0, "the venue holds no cash after");
        assertEq(bond.totalSupply(), bondSupply, "no bond minted or burned");
        assertEq(hkd.totalSupply(), cashSupply, "no cash minted or burned");
        assertTrue(dvp.isNonceUsed(ins.nonce), "the nonce is used");
    }

    function test_anyGrantedSettlementAgentMaySubmitAndTheInvestorsPayNoGas() public {
        address agent = address(0xA6E);
        dvp.grantRole(dvp.SETTLEMENT_AGENT_ROLE(), agent);
        DvPSettlement.Instruction memory ins = trade(seller2, buyer2, 3);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        vm.prank(agent);
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(bond.balanceOf(buyer2), BONDS + 3, "settled by the granted agent");
    }

    function test_aZeroPriceInstructionDeliversFreeOfPayment() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 5);
        ins.cashAmount = 0;
        vm.prank(buyer);
        hkd.approve(address(dvp), 0);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(bond.balanceOf(buyer), BONDS + 5, "delivered");
        assertEq(hkd.balanceOf(seller), CASH, "nothing paid");
    }

    // ---------------------------------------------------------------- the signed message

    function test_theFailureTableKeepsItsNumbers() public pure {
        assertEq(SettlementFailure.OK, Code.OK, "OK");
        assertEq(SettlementFailure.EXPIRED, Code.EXPIRED, "EXPIRED");
        assertEq(SettlementFailure.NONCE_USED, Code.NONCE_USED, "NONCE_USED");
        assertEq(SettlementFailure.BAD_SELLER_SIGNATURE, Code.BAD_SELLER_SIGNATURE, "BAD_SELLER_SIGNATURE");
        assertEq(SettlementFailure.BAD_BUYER_SIGNATURE, Code.BAD_BUYER_SIGNATURE, "BAD_BUYER_SIGNATURE");
        assertEq(SettlementFailure.TOKEN_NOT_LISTED, Code.TOKEN_NOT_LISTED, "TOKEN_NOT_LISTED");
        assertEq(SettlementFailure.SECURITY_LEG_REFUSED, Code.SECURITY_LEG_REFUSED, "SECURITY_LEG_REFUSED");
        assertEq(SettlementFailure.CASH_LEG_REFUSED, Code.CASH_LEG_REFUSED, "CASH_LEG_REFUSED");
        assertEq(SettlementFailure.INVALID_INSTRUCTION, Code.INVALID_INSTRUCTION, "INVALID_INSTRUCTION");
        assertEq(SettlementFailure.LEG_REVERTED, Code.LEG_REVERTED, "LEG_REVERTED");
        assertEq(SettlementFailure.CANCELLED, Code.CANCELLED, "CANCELLED");
        assertEq(SettlementFailure.NOT_YET_DUE, Code.NOT_YET_DUE, "NOT_YET_DUE");
        assertEq(TransferReason.INSUFFICIENT_BALANCE, Code.INSUFFICIENT_BALANCE, "INSUFFICIENT_BALANCE");
        assertEq(TransferReason.INSUFFICIENT_ALLOWANCE, Code.INSUFFICIENT_ALLOWANCE, "INSUFFICIENT_ALLOWANCE");
        assertEq(
            TransferReason.INSUFFICIENT_UNFROZEN_BALANCE, Code.INSUFFICIENT_UNFROZEN_BALANCE, "INSUFFICIENT_UNFROZEN_BALANCE"
        );
    }

    function test_theInstructionIdIsTheEip712DigestComputedByHand() public view {
        DvPSettlement.Instruction memory ins = DvPSettlement.Instruction({
            seller: seller,
            buyer: buyer2,
            securityToken: address(bond),
            quantity: 123_456,
            cashToken: address(hkd),
            cashAmount: type(uint256).max - 7,
            tradeDate: 1_707_350_400,
            settlementDate: 1_707_523_200,
            expiry: type(uint64).max,
            nonce: (uint256(1) << 255) | 0x1ff
        });
        assertEq(dvp.INSTRUCTION_TYPEHASH(), Typed.INSTRUCTION_TYPEHASH, "instruction type hash");
        assertEq(dvp.CANCEL_TYPEHASH(), Typed.CANCEL_TYPEHASH, "cancel type hash");
        assertEq(dvp.domainSeparator(), Typed.domainSeparator(address(dvp)), "domain separator");
        assertEq(dvp.instructionId(ins), Typed.instructionDigest(ins, address(dvp)), "id = EIP-712 digest");

        (, string memory name, string memory version, uint256 chainId, address verifyingContract,,) = dvp.eip712Domain();
        assertEq(name, "bondledger DvPSettlement", "domain name");
        assertEq(version, "1", "domain version");
        assertEq(chainId, block.chainid, "domain chain id");
        assertEq(verifyingContract, address(dvp), "domain verifying contract");

        // Every field is covered: changing any one changes the id.
        bytes32 id = dvp.instructionId(ins);
        for (uint256 f = 0; f < 10; ++f) {
            DvPSettlement.Instruction memory changed = tweak(ins, f);
            assertTrue(dvp.instructionId(changed) != id, "a field is not covered by the id");
            assertEq(dvp.instructionId(changed), Typed.instructionDigest(changed, address(dvp)), "hand digest");
        }
    }

    function test_signaturesAreBoundToTheChainAndToTheVenue() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 1);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        bytes32 id = dvp.instructionId(ins);

        // Another venue (listing the same bond and cash) computes another id: the signatures do not carry over.
        DvPSettlement other = new DvPSettlement(address(this));
        other.setListed(address(bond), true);
        other.setCashListed(address(hkd), true);
        bytes32 otherId = other.instructionId(ins);
        assertTrue(otherId != id, "ids differ across venues");
        vm.expectRevert(
            abi.encodeWithSelector(
                DvPSettlement.SettlementRefused.selector, otherId, Code.BAD_SELLER_SIGNATURE, uint8(0)
            )
        );
        other.settle(ins, sellerSig, buyerSig);

        // On a fork with another chain id, neither.
        uint256 home = block.chainid;
        vm.chainId(home + 1);
        bytes32 forkId = dvp.instructionId(ins);
        assertTrue(forkId != id, "ids differ across chains");
        assertEq(dvp.domainSeparator(), Typed.domainSeparator(address(dvp)), "domain follows the chain id");
        assertRefused(ins, sellerSig, buyerSig, Code.BAD_SELLER_SIGNATURE, 0);

        vm.chainId(home);
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(bond.balanceOf(buyer), BONDS + 1, "settles on its own chain and venue");
    }

    // ---------------------------------------------------------------- replay

    function test_aSettledInstructionCannotSettleAgain() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 10);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        dvp.settle(ins, sellerSig, buyerSig);
        assertRefused(ins, sellerSig, buyerSig, Code.NONCE_USED, 0);
        assertEq(bond.balanceOf(buyer), BONDS + 10, "delivered once");
        assertEq(hkd.balanceOf(buyer), CASH - 10 * PRICE, "paid once");
    }

    function test_aSignatureOverOneInstructionDoesNotValidateAnother() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 10);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);

        // A better price for the seller: neither signature covers it.
        DvPSettlement.Instruction memory repriced = clone(ins);
        repriced.cashAmount = 11 * PRICE;
        assertRefused(repriced, sellerSig, buyerSig, Code.BAD_SELLER_SIGNATURE, 0);
        // Even with the seller's signature over the new terms, the buyer never agreed to them.
        bytes memory sellerSigRepriced = sign(SELLER_KEY, dvp.instructionId(repriced));
        assertRefused(repriced, sellerSigRepriced, buyerSig, Code.BAD_BUYER_SIGNATURE, 0);

        // More bonds for the buyer, the other way round.
        DvPSettlement.Instruction memory bigger = clone(ins);
        bigger.quantity = 11;
        assertRefused(bigger, sellerSig, buyerSig, Code.BAD_SELLER_SIGNATURE, 0);
        assertRefused(bigger, sign(SELLER_KEY, dvp.instructionId(bigger)), buyerSig, Code.BAD_BUYER_SIGNATURE, 0);

        // Swapped, borrowed or malformed signatures.
        assertRefused(ins, buyerSig, sellerSig, Code.BAD_SELLER_SIGNATURE, 0);
        assertRefused(ins, sign(STRANGER_KEY, dvp.instructionId(ins)), buyerSig, Code.BAD_SELLER_SIGNATURE, 0);
        assertRefused(ins, sellerSig, sellerSig, Code.BAD_BUYER_SIGNATURE, 0);
        assertRefused(ins, sellerSig, "", Code.BAD_BUYER_SIGNATURE, 0);
        assertRefused(ins, hex"00112233", buyerSig, Code.BAD_SELLER_SIGNATURE, 0);

        // The original, as both signed it, still settles.
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(hkd.balanceOf(seller), CASH + 10 * PRICE, "settled on the signed terms");
    }

    // ---------------------------------------------------------------- expiry

    function test_anInstructionSettlesUntilButNotAtItsExpiry() public {
        DvPSettlement.Instruction memory early = trade(seller, buyer, 1);
        DvPSettlement.Instruction memory atExpiry = trade(seller, buyer, 2);
        DvPSettlement.Instruction memory late = trade(seller, buyer, 3);
        (bytes memory s1, bytes memory b1) = signBoth(early);

        vm.warp(early.expiry - 1);
        dvp.settle(early, s1, b1);
        assertEq(bond.balanceOf(buyer), BONDS + 1, "settled a second before expiry");

        vm.warp(atExpiry.expiry);
        assertRefused(atExpiry, Code.EXPIRED, 0);
        vm.warp(late.expiry + 365 days);
        assertRefused(late, Code.EXPIRED, 0);
    }

    // ---------------------------------------------------------------- the settlement date

    function test_anInstructionSettlesOnItsSettlementDateButNotBefore() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 8);
        ins.settlementDate += 2 days; // T+2
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);

        assertRefused(ins, sellerSig, buyerSig, Code.NOT_YET_DUE, 0);
        vm.warp(ins.settlementDate - 1);
        assertRefused(ins, sellerSig, buyerSig, Code.NOT_YET_DUE, 0);
        assertFalse(dvp.isNonceUsed(ins.nonce), "refusing it did not use the nonce");

        vm.warp(ins.settlementDate);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionSettled(
            dvp.instructionId(ins), seller, buyer, address(bond), 8, address(hkd), 8 * PRICE, ins.nonce
        );
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(bond.balanceOf(buyer), BONDS + 8, "the same signed instruction settled on the date");
        assertEq(hkd.balanceOf(seller), CASH + 8 * PRICE, "and was paid for");
        assertRefused(ins, sellerSig, buyerSig, Code.NONCE_USED, 0);
    }

    function test_aBatchTreatsANotYetDueInstructionLikeAnyRefusal() public {
        DvPSettlement.Instruction memory due = trade(seller, buyer, 4);
        DvPSettlement.Instruction memory early = trade(seller2, buyer2, 6);
        early.settlementDate += 1 days;
        DvPSettlement.Instruction[] memory l = list(due, early);
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);

        Predict.Books memory before = books();
        expectRefused(dvp.instructionId(early), Code.NOT_YET_DUE, 0);
        dvp.settleBatch(l, sellerSigs, buyerSigs, false);
        assertBooks(before, "all or nothing: nothing moved");

        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(early), Code.NOT_YET_DUE, 0);
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 1, "best effort: the due one settled");
        assertEq(bond.balanceOf(buyer2), BONDS, "the early one did not");
        assertFalse(dvp.isNonceUsed(early.nonce), "its nonce is free");

        vm.warp(early.settlementDate);
        expectRefused(dvp.instructionId(due), Code.NONCE_USED, 0);
        dvp.settleBatch(l, sellerSigs, buyerSigs, false);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(due), Code.NONCE_USED, 0);
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 1, "on its date the early one settles");
        assertEq(bond.balanceOf(buyer2), BONDS + 6, "delivered");
    }

    /// A settlement date at or after the expiry leaves no time at which it may settle: before the
    /// date it is not yet due, from the expiry on it is expired (which the venue checks first).
    function test_anInstructionDueOnlyAfterItsExpiryNeverSettles() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 1);
        ins.settlementDate = ins.expiry + 1 days;
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        assertRefused(ins, sellerSig, buyerSig, Code.NOT_YET_DUE, 0);
        vm.warp(ins.expiry - 1);
        assertRefused(ins, sellerSig, buyerSig, Code.NOT_YET_DUE, 0);
        vm.warp(ins.expiry);
        assertRefused(ins, sellerSig, buyerSig, Code.EXPIRED, 0);
        vm.warp(ins.settlementDate);
        assertRefused(ins, sellerSig, buyerSig, Code.EXPIRED, 0);
    }

    /// One instruction that fails every check from "not yet due" on, and a malformed copy: the
    /// venue reports the first in its documented order, and each next one as the earlier clear.
    function test_theVenuesChecksComeInTheDocumentedOrder() public {
        CashToken usd = new CashToken("USD", "Tokenized USD", address(this));
        usd.mint(buyer, 1_000_00);
        vm.prank(buyer);
        usd.approve(address(dvp), type(uint256).max);

        DvPSettlement.Instruction memory ins = trade(seller, buyer, 3);
        ins.cashToken = address(usd); // not listed
        ins.cashAmount = 3_00;
        ins.settlementDate += 2 days;
        bytes32 id = dvp.instructionId(ins);
        bytes memory strangers = sign(STRANGER_KEY, id);
        // Cancelled, and its nonce then settles another instruction.
        vm.prank(seller);
        dvp.cancel(ins);
        DvPSettlement.Instruction memory twin = trade(seller2, buyer2, 1);
        twin.nonce = ins.nonce;
        (bytes memory twinSellerSig, bytes memory twinBuyerSig) = signBoth(twin);
        dvp.settle(twin, twinSellerSig, twinBuyerSig);

        DvPSettlement.Instruction memory malformed = clone(ins);
        malformed.buyer = seller;
        assertRefused(malformed, strangers, strangers, Code.INVALID_INSTRUCTION, 0);
        assertRefused(ins, strangers, strangers, Code.NOT_YET_DUE, 0);
        vm.warp(ins.expiry);
        assertRefused(ins, strangers, strangers, Code.EXPIRED, 0);
        vm.warp(ins.settlementDate);
        assertRefused(ins, strangers, strangers, Code.NONCE_USED, 0);

        // The same terms under a fresh nonce: cancelled, then not cancelled (another fresh nonce).
        ins.nonce = ++lastNonce;
        vm.prank(buyer);
        dvp.cancel(ins);
        assertRefused(ins, strangers, strangers, Code.CANCELLED, 0);
        ins.nonce = ++lastNonce;
        assertRefused(ins, strangers, strangers, Code.TOKEN_NOT_LISTED, 0);
        dvp.setListed(address(usd), true); // as a security: it still may not pay
        assertRefused(ins, strangers, strangers, Code.TOKEN_NOT_LISTED, 0);
        dvp.setCashListed(address(usd), true);
        assertRefused(ins, strangers, strangers, Code.BAD_SELLER_SIGNATURE, 0);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        assertRefused(ins, sellerSig, strangers, Code.BAD_BUYER_SIGNATURE, 0);
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(usd.balanceOf(seller), 3_00, "with every check passed it settles");
    }

    // ---------------------------------------------------------------- the security leg

    function test_aRetailBuyerIsRefusedByTheBondsCategoryRule() public {
        assertRefused(trade(seller, retail, 1), Code.SECURITY_LEG_REFUSED, Code.CATEGORY_NOT_ALLOWED);
    }

    function test_anUnregisteredBuyerIsRefusedByTheBond() public {
        assertRefused(trade(seller, stranger, 1), Code.SECURITY_LEG_REFUSED, Code.RECEIVER_NOT_REGISTERED);
    }

    function test_aFrozenBuyerIsRefusedByTheBond() public {
        bond.setAddressFrozen(buyer, true);
        assertRefused(trade(seller, buyer, 1), Code.SECURITY_LEG_REFUSED, Code.RECEIVER_FROZEN);
    }

    function test_aBuyerWhoseKycExpiredIsRefusedByTheBond() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer2, 1);
        registry.setInvestor(investorIdOf[buyer2], "SG", PROFESSIONAL, uint40(block.timestamp + 1 days));
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        vm.warp(block.timestamp + 1 days); // the instruction has six more days; buyer2's KYC none
        assertRefused(ins, sellerSig, buyerSig, Code.SECURITY_LEG_REFUSED, Code.RECEIVER_KYC_EXPIRED);
    }

    function test_aBuyerInADisallowedJurisdictionIsRefusedByTheBond() public {
        bytes2[] memory sg = new bytes2[](1);
        sg[0] = "SG";
        bond.setJurisdictions(sg, false);
        assertRefused(trade(seller, buyer2, 1), Code.SECURITY_LEG_REFUSED, Code.JURISDICTION_NOT_ALLOWED);
    }

    function test_aFrozenSellerIsRefusedByTheBond() public {
        bond.setAddressFrozen(seller, true);
        assertRefused(trade(seller, buyer, 1), Code.SECURITY_LEG_REFUSED, Code.SENDER_FROZEN);
    }

    /// ERC-7943's own error for frozen tokens is the bond's refusal with its reason code.
    function test_aSellerWhoseBondsAreFrozenIsRefusedWithInsufficientUnfrozenBalance() public {
        bond.setFrozenTokens(seller, BONDS);
        assertRefused(trade(seller, buyer, 1), Code.SECURITY_LEG_REFUSED, Code.INSUFFICIENT_UNFROZEN_BALANCE);
        bond.setFrozenTokens(seller, BONDS - 1);
        assertRefused(trade(seller, buyer, 2), Code.SECURITY_LEG_REFUSED, Code.INSUFFICIENT_UNFROZEN_BALANCE);
    }

    function test_aPausedBondSettlesNothing() public {
        bond.pause();
        assertRefused(trade(seller, buyer, 1), Code.SECURITY_LEG_REFUSED, Code.PAUSED);
    }

    function test_aSellerShortOfBondsIsRefusedWithInsufficientBalance() public {
        assertRefused(trade(seller, buyer, BONDS + 1), Code.SECURITY_LEG_REFUSED, Code.INSUFFICIENT_BALANCE);
        // A retail seller (registered, so it may send) holds none.
        assertRefused(trade(retail, buyer, 1), Code.SECURITY_LEG_REFUSED, Code.INSUFFICIENT_BALANCE);
    }

    // ---------------------------------------------------------------- the cash leg

    function test_aBuyerShortOfCashIsRefusedOnTheCashLeg() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 1);
        ins.cashAmount = CASH + 1;
        assertRefused(ins, Code.CASH_LEG_REFUSED, Code.INSUFFICIENT_BALANCE);
    }

    function test_aBuyerShortOfAllowanceIsRefusedOnTheCashLeg() public {
        vm.prank(buyer);
        hkd.approve(address(dvp), 10 * PRICE - 1);
        assertRefused(trade(seller, buyer, 10), Code.CASH_LEG_REFUSED, Code.INSUFFICIENT_ALLOWANCE);
        assertEq(hkd.allowance(buyer, address(dvp)), 10 * PRICE - 1, "the allowance is untouched");
    }

    /// The bonds had already moved when the cash leg failed: that is undone too.
    function test_aRefusedCashLegUndoesTheDeliveredBonds() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 7);
        ins.cashAmount = CASH + 1;
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        vm.recordLogs();
        vm.expectRevert(
            abi.encodeWithSelector(
                DvPSettlement.SettlementRefused.selector,
                dvp.instructionId(ins),
                Code.CASH_LEG_REFUSED,
                Code.INSUFFICIENT_BALANCE
            )
        );
        dvp.settle(ins, sellerSig, buyerSig);
        vm.getRecordedLogs();
        assertEq(bond.balanceOf(seller), BONDS, "the seller keeps the bonds");
        assertEq(bond.balanceOf(buyer), BONDS, "the buyer did not keep them");
    }

    /// A cash token must be listed as cash; one the admin listed that has no code, answers
    /// `false` or answers something shorter than a word fails the cash leg, with no token reason.
    function test_aCashTokenWithoutCodeOrAnsweringFalseFailsTheCashLeg() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 1);
        ins.cashToken = address(0xCA5);
        assertRefused(ins, Code.TOKEN_NOT_LISTED, 0);
        dvp.setCashListed(address(0xCA5), true);
        assertRefused(ins, Code.CASH_LEG_REFUSED, 0);

        bytes[3] memory answers = [abi.encode(false), bytes(hex"01"), abi.encodePacked(uint128(1))];
        for (uint256 i = 0; i < answers.length; ++i) {
            AnsweringToken token = new AnsweringToken(answers[i]);
            dvp.setCashListed(address(token), true);
            DvPSettlement.Instruction memory answered = trade(seller, buyer, 1);
            answered.cashToken = address(token);
            assertRefused(answered, Code.CASH_LEG_REFUSED, 0);
        }
    }

    /// The other side of the same rule: a listed token whose transferFrom succeeds answering
    /// nothing, or any non-zero word (OpenZeppelin's SafeERC20 wants exactly 1), is taken at its
    /// word: the bonds are delivered whether or not it moved any cash. Vetting it is the
    /// listing admin's job.
    function test_aListedCashTokenThatSucceedsIsTakenAtItsWord() public {
        bytes[2] memory answers = [bytes(""), abi.encode(uint256(2))];
        for (uint256 i = 0; i < answers.length; ++i) {
            AnsweringToken token = new AnsweringToken(answers[i]);
            dvp.setCashListed(address(token), true);
            DvPSettlement.Instruction memory ins = trade(seller, buyer, 1);
            ins.cashToken = address(token);
            (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
            dvp.settle(ins, sellerSig, buyerSig);
        }
        assertEq(bond.balanceOf(buyer), BONDS + 2, "delivered against whatever the token answered");
        assertEq(hkd.balanceOf(seller), CASH, "no HKD moved");
    }

    // ---------------------------------------------------------------- malformed

    function test_aTradeWithOneselfOrOfNothingIsInvalid() public {
        assertRefused(trade(seller, seller, 1), Code.INVALID_INSTRUCTION, 0);
        assertRefused(trade(seller, buyer, 0), Code.INVALID_INSTRUCTION, 0);
    }

    // ---------------------------------------------------------------- a refusal is not final

    function test_aRefusedInstructionSettlesOnceTheAgentUnfreezesTheBuyer() public {
        bond.setAddressFrozen(buyer, true);
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 12);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        assertRefused(ins, sellerSig, buyerSig, Code.SECURITY_LEG_REFUSED, Code.RECEIVER_FROZEN);

        bond.setAddressFrozen(buyer, false);
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(bond.balanceOf(buyer), BONDS + 12, "the same signed instruction settled");
        assertTrue(dvp.isNonceUsed(ins.nonce), "now the nonce is used");
    }

    function test_aRefusedInstructionSettlesOnceTheBuyerTopsUpCashAndAllowance() public {
        vm.prank(buyer);
        hkd.approve(address(dvp), 0);
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 150); // more than CASH buys
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        assertRefused(ins, sellerSig, buyerSig, Code.CASH_LEG_REFUSED, Code.INSUFFICIENT_ALLOWANCE);
        vm.prank(buyer);
        hkd.approve(address(dvp), 150 * PRICE);
        assertRefused(ins, sellerSig, buyerSig, Code.CASH_LEG_REFUSED, Code.INSUFFICIENT_BALANCE);
        hkd.mint(buyer, 50 * PRICE);
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(hkd.balanceOf(buyer), 0, "spent it all");
        assertEq(hkd.allowance(buyer, address(dvp)), 0, "and the whole allowance");
    }

    // ---------------------------------------------------------------- batches

    function test_anAllOrNothingBatchWithOneBadInstructionMovesNothing() public {
        bond.setAddressFrozen(buyer2, true);
        DvPSettlement.Instruction memory bad = trade(seller2, buyer2, 5);
        DvPSettlement.Instruction[] memory l = list(trade(seller, buyer, 10), bad, trade(seller2, buyer, 20));
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);
        Predict.Books memory before = books();

        expectRefused(dvp.instructionId(bad), Code.SECURITY_LEG_REFUSED, Code.RECEIVER_FROZEN);
        dvp.settleBatch(l, sellerSigs, buyerSigs, false);

        assertBooks(before, "nothing of the batch moved");
        for (uint256 i = 0; i < l.length; ++i) {
            assertFalse(dvp.isNonceUsed(l[i].nonce), "no nonce used");
        }

        // Without the bad one, the rest settles.
        bond.setAddressFrozen(buyer2, false);
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, false), 3, "all three settle once the buyer is free");
    }

    function test_aBestEffortBatchSettlesTheGoodAndReportsTheBad() public {
        bond.setAddressFrozen(buyer2, true);
        DvPSettlement.Instruction memory good1 = trade(seller, buyer, 10);
        DvPSettlement.Instruction memory bad = trade(seller2, buyer2, 5);
        DvPSettlement.Instruction memory good2 = trade(seller2, buyer, 20);
        DvPSettlement.Instruction[] memory l = list(good1, bad, good2);
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);

        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionSettled(
            dvp.instructionId(good1), seller, buyer, address(bond), 10, address(hkd), 10 * PRICE, good1.nonce
        );
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(bad), Code.SECURITY_LEG_REFUSED, Code.RECEIVER_FROZEN);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionSettled(
            dvp.instructionId(good2), seller2, buyer, address(bond), 20, address(hkd), 20 * PRICE, good2.nonce
        );
        uint256 settled = dvp.settleBatch(l, sellerSigs, buyerSigs, true);

        assertEq(settled, 2, "two settled");
        assertEq(bond.balanceOf(buyer), BONDS + 30, "buyer got both good lots");
        assertEq(hkd.balanceOf(buyer), CASH - 30 * PRICE, "and paid for both");
        assertEq(bond.balanceOf(seller2), BONDS - 20, "seller2 delivered only the good lot");
        assertEq(bond.balanceOf(buyer2), BONDS, "the bad one moved no bonds");
        assertEq(hkd.balanceOf(buyer2), CASH, "the bad one moved no cash");
        assertTrue(dvp.isNonceUsed(good1.nonce) && dvp.isNonceUsed(good2.nonce), "the good nonces are used");
        assertFalse(dvp.isNonceUsed(bad.nonce), "the bad nonce is not");
        assertEq(hkd.balanceOf(address(dvp)) + bond.balanceOf(address(dvp)), 0, "the venue holds nothing");
    }

    function test_aBestEffortBatchReportsAnInstructionListedTwiceAsUsed() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 10);
        DvPSettlement.Instruction[] memory l = list(ins, ins);
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(ins), Code.NONCE_USED, 0);
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 1, "one settled");
        assertEq(bond.balanceOf(buyer), BONDS + 10, "delivered once");

        // All or nothing, the duplicate refuses the lot.
        DvPSettlement.Instruction memory again = trade(seller, buyer, 10);
        l = list(again, again);
        (sellerSigs, buyerSigs) = signAll(l);
        expectRefused(dvp.instructionId(again), Code.NONCE_USED, 0);
        dvp.settleBatch(l, sellerSigs, buyerSigs, false);
        assertFalse(dvp.isNonceUsed(again.nonce), "not even the first copy settled");
    }

    function test_aBatchWithMismatchedArraysIsRefused() public {
        DvPSettlement.Instruction[] memory l = list(trade(seller, buyer, 1), trade(seller2, buyer2, 1));
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);
        bytes[] memory one = new bytes[](1);
        one[0] = sellerSigs[0];
        vm.expectRevert(DvPSettlement.LengthMismatch.selector);
        dvp.settleBatch(l, one, buyerSigs, true);
        vm.expectRevert(DvPSettlement.LengthMismatch.selector);
        dvp.settleBatch(l, sellerSigs, one, false);
        vm.expectRevert(DvPSettlement.LengthMismatch.selector);
        dvp.settleBatch(new DvPSettlement.Instruction[](1), sellerSigs, buyerSigs, true);
    }

    function test_anEmptyBatchSettlesNothing() public {
        Predict.Books memory before = books();
        assertEq(dvp.settleBatch(new DvPSettlement.Instruction[](0), new bytes[](0), new bytes[](0), true), 0, "none");
        assertEq(dvp.settleBatch(new DvPSettlement.Instruction[](0), new bytes[](0), new bytes[](0), false), 0, "none");
        assertBooks(before, "nothing moved");
    }

    // ---------------------------------------------------------------- who may call

    function test_onlyASettlementAgentMaySettle() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 5);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        bytes32 role = dvp.SETTLEMENT_AGENT_ROLE();
        address[3] memory callers = [seller, buyer, stranger];
        for (uint256 i = 0; i < callers.length; ++i) {
            vm.prank(callers[i]);
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, callers[i], role)
            );
            dvp.settle(ins, sellerSig, buyerSig);
        }
        DvPSettlement.Instruction[] memory l = list(ins, trade(seller2, buyer2, 1));
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role)
        );
        dvp.settleBatch(l, sellerSigs, buyerSigs, true);
        assertFalse(dvp.isNonceUsed(ins.nonce), "nothing settled");
    }

    function test_theLegsRunOnlyAsTheVenuesSelfCall() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 5);
        bytes32 id = dvp.instructionId(ins);
        address[3] memory callers = [address(this), stranger, seller];
        for (uint256 i = 0; i < callers.length; ++i) {
            vm.prank(callers[i]);
            vm.expectRevert(DvPSettlement.OnlySelf.selector);
            dvp.executeLegs(id, ins);
        }
        assertEq(bond.balanceOf(buyer), BONDS, "nothing moved");
        assertFalse(dvp.isNonceUsed(ins.nonce), "no nonce used");
    }
}
