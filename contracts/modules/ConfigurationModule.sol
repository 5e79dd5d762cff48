// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {TokenBase} from "./TokenBase.sol";
import {IInvestorRegistry} from "../interfaces/IInvestorRegistry.sol";
import {ISecurityToken} from "../interfaces/ISecurityToken.sol";

/**
 * @title ConfigurationModule
 * @notice Who may hold the instrument (the shared investor registry, the investor categories and
 * countries allowed to receive) and the issuer's or fund's cash account.
 * @dev The registry, the category mask and whether countries are restricted sit in the hot slot
 * ({TokenBase-HotConfig}); the allowed countries and the treasury in this module's namespace.
 */
abstract contract ConfigurationModule is TokenBase {
    /// @custom:storage-location erc7201:bondledger.storage.SecurityTokenConfiguration
    struct ConfigurationStorage {
        mapping(bytes2 country => bool) jurisdictionAllowed;
        address treasury;
    }

    // keccak256(abi.encode(uint256(keccak256("bondledger.storage.SecurityTokenConfiguration")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant _SLOT = 0xdd81108b05e98b3bf01a7d722088d31b4fd07ad17f2d8f5f9e9783735054f000;

    /// @notice The investor registry consulted by the hook changed.
    event RegistryUpdated(address indexed registry);
    /// @notice The set of investor categories that may receive changed.
    event CategoryMaskUpdated(uint8 categoryMask);
    /// @notice Whether receivers' countries are restricted changed.
    event JurisdictionRestrictionUpdated(bool restricted);
    /// @notice A country was allowed or disallowed.
    event JurisdictionUpdated(bytes2 indexed country, bool allowed);
    /// @notice The issuer's or fund's cash account changed.
    event TreasuryUpdated(address indexed treasury);

    error InvalidCountry(bytes2 country);

    /// @notice Points the hook at another investor registry.
    function setRegistry(IInvestorRegistry registry_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (address(registry_) == address(0)) revert ZeroAddress();
        _setRegistry(registry_);
    }

    /// @notice Sets which investor categories may receive (bit c = category c).
    function setCategoryMask(uint8 mask) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setCategoryMask(mask);
    }

    /// @notice Allows or disallows receivers from `countries`.
    function setJurisdictions(bytes2[] calldata countries, bool allowed) external onlyRole(DEFAULT_ADMIN_ROLE) {
        for (uint256 i = 0; i < countries.length; ++i) {
            _setJurisdiction(countries[i], allowed);
        }
    }

    /// @notice Turns the country restriction on (only allowed countries receive) or off.
    function setJurisdictionRestricted(bool restricted) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setJurisdictionRestricted(restricted);
    }

    /// @notice Sets the issuer's or fund's cash account.
    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (treasury_ == address(0)) revert ZeroAddress();
        _setTreasury(treasury_);
    }

    /// @inheritdoc ISecurityToken
    function treasury() public view returns (address) {
        return _configuration().treasury;
    }

    /// @notice The investor registry the hook consults.
    function registry() external view returns (IInvestorRegistry) {
        return _hot().registry;
    }

    /// @notice Which investor categories may receive (bit c = category c).
    function categoryMask() external view returns (uint8) {
        return _hot().categoryMask;
    }

    /// @notice Whether receivers' countries are restricted to the allowed set.
    function jurisdictionsRestricted() external view returns (bool) {
        return _hot().jurisdictionsRestricted;
    }

    /// @notice Whether `country` is in the allowed set.
    function isJurisdictionAllowed(bytes2 country) external view returns (bool) {
        return _configuration().jurisdictionAllowed[country];
    }

    function _configuration() internal pure returns (ConfigurationStorage storage $) {
        assembly {
            $.slot := _SLOT
        }
    }

    function _setRegistry(IInvestorRegistry registry_) internal {
        _hot().registry = registry_;
        emit RegistryUpdated(address(registry_));
    }

    function _setTreasury(address treasury_) internal {
        _configuration().treasury = treasury_;
        emit TreasuryUpdated(treasury_);
    }

    function _setCategoryMask(uint8 mask) internal {
        _hot().categoryMask = mask;
        emit CategoryMaskUpdated(mask);
    }

    function _setJurisdictionRestricted(bool restricted) internal {
        _hot().jurisdictionsRestricted = restricted;
        emit JurisdictionRestrictionUpdated(restricted);
    }

    function _setJurisdiction(bytes2 country, bool allowed) internal {
        if (!_isUpperAlpha(uint8(country[0])) || !_isUpperAlpha(uint8(country[1]))) revert InvalidCountry(country);
        _configuration().jurisdictionAllowed[country] = allowed;
        emit JurisdictionUpdated(country, allowed);
    }

    function _isUpperAlpha(uint8 c) private pure returns (bool) {
        return c >= 0x41 && c <= 0x5A;
    }
}
