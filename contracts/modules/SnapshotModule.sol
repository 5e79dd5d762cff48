// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {TokenBase} from "./TokenBase.sol";

/**
 * @title SnapshotModule
 * @notice Record-time snapshots: a token may carry a schedule of record times (a bond's coupon
 * record dates). When one passes, a snapshot opens by itself (on the next balance change, or on
 * {openDueSnapshots}); from then on the first change of each balance records what it was, so
 * {balanceOfAt} answers the holding at the record time however the token moves afterwards. A
 * paying agent closes a snapshot once it has paid on it; while none is open, transfers pay
 * nothing for the feature.
 * @dev The next record time and the count of open snapshots sit in the hot slot.
 */
abstract contract SnapshotModule is TokenBase {
    using Checkpoints for Checkpoints.Trace208;

    /// @notice The most record times (snapshots) an instrument can have.
    uint256 public constant MAX_RECORD_TIMES = type(uint8).max;

    /// @custom:storage-location erc7201:bondledger.storage.SecurityTokenSnapshot
    struct SnapshotStorage {
        uint64[] recordTimes;
        uint256 snapshotCount; // snapshots opened: snapshot k is record time k - 1
        mapping(uint256 snapshotId => bool) snapshotClosed;
        mapping(address account => Checkpoints.Trace208) balanceCheckpoints;
        Checkpoints.Trace208 supplyCheckpoints;
    }

    // keccak256(abi.encode(uint256(keccak256("bondledger.storage.SecurityTokenSnapshot")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant _SLOT = 0x24d00388e3ab6ced37b3f0f6356272cdb50bf067c5428bd21fb3c9eb32cd4100;

    /// @notice A record time passed: holdings as of `recordTime` are kept as snapshot `snapshotId`.
    event SnapshotOpened(uint256 indexed snapshotId, uint256 recordTime);
    /// @notice A paying agent has paid on a snapshot and released it.
    event SnapshotClosed(uint256 indexed snapshotId);

    error RecordTimesNotAscending();
    error TooManyRecordTimes(uint256 count, uint256 max);
    error SnapshotNotOpen(uint256 snapshotId);

    /// @notice Opens the snapshots of every record time that has passed (anyone may; idempotent).
    function openDueSnapshots() external {
        if (block.timestamp >= _hot().nextRecordTime) _openDueSnapshots();
    }

    /// @notice Releases a snapshot the paying agent has paid on: it answers no more queries.
    function closeSnapshot(uint256 snapshotId) external onlyRole(PAYING_AGENT_ROLE) {
        SnapshotStorage storage $ = _snapshots();
        if (snapshotId == 0 || snapshotId > $.snapshotCount || $.snapshotClosed[snapshotId]) {
            revert SnapshotNotOpen(snapshotId);
        }
        $.snapshotClosed[snapshotId] = true;
        --_hot().openSnapshots;
        emit SnapshotClosed(snapshotId);
    }

    /// @notice `account`'s balance at the record time of snapshot `snapshotId` (open, or due).
    function balanceOfAt(address account, uint256 snapshotId) external view returns (uint256) {
        _requireQueryable(snapshotId);
        (bool found, uint256 value) = _lookup(_snapshots().balanceCheckpoints[account], snapshotId);
        return found ? value : balanceOf(account);
    }

    /// @notice The total supply at the record time of snapshot `snapshotId` (open, or due).
    function totalSupplyAt(uint256 snapshotId) external view returns (uint256) {
        _requireQueryable(snapshotId);
        (bool found, uint256 value) = _lookup(_snapshots().supplyCheckpoints, snapshotId);
        return found ? value : totalSupply();
    }

    /// @notice The record times, in order: snapshot k is record time k - 1.
    function recordTimes() external view returns (uint64[] memory) {
        return _snapshots().recordTimes;
    }

    /// @notice How many snapshots have opened.
    function snapshotCount() external view returns (uint256) {
        return _snapshots().snapshotCount;
    }

    /// @notice Whether snapshot `snapshotId` answers queries: its record time has passed and no
    /// paying agent has closed it.
    function isSnapshotOpen(uint256 snapshotId) public view returns (bool) {
        SnapshotStorage storage $ = _snapshots();
        return snapshotId != 0 && snapshotId <= $.recordTimes.length
            && block.timestamp >= $.recordTimes[snapshotId - 1] && !$.snapshotClosed[snapshotId];
    }

    /// @dev Sets the schedule (at deployment): ascending, at most {MAX_RECORD_TIMES}. Every record
    /// time can be open at once (none closed yet): the uint8 count of open snapshots must hold
    /// them all, or opening one more would revert every balance change.
    function _setRecordTimes(uint64[] memory times) internal {
        if (times.length > MAX_RECORD_TIMES) revert TooManyRecordTimes(times.length, MAX_RECORD_TIMES);
        for (uint256 i = 1; i < times.length; ++i) {
            if (times[i] <= times[i - 1]) revert RecordTimesNotAscending();
        }
        _snapshots().recordTimes = times;
        _hot().nextRecordTime = times.length > 0 ? uint40(times[0]) : type(uint40).max;
    }

    function _openDueSnapshots() internal {
        SnapshotStorage storage $ = _snapshots();
        uint256 count = $.snapshotCount;
        uint256 n = $.recordTimes.length;
        while (count < n && block.timestamp >= $.recordTimes[count]) {
            ++count;
            ++_hot().openSnapshots;
            emit SnapshotOpened(count, $.recordTimes[count - 1]);
        }
        $.snapshotCount = count;
        _hot().nextRecordTime = count < n ? uint40($.recordTimes[count]) : type(uint40).max;
    }

    /// @dev Keeps a balance (and the supply) as it was before its first change since the latest snapshot.
    function _recordBeforeChange(address from, address to) internal {
        SnapshotStorage storage $ = _snapshots();
        uint48 current = uint48($.snapshotCount);
        if (from != address(0)) _record($.balanceCheckpoints[from], current, balanceOf(from));
        if (to != address(0)) _record($.balanceCheckpoints[to], current, balanceOf(to));
        if (from == address(0) || to == address(0)) _record($.supplyCheckpoints, current, totalSupply());
    }

    function _snapshots() private pure returns (SnapshotStorage storage $) {
        assembly {
            $.slot := _SLOT
        }
    }

    function _record(Checkpoints.Trace208 storage trace, uint48 current, uint256 value) private {
        // slither-disable-next-line unused-return (the latest value is not needed, only its key)
        (bool exists, uint48 last,) = trace.latestCheckpoint();
        // slither-disable-next-line unused-return (push returns the old and new values; nothing to check)
        if (!exists || last < current) trace.push(current, uint208(value));
    }

    /// @dev The first value recorded at or after `snapshotId`: what the balance was at its record time.
    function _lookup(Checkpoints.Trace208 storage trace, uint256 snapshotId) private view returns (bool, uint256) {
        // slither-disable-next-line unused-return (the latest value is not needed, only its key)
        (bool exists, uint48 last,) = trace.latestCheckpoint();
        if (!exists || last < snapshotId) return (false, 0);
        return (true, trace.lowerLookup(uint48(snapshotId)));
    }

    function _requireQueryable(uint256 snapshotId) private view {
        if (!isSnapshotOpen(snapshotId)) revert SnapshotNotOpen(snapshotId);
    }
}
