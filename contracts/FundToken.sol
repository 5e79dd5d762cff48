// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SecurityToken} from "./SecurityToken.sol";
import {IFundToken} from "./interfaces/IFundToken.sol";

/**
 * @title FundToken
 * @notice Units of a tokenized exchange traded fund, on the same permissioned base as bonds.
 * The fund manager publishes the net asset value (NAV) per unit; authorized participants create
 * units (paying cash at the latest NAV) and redeem them (receiving cash), in whole creation
 * units, through the DvP venue so that units and cash move in one transaction. A NAV older than
 * the fund's maximum age blocks creation and redemption.
 * @dev Units have 0 decimals. NAV per unit is in base units of the cash token, scaled by
 * {NAV_SCALE} (HK$25.4321 a unit, in cents, is 2543.21 x 10^6). Creation cash rounds up and
 * redemption cash rounds down, so the fund never pays out more than NAV x units, nor takes in less.
 */
contract FundToken is SecurityToken, IFundToken {
    /// @notice Publishes the NAV.
    bytes32 public constant FUND_MANAGER_ROLE = keccak256("FUND_MANAGER_ROLE");
    /// @notice May create and redeem units (a participating dealer).
    bytes32 public constant AUTHORIZED_PARTICIPANT_ROLE = keccak256("AUTHORIZED_PARTICIPANT_ROLE");

    /// @notice The scale of {nav}: NAV per unit in cash base units times this.
    uint256 public constant NAV_SCALE = 1e6;

    /// @notice The fund's terms, fixed at launch.
    struct FundTerms {
        string fundCode;
        uint256 creationUnit; // units per creation unit
        uint256 navMaxAge; // seconds a published NAV stays usable
        uint256 initialNav; // NAV per unit, cash base units x NAV_SCALE
    }

    string private _fundCode;
    uint256 private immutable _creationUnit;
    uint256 private immutable _navMaxAge;
    uint256 private _nav;
    uint256 private _navTime;

    /// @notice The fund manager published a NAV per unit.
    event NavPublished(uint256 navPerUnit, uint256 timestamp);

    error InvalidCreationUnit();
    error ZeroNav();
    error NavStale(uint256 publishedAt, uint256 maxAge);
    error NotAuthorizedParticipant(address account);
    error NoCreationUnits();

    constructor(TokenConfig memory cfg, FundTerms memory terms) SecurityToken(cfg) {
        if (terms.creationUnit == 0) revert InvalidCreationUnit();
        _fundCode = terms.fundCode;
        _creationUnit = terms.creationUnit;
        _navMaxAge = terms.navMaxAge;
        _grantRole(FUND_MANAGER_ROLE, cfg.admin);
        _publishNav(terms.initialNav);
    }

    // ------------------------------------------------------------------ NAV

    /// @notice Publishes the NAV per unit (cash base units x NAV_SCALE) as of now.
    function publishNav(uint256 navPerUnit) external onlyRole(FUND_MANAGER_ROLE) {
        _publishNav(navPerUnit);
    }

    /// @notice The latest NAV per unit and when it was published.
    function nav() external view override returns (uint256 navPerUnit, uint256 publishedAt) {
        return (_nav, _navTime);
    }

    /// @notice Whether the latest NAV is recent enough for creation and redemption.
    function isNavFresh() public view returns (bool) {
        return block.timestamp - _navTime <= _navMaxAge;
    }

    // ------------------------------------------------------------------ creation and redemption

    /// @notice Units and the cash an AP pays for `creationUnits` at the latest NAV (rounded up).
    function creationCash(uint256 creationUnits) public view returns (uint256 units, uint256 cash) {
        units = _units(creationUnits);
        cash = Math.mulDiv(units, _freshNav(), NAV_SCALE, Math.Rounding.Ceil);
    }

    /// @notice Units and the cash an AP receives for `creationUnits` at the latest NAV (rounded down).
    function redemptionCash(uint256 creationUnits) public view returns (uint256 units, uint256 cash) {
        units = _units(creationUnits);
        cash = Math.mulDiv(units, _freshNav(), NAV_SCALE, Math.Rounding.Floor);
    }

    /**
     * @notice Mints `creationUnits` creation units to an authorized participant, for a settlement
     * venue that collects the cash it returns in the same transaction.
     */
    function mintCreation(address ap, uint256 creationUnits)
        external
        onlyRole(SETTLEMENT_ROLE)
        returns (uint256 units, uint256 cash)
    {
        if (!hasRole(AUTHORIZED_PARTICIPANT_ROLE, ap)) revert NotAuthorizedParticipant(ap);
        (units, cash) = creationCash(creationUnits);
        _mint(ap, units);
    }

    /**
     * @notice Burns `creationUnits` creation units of an authorized participant, for a settlement
     * venue that pays the cash it returns from the fund's cash account in the same transaction.
     */
    function burnRedemption(address ap, uint256 creationUnits)
        external
        onlyRole(SETTLEMENT_ROLE)
        returns (uint256 units, uint256 cash)
    {
        if (!hasRole(AUTHORIZED_PARTICIPANT_ROLE, ap)) revert NotAuthorizedParticipant(ap);
        (units, cash) = redemptionCash(creationUnits);
        _burn(ap, units);
    }

    // ------------------------------------------------------------------ views

    /// @notice The fund's code (its exchange stock code or identifier).
    function fundCode() external view returns (string memory) {
        return _fundCode;
    }

    /// @notice Units per creation unit.
    function creationUnit() external view returns (uint256) {
        return _creationUnit;
    }

    /// @notice Seconds a published NAV stays usable.
    function navMaxAge() external view returns (uint256) {
        return _navMaxAge;
    }

    /// @notice Zero: units are whole.
    function decimals() public pure override returns (uint8) {
        return 0;
    }

    // ------------------------------------------------------------------ internals

    function _publishNav(uint256 navPerUnit) private {
        if (navPerUnit == 0) revert ZeroNav();
        _nav = navPerUnit;
        _navTime = block.timestamp;
        emit NavPublished(navPerUnit, block.timestamp);
    }

    function _freshNav() private view returns (uint256) {
        if (!isNavFresh()) revert NavStale(_navTime, _navMaxAge);
        return _nav;
    }

    function _units(uint256 creationUnits) private view returns (uint256) {
        if (creationUnits == 0) revert NoCreationUnits();
        return creationUnits * _creationUnit;
    }
}
