// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IInvestorRegistry} from "./interfaces/IInvestorRegistry.sol";
import {ISecurityToken, TransferReason} from "./interfaces/ISecurityToken.sol";
import {TokenBase} from "./modules/TokenBase.sol";
import {ValidationModule} from "./modules/ValidationModule.sol";
import {AgentModule} from "./modules/AgentModule.sol";
import {SnapshotModule} from "./modules/SnapshotModule.sol";
import {DocumentModule} from "./modules/DocumentModule.sol";

/**
 * @title SecurityToken
 * @notice A permissioned ERC-20: only eligible investors hold it. Every balance change (transfer,
 * mint, burn, settlement, forced transfer, recovery) passes one hook, {_update}, which asks
 * {_check} and reverts with {TransferRestricted} and a reason code when the answer is no (or
 * with ERC-7943's {ERC7943InsufficientUnfrozenBalance} when only frozen tokens stand in the way).
 * Other systems read it through ERC-7943 (uRWA: {canSend}, {canReceive}, {canTransfer}, frozen
 * amounts, {forcedTransfer}) and ERC-1404 ({detectTransferRestriction} and its messages).
 * @dev What ERC-3643 (T-REX) asks of a permissioned token, at a fraction of its gas: one
 * registry call per transfer returning both parties' packed records, the configuration every
 * transfer reads in one slot ({TokenBase-HotConfig}), freeze lookups skipped while no wallet of
 * this token has a freeze. Composed of modules, each with its own ERC-7201 storage, in the
 * manner of CMTAT: {ConfigurationModule} (registry, categories, countries, treasury),
 * {EnforcementModule} (freezes), {ValidationModule} (the rules, ERC-7943 and ERC-1404 views),
 * {AgentModule} (pause, forced transfer, recovery), {SnapshotModule} (record-time snapshots),
 * {DocumentModule} (ERC-1643).
 */
abstract contract SecurityToken is ValidationModule, AgentModule, SnapshotModule, DocumentModule {
    /// @notice Everything a token is configured with at deployment.
    struct TokenConfig {
        string name;
        string symbol;
        address admin; // issuer: admin, agent, minter and burner
        IInvestorRegistry registry;
        address currency; // the cash token
        address treasury; // the issuer's or fund's cash account
        address settlement; // a DvP venue: minter and settlement roles; zero for none
        address payingAgent; // paying agent and burner roles; zero for none
        uint8 categoryMask; // bit c set = investor category c (1..7) may receive
        bytes2[] allowedJurisdictions; // empty = any country
        uint64[] recordTimes; // ascending unix times whose holdings are snapshotted; may be empty
    }

    address private immutable _currency;

    /// @notice The instrument closed: no more holder transfers or mints; burns, and the agent's
    /// forced transfers and wallet recoveries (a court order, a lost key before the payout), remain.
    event InstrumentClosed();

    error LengthMismatch();

    constructor(TokenConfig memory cfg) ERC20(cfg.name, cfg.symbol) {
        if (cfg.admin == address(0) || address(cfg.registry) == address(0) || cfg.currency == address(0)) {
            revert ZeroAddress();
        }
        _grantRole(DEFAULT_ADMIN_ROLE, cfg.admin);
        _grantRole(AGENT_ROLE, cfg.admin);
        _grantRole(MINTER_ROLE, cfg.admin);
        _grantRole(BURNER_ROLE, cfg.admin);
        if (cfg.settlement != address(0)) {
            _grantRole(MINTER_ROLE, cfg.settlement);
            _grantRole(SETTLEMENT_ROLE, cfg.settlement);
        }
        if (cfg.payingAgent != address(0)) {
            _grantRole(PAYING_AGENT_ROLE, cfg.payingAgent);
            _grantRole(BURNER_ROLE, cfg.payingAgent);
        }
        _setRecordTimes(cfg.recordTimes);
        _currency = cfg.currency;
        _setRegistry(cfg.registry);
        _setTreasury(cfg.treasury == address(0) ? cfg.admin : cfg.treasury);
        _setCategoryMask(cfg.categoryMask);
        for (uint256 i = 0; i < cfg.allowedJurisdictions.length; ++i) {
            _setJurisdiction(cfg.allowedJurisdictions[i], true);
        }
        _setJurisdictionRestricted(cfg.allowedJurisdictions.length > 0);
    }

    // ------------------------------------------------------------------ the hook

    /// @dev The one hook every balance change passes. Its configuration is one slot ({TokenBase-HotConfig}).
    function _update(address from, address to, uint256 value) internal virtual override {
        HotConfig memory h = _hot(); // one SLOAD for the whole hook
        uint8 reason;
        if (_isAgentAction()) {
            // Only an agent's move may take frozen tokens: they are unfrozen before they move.
            if (from != to && h.frozenCount != 0) _unfreezeTaken(from, value);
            // Only the receiver's eligibility counts. (Unfreezing only lowers the freeze count: the copy
            // at worst reads a receiver's freeze for nothing.)
            reason = _checkReceiver(h, to, _recordOf(h.registry, to));
        } else {
            reason = _check(h, from, to, value);
        }
        if (reason != TransferReason.OK) _refuse(from, to, value, reason);
        if (block.timestamp >= h.nextRecordTime) {
            _openDueSnapshots();
            h.openSnapshots = _hot().openSnapshots;
        }
        if (h.openSnapshots != 0) _recordBeforeChange(from, to);
        super._update(from, to, value);
    }

    // ------------------------------------------------------------------ supply and settlement

    /// @inheritdoc ISecurityToken
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /// @notice Burns `amount` of `from`'s tokens (redemption).
    function burn(address from, uint256 amount) external onlyRole(BURNER_ROLE) {
        _burn(from, amount);
    }

    /// @inheritdoc ISecurityToken
    function settlementTransfer(address from, address to, uint256 amount) external onlyRole(SETTLEMENT_ROLE) {
        _transfer(from, to, amount);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc ISecurityToken
    function currency() public view virtual returns (address) {
        return _currency;
    }

    /// @notice Whether the instrument has closed to transfers and mints.
    function closed() public view returns (bool) {
        return _hot().closed;
    }

    /// @inheritdoc TokenBase
    function supportsInterface(bytes4 interfaceId) public view virtual override returns (bool) {
        return super.supportsInterface(interfaceId);
    }

    // ------------------------------------------------------------------ internals

    /// @dev Closes the instrument to transfers and mints for good (a bond's redemption).
    function _close() internal {
        _hot().closed = true;
        emit InstrumentClosed();
    }
}
