// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ISecurityToken} from "./interfaces/ISecurityToken.sol";

/**
 * @title DvPSettlement
 * @notice Delivery versus payment: securities move one way and cash the other in the same
 * transaction, or nothing moves. Investors authorize this contract on their cash token
 * (`approve` or `permit`); security tokens grant it their minter and settlement roles.
 * @dev Investors' cash authorizations are only ever spent on tokens the venue's admin has
 * listed, by a settlement agent of the venue: a contract that merely claims to be a security
 * token cannot pull anyone's cash. Primary issuance: a settlement agent who is also a minter of
 * the (listed) token submits allocations; for each, the investor's cash goes to the token's
 * treasury and the new tokens are minted to the investor. An allocation id settles once per
 * token, so a re-run after a crash cannot issue twice. The contract never holds a balance
 * between the legs.
 */
contract DvPSettlement is AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice May submit settlements (the platform operator).
    bytes32 public constant SETTLEMENT_AGENT_ROLE = keccak256("SETTLEMENT_AGENT_ROLE");

    bytes32 private constant _TOKEN_MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @notice One investor's allocation in a primary issuance.
    struct Allocation {
        bytes32 allocationId; // unique per issuance line, chosen by the issuer
        address investor; // receives the tokens, pays the cash
        uint256 quantity; // tokens
        uint256 cashAmount; // base units of the token's currency
    }

    mapping(address token => bool) private _listed;
    mapping(address token => mapping(bytes32 allocationId => bool)) private _allocationSettled;

    /// @notice A security token was listed on (or removed from) the venue.
    event TokenListed(address indexed token, bool listed);

    /// @notice An allocation settled: `quantity` tokens to `investor` against `cashAmount` to `treasury`.
    event IssuanceSettled(
        bytes32 indexed allocationId,
        address indexed token,
        address indexed investor,
        uint256 quantity,
        address cashToken,
        uint256 cashAmount,
        address treasury
    );

    error NotIssuer(address caller, address token);
    error TokenNotListed(address token);
    error AllocationAlreadySettled(bytes32 allocationId);

    /// @param admin Receives the admin and settlement agent roles.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(SETTLEMENT_AGENT_ROLE, admin);
    }

    /// @notice Lists a security token on the venue (or removes it): only listed tokens settle.
    function setListed(address token, bool listed) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _listed[token] = listed;
        emit TokenListed(token, listed);
    }

    /// @notice Whether `token` may settle on this venue.
    function isListed(address token) external view returns (bool) {
        return _listed[token];
    }

    /**
     * @notice Settles primary allocations of `token`, all or none: each investor's cash moves to
     * the token's treasury and its tokens are minted to it. The token must be listed and the
     * caller must be a settlement agent of the venue and a minter of `token`.
     */
    function settleIssuance(ISecurityToken token, Allocation[] calldata allocations)
        external
        nonReentrant
        onlyRole(SETTLEMENT_AGENT_ROLE)
    {
        if (!_listed[address(token)]) revert TokenNotListed(address(token));
        if (!IAccessControl(address(token)).hasRole(_TOKEN_MINTER_ROLE, msg.sender)) {
            revert NotIssuer(msg.sender, address(token));
        }
        mapping(bytes32 => bool) storage settled = _allocationSettled[address(token)];
        IERC20 cash = IERC20(token.currency());
        address treasury = token.treasury();
        for (uint256 i = 0; i < allocations.length; ++i) {
            Allocation calldata a = allocations[i];
            if (settled[a.allocationId]) revert AllocationAlreadySettled(a.allocationId);
            settled[a.allocationId] = true;
            cash.safeTransferFrom(a.investor, treasury, a.cashAmount);
            token.mint(a.investor, a.quantity);
            emit IssuanceSettled(
                a.allocationId, address(token), a.investor, a.quantity, address(cash), a.cashAmount, treasury
            );
        }
    }

    /// @notice Whether an allocation id of `token` has settled.
    function isAllocationSettled(address token, bytes32 allocationId) external view returns (bool) {
        return _allocationSettled[token][allocationId];
    }
}
