// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ISecurityToken} from "./ISecurityToken.sol";

/**
 * @title IBondLifecycle
 * @notice What a paying agent needs of a bond: record-date snapshots, its maturity, redemption.
 */
interface IBondLifecycle is ISecurityToken {
    function balanceOf(address account) external view returns (uint256);
    function totalSupply() external view returns (uint256);
    function maturityDate() external view returns (uint256);
    function recordTimes() external view returns (uint64[] memory);
    function openDueSnapshots() external;
    function isSnapshotOpen(uint256 snapshotId) external view returns (bool);
    function balanceOfAt(address account, uint256 snapshotId) external view returns (uint256);
    function totalSupplyAt(uint256 snapshotId) external view returns (uint256);
    function closeSnapshot(uint256 snapshotId) external;
    function burn(address from, uint256 amount) external;
    function startRedemption() external;
    function markRedeemed() external;
}
