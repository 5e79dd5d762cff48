// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title IERC1404
 * @notice ERC-1404 (simple restricted token): why a transfer would be refused, as a code a
 * generic wallet can turn into a readable message. Code 0 means no restriction.
 */
interface IERC1404 {
    /// @notice The restriction code a transfer of `value` from `from` to `to` would meet now (0: none).
    function detectTransferRestriction(address from, address to, uint256 value) external view returns (uint8);

    /// @notice A readable explanation of `restrictionCode`.
    function messageForTransferRestriction(uint8 restrictionCode) external view returns (string memory);
}
