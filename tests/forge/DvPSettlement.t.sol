// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "./Fixture.sol";
import {BondToken} from "../../contracts/BondToken.sol";
import {DvPSettlement} from "../../contracts/DvPSettlement.sol";
import {ISecurityToken, TransferReason} from "../../contracts/interfaces/ISecurityToken.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

/// @dev Anyone can deploy this: it answers the three questions settleIssuance asks of a token
/// the way an attacker likes and mints nothing.
contract FakeSecurityToken {
    address public currency;
    address public treasury;

    constructor(address currency_, address treasury_) {
        currency = currency_;
        treasury = treasury_;
    }

    function hasRole(bytes32, address) external pure returns (bool) {
        return true;
    }

    function mint(address, uint256) external {}
}

contract DvPSettlementTest is Fixture {
    uint256 internal constant PRICE = 50_125_00; // HK$50,125 per bond (100.25), in cents
    uint256 internal constant FUNDS = 10_000_000_00; // HK$10m each

    address[] internal parties;

    function setUp() public override {
        super.setUp();
        parties = [alice, alice2, bob, carol, dave, mallory, issuer, address(dvp), address(this)];
        for (uint256 i = 0; i < 6; ++i) {
            // Investors (eligible or not) hold cash and approve the venue; the issuer starts empty.
            hkd.mint(parties[i], FUNDS);
            vm.prank(parties[i]);
            hkd.approve(address(dvp), type(uint256).max);
        }
    }

    // ---------------------------------------------------------------- helpers

    function allocation(string memory id, address investor, uint256 quantity)
        internal
        pure
        returns (DvPSettlement.Allocation memory)
    {
        return DvPSettlement.Allocation(keccak256(bytes(id)), investor, quantity, quantity * PRICE);
    }

    function batch(DvPSettlement.Allocation memory a, DvPSettlement.Allocation memory b)
        internal
        pure
        returns (DvPSettlement.Allocation[] memory list)
    {
        list = new DvPSettlement.Allocation[](2);
        list[0] = a;
        list[1] = b;
    }

    function batch(
        DvPSettlement.Allocation memory a,
        DvPSettlement.Allocation memory b,
        DvPSettlement.Allocation memory c
    ) internal pure returns (DvPSettlement.Allocation[] memory list) {
        list = new DvPSettlement.Allocation[](3);
        list[0] = a;
        list[1] = b;
        list[2] = c;
    }

    /// Every party's cash and bond balance, the bond supply.
    function snapshot() internal view returns (uint256[] memory s) {
        s = new uint256[](2 * parties.length + 1);
        for (uint256 i = 0; i < parties.length; ++i) {
            s[2 * i] = hkd.balanceOf(parties[i]);
            s[2 * i + 1] = bond.balanceOf(parties[i]);
        }
        s[2 * parties.length] = bond.totalSupply();
    }

    function assertNothingMoved(uint256[] memory before, DvPSettlement.Allocation[] memory list) internal view {
        uint256[] memory afterwards = snapshot();
        for (uint256 i = 0; i < before.length; ++i) {
            assertEq(afterwards[i], before[i], "a balance or the supply changed");
        }
        for (uint256 i = 0; i < list.length; ++i) {
            assertFalse(dvp.isAllocationSettled(address(bond), list[i].allocationId), "allocation marked settled");
        }
    }

    /// The revert data of the bond refusing to mint `amount` to `to` for `reason`.
    function restricted(address to, uint256 amount, uint8 reason) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISecurityToken.TransferRestricted.selector, address(0), to, amount, reason);
    }

    /// Settling `list` reverts with `err` as a whole: no balance, supply or allocation changes.
    function assertBatchRefused(DvPSettlement.Allocation[] memory list, bytes memory err) internal {
        uint256[] memory before = snapshot();
        vm.expectRevert(err);
        dvp.settleIssuance(bond, list);
        assertNothingMoved(before, list);
    }

    function sumOfCash() internal view returns (uint256 sum) {
        for (uint256 i = 0; i < parties.length; ++i) {
            sum += hkd.balanceOf(parties[i]);
        }
    }

    // ---------------------------------------------------------------- primary issuance

    function test_aBatchSettlesBothLegsAndEmitsIssuanceSettled() public {
        DvPSettlement.Allocation[] memory list =
            batch(allocation("A-1", alice, 100), allocation("B-1", bob, 40), allocation("A-2", alice2, 7));
        for (uint256 i = 0; i < list.length; ++i) {
            vm.expectEmit(true, true, true, true, address(dvp));
            emit DvPSettlement.IssuanceSettled(
                list[i].allocationId,
                address(bond),
                list[i].investor,
                list[i].quantity,
                address(hkd),
                list[i].cashAmount,
                issuer
            );
        }
        dvp.settleIssuance(bond, list);

        assertEq(bond.balanceOf(alice), 100, "alice's bonds");
        assertEq(bond.balanceOf(bob), 40, "bob's bonds");
        assertEq(bond.balanceOf(alice2), 7, "alice2's bonds");
        assertEq(bond.totalSupply(), 147, "supply");
        assertEq(hkd.balanceOf(alice), FUNDS - 100 * PRICE, "alice paid");
        assertEq(hkd.balanceOf(bob), FUNDS - 40 * PRICE, "bob paid");
        assertEq(hkd.balanceOf(alice2), FUNDS - 7 * PRICE, "alice2 paid");
        assertEq(bond.treasury(), issuer, "treasury is the issuer");
        assertEq(hkd.balanceOf(issuer), 147 * PRICE, "the treasury received the cash");
        assertEq(hkd.balanceOf(address(dvp)), 0, "the venue holds no cash");
        assertEq(bond.balanceOf(address(dvp)), 0, "the venue holds no bonds");
        for (uint256 i = 0; i < list.length; ++i) {
            assertTrue(dvp.isAllocationSettled(address(bond), list[i].allocationId), "settled");
        }
    }

    function test_cashGoesToTheTreasuryTheTokenNamesAtSettlement() public {
        address treasury = address(0x7EA5);
        bond.setTreasury(treasury);
        dvp.settleIssuance(bond, batch(allocation("A-1", alice, 10), allocation("B-1", bob, 1)));
        assertEq(hkd.balanceOf(treasury), 11 * PRICE, "new treasury");
        assertEq(hkd.balanceOf(issuer), 0, "issuer's own wallet untouched");
    }

    function test_anySettlementAgentWhoMintsTheTokenMaySettle() public {
        address agent = address(0xA6E);
        bond.grantRole(bond.MINTER_ROLE(), agent);
        dvp.grantRole(dvp.SETTLEMENT_AGENT_ROLE(), agent);
        vm.prank(agent);
        dvp.settleIssuance(bond, batch(allocation("A-1", alice, 10), allocation("B-1", bob, 1)));
        assertEq(bond.totalSupply(), 11, "settled by a granted minter");
    }

    function test_anEmptyBatchSettlesNothing() public {
        uint256[] memory before = snapshot();
        dvp.settleIssuance(bond, new DvPSettlement.Allocation[](0));
        assertNothingMoved(before, new DvPSettlement.Allocation[](0));
    }

    function test_aRetailInvestorInTheBatchRevertsTheWholeBatch() public {
        DvPSettlement.Allocation[] memory list =
            batch(allocation("A-1", alice, 100), allocation("C-1", carol, 1), allocation("B-1", bob, 40));
        assertBatchRefused(list, restricted(carol, 1, TransferReason.CATEGORY_NOT_ALLOWED));
    }

    function test_anUnregisteredInvestorInTheBatchRevertsTheWholeBatch() public {
        DvPSettlement.Allocation[] memory list =
            batch(allocation("A-1", alice, 100), allocation("B-1", bob, 40), allocation("M-1", mallory, 3));
        assertBatchRefused(list, restricted(mallory, 3, TransferReason.RECEIVER_NOT_REGISTERED));
    }

    function test_aDisallowedJurisdictionInTheBatchRevertsTheWholeBatch() public {
        DvPSettlement.Allocation[] memory list = batch(allocation("A-1", alice, 100), allocation("D-1", dave, 5));
        assertBatchRefused(list, restricted(dave, 5, TransferReason.JURISDICTION_NOT_ALLOWED));
    }

    function test_anExpiredKycInTheBatchRevertsTheWholeBatch() public {
        registry.setInvestor(keccak256("bob"), "SG", PROFESSIONAL, uint40(block.timestamp));
        DvPSettlement.Allocation[] memory list = batch(allocation("A-1", alice, 100), allocation("B-1", bob, 40));
        assertBatchRefused(list, restricted(bob, 40, TransferReason.RECEIVER_KYC_EXPIRED));
    }

    function test_aFrozenInvestorInTheBatchRevertsTheWholeBatch() public {
        bond.setAddressFrozen(bob, true);
        DvPSettlement.Allocation[] memory list = batch(allocation("A-1", alice, 100), allocation("B-1", bob, 40));
        assertBatchRefused(list, restricted(bob, 40, TransferReason.RECEIVER_FROZEN));
    }

    function test_aMissingAllowanceRevertsTheWholeBatch() public {
        vm.prank(bob);
        hkd.approve(address(dvp), 40 * PRICE - 1);
        DvPSettlement.Allocation[] memory list = batch(allocation("A-1", alice, 100), allocation("B-1", bob, 40));
        assertBatchRefused(
            list,
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(dvp), 40 * PRICE - 1, 40 * PRICE
            )
        );
    }

    function test_missingCashRevertsTheWholeBatch() public {
        uint256 quantity = FUNDS / PRICE + 1;
        DvPSettlement.Allocation[] memory list = batch(allocation("B-1", bob, 40), allocation("A-1", alice, quantity));
        assertBatchRefused(
            list, abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, alice, FUNDS, quantity * PRICE)
        );
    }

    function test_aBatchPastTheIssueVolumeRevertsWhole() public {
        uint256 cap = ISSUE_VOLUME / DENOMINATION;
        DvPSettlement.Allocation[] memory list =
            batch(allocation("B-1", bob, 1), DvPSettlement.Allocation(keccak256("A-1"), alice, cap, 0));
        assertBatchRefused(list, restricted(alice, cap, TransferReason.SUPPLY_CAP_EXCEEDED));
    }

    function test_aPausedTokenRefusesIssuance() public {
        bond.pause();
        DvPSettlement.Allocation[] memory list = batch(allocation("A-1", alice, 100), allocation("B-1", bob, 40));
        assertBatchRefused(list, restricted(alice, 100, TransferReason.PAUSED));
    }

    function test_anAllocationIdSettlesOnce() public {
        dvp.settleIssuance(bond, batch(allocation("A-1", alice, 100), allocation("B-1", bob, 40)));
        uint256[] memory before = snapshot();

        DvPSettlement.Allocation[] memory rerun = batch(allocation("A-2", alice, 1), allocation("B-1", bob, 40));
        vm.expectRevert(abi.encodeWithSelector(DvPSettlement.AllocationAlreadySettled.selector, keccak256("B-1")));
        dvp.settleIssuance(bond, rerun);
        assertFalse(dvp.isAllocationSettled(address(bond), keccak256("A-2")), "the fresh line did not settle either");
        uint256[] memory afterwards = snapshot();
        for (uint256 i = 0; i < before.length; ++i) {
            assertEq(afterwards[i], before[i], "nothing moved on the re-run");
        }
    }

    function test_anAllocationIdTwiceInOneBatchRevertsTheBatch() public {
        DvPSettlement.Allocation[] memory list = batch(allocation("A-1", alice, 100), allocation("A-1", bob, 40));
        assertBatchRefused(
            list, abi.encodeWithSelector(DvPSettlement.AllocationAlreadySettled.selector, keccak256("A-1"))
        );
    }

    function test_aCallerWithoutTheVenuesAgentRoleCannotSettle() public {
        DvPSettlement.Allocation[] memory list = batch(allocation("A-1", alice, 100), allocation("B-1", bob, 40));
        uint256[] memory before = snapshot();
        bytes32 agentRole = dvp.SETTLEMENT_AGENT_ROLE();
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, agentRole)
        );
        dvp.settleIssuance(bond, list);
        assertNothingMoved(before, list);
    }

    function test_aSettlementAgentWithoutTheTokensMinterRoleIsNotIssuer() public {
        DvPSettlement.Allocation[] memory list = batch(allocation("A-1", alice, 100), allocation("B-1", bob, 40));
        uint256[] memory before = snapshot();
        // Neither the DvP's agent and admin roles nor the token's agent and admin roles are enough.
        address agent = address(0xA6E);
        bond.grantRole(bond.AGENT_ROLE(), agent);
        bond.grantRole(bond.DEFAULT_ADMIN_ROLE(), agent);
        dvp.grantRole(dvp.DEFAULT_ADMIN_ROLE(), agent);
        dvp.grantRole(dvp.SETTLEMENT_AGENT_ROLE(), agent);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(DvPSettlement.NotIssuer.selector, agent, address(bond)));
        dvp.settleIssuance(bond, list);
        assertNothingMoved(before, list);
    }

    // ---------------------------------------------------------------- what the venue refuses

    /// A contract that claims to be a security token (the caller is its "minter", the victims'
    /// cash its currency, the attacker its treasury) cannot pull anyone's authorized cash.
    function test_nobodyDrainsAuthorizedCashThroughAFakeToken() public {
        FakeSecurityToken fake = new FakeSecurityToken(address(hkd), mallory);
        DvPSettlement.Allocation[] memory list = new DvPSettlement.Allocation[](2);
        list[0] = DvPSettlement.Allocation(keccak256("x-1"), alice, 0, FUNDS);
        list[1] = DvPSettlement.Allocation(keccak256("x-2"), bob, 0, FUNDS);

        bytes32 agentRole = dvp.SETTLEMENT_AGENT_ROLE();
        vm.prank(mallory);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, mallory, agentRole)
        );
        dvp.settleIssuance(ISecurityToken(address(fake)), list);

        // Even the venue's own agent cannot settle a token the venue has not listed.
        vm.expectRevert(abi.encodeWithSelector(DvPSettlement.TokenNotListed.selector, address(fake)));
        dvp.settleIssuance(ISecurityToken(address(fake)), list);
        assertEq(hkd.balanceOf(alice), FUNDS, "alice keeps her cash");
        assertEq(hkd.balanceOf(bob), FUNDS, "bob keeps his cash");
    }

    function test_onlyTheAdminListsTokensAndDelistingStopsSettlement() public {
        bytes32 adminRole = dvp.DEFAULT_ADMIN_ROLE();
        vm.prank(mallory);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, mallory, adminRole)
        );
        dvp.setListed(mallory, true);
        dvp.setListed(address(bond), false);
        assertFalse(dvp.isListed(address(bond)), "delisted");
        vm.expectRevert(abi.encodeWithSelector(DvPSettlement.TokenNotListed.selector, address(bond)));
        dvp.settleIssuance(bond, batch(allocation("A-1", alice, 100), allocation("B-1", bob, 40)));
    }

    /// Primary issuance pays only in a listed cash token: delisting a (say, compromised) cash token
    /// stops the venue spending authorizations on it.
    function test_primaryIssuanceRefusesACurrencyDelistedAsCash() public {
        dvp.setCashListed(address(hkd), false);
        DvPSettlement.Allocation[] memory list = batch(allocation("A-1", alice, 100), allocation("B-1", bob, 40));
        assertBatchRefused(list, abi.encodeWithSelector(DvPSettlement.TokenNotListed.selector, address(hkd)));
    }

    /// Allocation ids are kept per token: another token's allocations cannot squat a bond's ids.
    function test_allocationIdsArePerToken() public {
        BondToken other = deployBond(address(this));
        dvp.setListed(address(other), true);
        dvp.settleIssuance(other, batch(allocation("A-1", alice, 1), allocation("B-1", bob, 1)));
        dvp.settleIssuance(bond, batch(allocation("A-1", alice, 100), allocation("B-1", bob, 40)));
        assertTrue(dvp.isAllocationSettled(address(bond), keccak256("A-1")), "bond's A-1");
        assertTrue(dvp.isAllocationSettled(address(other), keccak256("A-1")), "other's A-1");
        assertEq(bond.totalSupply(), 140, "bond fully issued");
    }

    function test_noIssuanceSettlesAtOrAfterMaturity() public {
        vm.warp(MATURITY_DATE);
        DvPSettlement.Allocation[] memory list = batch(allocation("A-1", alice, 100), allocation("B-1", bob, 40));
        assertBatchRefused(
            list,
            abi.encodeWithSelector(
                ISecurityToken.TransferRestricted.selector, address(0), alice, 100, TransferReason.INSTRUMENT_CLOSED
            )
        );
    }

    // ---------------------------------------------------------------- fuzz

    /// Cash is only moved, never created or lost, and supply equals what was allocated.
    function testFuzz_issuanceConservesCashAndMintsExactlyTheAllocations(
        uint256[3] memory quantities,
        uint256[3] memory cashAmounts,
        uint8 treasuryIndex
    ) public {
        address[3] memory investors = [alice, alice2, bob];
        // The treasury may be an outside wallet, the issuer, or one of the investors.
        address[3] memory treasuries = [address(0x7EA5), issuer, alice];
        address treasury = treasuries[treasuryIndex % 3];
        bond.setTreasury(treasury);
        parties.push(address(0x7EA5));

        DvPSettlement.Allocation[] memory list = new DvPSettlement.Allocation[](3);
        uint256 minted;
        uint256 paid;
        uint256 cap = ISSUE_VOLUME / DENOMINATION;
        for (uint256 i = 0; i < 3; ++i) {
            uint256 quantity = bound(quantities[i], 0, cap / 3);
            uint256 cash = bound(cashAmounts[i], 0, FUNDS);
            list[i] = DvPSettlement.Allocation(bytes32(i + 1), investors[i], quantity, cash);
            minted += quantity;
            paid += cash;
        }
        uint256 cashBefore = sumOfCash();
        uint256 treasuryBefore = hkd.balanceOf(treasury);
        uint256 paidByTreasury = treasury == alice ? list[0].cashAmount : 0;

        dvp.settleIssuance(bond, list);

        assertEq(sumOfCash(), cashBefore, "cash conserved");
        assertEq(hkd.totalSupply(), cashBefore, "no cash minted or burned");
        assertEq(hkd.balanceOf(treasury), treasuryBefore + paid - paidByTreasury, "treasury received the cash");
        assertEq(bond.totalSupply(), minted, "supply is the sum of allocations");
        assertEq(bond.balanceOf(alice) + bond.balanceOf(alice2) + bond.balanceOf(bob), minted, "all to investors");
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(bond.balanceOf(investors[i]), list[i].quantity, "each investor got its quantity");
        }
        assertEq(hkd.balanceOf(address(dvp)), 0, "the venue holds no cash");
    }
}
