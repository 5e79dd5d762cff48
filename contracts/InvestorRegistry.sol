// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {IInvestorRegistry, EligibilityWord} from "./interfaces/IInvestorRegistry.sol";

/**
 * @title InvestorRegistry
 * @notice The on-chain half of investor onboarding: which wallets belong to which investor,
 * and that investor's country, category and KYC expiry. Personal data stays off chain; the
 * investor is known here only by the hash of its register id.
 * @dev An investor's record is copied into each of its wallets' packed {EligibilityWord} so
 * that a token's transfer check reads one slot per party. The copy is refreshed on every update;
 * that loop is bounded by {MAX_WALLETS_PER_INVESTOR}, never by the number of holders.
 */
contract InvestorRegistry is IInvestorRegistry, AccessControl, Multicall {
    using EligibilityWord for uint256;

    /// @notice May register, update and remove investors and wallets.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    /// @notice Upper bound on wallets per investor, which bounds the refresh loop.
    uint256 public constant MAX_WALLETS_PER_INVESTOR = 16;

    uint8 private constant _MAX_CATEGORY = 7; // tokens allow categories as a one-byte mask

    struct Investor {
        bytes2 country;
        uint8 category;
        uint40 kycExpiry;
    }

    mapping(bytes32 investorId => Investor) private _investors;
    mapping(bytes32 investorId => address[]) private _wallets;
    mapping(address wallet => bytes32) private _investorOf;
    mapping(address wallet => uint256) private _eligibility; // an EligibilityWord

    error ZeroInvestorId();
    error ZeroWallet();
    error InvalidCountry(bytes2 country);
    error InvalidCategory(uint8 category);
    error InvalidKycExpiry(uint40 kycExpiry);
    error UnknownInvestor(bytes32 investorId);
    error WalletAlreadyRegistered(address wallet, bytes32 investorId);
    error WalletNotRegistered(address wallet);
    error TooManyWallets(bytes32 investorId);

    /// @param admin Receives the admin and registrar roles.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGISTRAR_ROLE, admin);
    }

    // ------------------------------------------------------------------ writes

    /**
     * @notice Registers an investor, or updates its record; its wallets follow.
     * @param investorId keccak256 of the investor's register id.
     * @param country ISO 3166-1 alpha-2 code in upper case.
     * @param category Investor category (1..7), see {IInvestorRegistry}.
     * @param kycExpiry Unix seconds from which the investor's KYC is no longer valid.
     */
    function setInvestor(bytes32 investorId, bytes2 country, uint8 category, uint40 kycExpiry)
        external
        onlyRole(REGISTRAR_ROLE)
    {
        if (investorId == bytes32(0)) revert ZeroInvestorId();
        if (!_isUpperAlpha(uint8(country[0])) || !_isUpperAlpha(uint8(country[1]))) revert InvalidCountry(country);
        if (category == 0 || category > _MAX_CATEGORY) revert InvalidCategory(category);
        if (kycExpiry == 0) revert InvalidKycExpiry(kycExpiry);

        _investors[investorId] = Investor(country, category, kycExpiry);
        uint256 record = EligibilityWord.pack(kycExpiry, country, category);
        address[] storage wallets = _wallets[investorId];
        for (uint256 i = 0; i < wallets.length; ++i) {
            _eligibility[wallets[i]] = record;
        }
        emit InvestorUpdated(investorId, country, category, kycExpiry);
    }

    /**
     * @notice Removes an investor and unlinks all of its wallets, which then receive nothing and
     * send nothing. Their balances stay where they are: an agent can force-transfer them to an
     * eligible wallet (wallet recovery needs both wallets linked to the same investor).
     */
    function removeInvestor(bytes32 investorId) external onlyRole(REGISTRAR_ROLE) {
        if (_investors[investorId].kycExpiry == 0) revert UnknownInvestor(investorId);
        address[] storage wallets = _wallets[investorId];
        while (wallets.length > 0) {
            address wallet = wallets[wallets.length - 1];
            wallets.pop();
            delete _investorOf[wallet];
            delete _eligibility[wallet];
            emit WalletRemoved(investorId, wallet);
        }
        delete _investors[investorId];
        emit InvestorRemoved(investorId);
    }

    /// @notice Links `wallet` to a registered investor.
    function addWallet(bytes32 investorId, address wallet) external onlyRole(REGISTRAR_ROLE) {
        if (wallet == address(0)) revert ZeroWallet();
        Investor memory inv = _investors[investorId];
        if (inv.kycExpiry == 0) revert UnknownInvestor(investorId);
        bytes32 current = _investorOf[wallet];
        if (current != bytes32(0)) revert WalletAlreadyRegistered(wallet, current);
        if (_wallets[investorId].length >= MAX_WALLETS_PER_INVESTOR) revert TooManyWallets(investorId);

        _wallets[investorId].push(wallet);
        _investorOf[wallet] = investorId;
        _eligibility[wallet] = EligibilityWord.pack(inv.kycExpiry, inv.country, inv.category);
        emit WalletAdded(investorId, wallet);
    }

    /// @notice Unlinks `wallet` from its investor.
    function removeWallet(address wallet) external onlyRole(REGISTRAR_ROLE) {
        bytes32 investorId = _investorOf[wallet];
        if (investorId == bytes32(0)) revert WalletNotRegistered(wallet);
        address[] storage wallets = _wallets[investorId];
        uint256 last = wallets.length - 1;
        for (uint256 i = 0; i <= last; ++i) {
            if (wallets[i] == wallet) {
                wallets[i] = wallets[last];
                wallets.pop();
                break;
            }
        }
        delete _investorOf[wallet];
        delete _eligibility[wallet];
        emit WalletRemoved(investorId, wallet);
    }

    // ------------------------------------------------------------------ reads

    /// @inheritdoc IInvestorRegistry
    function eligibility(address wallet) external view returns (Eligibility memory) {
        uint256 word = _eligibility[wallet];
        return Eligibility(uint40(word.kycExpiry()), word.country(), word.category());
    }

    /// @inheritdoc IInvestorRegistry
    function eligibilityPair(address a, address b) external view returns (uint256, uint256) {
        // The zero address stands for "no sender" (a mint): skip its cold slot.
        return (a == address(0) ? 0 : _eligibility[a], _eligibility[b]);
    }

    /// @inheritdoc IInvestorRegistry
    function investorOf(address wallet) external view returns (bytes32) {
        return _investorOf[wallet];
    }

    /// @inheritdoc IInvestorRegistry
    function isVerified(address wallet) external view returns (bool) {
        return block.timestamp < _eligibility[wallet].kycExpiry();
    }

    /// @notice The record of a registered investor (all zero when unknown).
    function investor(bytes32 investorId) external view returns (bytes2 country, uint8 category, uint40 kycExpiry) {
        Investor memory inv = _investors[investorId];
        return (inv.country, inv.category, inv.kycExpiry);
    }

    /// @notice The wallets of an investor, in no particular order.
    function walletsOf(bytes32 investorId) external view returns (address[] memory) {
        return _wallets[investorId];
    }

    function _isUpperAlpha(uint8 c) private pure returns (bool) {
        return c >= 0x41 && c <= 0x5A;
    }
}
