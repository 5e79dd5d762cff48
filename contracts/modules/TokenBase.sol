// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {IInvestorRegistry} from "../interfaces/IInvestorRegistry.sol";
import {ISecurityToken} from "../interfaces/ISecurityToken.sol";
import {IERC7943Fungible} from "../interfaces/IERC7943.sol";

/**
 * @title TokenBase
 * @notice What every module of {SecurityToken} shares: ERC-20, the roles, and the hot
 * configuration that the transfer hook reads on every balance change.
 * @dev The hot fields live in ONE struct, {HotConfig}, at one ERC-7201 slot: 256 bits exactly, so
 * the hook's first read of it is the only cold load of configuration a transfer pays. Their
 * sharing a slot is written here, not left to the order of base contracts. Each module keeps its
 * other state in a namespace of its own.
 */
abstract contract TokenBase is ISecurityToken, ERC20, AccessControl {
    /// @notice Transfer agent: freeze, forced transfer, wallet recovery, pause.
    bytes32 public constant AGENT_ROLE = keccak256("AGENT_ROLE");
    /// @notice May mint (primary issuance, ETF creation).
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice May burn (redemption).
    bytes32 public constant BURNER_ROLE = keccak256("BURNER_ROLE");
    /// @notice A settlement venue that moves holders' tokens on their signed instruction.
    bytes32 public constant SETTLEMENT_ROLE = keccak256("SETTLEMENT_ROLE");
    /// @notice A paying agent: closes record-date snapshots it has paid on; redeems.
    bytes32 public constant PAYING_AGENT_ROLE = keccak256("PAYING_AGENT_ROLE");

    /// @dev The configuration read by every transfer, packed into one slot (160+8+8+8+8+16+40+8 bits).
    struct HotConfig {
        IInvestorRegistry registry; // ConfigurationModule
        uint8 categoryMask; // ConfigurationModule: bit c set = category c may receive
        bool jurisdictionsRestricted; // ConfigurationModule
        bool paused; // AgentModule
        bool closed; // SecurityToken: no more transfers or mints (a bond being redeemed)
        uint16 frozenCount; // EnforcementModule: wallets with a freeze of either kind
        uint40 nextRecordTime; // SnapshotModule: type(uint40).max when no record time is ahead
        uint8 openSnapshots; // SnapshotModule
    }

    // keccak256(abi.encode(uint256(keccak256("bondledger.storage.SecurityTokenHot")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant _HOT_SLOT = 0xb63704dce71b6573675e518dc25fe7ff296283ebcadbe909df2b2c57afcc2700;

    error ZeroAddress();

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view virtual override(AccessControl, IERC165) returns (bool) {
        return interfaceId == type(IERC7943Fungible).interfaceId || interfaceId == type(ISecurityToken).interfaceId
            || super.supportsInterface(interfaceId);
    }

    function _hot() internal pure returns (HotConfig storage $) {
        assembly {
            $.slot := _HOT_SLOT
        }
    }
}
