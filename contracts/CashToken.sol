// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/**
 * @title CashToken
 * @notice Tokenized cash for the cash leg of settlements: a tokenized deposit or a licensed
 * stablecoin in one currency (HKD, CNH, USD, EUR), in cents (2 decimals). Holders authorize
 * a settlement venue with `approve`, or gas-free with an ERC-2612 `permit`.
 */
contract CashToken is ERC20, ERC20Permit, AccessControl {
    /// @notice May mint (the issuing bank or stablecoin issuer).
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @notice The ISO 4217 code of the currency, e.g. "HKD".
    string public currencyCode;

    /// @param code ISO 4217 code; also the symbol.
    /// @param name_ Human-readable name, e.g. "Tokenized HKD".
    /// @param admin Receives the admin and minter roles.
    constructor(string memory code, string memory name_, address admin) ERC20(name_, code) ERC20Permit(name_) {
        currencyCode = code;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
    }

    /// @notice Cents: one token unit is 0.01 of the currency.
    function decimals() public pure override returns (uint8) {
        return 2;
    }

    /// @notice Mints `amount` cents to `to`.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /// @notice Burns `amount` cents of the caller's balance.
    function burn(uint256 amount) external {
        _burn(_msgSender(), amount);
    }
}
