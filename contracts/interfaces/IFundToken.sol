// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ISecurityToken} from "./ISecurityToken.sol";

/**
 * @title IFundToken
 * @notice What a settlement venue needs of a tokenized ETF to settle creations and redemptions.
 */
interface IFundToken is ISecurityToken {
    /// @notice The latest NAV per unit (cash base units x 10^6) and when it was published.
    function nav() external view returns (uint256 navPerUnit, uint256 publishedAt);

    /// @notice Mints `creationUnits` creation units to `ap`; returns the units and the cash due.
    function mintCreation(address ap, uint256 creationUnits) external returns (uint256 units, uint256 cash);

    /// @notice Burns `creationUnits` creation units of `ap`; returns the units and the cash owed.
    function burnRedemption(address ap, uint256 creationUnits) external returns (uint256 units, uint256 cash);
}
