// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Code, Predict, Typed, refusal} from "./SecondaryOracle.sol";
import {SecondaryFixture, PRICE} from "./SecondaryFixture.sol";
import {HostileToken, AnsweringToken, GasBurner, SlowAnswer, OwnedWallet, Echo} from "./Stubs.sol";
import {DvPSettlement} from "../../contracts/DvPSettlement.sol";
import {ISecurityToken} from "../../contracts/interfaces/ISecurityToken.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";

/// @dev Hostile tokens the admin listed and contract parties (ERC-1271): neither can break a
/// batch, starve it of gas, or vouch for what its owner did not sign.
contract DvPSecondaryHostileTest is SecondaryFixture {
    // ---------------------------------------------------------------- hostile tokens

    /// Even once listed as cash, a cash token cannot make a best-effort batch revert or pose as
    /// the security leg: its revert data are kept to 256 bytes and read only if they match a known
    /// error exactly; TransferRestricted (clean or dirty) is believed from the security leg only.
    function test_aHostileListedCashTokenCannotBreakABestEffortBatch() public {
        // A bare TransferRestricted selector (which the venue once decoded, and reverted on).
        HostileToken hostile = new HostileToken(abi.encodePacked(ISecurityToken.TransferRestricted.selector), 0);
        dvp.setCashListed(address(hostile), true);
        DvPSettlement.Instruction memory good1 = trade(seller, buyer, 10);
        DvPSettlement.Instruction memory poisoned = trade(seller2, buyer2, 1);
        poisoned.cashToken = address(hostile);
        DvPSettlement.Instruction memory good2 = trade(seller2, buyer, 20);
        DvPSettlement.Instruction[] memory l = list(good1, poisoned, good2);
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);

        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionSettled(
            dvp.instructionId(good1), seller, buyer, address(bond), 10, address(hkd), 10 * PRICE, good1.nonce
        );
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(poisoned), Code.CASH_LEG_REFUSED, 0);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionSettled(
            dvp.instructionId(good2), seller2, buyer, address(bond), 20, address(hkd), 20 * PRICE, good2.nonce
        );
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 2, "the good ones settled");
        assertEq(bond.balanceOf(buyer), BONDS + 30, "the buyer got both good lots");
        assertEq(bond.balanceOf(seller2), BONDS - 20, "the poisoned lot's bonds went back");
        assertEq(bond.balanceOf(buyer2), BONDS, "and never reached its buyer");
        assertFalse(dvp.isNonceUsed(poisoned.nonce), "the poisoned nonce is free");
        // Alone, it is refused properly, and nothing of it moves.
        assertRefused(poisoned, sellerSigs[1], buyerSigs[1], Code.CASH_LEG_REFUSED, 0);

        // Well-formed revert data from the cash leg, claiming to be the security token's refusal,
        // or forging the venue's own LegFailed for the security leg: still the cash leg, no reason.
        bytes memory restricted = abi.encodeWithSelector(
            ISecurityToken.TransferRestricted.selector, buyer2, seller2, uint256(1), Code.RECEIVER_FROZEN
        );
        bytes[4] memory lies = [
            restricted,
            abi.encodeWithSelector(DvPSettlement.LegFailed.selector, uint8(1), restricted),
            abi.encodeWithSelector(DvPSettlement.SettlementRefused.selector, bytes32(0), uint8(6), uint8(7)),
            abi.encodeWithSelector(
                ISecurityToken.TransferRestricted.selector, type(uint256).max, type(uint256).max, 1, Code.PAUSED
            )
        ];
        for (uint256 i = 0; i < lies.length; ++i) {
            HostileToken liar = new HostileToken(lies[i], 0);
            dvp.setCashListed(address(liar), true);
            DvPSettlement.Instruction memory ins = trade(seller2, buyer2, 1);
            ins.cashToken = address(liar);
            assertRefused(ins, Code.CASH_LEG_REFUSED, 0);
        }
        assertFalse(bond.isFrozen(buyer2), "nobody is frozen");

        // The two ERC-20 errors are believed from the cash leg, if exactly well-formed.
        bytes memory short = abi.encodeWithSignature("ERC20InsufficientBalance(address,uint256,uint256)", buyer2, 0, 1);
        bytes memory noAllowance =
            abi.encodeWithSignature("ERC20InsufficientAllowance(address,uint256,uint256)", address(dvp), 0, 1);
        bytes[3] memory errs = [short, noAllowance, bytes.concat(short, hex"00")];
        uint8[3] memory expected = [Code.INSUFFICIENT_BALANCE, Code.INSUFFICIENT_ALLOWANCE, 0];
        for (uint256 i = 0; i < errs.length; ++i) {
            HostileToken token = new HostileToken(errs[i], 0);
            dvp.setCashListed(address(token), true);
            DvPSettlement.Instruction memory ins = trade(seller2, buyer2, 1);
            ins.cashToken = address(token);
            assertRefused(ins, Code.CASH_LEG_REFUSED, expected[i]);
        }

        // A 100 KB revert reason (a TransferRestricted, then zeros): cut, and skipped like the rest.
        HostileToken huge = new HostileToken(restricted, 100_000);
        dvp.setCashListed(address(huge), true);
        DvPSettlement.Instruction memory bloated = trade(seller2, buyer2, 1);
        bloated.cashToken = address(huge);
        l = list(trade(seller, buyer2, 1), bloated, trade(seller2, buyer, 1));
        (sellerSigs, buyerSigs) = signAll(l);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(bloated), Code.CASH_LEG_REFUSED, 0);
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 2, "the batch around it settled");
        assertEq(hkd.balanceOf(address(dvp)) + bond.balanceOf(address(dvp)), 0, "the venue holds nothing");
    }

    /// A token that burns all its gas fails its leg like any refusal, and cheaply: a leg's call
    /// gets 300,000 gas at most, so a settle given a million gas is refused properly.
    function test_aListedTokenThatBurnsItsGasFailsItsLegWithinBoundedGas() public {
        GasBurner burner = new GasBurner();
        dvp.setCashListed(address(burner), true);
        dvp.setListed(address(burner), true);
        DvPSettlement.Instruction memory asCash = trade(seller, buyer, 1);
        asCash.cashToken = address(burner);
        DvPSettlement.Instruction memory asSecurity = trade(seller, buyer, 1);
        asSecurity.securityToken = address(burner);
        DvPSettlement.Instruction[2] memory cases = [asCash, asSecurity];
        uint8[2] memory reasons = [Code.CASH_LEG_REFUSED, Code.SECURITY_LEG_REFUSED];
        for (uint256 i = 0; i < cases.length; ++i) {
            (bytes memory sellerSig, bytes memory buyerSig) = signBoth(cases[i]);
            uint256 gasBefore = gasleft();
            (bool ok, bytes memory ret) =
                address(dvp).call{gas: 1_000_000}(abi.encodeCall(DvPSettlement.settle, (cases[i], sellerSig, buyerSig)));
            assertLe(gasBefore - gasleft(), 500_000, "the burner got a leg's gas, not the call's");
            assertFalse(ok, "refused");
            assertEq(
                keccak256(ret),
                keccak256(refusal(dvp.instructionId(cases[i]), reasons[i], 0)),
                "as a failure of the burner's leg"
            );
        }
        assertEq(bond.balanceOf(buyer), BONDS, "nothing delivered");
    }

    /// The bounds are generous for an honest token: a cash token that needs 250,000 gas for its
    /// transferFrom settles; one that needs 350,000 fails the cash leg.
    function test_aLegGetsAboutThreeHundredThousandGas() public {
        SlowAnswer enough = new SlowAnswer(250_000, abi.encode(true));
        SlowAnswer tooSlow = new SlowAnswer(350_000, abi.encode(true));
        dvp.setCashListed(address(enough), true);
        dvp.setCashListed(address(tooSlow), true);
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 1);
        ins.cashToken = address(tooSlow);
        assertRefused(ins, Code.CASH_LEG_REFUSED, 0);
        ins = trade(seller, buyer, 1);
        ins.cashToken = address(enough);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(bond.balanceOf(buyer), BONDS + 1, "settled against the slow but honest token");
    }

    /// Listing is two lists, so a token the admin listed as cash (here one that refuses every
    /// call with a TransferRestricted whose address words are dirty, which abi.decode would revert
    /// on) cannot be named as the security: TOKEN_NOT_LISTED, and the batch around it settles.
    /// Even a security token the admin listed that refuses so cannot revert a best-effort batch:
    /// the venue reads only the reason word (the token's own word, as from any listed security;
    /// one that does not fit a reason code is no reason).
    function test_aHostileTokenNamedAsTheSecurityCannotRevertABestEffortBatch() public {
        HostileToken dirty = new HostileToken(
            abi.encodeWithSelector(
                ISecurityToken.TransferRestricted.selector, uint256(1) << 160, buyer2, uint256(1), Code.PAUSED
            ),
            0
        );
        dvp.setCashListed(address(dirty), true);
        DvPSettlement.Instruction memory good = trade(seller, buyer, 10);
        DvPSettlement.Instruction memory poisoned = trade(seller2, buyer2, 1);
        poisoned.securityToken = address(dirty);
        DvPSettlement.Instruction[] memory l = list(good, poisoned);
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);
        assertRefused(poisoned, sellerSigs[1], buyerSigs[1], Code.TOKEN_NOT_LISTED, 0);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(poisoned), Code.TOKEN_NOT_LISTED, 0);
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 1, "the good one settled");
        assertEq(bond.balanceOf(buyer), BONDS + 10, "delivered");

        // Listed as a security too: its refusal is the security leg's, with the reason word.
        dvp.setListed(address(dirty), true);
        DvPSettlement.Instruction memory good1 = trade(seller, buyer, 10);
        poisoned = trade(seller2, buyer2, 1);
        poisoned.securityToken = address(dirty);
        DvPSettlement.Instruction memory good2 = trade(seller2, buyer, 20);
        l = list(good1, poisoned, good2);
        (sellerSigs, buyerSigs) = signAll(l);
        Predict.Books memory expected = books();
        Predict.move(expected, good1);
        Predict.move(expected, good2);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionSettled(
            dvp.instructionId(good1), seller, buyer, address(bond), 10, address(hkd), 10 * PRICE, good1.nonce
        );
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(poisoned), Code.SECURITY_LEG_REFUSED, Code.PAUSED);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionSettled(
            dvp.instructionId(good2), seller2, buyer, address(bond), 20, address(hkd), 20 * PRICE, good2.nonce
        );
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 2, "the good ones settled");
        assertBooks(expected, "exactly the good ones moved");
        assertFalse(dvp.isNonceUsed(poisoned.nonce), "the poisoned nonce is free");
        assertRefused(poisoned, sellerSigs[1], buyerSigs[1], Code.SECURITY_LEG_REFUSED, Code.PAUSED);
        l = list(trade(seller, buyer, 1), poisoned);
        (sellerSigs, buyerSigs) = signAll(l);
        expectRefused(dvp.instructionId(poisoned), Code.SECURITY_LEG_REFUSED, Code.PAUSED);
        dvp.settleBatch(l, sellerSigs, buyerSigs, false);
        assertFalse(bond.paused(), "though no bond is paused");

        // Every word dirty, and reason words that do or do not fit a reason code; a TransferRestricted
        // a byte too short or too long is not one.
        bytes memory allDirty = abi.encodeWithSelector(
            ISecurityToken.TransferRestricted.selector, type(uint256).max, type(uint256).max, type(uint256).max, 7
        );
        bytes[6] memory replies = [
            allDirty,
            abi.encodeWithSelector(ISecurityToken.TransferRestricted.selector, seller2, buyer2, 1, 255),
            abi.encodeWithSelector(ISecurityToken.TransferRestricted.selector, seller2, buyer2, 1, 256),
            abi.encodeWithSelector(ISecurityToken.TransferRestricted.selector, seller2, buyer2, 1, type(uint256).max),
            bytes.concat(allDirty, hex"00"),
            abi.encodePacked(
                ISecurityToken.TransferRestricted.selector, type(uint256).max, type(uint256).max, uint256(1), uint248(7)
            )
        ];
        uint8[6] memory tokenReasons = [7, 255, 0, 0, 0, 0];
        for (uint256 i = 0; i < replies.length; ++i) {
            HostileToken hostile = new HostileToken(replies[i], 0);
            dvp.setListed(address(hostile), true);
            DvPSettlement.Instruction memory bad = trade(seller2, buyer2, 1);
            bad.securityToken = address(hostile);
            DvPSettlement.Instruction memory fine = trade(seller, buyer2, 1);
            l = list(bad, fine);
            (sellerSigs, buyerSigs) = signAll(l);
            vm.expectEmit(true, true, true, true, address(dvp));
            emit DvPSettlement.SettlementFailed(dvp.instructionId(bad), Code.SECURITY_LEG_REFUSED, tokenReasons[i]);
            assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 1, "the batch around it settled");
            assertRefused(bad, sellerSigs[0], buyerSigs[0], Code.SECURITY_LEG_REFUSED, tokenReasons[i]);
        }
        assertEq(bond.balanceOf(buyer2), BONDS + replies.length, "every fine one settled");
        assertEq(hkd.balanceOf(address(dvp)) + bond.balanceOf(address(dvp)), 0, "the venue holds nothing");
    }

    // ---------------------------------------------------------------- contract parties (ERC-1271)

    uint256 internal constant WALLET_OWNER_KEY = 0x0A11E7;

    /// A registered HK institutional contract wallet owned by WALLET_OWNER_KEY, holding bonds and
    /// cash, which has approved the venue.
    function contractWallet() internal returns (OwnedWallet wallet) {
        wallet = new OwnedWallet(vm.addr(WALLET_OWNER_KEY));
        register(address(wallet), "wallet", "HK", INSTITUTIONAL);
        bond.mint(address(wallet), BONDS);
        hkd.mint(address(wallet), CASH);
        vm.prank(address(wallet));
        hkd.approve(address(dvp), type(uint256).max);
    }

    /// A contract wallet is a party like any other: its owner's key signs, the venue asks the
    /// wallet (ERC-1271), and the instruction settles, with the wallet selling or buying, singly
    /// or in a batch with EOAs. A signature by any other key is refused as that party's.
    function test_anHonestContractWalletCanBeAPartyAndSettles() public {
        OwnedWallet wallet = contractWallet();
        assertEq(bytes32(IERC1271.isValidSignature.selector), bytes32(bytes4(0x1626ba7e)), "the magic value");

        DvPSettlement.Instruction memory sale = trade(address(wallet), buyer, 10);
        bytes32 saleId = dvp.instructionId(sale);
        bytes memory walletSig = sign(WALLET_OWNER_KEY, saleId);
        bytes memory buyerSig = sign(BUYER_KEY, saleId);
        assertRefused(sale, sign(STRANGER_KEY, saleId), buyerSig, Code.BAD_SELLER_SIGNATURE, 0);
        assertRefused(sale, sign(SELLER_KEY, saleId), buyerSig, Code.BAD_SELLER_SIGNATURE, 0);
        assertRefused(sale, "", buyerSig, Code.BAD_SELLER_SIGNATURE, 0);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionSettled(
            saleId, address(wallet), buyer, address(bond), 10, address(hkd), 10 * PRICE, sale.nonce
        );
        dvp.settle(sale, walletSig, buyerSig);
        assertEq(bond.balanceOf(address(wallet)), BONDS - 10, "the wallet delivered");
        assertEq(hkd.balanceOf(address(wallet)), CASH + 10 * PRICE, "and was paid");
        assertRefused(sale, walletSig, buyerSig, Code.NONCE_USED, 0);

        // Buying, in a best-effort batch next to an EOA trade, and next to one with a bad wallet signature.
        DvPSettlement.Instruction memory purchase = trade(seller2, address(wallet), 4);
        DvPSettlement.Instruction memory forged = trade(seller, address(wallet), 1);
        DvPSettlement.Instruction[] memory l = list(trade(seller, buyer2, 2), purchase, forged);
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAllAllowingContracts(l);
        buyerSigs[1] = sign(WALLET_OWNER_KEY, dvp.instructionId(purchase));
        buyerSigs[2] = sign(BUYER_KEY, dvp.instructionId(forged));
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(forged), Code.BAD_BUYER_SIGNATURE, 0);
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 2, "the EOA trade and the wallet's purchase");
        assertEq(bond.balanceOf(address(wallet)), BONDS - 10 + 4, "the wallet received");
        assertEq(hkd.balanceOf(address(wallet)), CASH + 10 * PRICE - 4 * PRICE, "and paid");
    }

    /// A contract wallet cancels by signature like a key holder (the venue asks the wallet), and
    /// a cancellation signed by another key is refused.
    function test_aContractWalletCancelsBySignature() public {
        OwnedWallet wallet = contractWallet();
        DvPSettlement.Instruction memory ins = trade(address(wallet), buyer, 3);
        bytes32 id = dvp.instructionId(ins);
        bytes32 digest = Typed.cancelDigest(id, address(dvp));
        vm.expectRevert(abi.encodeWithSelector(DvPSettlement.BadCancelSignature.selector, address(wallet), id));
        dvp.cancelBySig(ins, address(wallet), sign(STRANGER_KEY, digest));
        vm.expectRevert(abi.encodeWithSelector(DvPSettlement.BadCancelSignature.selector, address(wallet), id));
        dvp.cancelBySig(ins, address(wallet), sign(WALLET_OWNER_KEY, id)); // the instruction, not Cancel
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.InstructionCancelled(id, address(wallet), ins.nonce);
        vm.prank(stranger);
        dvp.cancelBySig(ins, address(wallet), sign(WALLET_OWNER_KEY, digest));
        assertRefused(ins, sign(WALLET_OWNER_KEY, id), sign(BUYER_KEY, id), Code.CANCELLED, 0);
    }

    /// Only the exact magic value, as a well-formed bytes4 answer of a call that did not revert,
    /// vouches for a signature. Here the wallet is unregistered and holds nothing, so an accepted
    /// signature shows as the bond's refusal of the seller rather than as a bad signature.
    function test_aContractPartyAnsweringAWrongMagicValueIsRefused() public {
        bytes[8] memory wrong = [
            abi.encode(bytes4(0xffffffff)),
            abi.encode(bytes4(0x1626ba7f)), // one bit off
            abi.encode(uint256(0x1626ba7e)), // the magic right-aligned
            abi.encode(true),
            abi.encode(bytes32(0)),
            bytes(""),
            abi.encodePacked(bytes4(0x1626ba7e)), // four bytes, not a word
            abi.encodePacked(bytes31(bytes4(0x1626ba7e))) // a byte short of a word
        ];
        for (uint256 i = 0; i < wrong.length; ++i) {
            AnsweringToken party = new AnsweringToken(wrong[i]);
            DvPSettlement.Instruction memory sale = trade(address(party), buyer, 1);
            assertRefused(sale, "", sign(BUYER_KEY, dvp.instructionId(sale)), Code.BAD_SELLER_SIGNATURE, 0);
            DvPSettlement.Instruction memory purchase = trade(seller, address(party), 1);
            assertRefused(purchase, sign(SELLER_KEY, dvp.instructionId(purchase)), "", Code.BAD_BUYER_SIGNATURE, 0);
        }
        // Reverting with the magic value is no answer either.
        HostileToken reverter = new HostileToken(abi.encode(bytes4(0x1626ba7e)), 0);
        DvPSettlement.Instruction memory ins = trade(address(reverter), buyer, 1);
        assertRefused(ins, "", sign(BUYER_KEY, dvp.instructionId(ins)), Code.BAD_SELLER_SIGNATURE, 0);

        // The right answer passes the signature check and reaches the bond.
        AnsweringToken yes = new AnsweringToken(abi.encode(bytes4(0x1626ba7e)));
        ins = trade(address(yes), buyer, 1);
        assertRefused(
            ins, "", sign(BUYER_KEY, dvp.instructionId(ins)), Code.SECURITY_LEG_REFUSED, Code.SENDER_NOT_REGISTERED
        );
    }

    /// A contract party's answer gets 100,000 gas: plenty for an honest wallet (one that needs
    /// 80,000 is believed), and no more (one that needs 120,000 is refused).
    function test_aContractPartyGetsAHundredThousandGasToAnswer() public {
        SlowAnswer enough = new SlowAnswer(80_000, abi.encode(bytes4(0x1626ba7e)));
        SlowAnswer tooSlow = new SlowAnswer(120_000, abi.encode(bytes4(0x1626ba7e)));
        DvPSettlement.Instruction memory ins = trade(address(tooSlow), buyer, 1);
        assertRefused(ins, "", sign(BUYER_KEY, dvp.instructionId(ins)), Code.BAD_SELLER_SIGNATURE, 0);
        ins = trade(seller, address(tooSlow), 1);
        assertRefused(ins, sign(SELLER_KEY, dvp.instructionId(ins)), "", Code.BAD_BUYER_SIGNATURE, 0);
        ins = trade(address(enough), buyer, 1);
        assertRefused(
            ins, "", sign(BUYER_KEY, dvp.instructionId(ins)), Code.SECURITY_LEG_REFUSED, Code.SENDER_NOT_REGISTERED
        );
    }

    // ---------------------------------------------------------------- gas: one party cannot starve a batch

    /// Gas-burning contract parties, as seller or as buyer, ahead of and among fourteen good
    /// instructions: the batch settles the good ones within a normal 30M-gas block, at about the
    /// cost of the good ones alone plus a bounded 100,000 gas or so per burner, and reports each
    /// burner's instruction as a bad signature of its party. A signed cancellation naming the
    /// burner is refused the same way.
    function test_aGasBurningContractPartyFailsOnlyItsOwnInstruction() public {
        GasBurner burner = new GasBurner();
        DvPSettlement.Instruction[] memory l = new DvPSettlement.Instruction[](16);
        for (uint256 i = 1; i < l.length; ++i) {
            l[i] = trade(i % 2 == 0 ? seller : seller2, i % 3 == 0 ? buyer : buyer2, 1);
        }
        l[0] = trade(address(burner), buyer, 1);
        l[8] = trade(seller, address(burner), 1);
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAllAllowingContracts(l);
        uint256 goodOnly = costOfGoodBatch(14);
        uint256 boughtBefore = bond.balanceOf(buyer) + bond.balanceOf(buyer2);

        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(l[0]), Code.BAD_SELLER_SIGNATURE, 0);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(l[8]), Code.BAD_BUYER_SIGNATURE, 0);
        (uint256 settled, uint256 used) = settleWithinABlock(l, sellerSigs, buyerSigs);
        assertEq(settled, 14, "all fourteen good ones settled");
        assertEq(bond.balanceOf(buyer) + bond.balanceOf(buyer2), boughtBefore + 14, "delivered");
        assertFalse(dvp.isNonceUsed(l[0].nonce) || dvp.isNonceUsed(l[8].nonce), "the burners' nonces are free");
        assertLe(used, goodOnly + 2 * 150_000, "each burner cost at most its party's bounded check");

        bytes32 burnersId = dvp.instructionId(l[0]);
        vm.expectRevert(abi.encodeWithSelector(DvPSettlement.BadCancelSignature.selector, address(burner), burnersId));
        dvp.cancelBySig{gas: 300_000}(l[0], address(burner), "");
    }

    /// A hundred burners ahead of one good instruction still fit in a block.
    function test_aHundredGasBurningPartiesDoNotStarveABatch() public {
        GasBurner burner = new GasBurner();
        DvPSettlement.Instruction[] memory l = new DvPSettlement.Instruction[](101);
        for (uint256 i = 0; i < 100; ++i) {
            l[i] = i % 2 == 0 ? trade(address(burner), buyer, 1) : trade(seller, address(burner), 1);
        }
        l[100] = trade(seller2, buyer2, 7);
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAllAllowingContracts(l);
        (uint256 settled,) = settleWithinABlock(l, sellerSigs, buyerSigs);
        assertEq(settled, 1, "the good one settled");
        assertEq(bond.balanceOf(buyer2), BONDS + 7, "delivered");
    }

    /// A gas-burning token the admin listed as cash, or as a security, fails only its own
    /// instruction in a best-effort batch run with a block's gas, at a bounded cost.
    function test_aGasBurningListedTokenFailsOnlyItsOwnInstruction() public {
        GasBurner burner = new GasBurner();
        dvp.setCashListed(address(burner), true);
        dvp.setListed(address(burner), true);
        uint256 goodOnly = costOfGoodBatch(14);
        DvPSettlement.Instruction[] memory l = new DvPSettlement.Instruction[](16);
        for (uint256 i = 1; i < l.length; ++i) {
            l[i] = trade(i % 2 == 0 ? seller : seller2, i % 3 == 0 ? buyer : buyer2, 1);
        }
        l[0] = trade(seller, buyer, 1);
        l[0].cashToken = address(burner);
        l[8] = trade(seller2, buyer, 1);
        l[8].securityToken = address(burner);
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);

        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(l[0]), Code.CASH_LEG_REFUSED, 0);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.SettlementFailed(dvp.instructionId(l[8]), Code.SECURITY_LEG_REFUSED, 0);
        (uint256 settled, uint256 used) = settleWithinABlock(l, sellerSigs, buyerSigs);
        assertEq(settled, 14, "all fourteen good ones settled");
        assertLe(used, goodOnly + 2 * 450_000, "each burner cost at most a bounded leg");
        assertEq(hkd.balanceOf(address(dvp)) + bond.balanceOf(address(dvp)), 0, "the venue holds nothing");
    }

    /// Settles `l` best effort in a call given a normal block's 30M gas, which must be enough;
    /// returns how many settled and the gas the call used.
    function settleWithinABlock(
        DvPSettlement.Instruction[] memory l,
        bytes[] memory sellerSigs,
        bytes[] memory buyerSigs
    ) internal returns (uint256 settled, uint256 used) {
        uint256 gasBefore = gasleft();
        (bool ok, bytes memory ret) = address(dvp).call{gas: 30_000_000}(
            abi.encodeCall(DvPSettlement.settleBatch, (l, sellerSigs, buyerSigs, true))
        );
        used = gasBefore - gasleft();
        assertTrue(ok, "a block's gas is enough");
        settled = abi.decode(ret, (uint256));
    }

    /// The gas a best-effort batch of `n` fresh good instructions uses (they settle, between
    /// other parties than the tests' own so the books those tests look at are not touched:
    /// retail holds no bonds, so they go the other way).
    function costOfGoodBatch(uint256 n) internal returns (uint256 used) {
        DvPSettlement.Instruction[] memory l = new DvPSettlement.Instruction[](n);
        for (uint256 i = 0; i < n; ++i) {
            l[i] = trade(i % 2 == 0 ? buyer : buyer2, i % 3 == 0 ? seller : seller2, 1);
        }
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);
        uint256 gasBefore = gasleft();
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), n, "the good batch settled");
        used = gasBefore - gasleft();
    }

    /// Fifteen fresh good instructions settle in well under a million gas: a block holds many.
    function test_fifteenInstructionsSettleWithinAFractionOfABlock() public {
        DvPSettlement.Instruction[] memory l = new DvPSettlement.Instruction[](15);
        for (uint256 i = 0; i < l.length; ++i) {
            l[i] = trade(i % 2 == 0 ? seller : seller2, i % 3 == 0 ? buyer : buyer2, 1);
        }
        (bytes[] memory sellerSigs, bytes[] memory buyerSigs) = signAll(l);
        uint256 gasBefore = gasleft();
        assertEq(dvp.settleBatch(l, sellerSigs, buyerSigs, true), 15, "all settle");
        uint256 used = gasBefore - gasleft();
        assertLe(used, 1_000_000, "well within a block");
    }

    /// Like signAll, with an empty signature for a party that holds no key (a contract).
    function signAllAllowingContracts(DvPSettlement.Instruction[] memory l)
        internal
        view
        returns (bytes[] memory sellerSigs, bytes[] memory buyerSigs)
    {
        sellerSigs = new bytes[](l.length);
        buyerSigs = new bytes[](l.length);
        for (uint256 i = 0; i < l.length; ++i) {
            bytes32 id = dvp.instructionId(l[i]);
            if (keyOf[l[i].seller] != 0) sellerSigs[i] = sign(keyOf[l[i].seller], id);
            if (keyOf[l[i].buyer] != 0) buyerSigs[i] = sign(keyOf[l[i].buyer], id);
        }
    }

    // ---------------------------------------------------------------- findings

    /// A contract party vouches only with the exact magic word (as OpenZeppelin's SignatureChecker):
    /// an answer that merely starts with 0x1626ba7e, or a stub echoing its call data (which starts
    /// with the isValidSignature selector), signs for nothing.
    function test_aContractPartyMustAnswerTheWholeMagicWord() public {
        AnsweringToken dirty = new AnsweringToken(bytes.concat(bytes4(0x1626ba7e), bytes28(uint224(1))));
        DvPSettlement.Instruction memory ins = trade(address(dirty), buyer, 1);
        assertRefused(ins, "", sign(BUYER_KEY, dvp.instructionId(ins)), Code.BAD_SELLER_SIGNATURE, 0);

        Echo echo = new Echo();
        register(address(echo), "echo", "HK", INSTITUTIONAL);
        bond.mint(address(echo), 5);
        DvPSettlement.Instruction memory sale = trade(address(echo), buyer, 5);
        sale.cashAmount = 0;
        assertRefused(sale, "", sign(BUYER_KEY, dvp.instructionId(sale)), Code.BAD_SELLER_SIGNATURE, 0);
        assertEq(bond.balanceOf(address(echo)), 5, "the echoing contract keeps its bonds");
    }
}
