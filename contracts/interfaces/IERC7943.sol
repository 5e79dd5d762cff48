// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";

/**
 * @title IERC7943Fungible
 * @notice ERC-7943 (uRWA), the interface for ERC-20 based real-world-asset tokens, with the names
 * and signatures of the standard's final text. Its ERC-165 interface id is 0x3edbb4c4.
 */
interface IERC7943Fungible is IERC165 {
    /// @notice `amount` tokens were taken from `from` and given to `to` by an enforcement action.
    event ForcedTransfer(address indexed from, address indexed to, uint256 amount);

    /// @notice The frozen amount of `account` changed; `amount` is what is frozen after the change.
    event Frozen(address indexed account, uint256 amount);

    /// @notice `account` may not send tokens.
    error ERC7943CannotSend(address account);

    /// @notice `account` may not receive tokens.
    error ERC7943CannotReceive(address account);

    /// @notice The token's rules do not allow moving `amount` from `from` to `to`.
    error ERC7943CannotTransfer(address from, address to, uint256 amount);

    /// @notice `amount` is within `account`'s balance but beyond its `unfrozen` balance.
    error ERC7943InsufficientUnfrozenBalance(address account, uint256 amount, uint256 unfrozen);

    /// @notice Moves `amount` from `from` to `to` without `from`'s instruction (restricted).
    /// @return result True when done; it reverts otherwise.
    function forcedTransfer(address from, address to, uint256 amount) external returns (bool result);

    /// @notice Sets (overwrites) how many of `account`'s tokens are frozen; may exceed its balance.
    /// @return result True when done; it reverts otherwise.
    function setFrozenTokens(address account, uint256 amount) external returns (bool result);

    /// @notice Whether `account` may send tokens under the token's account rules (KYC, freezes...).
    function canSend(address account) external view returns (bool allowed);

    /// @notice Whether `account` may receive tokens under the token's account rules.
    function canReceive(address account) external view returns (bool allowed);

    /// @notice How many of `account`'s tokens are frozen (may exceed its balance).
    function getFrozenTokens(address account) external view returns (uint256 amount);

    /// @notice Whether moving `amount` from `from` to `to` is allowed now, frozen tokens included.
    function canTransfer(address from, address to, uint256 amount) external view returns (bool allowed);
}
