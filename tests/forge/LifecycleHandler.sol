// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Base} from "./Base.sol";
import {BondToken} from "../../contracts/BondToken.sol";
import {CashToken} from "../../contracts/CashToken.sol";
import {PayingAgent} from "../../contracts/PayingAgent.sol";
import {IBondLifecycle} from "../../contracts/interfaces/IBondLifecycle.sol";

/// @dev What the invariant fuzzer calls: transfers and mints, time moving across record dates,
/// coupon declarations and payments in random batches (repeats included), a redemption declared
/// early or at maturity and paid in random batches, treasury top-ups and allowance cuts. The
/// handler keeps its own record of every holding at each record time (taken when a warp crosses
/// it), and checks each payment against it; refused calls are caught and checked against what
/// the rules predict.
contract LifecycleHandler is Base {
    uint256 internal constant SCALE = 1e10;

    BondToken public immutable bond;
    IBondLifecycle internal immutable life;
    PayingAgent public immutable agent;
    CashToken public immutable hkd;
    address public immutable treasury;
    address[] public actors;
    uint64[] internal recordTimes;
    uint256 public currentTime;
    uint256 public passed; // record times crossed so far
    uint256[] internal declaredIds;

    // The independent record of the holdings at each record time.
    mapping(uint256 id => bool) public recordTaken;
    mapping(uint256 id => mapping(address => uint256)) public recordBalance;
    mapping(uint256 id => uint256) public recordSupply;

    // Ghosts.
    mapping(uint256 id => mapping(address => uint256)) public ghostCouponReceived;
    mapping(uint256 id => mapping(address => uint256)) public ghostCouponPayments;
    uint256 public ghostDoublePayments; // a holder received cash for a coupon it was already paid
    uint256 public ghostWrongAmounts; // a holder received other than floor(record x amount / 1e10)
    uint256 public ghostCompletionMismatches; // completion disagreed with the record supply
    uint256 public ghostSnapshotMismatches; // balanceOfAt / totalSupplyAt disagreed with the record
    uint256 public ghostTreasuryMismatches; // the treasury's outflow was not what holders received
    uint256 public ghostUnexpectedSuccesses;
    uint256 public ghostUnexpectedRefusals;
    uint256 public ghostCashMinted;
    uint256 public ghostBondsMinted;
    uint256 public ghostBondsRedeemed;
    uint256 public ghostRedeemMismatches;
    mapping(bytes32 action => uint256) public succeeded;

    constructor(BondToken bond_, PayingAgent agent_, CashToken hkd_, address[] memory actors_) {
        bond = bond_;
        life = IBondLifecycle(address(bond_));
        agent = agent_;
        hkd = hkd_;
        treasury = bond_.treasury();
        actors = actors_;
        recordTimes = bond_.recordTimes();
        currentTime = block.timestamp;
        ghostBondsMinted = bond_.totalSupply();
    }

    function recordCount() external view returns (uint256) {
        return recordTimes.length;
    }

    /// The handler's record for snapshot `id`, per actor: holding at the record time, payments, cash received.
    function ledger(uint256 id)
        external
        view
        returns (
            bool taken,
            uint256 supply,
            uint256[] memory held,
            uint256[] memory payments,
            uint256[] memory received
        )
    {
        taken = recordTaken[id];
        supply = recordSupply[id];
        held = new uint256[](actors.length);
        payments = new uint256[](actors.length);
        received = new uint256[](actors.length);
        for (uint256 i = 0; i < actors.length; ++i) {
            held[i] = recordBalance[id][actors[i]];
            payments[i] = ghostCouponPayments[id][actors[i]];
            received[i] = ghostCouponReceived[id][actors[i]];
        }
    }

    /// Mostly a snapshot whose record time passed (or a declared coupon), one call in eight any id.
    function pickId(uint256 seed, bool declaredOnly) internal view returns (uint256) {
        uint256 pool = declaredOnly ? declaredIds.length : passed;
        if (pool == 0 || seed % 8 == 0) return 1 + (seed >> 3) % recordTimes.length;
        return declaredOnly ? declaredIds[(seed >> 3) % pool] : 1 + (seed >> 3) % pool;
    }

    function outcome(bytes32 action, bool success, bool allowed) internal {
        if (success) {
            ++succeeded[action];
            if (!allowed) ++ghostUnexpectedSuccesses;
        } else if (allowed) {
            ++ghostUnexpectedRefusals;
        }
    }

    /// A batch of up to eleven actors, repeats likely: length from the low byte, each from the next.
    function batchFrom(uint256 seed) internal view returns (address[] memory batch) {
        batch = new address[](uint8(seed) % 12);
        for (uint256 i = 0; i < batch.length; ++i) {
            batch[i] = actors[uint8(seed >> (8 * i + 8)) % actors.length];
        }
    }

    function firstIn(address[] memory batch, uint256 i) internal pure returns (bool) {
        for (uint256 j = 0; j < i; ++j) {
            if (batch[j] == batch[i]) return false;
        }
        return true;
    }

    function spendable() internal view returns (uint256) {
        uint256 balance = hkd.balanceOf(treasury);
        uint256 allowance = hkd.allowance(treasury, address(agent));
        return balance < allowance ? balance : allowance;
    }

    function open() internal view returns (bool) {
        return block.timestamp < bond.maturityDate() && !bond.closed();
    }

    // ---------------------------------------------------------------- bond moves

    function transfer(uint256 fromSeed, uint256 toSeed, uint256 amount) external {
        address from = actors[fromSeed % actors.length];
        address to = actors[toSeed % actors.length];
        uint256 balance = bond.balanceOf(from);
        amount = bound(amount, 0, balance);
        vm.prank(from);
        try bond.transfer(to, amount) {
            outcome("transfer", true, open());
        } catch {
            outcome("transfer", false, open());
        }
    }

    function mint(uint256 toSeed, uint256 amount) external {
        address to = actors[toSeed % actors.length];
        amount = bound(amount, 0, 50);
        try bond.mint(to, amount) {
            ghostBondsMinted += amount;
            outcome("mint", true, open());
        } catch {
            outcome("mint", false, open());
        }
    }

    /// Time moves forward up to 25 days; crossing a record time takes the record of holdings.
    function warp(uint256 seconds_) external {
        uint256 next = currentTime + bound(seconds_, 1 hours, 25 days);
        for (uint256 id = 1; id <= recordTimes.length; ++id) {
            if (!recordTaken[id] && recordTimes[id - 1] <= next) {
                recordTaken[id] = true;
                ++passed;
                recordSupply[id] = bond.totalSupply();
                for (uint256 i = 0; i < actors.length; ++i) {
                    recordBalance[id][actors[i]] = bond.balanceOf(actors[i]);
                }
            }
        }
        currentTime = next;
        vm.warp(next);
        ++succeeded["warp"];
    }

    // ---------------------------------------------------------------- coupons

    function declareCoupon(uint256 idSeed, uint256 amountPerToken, uint256 delay) external {
        uint256 id = pickId(idSeed, false);
        amountPerToken = bound(amountPerToken, 0, 1e16); // up to HK$10,000 a token, any fraction of a cent
        uint256 paymentTime = block.timestamp + (delay % 2 == 0 ? 0 : bound(delay, 0, 3 days));
        bool allowed = !agent.coupon(address(bond), id).declared && recordTaken[id];
        try agent.declareCoupon(life, id, amountPerToken, paymentTime) {
            declaredIds.push(id);
            outcome("declareCoupon", true, allowed);
        } catch {
            outcome("declareCoupon", false, allowed);
        }
    }

    /// A batch as drawn: out of order, repeats or holders already passed are refused whole.
    function payCoupon(uint256 idSeed, uint256 batchSeed) external {
        uint256 id = pickId(idSeed, true);
        pay(id, batchFrom(batchSeed));
    }

    /// A batch as the operator builds it: the next `size % 4` actors above the coupon's cursor.
    function payCouponInOrder(uint256 idSeed, uint256 size) external {
        uint256 id = pickId(idSeed, true);
        address[] memory sorted = sortedActors();
        address cursor = agent.couponCursor(address(bond), id);
        uint256 start = 0;
        while (start < sorted.length && sorted[start] <= cursor) ++start;
        uint256 end = start + size % 4 > sorted.length ? sorted.length : start + size % 4;
        address[] memory batch = new address[](end - start);
        for (uint256 i = start; i < end; ++i) {
            batch[i - start] = sorted[i];
        }
        pay(id, batch);
    }

    function pay(uint256 id, address[] memory batch) internal {
        PayingAgent.Payment memory c = agent.coupon(address(bond), id);
        if (c.declared && !c.complete) checkSnapshot(id, batch);

        // What the record says is owed to this batch; it must be strictly ascending above the cursor.
        uint256 owed;
        address previous = agent.couponCursor(address(bond), id);
        bool ordered = true;
        uint256[] memory cashBefore = new uint256[](batch.length);
        bool[] memory paidBefore = new bool[](batch.length);
        for (uint256 i = 0; i < batch.length; ++i) {
            cashBefore[i] = hkd.balanceOf(batch[i]);
            paidBefore[i] = agent.isCouponPaid(address(bond), id, batch[i]);
            if (batch[i] <= previous) ordered = false;
            previous = batch[i];
            if (firstIn(batch, i) && !paidBefore[i]) owed += recordBalance[id][batch[i]] * c.amountPerToken / SCALE;
        }
        uint256 treasuryBefore = hkd.balanceOf(treasury);
        bool allowed = c.declared && !c.complete && block.timestamp >= c.paymentTime && ordered && owed <= spendable();

        try agent.payCoupon(life, id, batch) {
            outcome("payCoupon", true, allowed);
        } catch {
            outcome("payCoupon", false, allowed);
            return;
        }

        uint256 received = checkPaid(id, c.amountPerToken, batch, cashBefore, paidBefore);
        if (treasuryBefore - hkd.balanceOf(treasury) != received) ++ghostTreasuryMismatches;
        PayingAgent.Payment memory after_ = agent.coupon(address(bond), id);
        if (after_.complete != (after_.paidQuantity == recordSupply[id])) ++ghostCompletionMismatches;
        if (after_.complete && !c.complete) ++succeeded["couponCompleted"];
    }

    function sortedActors() internal view returns (address[] memory sorted) {
        sorted = actors;
        for (uint256 i = 1; i < sorted.length; ++i) {
            for (uint256 j = i; j > 0 && sorted[j - 1] > sorted[j]; --j) {
                (sorted[j - 1], sorted[j]) = (sorted[j], sorted[j - 1]);
            }
        }
    }

    /// The bond's snapshot agrees with the handler's record for this batch.
    function checkSnapshot(uint256 id, address[] memory batch) internal {
        if (bond.totalSupplyAt(id) != recordSupply[id]) ++ghostSnapshotMismatches;
        for (uint256 i = 0; i < batch.length; ++i) {
            if (bond.balanceOfAt(batch[i], id) != recordBalance[id][batch[i]]) ++ghostSnapshotMismatches;
        }
    }

    /// Each holder newly paid got floor(record x amount / 1e10); nobody else got anything.
    function checkPaid(
        uint256 id,
        uint256 amountPerToken,
        address[] memory batch,
        uint256[] memory cashBefore,
        bool[] memory paidBefore
    ) internal returns (uint256 received) {
        for (uint256 i = 0; i < batch.length; ++i) {
            if (!firstIn(batch, i)) continue;
            address holder = batch[i];
            uint256 delta = hkd.balanceOf(holder) - cashBefore[i];
            received += delta;
            ghostCouponReceived[id][holder] += delta;
            bool paidNow = agent.isCouponPaid(address(bond), id, holder);
            if (paidNow && !paidBefore[i]) {
                ++ghostCouponPayments[id][holder];
                if (delta != recordBalance[id][holder] * amountPerToken / SCALE) ++ghostWrongAmounts;
            } else if (delta != 0) {
                ++ghostDoublePayments;
            }
            // Every holder of a paid batch is passed, whether it held anything of record or not.
            if (!paidNow) ++ghostWrongAmounts;
        }
    }

    // ---------------------------------------------------------------- redemption

    /// Declared on one call in ten before maturity (an early call), always from maturity.
    function declareRedemption(uint256 mode, uint256 amountPerToken) external {
        if (block.timestamp < bond.maturityDate() && mode % 10 != 0) return;
        amountPerToken = bound(amountPerToken, 0, bond.denomination() * SCALE);
        bool allowed = !agent.redemption(address(bond)).declared;
        try agent.declareRedemption(life, amountPerToken) {
            outcome("declareRedemption", true, allowed);
        } catch {
            outcome("declareRedemption", false, allowed);
        }
    }

    function redeem(uint256 batchSeed) external {
        address[] memory batch = batchFrom(batchSeed);
        PayingAgent.Payment memory r = agent.redemption(address(bond));
        uint256 owed;
        uint256 quantity;
        uint256[] memory cashBefore = new uint256[](batch.length);
        uint256[] memory bondsBefore = new uint256[](batch.length);
        for (uint256 i = 0; i < batch.length; ++i) {
            cashBefore[i] = hkd.balanceOf(batch[i]);
            bondsBefore[i] = bond.balanceOf(batch[i]);
            if (firstIn(batch, i)) {
                owed += bondsBefore[i] * r.amountPerToken / SCALE;
                quantity += bondsBefore[i];
            }
        }
        bool allowed = r.declared && !r.complete && owed <= spendable();
        try agent.redeem(life, batch) {
            outcome("redeem", true, allowed);
        } catch {
            outcome("redeem", false, allowed);
            return;
        }
        ghostBondsRedeemed += quantity;
        for (uint256 i = 0; i < batch.length; ++i) {
            if (!firstIn(batch, i)) continue;
            if (bond.balanceOf(batch[i]) != 0) ++ghostRedeemMismatches;
            if (hkd.balanceOf(batch[i]) - cashBefore[i] != bondsBefore[i] * r.amountPerToken / SCALE) {
                ++ghostRedeemMismatches;
            }
        }
        if (bond.isRedeemed() != (bond.totalSupply() == 0)) ++ghostRedeemMismatches;
        if (bond.isRedeemed()) ++succeeded["redeemed"];
    }

    // ---------------------------------------------------------------- the treasury

    function topUp(uint256 amount) external {
        amount = bound(amount, 0, 2e9);
        hkd.mint(treasury, amount);
        ghostCashMinted += amount;
        ++succeeded["topUp"];
    }

    /// One call in five cuts the agent's allowance to a small amount; otherwise restores it.
    function setAllowance(uint256 mode, uint256 amount) external {
        uint256 allowance = mode % 5 == 0 ? bound(amount, 0, 1e8) : type(uint256).max;
        vm.prank(treasury);
        hkd.approve(address(agent), allowance);
        ++succeeded["allowance"];
    }
}
