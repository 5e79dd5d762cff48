// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "./Fixture.sol";
import {DvPSettlement} from "../../contracts/DvPSettlement.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

contract CashTokenTest is Fixture {
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    uint256 internal constant OWNER_KEY = 0xB0E1D0; // a test-only private key
    uint256 internal constant OTHER_KEY = 0x0DD;
    address internal owner;

    function setUp() public override {
        super.setUp();
        owner = vm.addr(OWNER_KEY);
        hkd.mint(owner, 1_000_00);
    }

    function signPermit(uint256 key, address holder, address spender, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (uint8 v, bytes32 r, bytes32 s)
    {
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, holder, spender, value, nonce, deadline));
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", hkd.DOMAIN_SEPARATOR(), structHash));
        return vm.sign(key, digest);
    }

    // ---------------------------------------------------------------- metadata

    function test_countsInCentsWithTwoDecimals() public view {
        assertEq(uint256(hkd.decimals()), 2, "decimals");
        assertEq(hkd.currencyCode(), "HKD", "currencyCode");
        assertEq(hkd.symbol(), "HKD", "the code is also the symbol");
        assertEq(hkd.name(), "Tokenized HKD", "name");
    }

    function test_theDomainSeparatorIsBuiltFromTheNameAndChain() public view {
        bytes32 expected = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Tokenized HKD"),
                keccak256("1"),
                block.chainid,
                address(hkd)
            )
        );
        assertEq(hkd.DOMAIN_SEPARATOR(), expected, "EIP-712 domain");
    }

    // ---------------------------------------------------------------- supply

    function test_theAdminMints() public {
        hkd.mint(alice, 123_45);
        assertEq(hkd.balanceOf(alice), 123_45, "balance");
        assertEq(hkd.totalSupply(), 1_000_00 + 123_45, "supply");
    }

    function test_onlyMintersMint() public {
        bytes32 minter = hkd.MINTER_ROLE();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, minter));
        hkd.mint(alice, 1);

        hkd.grantRole(minter, alice);
        vm.prank(alice);
        hkd.mint(bob, 1);
        assertEq(hkd.balanceOf(bob), 1, "a granted minter mints");

        hkd.revokeRole(minter, alice);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, minter));
        hkd.mint(bob, 1);
    }

    function test_holdersBurnTheirOwnCash() public {
        vm.prank(owner);
        hkd.burn(400_00);
        assertEq(hkd.balanceOf(owner), 600_00, "balance");
        assertEq(hkd.totalSupply(), 600_00, "supply");
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, owner, 600_00, 600_01));
        hkd.burn(600_01);
    }

    function test_cashIsNotPermissioned() public {
        // Unlike the bond, cash moves between anyone, registered or not.
        vm.prank(owner);
        hkd.transfer(mallory, 10_00);
        vm.prank(mallory);
        hkd.transfer(carol, 10_00);
        assertEq(hkd.balanceOf(carol), 10_00, "carol");
    }

    // ---------------------------------------------------------------- ERC-2612 permit

    function test_permitSetsAnAllowanceFromASignature() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(OWNER_KEY, owner, address(dvp), 250_00, 0, deadline);
        assertEq(hkd.nonces(owner), 0, "nonce before");

        vm.prank(mallory); // anyone may relay the signature
        hkd.permit(owner, address(dvp), 250_00, deadline, v, r, s);

        assertEq(hkd.allowance(owner, address(dvp)), 250_00, "allowance");
        assertEq(hkd.nonces(owner), 1, "nonce consumed");
    }

    function test_aPermittedVenueSettlesWithoutAnApproveTransaction() public {
        bytes32 investorId = keccak256("owner");
        registry.setInvestor(investorId, "HK", PROFESSIONAL, KYC_EXPIRY);
        registry.addWallet(investorId, owner);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(OWNER_KEY, owner, address(dvp), 1_000_00, 0, deadline);
        hkd.permit(owner, address(dvp), 1_000_00, deadline, v, r, s);

        DvPSettlement.Allocation[] memory list = new DvPSettlement.Allocation[](1);
        list[0] = DvPSettlement.Allocation(keccak256("O-1"), owner, 2, 1_000_00);
        dvp.settleIssuance(bond, list);
        assertEq(bond.balanceOf(owner), 2, "bonds");
        assertEq(hkd.balanceOf(issuer), 1_000_00, "cash");
        assertEq(hkd.allowance(owner, address(dvp)), 0, "allowance spent");
    }

    function test_aPermitCannotBeReplayed() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(OWNER_KEY, owner, address(dvp), 250_00, 0, deadline);
        hkd.permit(owner, address(dvp), 250_00, deadline, v, r, s);
        // The nonce moved on, so the same signature now recovers some other address.
        vm.expectPartialRevert(ERC20Permit.ERC2612InvalidSigner.selector);
        hkd.permit(owner, address(dvp), 250_00, deadline, v, r, s);
    }

    function test_aPermitSignedByAnotherKeyIsRefused() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(OTHER_KEY, owner, address(dvp), 250_00, 0, deadline);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, vm.addr(OTHER_KEY), owner));
        hkd.permit(owner, address(dvp), 250_00, deadline, v, r, s);
        assertEq(hkd.allowance(owner, address(dvp)), 0, "no allowance");
    }

    function test_aPermitForOtherTermsIsRefused() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(OWNER_KEY, owner, address(dvp), 250_00, 0, deadline);
        vm.expectPartialRevert(ERC20Permit.ERC2612InvalidSigner.selector);
        hkd.permit(owner, address(dvp), 250_01, deadline, v, r, s); // a larger value
        vm.expectPartialRevert(ERC20Permit.ERC2612InvalidSigner.selector);
        hkd.permit(owner, mallory, 250_00, deadline, v, r, s); // another spender
    }

    function test_anExpiredPermitIsRefused() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(OWNER_KEY, owner, address(dvp), 250_00, 0, deadline);
        vm.warp(deadline);
        hkd.permit(owner, address(dvp), 250_00, deadline, v, r, s); // valid up to and including the deadline
        (v, r, s) = signPermit(OWNER_KEY, owner, address(dvp), 1, 1, deadline);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612ExpiredSignature.selector, deadline));
        hkd.permit(owner, address(dvp), 1, deadline, v, r, s);
    }
}
