// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Base} from "./Base.sol";
import {Fixture} from "./Fixture.sol";
import {BondToken} from "../../contracts/BondToken.sol";
import {InvestorRegistry} from "../../contracts/InvestorRegistry.sol";
import {IInvestorRegistry} from "../../contracts/interfaces/IInvestorRegistry.sol";

/// @dev What the invariant fuzzer calls: every way a bond balance can change, with bounded random
/// inputs, over a fixed set of actors. Refused operations are caught, never bubbled. Before each
/// operation the handler works out on its own (from registry records and the token's
/// configuration, not from canTransfer) whether the hook must accept it, and counts every
/// disagreement in a ghost variable the invariants assert is zero.
contract BondHandler is Base {
    BondToken public immutable bond;
    InvestorRegistry public immutable registry;
    uint256 public immutable cap; // the issue volume in tokens
    address[] public actors;

    // Ghosts.
    uint256 public ghostMinted;
    uint256 public ghostBurned;
    uint256 public ghostIneligibleReceipts; // a wallet received while it was not eligible
    uint256 public ghostUnexpectedSuccesses; // something else the rules forbid went through
    uint256 public ghostUnexpectedRefusals; // something the rules allow was refused
    uint256 public currentTime;

    // How much actually happened (to see the campaign is not vacuous).
    mapping(bytes32 action => uint256) public succeeded;

    constructor(BondToken bond_, InvestorRegistry registry_, address[] memory actors_) {
        bond = bond_;
        registry = registry_;
        cap = bond_.issueVolume() / bond_.denomination();
        actors = actors_;
        currentTime = block.timestamp;
    }

    // ---------------------------------------------------------------- the independent oracle

    function registeredAndCurrent(address wallet) public view returns (bool) {
        uint40 expiry = registry.eligibility(wallet).kycExpiry;
        return expiry != 0 && block.timestamp < expiry;
    }

    /// Whether `to` may receive now, ignoring a pause.
    function mayReceive(address to) public view returns (bool) {
        IInvestorRegistry.Eligibility memory e = registry.eligibility(to);
        if (!registeredAndCurrent(to) || bond.isFrozen(to)) return false;
        if (bond.categoryMask() & (uint256(1) << e.category) == 0) return false;
        if (bond.jurisdictionsRestricted() && !bond.isJurisdictionAllowed(e.country)) return false;
        return true;
    }

    /// Whether `from` may send now, ignoring a pause.
    function maySend(address from) public view returns (bool) {
        return registeredAndCurrent(from) && !bond.isFrozen(from);
    }

    function actor(uint256 seed) internal view returns (address) {
        return actors[seed % actors.length];
    }

    function outcome(bytes32 action, bool success, bool allowed) internal {
        if (success) {
            ++succeeded[action];
            if (!allowed) ++ghostUnexpectedSuccesses;
        } else if (allowed) {
            ++ghostUnexpectedRefusals;
        }
    }

    // ---------------------------------------------------------------- actions

    function mint(uint256 toSeed, uint256 amount) external {
        address to = actor(toSeed);
        uint256 room = cap - bond.totalSupply();
        // Mostly small lots; one call in eight takes a large chunk, one fills the issue
        // exactly and one tries to go a single token past it.
        uint256 mode = amount % 8;
        if (mode == 0) amount = room + 1;
        else if (mode == 1) amount = room;
        else if (mode == 2) amount = bound(amount >> 3, room / 2, room);
        else amount = bound(amount, 0, 500);
        bool receiverOk = mayReceive(to);
        bool open = block.timestamp < bond.maturityDate(); // no minting at or after maturity
        bool allowed = receiverOk && !bond.paused() && amount <= room && open;
        try bond.mint(to, amount) {
            ghostMinted += amount;
            if (!receiverOk) ++ghostIneligibleReceipts;
            outcome("mint", true, allowed);
        } catch {
            outcome("mint", false, allowed);
        }
    }

    function transfer(uint256 fromSeed, uint256 toSeed, uint256 amount) external {
        address from = actor(fromSeed);
        address to = actor(toSeed);
        uint256 balance = bond.balanceOf(from);
        amount = bound(amount, 0, balance + 1);
        bool receiverOk = mayReceive(to);
        bool allowed = receiverOk && maySend(from) && !bond.paused() && amount <= balance;
        vm.prank(from);
        try bond.transfer(to, amount) {
            if (!receiverOk) ++ghostIneligibleReceipts;
            outcome("transfer", true, allowed);
        } catch {
            outcome("transfer", false, allowed);
        }
    }

    function burn(uint256 fromSeed, uint256 amount) external {
        address from = actor(fromSeed);
        uint256 balance = bond.balanceOf(from);
        amount = bound(amount, 0, balance + 1);
        bool allowed = !bond.paused() && amount <= balance;
        try bond.burn(from, amount) {
            ghostBurned += amount;
            outcome("burn", true, allowed);
        } catch {
            outcome("burn", false, allowed);
        }
    }

    /// Freezes one call in three, unfreezes otherwise, so most wallets are usually free.
    function setFrozen(uint256 walletSeed, uint256 mode) external {
        bond.setAddressFrozen(actor(walletSeed), mode % 3 == 0);
        ++succeeded["freeze"];
    }

    function forcedTransfer(uint256 fromSeed, uint256 toSeed, uint256 amount) external {
        address from = actor(fromSeed);
        address to = actor(toSeed);
        uint256 balance = bond.balanceOf(from);
        amount = bound(amount, 0, balance + 1);
        bool receiverOk = mayReceive(to);
        // The sender's state and a pause do not matter to an agent.
        bool allowed = receiverOk && amount <= balance;
        try bond.forcedTransfer(from, to, amount) {
            if (!receiverOk) ++ghostIneligibleReceipts;
            outcome("forcedTransfer", true, allowed);
        } catch {
            outcome("forcedTransfer", false, allowed);
        }
    }

    /// Half the time the new wallet is one of the lost wallet's investor's (a real recovery),
    /// otherwise any actor (mostly refused).
    function recoverWallet(uint256 lostSeed, uint256 newSeed) external {
        address lost = actor(lostSeed);
        bytes32 investorId = registry.investorOf(lost);
        address[] memory siblings = registry.walletsOf(investorId);
        address fresh =
            newSeed % 2 == 0 && siblings.length > 0 ? siblings[(newSeed >> 1) % siblings.length] : actor(newSeed >> 1);
        bool wasFrozen = bond.isFrozen(lost);
        uint256 total = bond.balanceOf(lost) + (lost == fresh ? 0 : bond.balanceOf(fresh));
        bool receiverOk = mayReceive(fresh);
        bool allowed = investorId != 0 && registry.investorOf(fresh) == investorId && receiverOk;
        try bond.recoverWallet(lost, fresh) {
            if (!receiverOk) ++ghostIneligibleReceipts;
            outcome("recoverWallet", true, allowed);
            // Everything moved, and a freeze moved with it.
            if (bond.balanceOf(fresh) != total) ++ghostUnexpectedSuccesses;
            if (lost != fresh && bond.balanceOf(lost) != 0) ++ghostUnexpectedSuccesses;
            if (wasFrozen && (!bond.isFrozen(fresh) || bond.isFrozen(lost))) ++ghostUnexpectedSuccesses;
        } catch {
            outcome("recoverWallet", false, allowed);
        }
    }

    /// Time only moves forward, up to ten days a step: enough to cross erin's short KYC.
    function warp(uint256 seconds_) external {
        currentTime += bound(seconds_, 1 hours, 10 days);
        vm.warp(currentTime);
        ++succeeded["warp"];
    }

    /// Toggles Singapore, bob's country, in and out of the allowed set.
    function setSingaporeAllowed(bool allowed) external {
        bytes2[] memory countries = new bytes2[](1);
        countries[0] = "SG";
        bond.setJurisdictions(countries, allowed);
        ++succeeded["jurisdiction"];
    }

    /// Pauses one call in four, unpauses otherwise.
    function setPaused(uint256 mode) external {
        bool paused_ = mode % 4 == 0;
        if (paused_ == bond.paused()) return;
        if (paused_) bond.pause();
        else bond.unpause();
        ++succeeded["pause"];
    }
}

contract BondInvariantTest is Fixture {
    uint40 internal constant SHORT_KYC = uint40(ISSUE_DATE + 20 days);

    address internal erin = address(0xE1); // HK professional whose KYC expires 20 days in
    address internal erin2 = address(0xE2); // erin's second wallet

    BondHandler internal handler;
    address[] internal actors;
    address[] internal neverEligible;

    function setUp() public override {
        super.setUp();
        registry.setInvestor(keccak256("erin"), "HK", PROFESSIONAL, SHORT_KYC);
        registry.addWallet(keccak256("erin"), erin);
        registry.addWallet(keccak256("erin"), erin2);

        // Eligible (bob while SG is allowed, erin and erin2 until SHORT_KYC), then never eligible:
        // retail, a disallowed country, unregistered.
        actors = [alice, alice2, bob, erin, erin2, carol, dave, mallory];
        neverEligible = [carol, dave, mallory];

        handler = new BondHandler(bond, registry, actors);
        bond.grantRole(bond.AGENT_ROLE(), address(handler));
        bond.grantRole(bond.MINTER_ROLE(), address(handler));
        bond.grantRole(bond.BURNER_ROLE(), address(handler));
        bond.grantRole(bond.DEFAULT_ADMIN_ROLE(), address(handler));
        targetContract(address(handler));
    }

    // ---------------------------------------------------------------- invariants

    /// (a) Balances of all actors add up to the supply: nothing is held outside them.
    function invariant_actorBalancesSumToTotalSupply() public view {
        uint256 sum;
        for (uint256 i = 0; i < actors.length; ++i) {
            sum += bond.balanceOf(actors[i]);
        }
        assertEq(sum, bond.totalSupply(), "sum of balances");
    }

    /// (b) Supply never exceeds the issue volume.
    function invariant_supplyNeverExceedsTheIssueVolume() public view {
        assertLe(bond.totalSupply() * bond.denomination(), bond.issueVolume(), "issue volume");
    }

    /// (c) No ineligible wallet ever holds or received a bond.
    function invariant_ineligibleWalletsNeverHoldBonds() public view {
        for (uint256 i = 0; i < neverEligible.length; ++i) {
            assertEq(bond.balanceOf(neverEligible[i]), 0, "an ineligible wallet holds bonds");
        }
        assertEq(handler.ghostIneligibleReceipts(), 0, "a wallet received while ineligible");
    }

    /// (d) What was minted minus what was burned is the supply.
    function invariant_ghostMintsMinusBurnsEqualTotalSupply() public view {
        assertEq(handler.ghostMinted() - handler.ghostBurned(), bond.totalSupply(), "mints - burns");
    }

    /// The hook accepts exactly what the rules, worked out independently, allow.
    function invariant_theHookAgreesWithTheRules() public view {
        assertEq(handler.ghostUnexpectedSuccesses(), 0, "a forbidden operation went through");
        assertEq(handler.ghostUnexpectedRefusals(), 0, "an allowed operation was refused");
    }

    // ---------------------------------------------------------------- the handler itself

    /// A fixed walk through the handler, so the invariants above are known not to be vacuous:
    /// each action both succeeds and is refused where it should be.
    function test_handlerExercisesEveryActionAndTracksTheGhosts() public {
        handler.mint(0, 101); // alice (101 % 8 = 5: a small lot of exactly 101)
        handler.mint(2, 11); // bob (11 % 8 = 3: 11)
        handler.mint(5, 3); // carol: refused
        handler.transfer(0, 3, 30); // alice -> erin
        handler.transfer(0, 6, 1); // alice -> dave: refused
        handler.setSingaporeAllowed(false);
        handler.transfer(0, 2, 1); // alice -> bob: refused now
        handler.setSingaporeAllowed(true);
        handler.setFrozen(0, 0); // mode 0: freeze
        handler.recoverWallet(0, 3); // alice -> any actor: actors[1], alice2; the freeze carries over
        handler.forcedTransfer(1, 2, 5); // alice2 (frozen) -> bob
        handler.setPaused(0); // mode 0: pause
        handler.transfer(2, 0, 1); // paused: refused
        handler.burn(2, 1); // paused: refused
        handler.setPaused(1);
        handler.burn(2, 5);
        handler.warp(10 days - 1 hours); // bound() maps x to 1 hour + x
        handler.warp(10 days - 1 hours);
        handler.warp(0); // one hour more: past erin's KYC
        handler.transfer(3, 0, 1); // erin expired: refused
        handler.recoverWallet(3, 2); // erin -> a sibling (walletsOf[1] = erin2): refused, erin2 expired too
        handler.forcedTransfer(3, 0, 30); // erin -> alice: the agent still can

        assertEq(handler.succeeded("mint"), 2, "mints");
        assertEq(handler.succeeded("transfer"), 1, "transfers");
        assertEq(handler.succeeded("recoverWallet"), 1, "recoveries");
        assertEq(handler.succeeded("forcedTransfer"), 2, "forced transfers");
        assertEq(handler.succeeded("burn"), 1, "burns");
        assertEq(bond.balanceOf(alice), 30, "alice");
        assertEq(bond.balanceOf(alice2), 66, "alice2");
        assertEq(bond.balanceOf(bob), 11, "bob");
        assertEq(bond.balanceOf(erin), 0, "erin");
        assertTrue(bond.isFrozen(alice2), "alice2 frozen");
        assertFalse(bond.isFrozen(alice), "alice unfrozen");
        invariant_actorBalancesSumToTotalSupply();
        invariant_supplyNeverExceedsTheIssueVolume();
        invariant_ineligibleWalletsNeverHoldBonds();
        invariant_ghostMintsMinusBurnsEqualTotalSupply();
        invariant_theHookAgreesWithTheRules();
    }
}
