// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Base} from "./Base.sol";
import {Fixture} from "./Fixture.sol";
import {BondToken} from "../../contracts/BondToken.sol";
import {TransferReason} from "../../contracts/interfaces/ISecurityToken.sol";

/// @dev What the invariant fuzzer calls: every way a bond balance or a frozen amount can change,
/// with bounded random inputs over a fixed set of actors. Refused operations are caught. Around
/// each operation the handler checks the frozen amounts against what ERC-7943 allows and counts
/// every breach in a ghost variable the invariants assert is zero.
contract FrozenHandler is Base {
    BondToken public immutable bond;
    address[] public actors;

    uint256 public ghostMinted;
    uint256 public ghostBurned;
    uint256 public ghostFrozenTokensMoved; // a holder's action took tokens frozen in a wallet
    uint256 public ghostFrozenAmountChanged; // a frozen amount changed other than as the standard says

    mapping(bytes32 action => uint256) public succeeded;

    struct State {
        uint256[] balances;
        uint256[] frozen;
    }

    constructor(BondToken bond_, address[] memory actors_) {
        bond = bond_;
        actors = actors_;
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function actor(uint256 seed) internal view returns (address) {
        return actors[seed % actors.length];
    }

    function state() internal view returns (State memory s) {
        s.balances = new uint256[](actors.length);
        s.frozen = new uint256[](actors.length);
        for (uint256 i = 0; i < actors.length; ++i) {
            s.balances[i] = bond.balanceOf(actors[i]);
            s.frozen[i] = bond.getFrozenTokens(actors[i]);
        }
    }

    /// @dev The frozen tokens a wallet holds: its frozen amount, up to its balance.
    function held(uint256 frozen, uint256 balance) internal pure returns (uint256) {
        return frozen < balance ? frozen : balance;
    }

    /// @dev After a holder's transfer, a settlement, a mint or a burn: no frozen amount changed and
    /// no wallet holds fewer frozen tokens than before.
    function checkNothingFrozenMoved(State memory before) internal {
        State memory afterwards = state();
        for (uint256 i = 0; i < actors.length; ++i) {
            if (afterwards.frozen[i] != before.frozen[i]) ++ghostFrozenAmountChanged;
            if (
                held(afterwards.frozen[i], afterwards.balances[i]) < held(before.frozen[i], before.balances[i])
            ) ++ghostFrozenTokensMoved;
        }
    }

    // ---------------------------------------------------------------- a holder's or venue's moves

    function mint(uint256 toSeed, uint256 amount) external {
        State memory before = state();
        amount = bound(amount, 0, 500);
        try bond.mint(actor(toSeed), amount) {
            ghostMinted += amount;
            ++succeeded["mint"];
        } catch {}
        checkNothingFrozenMoved(before);
    }

    function transfer(uint256 fromSeed, uint256 toSeed, uint256 amount) external {
        address from = actor(fromSeed);
        State memory before = state();
        amount = bound(amount, 0, bond.balanceOf(from) + 1);
        vm.prank(from);
        try bond.transfer(actor(toSeed), amount) {
            ++succeeded["transfer"];
        } catch {}
        checkNothingFrozenMoved(before);
    }

    function settle(uint256 fromSeed, uint256 toSeed, uint256 amount) external {
        address from = actor(fromSeed);
        State memory before = state();
        amount = bound(amount, 0, bond.balanceOf(from) + 1);
        try bond.settlementTransfer(from, actor(toSeed), amount) {
            ++succeeded["settle"];
        } catch {}
        checkNothingFrozenMoved(before);
    }

    function burn(uint256 fromSeed, uint256 amount) external {
        address from = actor(fromSeed);
        State memory before = state();
        amount = bound(amount, 0, bond.balanceOf(from) + 1);
        try bond.burn(from, amount) {
            ghostBurned += amount;
            ++succeeded["burn"];
        } catch {}
        checkNothingFrozenMoved(before);
    }

    // ---------------------------------------------------------------- the agent's powers

    /// Mostly amounts within the balance, sometimes none, more than held, or everything.
    function setFrozenTokens(uint256 whoSeed, uint256 amount) external {
        address who = actor(whoSeed);
        uint256 balance = bond.balanceOf(who);
        uint256 mode = amount % 8;
        if (mode == 0) amount = 0;
        else if (mode == 1) amount = balance + bound(amount >> 3, 1, 100);
        else if (mode == 2) amount = type(uint256).max;
        else amount = bound(amount >> 3, 0, balance);
        State memory before = state();
        bond.setFrozenTokens(who, amount);
        ++succeeded["setFrozenTokens"];
        uint256 expected = amount >= type(uint248).max ? type(uint256).max : amount;
        if (bond.getFrozenTokens(who) != expected) ++ghostFrozenAmountChanged;
        for (uint256 i = 0; i < actors.length; ++i) {
            if (actors[i] != who && bond.getFrozenTokens(actors[i]) != before.frozen[i]) ++ghostFrozenAmountChanged;
            if (bond.balanceOf(actors[i]) != before.balances[i]) ++ghostFrozenTokensMoved;
        }
    }

    function setAddressFrozen(uint256 whoSeed, uint256 mode) external {
        State memory before = state();
        bond.setAddressFrozen(actor(whoSeed), mode % 3 == 0);
        ++succeeded["setAddressFrozen"];
        checkNothingFrozenMoved(before);
    }

    /// A quarter of the time to the wallet it comes from: the known pitfall.
    function forcedTransfer(uint256 fromSeed, uint256 toSeed, uint256 amount) external {
        address from = actor(fromSeed);
        address to = toSeed % 4 == 0 ? from : actor(toSeed >> 2);
        State memory before = state();
        uint256 balance = bond.balanceOf(from);
        uint256 frozen = bond.getFrozenTokens(from);
        amount = bound(amount, 0, balance + 1);
        try bond.forcedTransfer(from, to, amount) {
            ++succeeded[from == to ? bytes32("forcedTransferToSelf") : bytes32("forcedTransfer")];
            uint256 unfrozen = balance > frozen ? balance - frozen : 0;
            uint256 expected = frozen;
            if (from != to && amount > unfrozen) {
                // What it took beyond the unfrozen balance was unfrozen; "everything" stays everything.
                expected = frozen == type(uint256).max ? frozen : frozen - (amount - unfrozen);
            }
            for (uint256 i = 0; i < actors.length; ++i) {
                uint256 want = actors[i] == from ? expected : before.frozen[i];
                if (bond.getFrozenTokens(actors[i]) != want) ++ghostFrozenAmountChanged;
            }
        } catch {
            for (uint256 i = 0; i < actors.length; ++i) {
                if (bond.getFrozenTokens(actors[i]) != before.frozen[i]) ++ghostFrozenAmountChanged;
            }
        }
    }

    /// alice's wallets recover into each other: the frozen amount goes with the balance.
    function recoverWallet(uint256 seed) external {
        address lost = actors[seed % 2];
        address fresh = actors[1 - seed % 2];
        uint256 lostFrozen = bond.getFrozenTokens(lost);
        uint256 freshFrozen = bond.getFrozenTokens(fresh);
        try bond.recoverWallet(lost, fresh) {
            ++succeeded["recoverWallet"];
            uint256 sum = lostFrozen > type(uint256).max - freshFrozen ? type(uint256).max : lostFrozen + freshFrozen;
            uint256 expected = sum >= type(uint248).max ? type(uint256).max : sum;
            if (bond.getFrozenTokens(lost) != 0 || bond.getFrozenTokens(fresh) != expected) {
                ++ghostFrozenAmountChanged;
            }
        } catch {}
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 1 hours, 10 days));
        ++succeeded["warp"];
    }
}

contract ERC7943InvariantTest is Fixture {
    FrozenHandler internal handler;
    address[] internal actors;

    function setUp() public override {
        super.setUp();
        // alice and alice2 first (the recovery pair), then bob, and three who may never receive.
        actors = [alice, alice2, bob, carol, dave, mallory];
        handler = new FrozenHandler(bond, actors);
        bond.grantRole(bond.AGENT_ROLE(), address(handler));
        bond.grantRole(bond.MINTER_ROLE(), address(handler));
        bond.grantRole(bond.BURNER_ROLE(), address(handler));
        bond.grantRole(bond.SETTLEMENT_ROLE(), address(handler));
        targetContract(address(handler));
    }

    // ---------------------------------------------------------------- invariants

    /// The supply is the sum of the balances: frozen or not, nothing is created or lost.
    function invariant_supplyEqualsTheSumOfBalances() public view {
        uint256 sum;
        for (uint256 i = 0; i < actors.length; ++i) {
            sum += bond.balanceOf(actors[i]);
        }
        assertEq(sum, bond.totalSupply(), "sum of balances");
        assertEq(handler.ghostMinted() - handler.ghostBurned(), bond.totalSupply(), "mints - burns");
    }

    /// Frozen tokens never move except by the agent's forced transfer (or recovery), and a
    /// frozen amount changes only as ERC-7943 says.
    function invariant_frozenTokensNeverMoveExceptByForcedTransfer() public view {
        assertEq(handler.ghostFrozenTokensMoved(), 0, "frozen tokens moved");
        assertEq(handler.ghostFrozenAmountChanged(), 0, "a frozen amount changed unexpectedly");
    }

    /// Right now, no holder could send a token beyond its unfrozen balance, to anyone.
    function invariant_noTransferCanSpendFrozenTokens() public view {
        for (uint256 i = 0; i < actors.length; ++i) {
            address from = actors[i];
            uint256 balance = bond.balanceOf(from);
            uint256 frozen = bond.getFrozenTokens(from);
            if (frozen == 0 || balance == 0) continue;
            uint256 unfrozen = balance > frozen ? balance - frozen : 0;
            for (uint256 j = 0; j < actors.length; ++j) {
                assertFalse(bond.canTransfer(from, actors[j], unfrozen + 1), "canTransfer beyond the unfrozen");
                uint8 reason = bond.detectTransferRestriction(from, actors[j], unfrozen + 1);
                assertTrue(reason != TransferReason.OK, "detectTransferRestriction beyond the unfrozen");
            }
        }
    }

    // ---------------------------------------------------------------- the handler itself

    /// A fixed walk, so the invariants above are known not to be vacuous.
    function test_handlerExercisesEveryActionAndKeepsTheGhostsAtZero() public {
        handler.mint(0, 100); // alice
        handler.mint(2, 50); // bob
        handler.setFrozenTokens(0, 8 * 60 + 3); // mode 3: alice, bound(60, 0, 100) = 60
        handler.transfer(0, 2, 41); // 41 of 40 unfrozen: refused
        handler.transfer(0, 2, 40);
        handler.settle(0, 2, 1); // nothing unfrozen left: refused
        handler.burn(0, 1); // refused too
        handler.forcedTransfer(0, 0, 30); // to alice herself: 60 stay frozen
        assertEq(bond.getFrozenTokens(alice), 60, "the pitfall");
        handler.forcedTransfer(0, (2 << 2) | 1, 30); // alice -> bob: 30 frozen taken, unfrozen first
        assertEq(bond.getFrozenTokens(alice), 30, "unfrozen what it took");
        handler.setFrozenTokens(2, 2); // mode 2: bob, everything
        handler.transfer(2, 0, 1); // refused
        handler.forcedTransfer(2, (1 << 2) | 1, 5); // bob -> alice2
        assertEq(bond.getFrozenTokens(bob), type(uint256).max, "everything stays everything");
        handler.recoverWallet(0); // alice -> alice2, her 30 frozen with her
        assertEq(bond.getFrozenTokens(alice2), 30, "carried over");
        handler.setAddressFrozen(1, 1);
        handler.burn(1, 5); // alice2 holds 35, 30 frozen: 5 burn
        handler.warp(0);

        assertEq(handler.succeeded("transfer"), 1, "transfers");
        assertEq(handler.succeeded("settle"), 0, "settlements");
        assertEq(handler.succeeded("burn"), 1, "burns");
        assertEq(handler.succeeded("forcedTransfer"), 2, "forced transfers");
        assertEq(handler.succeeded("forcedTransferToSelf"), 1, "forced transfers to self");
        assertEq(handler.succeeded("recoverWallet"), 1, "recoveries");
        assertEq(bond.balanceOf(alice2), 30, "alice2");
        invariant_supplyEqualsTheSumOfBalances();
        invariant_frozenTokensNeverMoveExceptByForcedTransfer();
        invariant_noTransferCanSpendFrozenTokens();
    }
}
