// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Base, Vm} from "./Base.sol";
import {Code, Predict, Typed, refusal} from "./SecondaryOracle.sol";
import {PRICE, pick} from "./SecondaryFixture.sol";
import {BondToken} from "../../contracts/BondToken.sol";
import {CashToken} from "../../contracts/CashToken.sol";
import {InvestorRegistry} from "../../contracts/InvestorRegistry.sol";
import {DvPSettlement} from "../../contracts/DvPSettlement.sol";

/// @dev What the invariant fuzzer calls: create-and-sign instructions, settle them (singly and in
/// batches of both modes), cancel them (directly and by signature), freeze and unfreeze, list and
/// delist (the bond as a security, HKD as cash or as a security), move time on and top up cash and
/// allowances. Refusals are caught, never bubbled. Before every settlement
/// or cancellation the handler predicts the outcome with {Predict} and its own record of used
/// nonces and cancelled ids, and counts each disagreement (outcome, reason or balance movement)
/// in a ghost.
contract SecondaryHandler is Base {
    uint256 internal constant MAX_INSTRUCTIONS = 40;

    DvPSettlement public immutable dvp;
    BondToken public immutable bond;
    CashToken public immutable hkd;
    CashToken public immutable usd; // never listed on the venue
    InvestorRegistry public immutable registry;

    uint256[] internal keys; // the key holders' keys, in {SecondaryFixture} order
    address[] internal actors; // their wallets: the first four eligible, then retail, then unregistered

    DvPSettlement.Instruction[] internal instructions;
    bytes[] internal sellerSigs;
    bytes[] internal buyerSigs;
    bool[] internal sellerSigOk;
    bool[] internal buyerSigOk;
    bytes32[] public ids;

    // Ghosts.
    mapping(bytes32 id => uint256) public settlements; // InstructionSettled events seen
    mapping(bytes32 id => bool) public cancelled; // the handler's own record of cancelled ids
    mapping(uint256 nonce => bool) public spent; // the handler's own record of nonces used (by settlement)
    uint256 public ghostCashMinted;
    uint256 public ghostSettledTwice;
    uint256 public ghostSettledAfterCancel;
    uint256 public ghostMispredicted;
    uint256 public ghostWrongMovement;
    uint256 public nextNonce = 41;
    uint256 public currentTime;
    // The handler's own record of the venue's two lists (the bond is never listed as cash).
    bool public bondListed = true; // as a security
    bool public hkdCashListed = true;
    bool public hkdListedAsSecurity;

    // How much actually happened (to see the campaign is not vacuous).
    mapping(bytes32 action => uint256) public succeeded;
    mapping(uint8 reason => uint256) public refusals; // instructions refused, by SettlementFailure

    /// A batch as planned: which instructions, what each should come to, and the books after.
    struct Plan {
        uint256[] picks;
        uint8[] reasons;
        uint8[] tokenReasons;
        uint256 settles;
        bool failed;
        uint256 firstFailure;
        Predict.Books before;
        Predict.Books expected;
    }

    constructor(
        DvPSettlement dvp_,
        BondToken bond_,
        CashToken hkd_,
        CashToken usd_,
        InvestorRegistry registry_,
        uint256[] memory keys_
    ) {
        dvp = dvp_;
        bond = bond_;
        hkd = hkd_;
        usd = usd_;
        registry = registry_;
        keys = keys_;
        for (uint256 i = 0; i < keys_.length; ++i) {
            actors.push(vm.addr(keys_[i]));
        }
        currentTime = block.timestamp;
    }

    function instructionCount() external view returns (uint256) {
        return ids.length;
    }

    /// Over every instruction: ids with more than one InstructionSettled; ids both settled and
    /// cancelled; nonces whose use (on the venue or in the handler's record) is not "an
    /// instruction carrying it settled", or that settled more than one instruction; and ids
    /// whose cancellation on the venue differs from the handler's record.
    function lifecycleViolations()
        external
        view
        returns (uint256 overSettled, uint256 settledAndCancelled, uint256 nonceMismatches, uint256 cancelMismatches)
    {
        for (uint256 i = 0; i < ids.length; ++i) {
            bytes32 id = ids[i];
            uint256 nonce = instructions[i].nonce;
            uint256 n = settlements[id];
            if (n > 1) ++overSettled;
            if (n != 0 && cancelled[id]) ++settledAndCancelled;
            if (dvp.isCancelled(id) != cancelled[id]) ++cancelMismatches;
            uint256 settledWithNonce;
            for (uint256 j = 0; j < ids.length; ++j) {
                if (instructions[j].nonce == nonce && settlements[ids[j]] != 0) ++settledWithNonce;
            }
            if (settledWithNonce > 1) ++nonceMismatches;
            if (dvp.isNonceUsed(nonce) != (settledWithNonce != 0) || spent[nonce] != (settledWithNonce != 0)) {
                ++nonceMismatches;
            }
        }
    }

    // ---------------------------------------------------------------- actions

    /// The seller and buyer sign a new instruction. Three in four are clean (two different
    /// eligible investors, valid signatures, the bond against HKD, something to deliver); the
    /// rest are wild: any parties (retail, the unregistered key holder, oneself), one in five
    /// with a bad signature, one in eight naming the cash token as the security, one in eight
    /// paying in the bond, one in eight paying in the unlisted USD, one in eight reusing an
    /// earlier instruction's nonce, possibly empty. Three in four are due at once, the others one or two days on; each
    /// expires an hour to ten days from now.
    function create(uint256 parties, uint256 quantity, uint256 cashAmount, uint256 life, uint256 mode) external {
        if (ids.length >= MAX_INSTRUCTIONS) return;
        createOne(parties, quantity, cashAmount, life, mode);
    }

    function createOne(uint256 parties, uint256 quantity, uint256 cashAmount, uint256 life, uint256 mode) internal {
        bool wild = mode % 4 == 0;
        uint256 s = wild ? pick(parties) : parties % 4;
        uint256 b = wild ? pick(parties >> 8) : (s + 1 + (parties >> 8) % 3) % 4;
        uint256 today = block.timestamp - (block.timestamp % 1 days);
        uint256 lag = (mode >> 24) % 8; // 0-5 due today, 6 tomorrow, 7 in two days
        nextNonce += 1 + (mode >> 8) % 300; // nonces spread over several bitmap words
        uint256 nonce = nextNonce;
        if (wild && (mode >> 32) % 8 == 7 && ids.length != 0) nonce = instructions[(mode >> 40) % ids.length].nonce;
        DvPSettlement.Instruction memory ins = DvPSettlement.Instruction({
            seller: actors[s],
            buyer: actors[b],
            securityToken: wild && (mode >> 2) % 8 == 0 ? address(hkd) : address(bond),
            quantity: bound(quantity, wild ? 0 : 1, 60),
            cashToken: wild && (mode >> 2) % 8 == 7
                ? address(usd)
                : wild && (mode >> 2) % 8 == 6 ? address(bond) : address(hkd),
            cashAmount: bound(cashAmount, 0, 30 * PRICE),
            tradeDate: uint64(today),
            settlementDate: uint64(today + (lag < 6 ? 0 : lag - 5) * 1 days),
            expiry: uint64(block.timestamp + bound(life, 1 hours, 10 days)),
            nonce: nonce
        });
        bytes32 id = dvp.instructionId(ins);
        bool badSeller = wild && (mode >> 5) % 10 == 1;
        bool badBuyer = wild && (mode >> 5) % 10 == 2;
        instructions.push(ins);
        ids.push(id);
        sellerSigs.push(sign(keys[badSeller ? (s + 1) % keys.length : s], id));
        buyerSigs.push(sign(keys[badBuyer ? (b + 1) % keys.length : b], id));
        sellerSigOk.push(!badSeller);
        buyerSigOk.push(!badBuyer);
        ++succeeded["create"];
    }

    /// Half the time the newest instruction still open (by the handler's record), or a fresh one
    /// if none is; otherwise any.
    function choose(uint256 seed) internal returns (uint256) {
        if (seed % 2 == 0 || ids.length == 0) {
            (bool found, uint256 i) = recentOpen(0);
            if (found) return i;
            if (ids.length < MAX_INSTRUCTIONS) {
                uint256 h = uint256(keccak256(abi.encode(seed, ids.length)));
                createOne(h, h >> 16, h >> 32, h >> 64, h >> 128);
                return ids.length - 1;
            }
        }
        return (seed >> 1) % ids.length;
    }

    /// The `nth` newest instruction neither cancelled nor carrying a used nonce (by the
    /// handler's record).
    function recentOpen(uint256 nth) internal view returns (bool, uint256) {
        uint256 seen;
        for (uint256 j = ids.length; j > 0; --j) {
            if (spent[instructions[j - 1].nonce] || cancelled[ids[j - 1]]) continue;
            if (seen++ == nth) return (true, j - 1);
        }
        return (false, 0);
    }

    function settle(uint256 which) external {
        uint256 i = choose(which);
        DvPSettlement.Instruction memory ins = instructions[i];
        Predict.Books memory expected = load();
        (uint8 reason, uint8 tokenReason) = predict(i, expected, new uint256[](0), 0);
        if (reason == Code.OK) Predict.move(expected, ins);

        vm.recordLogs();
        try dvp.settle(ins, sellerSigs[i], buyerSigs[i]) {
            countSettlements(vm.getRecordedLogs());
            if (reason != Code.OK) ++ghostMispredicted;
            spent[ins.nonce] = true;
            ++succeeded["settle"];
        } catch (bytes memory err) {
            vm.getRecordedLogs(); // rolled back: not counted
            if (reason == Code.OK || keccak256(err) != keccak256(refusal(ids[i], reason, tokenReason))) {
                ++ghostMispredicted;
            }
            ++succeeded["refused"];
            ++refusals[reason];
        }
        if (!Predict.same(expected, load())) ++ghostWrongMovement;
    }

    /// One to four instructions (repeats allowed), all or nothing or best effort.
    function settleBatch(uint256 picks, uint256 size, bool bestEffort) external {
        Plan memory plan = planBatch(picks, bound(size, 1, 4));
        uint256 n = plan.picks.length;
        DvPSettlement.Instruction[] memory l = new DvPSettlement.Instruction[](n);
        bytes[] memory ss = new bytes[](n);
        bytes[] memory bs = new bytes[](n);
        for (uint256 k = 0; k < n; ++k) {
            l[k] = instructions[plan.picks[k]];
            ss[k] = sellerSigs[plan.picks[k]];
            bs[k] = buyerSigs[plan.picks[k]];
        }

        vm.recordLogs();
        try dvp.settleBatch(l, ss, bs, bestEffort) returns (uint256 settled) {
            Vm.Log[] memory logs = vm.getRecordedLogs();
            countSettlements(logs);
            if (!bestEffort && plan.failed) ++ghostMispredicted;
            if (settled != plan.settles) ++ghostMispredicted;
            checkBatchEvents(logs, plan);
            for (uint256 k = 0; k < n; ++k) {
                if (plan.reasons[k] == Code.OK) spent[l[k].nonce] = true;
                else ++refusals[plan.reasons[k]];
            }
            if (!Predict.same(plan.expected, load())) ++ghostWrongMovement;
            succeeded[bestEffort ? bytes32("batchBestEffort") : bytes32("batchAllOrNothing")] += 1;
            succeeded["batchSettled"] += settled;
        } catch (bytes memory err) {
            vm.getRecordedLogs();
            uint256 f = plan.firstFailure;
            if (bestEffort || !plan.failed) {
                ++ghostMispredicted;
            } else if (keccak256(err) != keccak256(refusal(ids[plan.picks[f]], plan.reasons[f], plan.tokenReasons[f])))
            {
                ++ghostMispredicted;
            }
            if (!Predict.same(plan.before, load())) ++ghostWrongMovement;
            ++succeeded["batchRefused"];
        }
    }

    /// A party (one time in eight an outsider) cancels, directly or by a signature (one time in
    /// five a bad one) that anyone submits.
    function cancel(uint256 which, uint256 mode) external {
        uint256 i = choose(which);
        DvPSettlement.Instruction memory ins = instructions[i];
        address party = mode % 8 == 0 ? nonParty(ins, mode >> 8) : (mode & 2 == 0 ? ins.seller : ins.buyer);
        bytes memory expected = expectedCancelError(ins, ids[i], party, mode);

        Predict.Books memory before = load();
        bool usedBefore = dvp.isNonceUsed(ins.nonce);
        (bool ok, bytes memory err) = mode & 4 != 0 ? cancelBySig(ins, ids[i], party, mode) : cancelDirectly(ins, party);
        if (ok) {
            if (expected.length != 0) ++ghostMispredicted;
            cancelled[ids[i]] = true;
            ++succeeded[mode & 4 != 0 ? bytes32("cancelBySig") : bytes32("cancel")];
        } else {
            if (expected.length == 0 || keccak256(err) != keccak256(expected)) ++ghostMispredicted;
            ++succeeded["cancelRefused"];
        }
        if (dvp.isNonceUsed(ins.nonce) != usedBefore) ++ghostMispredicted; // cancelling never uses a nonce
        if (!Predict.same(before, load())) ++ghostWrongMovement;
    }

    /// What a cancellation must revert with, in the venue's order of checks (empty: it succeeds).
    function expectedCancelError(DvPSettlement.Instruction memory ins, bytes32 id, address party, uint256 mode)
        internal
        view
        returns (bytes memory)
    {
        if (party != ins.seller && party != ins.buyer) {
            return abi.encodeWithSelector(DvPSettlement.NotAParty.selector, party, id);
        }
        if (badCancelSig(mode)) return abi.encodeWithSelector(DvPSettlement.BadCancelSignature.selector, party, id);
        if (spent[ins.nonce]) return abi.encodeWithSelector(DvPSettlement.NonceUsed.selector, ins.nonce);
        if (cancelled[id]) return abi.encodeWithSelector(DvPSettlement.AlreadyCancelled.selector, id);
        return "";
    }

    function badCancelSig(uint256 mode) internal pure returns (bool) {
        return mode & 4 != 0 && mode % 5 == 0;
    }

    function cancelDirectly(DvPSettlement.Instruction memory ins, address party)
        internal
        returns (bool ok, bytes memory err)
    {
        vm.prank(party);
        try dvp.cancel(ins) {
            ok = true;
        } catch (bytes memory e) {
            err = e;
        }
    }

    /// `party`'s signed cancellation (with the next actor's key if it is to be a bad one), sent by
    /// any actor.
    function cancelBySig(DvPSettlement.Instruction memory ins, bytes32 id, address party, uint256 mode)
        internal
        returns (bool ok, bytes memory err)
    {
        uint256 signer = indexOf(party);
        if (badCancelSig(mode)) signer = (signer + 1) % keys.length;
        bytes memory sig = sign(keys[signer], Typed.cancelDigest(id, address(dvp)));
        vm.prank(actors[(mode >> 16) % actors.length]);
        try dvp.cancelBySig(ins, party, sig) {
            ok = true;
        } catch (bytes memory e) {
            err = e;
        }
    }

    /// The agent freezes one call in four and unfreezes otherwise.
    function setFrozen(uint256 who, uint256 mode) external {
        bond.setAddressFrozen(actors[who % actors.length], mode % 4 == 0);
        ++succeeded["freeze"];
    }

    /// The venue's admin lists or delists (`(mode >> 2) % 3`): 0 the bond as a security, 1 HKD as
    /// cash (each delisted when `mode % 4 == 0`, else listed), 2 HKD as a security as well (listed
    /// when `mode % 4 == 0`, else delisted).
    function setListing(uint256 mode) external {
        uint256 which = (mode >> 2) % 3;
        bool on = mode % 4 != 0;
        if (which == 0) {
            bondListed = on;
            dvp.setListed(address(bond), on);
        } else if (which == 1) {
            hkdCashListed = on;
            dvp.setCashListed(address(hkd), on);
        } else {
            hkdListedAsSecurity = !on;
            dvp.setListed(address(hkd), !on);
        }
        ++succeeded["listing"];
    }

    /// Time only moves forward, up to two days a step: instructions fall due and expire, a short
    /// KYC lapses.
    function warp(uint256 seconds_) external {
        currentTime += bound(seconds_, 1 hours, 2 days);
        vm.warp(currentTime);
        ++succeeded["warp"];
    }

    /// Mints cash to an actor and resets its allowance: unlimited, a random amount, or unchanged.
    function topUp(uint256 who, uint256 amount, uint256 mode) external {
        address a = actors[who % actors.length];
        amount = bound(amount, 0, 50 * PRICE);
        hkd.mint(a, amount);
        ghostCashMinted += amount;
        if (mode % 3 != 2) {
            vm.prank(a);
            hkd.approve(address(dvp), mode % 3 == 0 ? type(uint256).max : bound(mode >> 2, 0, 60 * PRICE));
        }
        ++succeeded["topUp"];
    }

    // ---------------------------------------------------------------- the oracle

    /// By the handler's record: the bond, and HKD if the admin chose, are listed as securities;
    /// HKD alone may be listed as cash (the bond never is, USD never on either list).
    function securityListed(address token) internal view returns (bool) {
        return token == address(bond) ? bondListed : token == address(hkd) && hkdListedAsSecurity;
    }

    function cashListed(address token) internal view returns (bool) {
        return token == address(hkd) && hkdCashListed;
    }

    function predict(uint256 i, Predict.Books memory b, uint256[] memory batchNonces, uint256 used)
        internal
        view
        returns (uint8, uint8)
    {
        DvPSettlement.Instruction memory ins = instructions[i];
        bool nonceUsed = spent[ins.nonce];
        for (uint256 j = 0; j < used; ++j) {
            if (batchNonces[j] == ins.nonce) nonceUsed = true;
        }
        Predict.State memory st = Predict.State({
            listed: securityListed(ins.securityToken) && cashListed(ins.cashToken),
            nonceUsed: nonceUsed,
            cancelled: cancelled[ids[i]],
            sellerSigOk: sellerSigOk[i],
            buyerSigOk: buyerSigOk[i]
        });
        uint8 reason = Predict.venue(ins, st);
        if (reason != Code.OK) return (reason, 0);
        return Predict.legs(bond, registry, ins, b);
    }

    /// Predicts a batch in order, carrying the books and the nonces it uses from one to the next.
    function planBatch(uint256 picks, uint256 size) internal returns (Plan memory plan) {
        plan.picks = new uint256[](size);
        plan.reasons = new uint8[](size);
        plan.tokenReasons = new uint8[](size);
        plan.before = load();
        plan.expected = Predict.copy(plan.before);
        uint256[] memory batchNonces = new uint256[](size);
        for (uint256 k = 0; k < size; ++k) {
            // Three times in four the newest open instructions, distinct; otherwise any, repeats allowed.
            (bool found, uint256 i) = picks % 4 != 0 ? recentOpen(k) : (false, 0);
            if (!found) i = choose(picks >> (k * 16 + 2));
            plan.picks[k] = i;
            (plan.reasons[k], plan.tokenReasons[k]) = predict(i, plan.expected, batchNonces, plan.settles);
            if (plan.reasons[k] == Code.OK) {
                Predict.move(plan.expected, instructions[i]);
                batchNonces[plan.settles++] = instructions[i].nonce;
            } else if (!plan.failed) {
                plan.failed = true;
                plan.firstFailure = k;
            }
        }
    }

    /// The venue's settled / failed events, in order, one per instruction of the batch.
    function checkBatchEvents(Vm.Log[] memory logs, Plan memory plan) internal {
        uint256 k;
        for (uint256 j = 0; j < logs.length; ++j) {
            if (logs[j].emitter != address(dvp)) continue;
            bytes32 topic = logs[j].topics[0];
            if (topic == DvPSettlement.InstructionSettled.selector) {
                if (k >= plan.picks.length || plan.reasons[k] != Code.OK || logs[j].topics[1] != ids[plan.picks[k]]) {
                    ++ghostMispredicted;
                }
                ++k;
            } else if (topic == DvPSettlement.SettlementFailed.selector) {
                (uint8 r, uint8 tr) = abi.decode(logs[j].data, (uint8, uint8));
                if (
                    k >= plan.picks.length || logs[j].topics[1] != ids[plan.picks[k]] || r != plan.reasons[k]
                        || tr != plan.tokenReasons[k]
                ) ++ghostMispredicted;
                ++k;
            }
        }
        if (k != plan.picks.length) ++ghostMispredicted;
    }

    function countSettlements(Vm.Log[] memory logs) internal {
        for (uint256 j = 0; j < logs.length; ++j) {
            if (logs[j].emitter != address(dvp) || logs[j].topics[0] != DvPSettlement.InstructionSettled.selector) {
                continue;
            }
            bytes32 id = logs[j].topics[1];
            if (settlements[id]++ != 0) ++ghostSettledTwice;
            if (cancelled[id]) ++ghostSettledAfterCancel;
        }
    }

    // ---------------------------------------------------------------- helpers

    function load() internal view returns (Predict.Books memory) {
        return Predict.load(bond, hkd, address(dvp), actors);
    }

    function indexOf(address a) internal view returns (uint256) {
        for (uint256 i = 0; i < actors.length; ++i) {
            if (actors[i] == a) return i;
        }
        revert("not an actor");
    }

    function nonParty(DvPSettlement.Instruction memory ins, uint256 seed) internal view returns (address a) {
        for (uint256 j = 0; j < actors.length; ++j) {
            a = actors[(seed + j) % actors.length];
            if (a != ins.seller && a != ins.buyer) return a;
        }
    }
}
