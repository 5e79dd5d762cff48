// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {TokenBase} from "./TokenBase.sol";
import {IERC7943Fungible} from "../interfaces/IERC7943.sol";

/**
 * @title EnforcementModule
 * @notice Freezes: a whole wallet (ERC-3643 {setAddressFrozen}) and an amount of its tokens
 * (ERC-7943 {setFrozenTokens}), independent of each other.
 * @dev A wallet's two freezes share one slot, so the hook reads both in one load; the count of
 * wallets with any freeze sits in the hot slot, and while it is zero no freeze is read at all.
 */
abstract contract EnforcementModule is TokenBase {
    /// @dev `tokens` is the ERC-7943 frozen amount; _FROZEN_ALL (any amount from type(uint248).max
    /// up, beyond every balance) freezes every token.
    struct Freeze {
        bool wallet;
        uint248 tokens;
    }

    /// @custom:storage-location erc7201:bondledger.storage.SecurityTokenEnforcement
    struct EnforcementStorage {
        mapping(address wallet => Freeze) freezes;
    }

    // keccak256(abi.encode(uint256(keccak256("bondledger.storage.SecurityTokenEnforcement")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant _SLOT = 0x96f43884b90d115be5bc340ea15775e556e3d2399071a982f0363867130a1400;

    uint248 private constant _FROZEN_ALL = type(uint248).max;

    /// @notice A wallet was frozen or unfrozen (ERC-3643 name).
    event AddressFrozen(address indexed userAddress, bool indexed isFrozen, address indexed owner);

    /// @notice Freezes or unfreezes `wallet`: a frozen wallet can neither send nor receive.
    /// Independent of its frozen amount ({setFrozenTokens}).
    function setAddressFrozen(address wallet, bool frozen) external onlyRole(AGENT_ROLE) {
        _setFrozen(wallet, frozen);
    }

    /// @inheritdoc IERC7943Fungible
    /// @dev Agents only. Overwrites the amount; alongside the whole-wallet freeze, not instead of
    /// it. Any amount from type(uint248).max up freezes every token and reads back as
    /// type(uint256).max.
    function setFrozenTokens(address account, uint256 amount) external onlyRole(AGENT_ROLE) returns (bool) {
        if (account == address(0)) revert ZeroAddress();
        _setFrozenTokens(account, amount);
        return true;
    }

    /// @notice Whether `wallet` is frozen as a whole (ERC-3643 name).
    function isFrozen(address wallet) external view returns (bool) {
        return _freeze(wallet).wallet;
    }

    /// @inheritdoc IERC7943Fungible
    function getFrozenTokens(address account) public view returns (uint256) {
        return _frozenAmount(_freeze(account).tokens);
    }

    function _freeze(address wallet) internal view returns (Freeze storage) {
        EnforcementStorage storage $;
        assembly {
            $.slot := _SLOT
        }
        return $.freezes[wallet];
    }

    function _setFrozen(address wallet, bool frozen) internal {
        Freeze storage freeze = _freeze(wallet);
        if (freeze.wallet == frozen) return;
        _countFreeze(freeze.wallet || freeze.tokens != 0, frozen || freeze.tokens != 0);
        freeze.wallet = frozen;
        emit AddressFrozen(wallet, frozen, _msgSender());
    }

    function _setFrozenTokens(address account, uint256 amount) internal {
        Freeze storage freeze = _freeze(account);
        uint248 tokens = amount >= _FROZEN_ALL ? _FROZEN_ALL : uint248(amount);
        _countFreeze(freeze.wallet || freeze.tokens != 0, freeze.wallet || tokens != 0);
        freeze.tokens = tokens;
        emit Frozen(account, _frozenAmount(tokens));
    }

    /// @dev Keeps the count of wallets with a freeze of either kind as a wallet gains or loses one.
    function _countFreeze(bool had, bool has) private {
        if (had == has) return;
        if (has) ++_hot().frozenCount;
        else --_hot().frozenCount;
    }

    /// @dev An agent's move of `value` out of `from` takes its frozen tokens last: what it takes
    /// beyond the unfrozen balance is unfrozen first. Beyond the balance, ERC-20 refuses it next.
    function _unfreezeTaken(address from, uint256 value) internal {
        uint248 tokens = _freeze(from).tokens;
        if (tokens == 0) return;
        uint256 balance = balanceOf(from);
        uint256 unfrozen = _unfrozen(balance, tokens);
        if (value <= unfrozen || value > balance) return;
        _setFrozenTokens(from, _frozenAmount(tokens) - (value - unfrozen));
    }

    /// @dev Whether moving `value` out of `from` takes frozen tokens: within the balance but beyond
    /// its unfrozen part (beyond the balance is ERC-20's own error).
    function _takesFrozen(address from, uint248 tokens, uint256 value) internal view returns (bool) {
        uint256 balance = balanceOf(from);
        return value <= balance && value > _unfrozen(balance, tokens);
    }

    function _unfrozen(uint256 balance, uint248 tokens) internal pure returns (uint256) {
        uint256 frozen = _frozenAmount(tokens);
        return balance > frozen ? balance - frozen : 0;
    }

    function _frozenAmount(uint248 tokens) private pure returns (uint256) {
        return tokens == _FROZEN_ALL ? type(uint256).max : tokens;
    }
}
