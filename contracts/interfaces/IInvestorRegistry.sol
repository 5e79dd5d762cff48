// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title IInvestorRegistry
 * @notice Who may hold bondledger instruments: wallet -> investor (an id hash), with the
 * investor's ISO 3166-1 alpha-2 country, investor category and KYC expiry.
 * @dev Categories are small integers so that an instrument can allow a set of them as a
 * bitmask (bit `c` set = category `c` allowed):
 *   1 retail, 2 individual professional investor, 3 corporate professional investor,
 *   4 institutional professional investor, 5 authorized participant (of an ETF).
 */
interface IInvestorRegistry {
    /// @notice What a token needs to decide on a transfer, packed in one storage slot.
    struct Eligibility {
        uint40 kycExpiry; // unix seconds; eligible while block.timestamp < kycExpiry; 0 = not registered
        bytes2 country; // ISO 3166-1 alpha-2, e.g. "HK"
        uint8 category; // see the category table above
    }

    /// @notice Emitted when an investor is first registered or its record changes.
    event InvestorUpdated(bytes32 indexed investorId, bytes2 country, uint8 category, uint40 kycExpiry);
    /// @notice Emitted when an investor and all of its wallets are removed.
    event InvestorRemoved(bytes32 indexed investorId);
    /// @notice Emitted when a wallet is linked to an investor.
    event WalletAdded(bytes32 indexed investorId, address indexed wallet);
    /// @notice Emitted when a wallet is unlinked from its investor.
    event WalletRemoved(bytes32 indexed investorId, address indexed wallet);

    /// @notice The eligibility record of `wallet` (all zero when the wallet is not registered).
    function eligibility(address wallet) external view returns (Eligibility memory);

    /// @notice The records of two wallets in one call, packed (see {EligibilityWord}): the
    /// transfer hot path, where a token pays for every word it decodes.
    function eligibilityPair(address a, address b) external view returns (uint256, uint256);

    /// @notice The investor id hash `wallet` belongs to, or zero.
    function investorOf(address wallet) external view returns (bytes32);

    /// @notice True when `wallet` is registered and its investor's KYC has not expired.
    function isVerified(address wallet) external view returns (bool);
}

/**
 * @title EligibilityWord
 * @notice An {IInvestorRegistry.Eligibility} record packed in one word, as the registry stores
 * it: bits 0-39 KYC expiry, 40-55 country, 56-63 category. Zero means not registered.
 */
library EligibilityWord {
    function pack(uint40 expiry_, bytes2 country_, uint8 category_) internal pure returns (uint256) {
        return uint256(expiry_) | (uint256(uint16(country_)) << 40) | (uint256(category_) << 56);
    }

    function kycExpiry(uint256 word) internal pure returns (uint256) {
        return uint40(word);
    }

    function country(uint256 word) internal pure returns (bytes2) {
        return bytes2(uint16(word >> 40));
    }

    function category(uint256 word) internal pure returns (uint8) {
        return uint8(word >> 56);
    }
}
