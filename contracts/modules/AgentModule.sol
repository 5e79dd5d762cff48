// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IERC7943Fungible} from "../interfaces/IERC7943.sol";
import {EnforcementModule} from "./EnforcementModule.sol";
import {ConfigurationModule} from "./ConfigurationModule.sol";

/**
 * @title AgentModule
 * @notice The transfer agent's powers: pause, forced transfer (ERC-7943) and wallet recovery.
 * @dev While an agent's move runs, a transient flag tells the hook to apply the agent rules (only
 * the receiver's eligibility counts; frozen tokens taken are unfrozen first). The pause flag sits
 * in the hot slot; its events and errors are OpenZeppelin Pausable's.
 */
abstract contract AgentModule is EnforcementModule, ConfigurationModule {
    // Set for the duration of an agent action so the hook applies the agent rules.
    bool private transient _agentAction;

    /// @notice The pause was triggered by `account` (OpenZeppelin Pausable).
    event Paused(address account);
    /// @notice The pause was lifted by `account` (OpenZeppelin Pausable).
    event Unpaused(address account);
    /// @notice An agent moved a lost wallet's balance to a new wallet of the same investor.
    event WalletRecovered(address indexed lostWallet, address indexed newWallet, bytes32 indexed investorId);

    /// @dev The operation failed because the contract is paused (OpenZeppelin Pausable).
    error EnforcedPause();
    /// @dev The operation failed because the contract is not paused (OpenZeppelin Pausable).
    error ExpectedPause();
    error NotSameInvestor(address lostWallet, address newWallet);

    /// @notice Pauses every holder transfer, mint, burn and settlement; agent actions still run.
    function pause() external onlyRole(AGENT_ROLE) {
        if (_hot().paused) revert EnforcedPause();
        _hot().paused = true;
        emit Paused(_msgSender());
    }

    /// @notice Lifts a pause.
    function unpause() external onlyRole(AGENT_ROLE) {
        if (!_hot().paused) revert ExpectedPause();
        _hot().paused = false;
        emit Unpaused(_msgSender());
    }

    /// @notice Whether holder transfers, mints, burns and settlements are paused.
    function paused() public view returns (bool) {
        return _hot().paused;
    }

    /// @inheritdoc IERC7943Fungible
    /// @dev Agents only (court order, error correction). The receiver must still be eligible; the
    /// sender's state, its frozen amount and a pause do not stop it. Frozen tokens it takes are
    /// unfrozen first ({Frozen} before {Transfer}); a move to the same wallet unfreezes nothing.
    function forcedTransfer(address from, address to, uint256 amount) external onlyRole(AGENT_ROLE) returns (bool) {
        _agentAction = true;
        _transfer(from, to, amount);
        _agentAction = false;
        emit ForcedTransfer(from, to, amount);
        return true;
    }

    /// @notice Moves the whole balance of a lost wallet to a new wallet of the same investor;
    /// both freezes on the lost wallet carry over (its frozen amount adds to the new wallet's).
    function recoverWallet(address lostWallet, address newWallet) external onlyRole(AGENT_ROLE) {
        bytes32 investorId = _hot().registry.investorOf(lostWallet);
        if (investorId == bytes32(0) || _hot().registry.investorOf(newWallet) != investorId) {
            revert NotSameInvestor(lostWallet, newWallet);
        }
        uint256 frozenTokens = getFrozenTokens(lostWallet);
        if (frozenTokens != 0) _setFrozenTokens(lostWallet, 0); // unfrozen before it moves
        _agentAction = true;
        _transfer(lostWallet, newWallet, balanceOf(lostWallet));
        _agentAction = false;
        if (frozenTokens != 0) {
            _setFrozenTokens(newWallet, Math.saturatingAdd(getFrozenTokens(newWallet), frozenTokens));
        }
        if (_freeze(lostWallet).wallet) {
            _setFrozen(lostWallet, false);
            _setFrozen(newWallet, true);
        }
        emit WalletRecovered(lostWallet, newWallet, investorId);
    }

    /// @dev Whether the balance change under way is an agent's move (forced transfer, recovery).
    function _isAgentAction() internal view returns (bool) {
        return _agentAction;
    }
}
