// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC7943Fungible} from "./IERC7943.sol";
import {IERC1404} from "./IERC1404.sol";

/**
 * @title TransferReason
 * @notice Reason codes returned by {IERC1404-detectTransferRestriction} and carried by
 * {ISecurityToken-TransferRestricted}. 0 means the transfer may go ahead. The Python layer
 * mirrors this table (ledger/codes.py); keep them in step.
 */
library TransferReason {
    uint8 internal constant OK = 0;
    uint8 internal constant PAUSED = 1;
    uint8 internal constant SENDER_NOT_REGISTERED = 2;
    uint8 internal constant RECEIVER_NOT_REGISTERED = 3;
    uint8 internal constant SENDER_KYC_EXPIRED = 4;
    uint8 internal constant RECEIVER_KYC_EXPIRED = 5;
    uint8 internal constant SENDER_FROZEN = 6;
    uint8 internal constant RECEIVER_FROZEN = 7;
    uint8 internal constant CATEGORY_NOT_ALLOWED = 8;
    uint8 internal constant JURISDICTION_NOT_ALLOWED = 9;
    uint8 internal constant INSUFFICIENT_BALANCE = 10;
    uint8 internal constant SUPPLY_CAP_EXCEEDED = 11;
    uint8 internal constant INSTRUMENT_CLOSED = 12;
    /// @dev Reported for a cash leg short of the buyer's authorization; canTransfer never returns it.
    uint8 internal constant INSUFFICIENT_ALLOWANCE = 13;
    /// @dev The amount is within the sender's balance but beyond what is not frozen (ERC-7943).
    uint8 internal constant INSUFFICIENT_UNFROZEN_BALANCE = 14;
}

/**
 * @title ISecurityToken
 * @notice What every bondledger security token offers besides ERC-20: ERC-7943's compliance
 * checks, frozen amounts and forced transfers, ERC-1404's reason codes and messages, and the
 * cash token it settles in.
 */
interface ISecurityToken is IERC7943Fungible, IERC1404 {
    /// @notice A balance change was refused by the compliance hook, for `reason` ({TransferReason}).
    error TransferRestricted(address from, address to, uint256 amount, uint8 reason);

    /// @notice The cash token (ERC-20) this instrument is priced, issued and paid in.
    function currency() external view returns (address);

    /// @notice The issuer's (or fund's) cash account: receives subscription cash, pays out.
    function treasury() external view returns (address);

    /// @notice Mints `amount` to `to` through the compliance hook.
    function mint(address to, uint256 amount) external;

    /// @notice Moves `amount` from `from` to `to` for a settlement venue, through the compliance hook.
    function settlementTransfer(address from, address to, uint256 amount) external;
}
