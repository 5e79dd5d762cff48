// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IInvestorRegistry, EligibilityWord} from "../interfaces/IInvestorRegistry.sol";
import {TransferReason} from "../interfaces/ISecurityToken.sol";
import {IERC7943Fungible} from "../interfaces/IERC7943.sol";
import {EnforcementModule} from "./EnforcementModule.sol";
import {ConfigurationModule} from "./ConfigurationModule.sol";

/**
 * @title ValidationModule
 * @notice The transfer rules and how other systems read them: ERC-7943 ({canSend},
 * {canReceive}, {canTransfer}) and ERC-1404 ({detectTransferRestriction} and its messages).
 * @dev {_check} answers for holder transfers, mints, burns and settlements with one read of the
 * hot slot and one registry call returning both parties' packed records; freezes are read only
 * while some wallet has one, countries only while they are restricted.
 */
abstract contract ValidationModule is EnforcementModule, ConfigurationModule {
    using EligibilityWord for uint256;

    /// @dev {messageForTransferRestriction}'s messages, for codes 0, 1, 2... in order, each ended by "|".
    bytes private constant _MESSAGES = "No restriction|Transfers are paused|Sender is not a registered investor|"
        "Receiver is not a registered investor|Sender's KYC has expired|Receiver's KYC has expired|"
        "Sender's wallet is frozen|Receiver's wallet is frozen|Receiver's investor category may not hold it|"
        "Receiver's country is not allowed|Sender's balance is too low|It would exceed the issue volume|"
        "The instrument is closed to transfers|Allowance is too low|Sender's unfrozen balance is too low|";

    /// @inheritdoc IERC7943Fungible
    /// @dev Registered, KYC current, wallet not frozen. A pause and frozen amounts are transfer
    /// rules ({canTransfer}), not account rules.
    function canSend(address account) external view returns (bool) {
        return _recordOf(_hot().registry, account).kycExpiry() > block.timestamp && !_freeze(account).wallet;
    }

    /// @inheritdoc IERC7943Fungible
    /// @dev Registered, KYC current, wallet not frozen, an allowed category and country.
    function canReceive(address account) external view returns (bool) {
        HotConfig memory h = _hot();
        return _checkReceiver(h, account, _recordOf(h.registry, account)) == TransferReason.OK;
    }

    /// @inheritdoc IERC7943Fungible
    /// @dev A holder's transfer (or settlement) with no restriction ({detectTransferRestriction}
    /// returns 0): both parties' account rules, the pause, the unfrozen balance, the instrument's
    /// rules. The zero address is no holder: a mint or burn is asked of {detectTransferRestriction}.
    function canTransfer(address from, address to, uint256 amount) external view returns (bool) {
        return from != address(0) && to != address(0)
            && detectTransferRestriction(from, to, amount) == TransferReason.OK;
    }

    /// @notice The {TransferReason} code a balance change of `value` from `from` to `to` meets now,
    /// 0 if none (ERC-1404). `from` zero asks about a mint, `to` zero about a burn.
    function detectTransferRestriction(address from, address to, uint256 value) public view returns (uint8) {
        uint8 reason = _check(_hot(), from, to, value); // a copy of the hot slot
        if (reason == TransferReason.OK && from != address(0) && balanceOf(from) < value) {
            reason = TransferReason.INSUFFICIENT_BALANCE;
        }
        return reason;
    }

    /// @notice What a {TransferReason} code means, in words a wallet can show (ERC-1404).
    function messageForTransferRestriction(uint8 restrictionCode) external pure returns (string memory) {
        // One blob rather than a branch per code: a token's runtime size is capped (EIP-170).
        bytes memory all = _MESSAGES;
        uint256 start = 0;
        uint256 code = 0;
        for (uint256 i = 0; i < all.length; ++i) {
            if (all[i] != "|") continue;
            if (code == restrictionCode) {
                bytes memory message = new bytes(i - start);
                for (uint256 k = 0; k < message.length; ++k) {
                    message[k] = all[start + k];
                }
                return string(message);
            }
            ++code;
            start = i + 1;
        }
        return "Unknown restriction code";
    }

    /// @dev The rules for holder transfers, mints, burns and settlements, given a copy `h` of the
    /// hot slot (one SLOAD, where each field read through a storage pointer is one more). Reads, never writes. Frozen tokens stay put for all of them,
    /// burns (a redemption) included: only an agent's forced transfer or recovery moves them.
    function _check(HotConfig memory h, address from, address to, uint256 value) internal view returns (uint8) {
        if (h.paused) return TransferReason.PAUSED;
        // The sender's freezes (one slot), read only while some wallet has a freeze.
        bool senderFrozen = false;
        uint248 frozenTokens = 0;
        if (h.frozenCount != 0 && from != address(0)) {
            Freeze storage freeze = _freeze(from);
            (senderFrozen, frozenTokens) = (freeze.wallet, freeze.tokens);
        }
        if (to != address(0)) {
            (uint256 sender, uint256 receiver) = h.registry.eligibilityPair(from, to);
            if (from != address(0)) {
                uint256 expiry = sender.kycExpiry();
                if (expiry == 0) return TransferReason.SENDER_NOT_REGISTERED;
                if (expiry <= block.timestamp) return TransferReason.SENDER_KYC_EXPIRED;
                if (senderFrozen) return TransferReason.SENDER_FROZEN;
            }
            uint8 reason = _checkReceiver(h, to, receiver);
            if (reason != TransferReason.OK) return reason;
        }
        if (frozenTokens != 0 && _takesFrozen(from, frozenTokens, value)) {
            return TransferReason.INSUFFICIENT_UNFROZEN_BALANCE;
        }
        return _checkInstrument(h, from, to, value);
    }

    /// @dev Instrument-specific rules (a supply cap, a closed bond). Override to add them.
    function _checkInstrument(HotConfig memory, address, address, uint256) internal view virtual returns (uint8) {
        return TransferReason.OK;
    }

    /// @dev A refusal: ERC-7943's own error when only frozen tokens stand in the way, else the reason code.
    function _refuse(address from, address to, uint256 value, uint8 reason) internal view {
        if (reason == TransferReason.INSUFFICIENT_UNFROZEN_BALANCE) {
            revert ERC7943InsufficientUnfrozenBalance(from, value, _unfrozen(balanceOf(from), _freeze(from).tokens));
        }
        revert TransferRestricted(from, to, value, reason);
    }

    /// @dev `account`'s packed registry record.
    function _recordOf(IInvestorRegistry registry_, address account) internal view returns (uint256 record) {
        // slither-disable-next-line unused-return (only the account's half of the pair is wanted)
        (, record) = registry_.eligibilityPair(address(0), account);
    }

    /// @dev Whether `to`, with packed registry record `r`, may receive this instrument.
    function _checkReceiver(HotConfig memory h, address to, uint256 r) internal view returns (uint8) {
        uint256 expiry = r.kycExpiry();
        if (expiry == 0) return TransferReason.RECEIVER_NOT_REGISTERED;
        if (expiry <= block.timestamp) return TransferReason.RECEIVER_KYC_EXPIRED;
        if (h.frozenCount != 0 && _freeze(to).wallet) return TransferReason.RECEIVER_FROZEN;
        uint8 category = r.category();
        if (category > 7 || h.categoryMask & (uint8(1) << category) == 0) return TransferReason.CATEGORY_NOT_ALLOWED;
        if (h.jurisdictionsRestricted && !_configuration().jurisdictionAllowed[r.country()]) {
            return TransferReason.JURISDICTION_NOT_ALLOWED;
        }
        return TransferReason.OK;
    }
}
