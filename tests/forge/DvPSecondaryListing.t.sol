// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Vm} from "./Base.sol";
import {Code} from "./SecondaryOracle.sol";
import {SecondaryFixture, PRICE} from "./SecondaryFixture.sol";
import {BondToken} from "../../contracts/BondToken.sol";
import {CashToken} from "../../contracts/CashToken.sol";
import {DvPSettlement} from "../../contracts/DvPSettlement.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @dev The venue's two lists: a security token must be listed as a security and a cash token
/// as cash, and only the admin lists, on either.
contract DvPSecondaryListingTest is SecondaryFixture {
    /// A security token must be listed as a security: another bond, or the venue's own bond once
    /// delisted, is refused, and so is either of them listed as cash only.
    function test_anUnlistedSecurityTokenIsRefused() public {
        BondToken other = deployBond(address(this));
        other.mint(seller, 10);
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 1);
        ins.securityToken = address(other);
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        assertRefused(ins, sellerSig, buyerSig, Code.TOKEN_NOT_LISTED, 0);
        dvp.setCashListed(address(other), true); // the wrong list
        assertTrue(dvp.isCashListed(address(other)) && !dvp.isListed(address(other)), "listed as cash only");
        assertRefused(ins, sellerSig, buyerSig, Code.TOKEN_NOT_LISTED, 0);
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.TokenListed(address(other), true);
        dvp.setListed(address(other), true);
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(other.balanceOf(buyer), 1, "listed as a security, it settles");

        DvPSettlement.Instruction memory inBond = trade(seller, buyer, 1);
        (sellerSig, buyerSig) = signBoth(inBond);
        dvp.setListed(address(bond), false);
        assertRefused(inBond, sellerSig, buyerSig, Code.TOKEN_NOT_LISTED, 0);
        dvp.setCashListed(address(bond), true);
        assertRefused(inBond, sellerSig, buyerSig, Code.TOKEN_NOT_LISTED, 0);
        dvp.setListed(address(bond), true);
        dvp.settle(inBond, sellerSig, buyerSig);
        assertEq(bond.balanceOf(buyer), BONDS + 1, "relisted as a security, the bond settles again");
    }

    function test_anUnlistedCashTokenIsRefused() public {
        CashToken usd = new CashToken("USD", "Tokenized USD", address(this));
        usd.mint(buyer, 1_000_00);
        vm.prank(buyer);
        usd.approve(address(dvp), type(uint256).max);
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 10);
        ins.cashToken = address(usd);
        ins.cashAmount = 1_00;
        (bytes memory sellerSig, bytes memory buyerSig) = signBoth(ins);
        assertRefused(ins, sellerSig, buyerSig, Code.TOKEN_NOT_LISTED, 0);

        // Only the admin lists, on either list: not the parties, a stranger or a settlement agent.
        bytes32 adminRole = dvp.DEFAULT_ADMIN_ROLE();
        address agent = address(0xA6E);
        dvp.grantRole(dvp.SETTLEMENT_AGENT_ROLE(), agent);
        address[4] memory others = [seller, buyer, stranger, agent];
        for (uint256 i = 0; i < others.length; ++i) {
            vm.prank(others[i]);
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, others[i], adminRole)
            );
            dvp.setCashListed(address(usd), true);
            vm.prank(others[i]);
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, others[i], adminRole)
            );
            dvp.setListed(address(usd), true);
            vm.prank(others[i]);
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, others[i], adminRole)
            );
            dvp.setCashListed(address(hkd), false);
        }
        assertFalse(dvp.isCashListed(address(usd)) || dvp.isListed(address(usd)), "still unlisted");
        assertTrue(dvp.isCashListed(address(hkd)), "HKD still listed");
        assertRefused(ins, sellerSig, buyerSig, Code.TOKEN_NOT_LISTED, 0);

        // Listed as a security, it still may not pay: the lists are separate.
        vm.recordLogs();
        dvp.setListed(address(usd), true);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "one event");
        assertEq(logs[0].topics[0], DvPSettlement.TokenListed.selector, "TokenListed");
        assertTrue(dvp.isListed(address(usd)) && !dvp.isCashListed(address(usd)), "a security, not cash");
        assertRefused(ins, sellerSig, buyerSig, Code.TOKEN_NOT_LISTED, 0);
        dvp.setListed(address(usd), false);

        // Once the admin lists a second cash token, a trade may settle in it (the venue does not
        // tie the cash leg to the bond's own currency).
        vm.recordLogs();
        dvp.setCashListed(address(usd), true);
        logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "one event");
        assertEq(logs[0].emitter, address(dvp), "from the venue");
        assertEq(logs[0].topics[0], DvPSettlement.CashTokenListed.selector, "CashTokenListed, not TokenListed");
        assertEq(logs[0].topics[1], bytes32(uint256(uint160(address(usd)))), "the token");
        assertEq(abi.decode(logs[0].data, (bool)), true, "listed");
        assertTrue(dvp.isCashListed(address(usd)) && !dvp.isListed(address(usd)), "cash, not a security");
        dvp.settle(ins, sellerSig, buyerSig);
        assertEq(bond.balanceOf(buyer), BONDS + 10, "delivered");
        assertEq(usd.balanceOf(seller), 1_00, "paid in the newly listed USD");
        assertEq(bond.currency(), address(hkd), "though the bond is priced in HKD");

        // Delisting the venue's HKD as a security changes nothing (it never was one); delisting it
        // as cash stops HKD trades, listing it as a security instead does not restart them, and
        // relisting it as cash lets the same one settle.
        DvPSettlement.Instruction memory inHkd = trade(seller, buyer, 2);
        (sellerSig, buyerSig) = signBoth(inHkd);
        dvp.setListed(address(hkd), false);
        assertTrue(dvp.isCashListed(address(hkd)), "still cash");
        vm.expectEmit(true, true, true, true, address(dvp));
        emit DvPSettlement.CashTokenListed(address(hkd), false);
        dvp.setCashListed(address(hkd), false);
        assertRefused(inHkd, sellerSig, buyerSig, Code.TOKEN_NOT_LISTED, 0);
        dvp.setListed(address(hkd), true);
        assertRefused(inHkd, sellerSig, buyerSig, Code.TOKEN_NOT_LISTED, 0);
        dvp.setListed(address(hkd), false);
        dvp.setCashListed(address(hkd), true);
        dvp.settle(inHkd, sellerSig, buyerSig);
        assertEq(hkd.balanceOf(seller), CASH + 2 * PRICE, "settled in HKD again");
    }

    /// The lists are separate, so a cash token cannot be named as the security, nor the bond as
    /// cash. Only if the admin lists a cash token as a security as well does the venue try it,
    /// and then it has no settlementTransfer: the security leg fails with no token reason.
    function test_aCashTokenCannotBeNamedAsTheSecurityNorTheBondAsCash() public {
        DvPSettlement.Instruction memory ins = trade(seller, buyer, 1);
        ins.securityToken = address(hkd);
        assertRefused(ins, Code.TOKEN_NOT_LISTED, 0);
        DvPSettlement.Instruction memory paidInBonds = trade(seller, buyer, 1);
        paidInBonds.cashToken = address(bond);
        paidInBonds.cashAmount = 1;
        assertRefused(paidInBonds, Code.TOKEN_NOT_LISTED, 0);
        DvPSettlement.Instruction memory swapped = trade(seller, buyer, 1);
        (swapped.securityToken, swapped.cashToken) = (address(hkd), address(bond));
        assertRefused(swapped, Code.TOKEN_NOT_LISTED, 0);

        dvp.setListed(address(hkd), true); // the admin's deliberate act
        assertRefused(ins, Code.SECURITY_LEG_REFUSED, 0);
    }
}
