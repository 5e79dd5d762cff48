// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {SecurityToken} from "./SecurityToken.sol";
import {TransferReason} from "./interfaces/ISecurityToken.sol";
import {IERC7092, IERC7092ESG} from "./interfaces/IERC7092.sol";

/**
 * @title BondToken
 * @notice A permissioned bond: ERC-20 with 0 decimals where one token is one minimum
 * denomination, plus the ERC-7092 interface. Green bonds carry their framework document and
 * use-of-proceeds categories on chain. Its life: coupon record dates are record-date snapshots
 * a paying agent pays on; from maturity (or an early call) it closes to transfers and mints, and
 * the paying agent redeems it, burning what it pays.
 * @dev Units. ERC-20 functions (`transfer`, `balanceOf`, `totalSupply`, `approve`, `allowance`)
 * count tokens. ERC-7092 functions (`principalOf`, `transfer`/`transferFrom` with data,
 * `decreaseAllowance` and the batch functions) take principal in base units of the currency
 * token, which must be a whole number of denominations. `denomination` and `issueVolume` are
 * in base units of the currency token; `couponRate` is the annual rate x 10^6 (3.647% ->
 * 36470); `issueDate` and `maturityDate` are unix seconds at 00:00 UTC; `couponType` is
 * 0 zero, 1 fixed, 2 floating; `dayCountBasis` follows the standard's order: 0 ACT/ACT,
 * 1 30/360, 2 ACT/360, 3 ACT/365, 4 30/365.
 */
contract BondToken is SecurityToken, IERC7092, IERC7092ESG {
    /// @notice ERC-1643 name of the green bond framework document.
    bytes32 public constant GREEN_BOND_FRAMEWORK = "GREEN_BOND_FRAMEWORK";

    /// @notice The bond's economic terms, fixed at deployment.
    struct BondTerms {
        string isin;
        uint256 denomination;
        uint256 issueVolume;
        uint256 couponRate;
        uint8 couponType;
        uint256 couponFrequency;
        uint256 issueDate;
        uint256 maturityDate;
        uint8 dayCountBasis;
    }

    /// @notice A green bond's framework and use-of-proceeds categories (empty for a plain bond).
    struct GreenTerms {
        string frameworkUri;
        bytes32 frameworkSha256;
        string[] useOfProceeds;
    }

    string private _isin;
    string[] private _useOfProceeds;
    uint256 private immutable _denomination;
    uint256 private immutable _issueVolume;
    uint256 private immutable _couponRate;
    uint256 private immutable _couponFrequency;
    uint256 private immutable _issueDate;
    uint256 private immutable _maturityDate;
    uint8 private immutable _couponType;
    uint8 private immutable _dayCountBasis;

    error InvalidDenomination();
    error IssueVolumeNotMultipleOfDenomination(uint256 issueVolume, uint256 denomination);
    error MaturityNotAfterIssue(uint256 issueDate, uint256 maturityDate);
    error InvalidCouponType(uint8 couponType);
    error InvalidDayCountBasis(uint8 dayCountBasis);
    error PrincipalNotMultipleOfDenomination(uint256 principal);
    error AllowanceBelowDecrease(address spender, uint256 allowance, uint256 decrease);
    error NotFullyRedeemed(uint256 outstanding);

    /// @notice Redemption began: `early` when the issuer called the bond before maturity.
    event RedemptionStarted(bool early);
    /// @notice Every token has been redeemed and burned.
    event BondRedeemed();

    bool private _redeemed;

    constructor(TokenConfig memory cfg, BondTerms memory terms, GreenTerms memory green) SecurityToken(cfg) {
        if (terms.denomination == 0) revert InvalidDenomination();
        if (terms.issueVolume == 0 || terms.issueVolume % terms.denomination != 0) {
            revert IssueVolumeNotMultipleOfDenomination(terms.issueVolume, terms.denomination);
        }
        if (terms.maturityDate <= terms.issueDate) revert MaturityNotAfterIssue(terms.issueDate, terms.maturityDate);
        if (terms.couponType > 2) revert InvalidCouponType(terms.couponType);
        if (terms.dayCountBasis > 4) revert InvalidDayCountBasis(terms.dayCountBasis);

        _isin = terms.isin;
        _denomination = terms.denomination;
        _issueVolume = terms.issueVolume;
        _couponRate = terms.couponRate;
        _couponType = terms.couponType;
        _couponFrequency = terms.couponFrequency;
        _issueDate = terms.issueDate;
        _maturityDate = terms.maturityDate;
        _dayCountBasis = terms.dayCountBasis;

        if (bytes(green.frameworkUri).length > 0) {
            _setDocument(GREEN_BOND_FRAMEWORK, green.frameworkUri, green.frameworkSha256);
        }
        _useOfProceeds = green.useOfProceeds;
    }

    // ------------------------------------------------------------------ ERC-7092 getters

    /// @notice The bond's ISIN.
    function isin() external view returns (string memory) {
        return _isin;
    }

    /// @notice The bond's name.
    function name() public view override(ERC20, IERC7092) returns (string memory) {
        return super.name();
    }

    /// @notice The bond's symbol.
    function symbol() public view override(ERC20, IERC7092) returns (string memory) {
        return super.symbol();
    }

    /// @notice The cash token principal is paid in.
    function currency() public view override(SecurityToken, IERC7092) returns (address) {
        return super.currency();
    }

    /// @notice Principal of one token, in base units of the currency token.
    function denomination() external view returns (uint256) {
        return _denomination;
    }

    /// @notice Issue size, in base units of the currency token.
    function issueVolume() external view returns (uint256) {
        return _issueVolume;
    }

    /// @notice Annual coupon rate x 10^6.
    function couponRate() external view returns (uint256) {
        return _couponRate;
    }

    /// @notice Issue date, unix seconds at 00:00 UTC.
    function issueDate() external view returns (uint256) {
        return _issueDate;
    }

    /// @notice Maturity date, unix seconds at 00:00 UTC.
    function maturityDate() external view returns (uint256) {
        return _maturityDate;
    }

    /// @notice Principal held by `_account`, in base units of the currency token.
    function principalOf(address _account) external view returns (uint256) {
        return balanceOf(_account) * _denomination;
    }

    /// @notice Remaining allowance of `_spender` over `_owner`'s bonds, in tokens (ERC-20).
    function allowance(address _owner, address _spender)
        public
        view
        override(ERC20, IERC7092)
        returns (uint256)
    {
        return super.allowance(_owner, _spender);
    }

    // ------------------------------------------------------------------ ERC-7092 optional getters

    /// @notice Zero: one token is one denomination.
    function decimals() public pure override(ERC20, IERC7092ESG) returns (uint8) {
        return 0;
    }

    /// @notice The cash token coupons are paid in (the same as principal).
    function currencyOfCoupon() external view returns (address) {
        return currency();
    }

    /// @notice 0 zero coupon, 1 fixed, 2 floating.
    function couponType() external view returns (uint8) {
        return _couponType;
    }

    /// @notice Coupon payments a year (0 for a zero-coupon bond).
    function couponFrequency() external view returns (uint256) {
        return _couponFrequency;
    }

    /// @notice 0 ACT/ACT, 1 30/360, 2 ACT/360, 3 ACT/365, 4 30/365.
    function dayCountBasis() external view returns (uint8) {
        return _dayCountBasis;
    }

    // ------------------------------------------------------------------ green bond

    /// @notice The green bond framework's URI and sha256 (empty for a plain bond).
    function greenBondFramework() external view returns (string memory uri, bytes32 sha256Hash) {
        (uri, sha256Hash,) = getDocument(GREEN_BOND_FRAMEWORK);
    }

    /// @notice The framework's eligible use-of-proceeds categories.
    function useOfProceeds() external view returns (string[] memory) {
        return _useOfProceeds;
    }

    // ------------------------------------------------------------------ ERC-7092 setters (principal amounts)

    /// @notice Approves `_spender` for `_amount` tokens (ERC-20 units).
    function approve(address _spender, uint256 _amount) public override(ERC20, IERC7092) returns (bool) {
        return super.approve(_spender, _amount);
    }

    /// @notice Lowers `_spender`'s allowance by `_amount` of principal.
    function decreaseAllowance(address _spender, uint256 _amount) external {
        _decreaseAllowance(_msgSender(), _spender, _toTokens(_amount));
    }

    /// @notice Transfers `_amount` of principal to `_to`; `_data` is carried for the standard, not read.
    function transfer(address _to, uint256 _amount, bytes calldata) external returns (bool) {
        _transfer(_msgSender(), _to, _toTokens(_amount));
        return true;
    }

    /// @notice Transfers `_amount` of principal from `_from` to `_to` against the caller's allowance.
    function transferFrom(address _from, address _to, uint256 _amount, bytes calldata) external returns (bool) {
        uint256 tokens = _toTokens(_amount);
        _spendAllowance(_from, _msgSender(), tokens);
        _transfer(_from, _to, tokens);
        return true;
    }

    /// @notice Approves each spender for the matching principal amount.
    function batchApprove(address[] calldata _spender, uint256[] calldata _amount) external returns (bool) {
        if (_spender.length != _amount.length) revert LengthMismatch();
        address owner = _msgSender();
        for (uint256 i = 0; i < _spender.length; ++i) {
            _approve(owner, _spender[i], _toTokens(_amount[i]));
        }
        emit ApprovalBatch(owner, _spender, _amount);
        return true;
    }

    /// @notice Lowers each spender's allowance by the matching principal amount.
    function batchDecreaseAllowance(address[] calldata _spender, uint256[] calldata _amount) external {
        if (_spender.length != _amount.length) revert LengthMismatch();
        address owner = _msgSender();
        for (uint256 i = 0; i < _spender.length; ++i) {
            _decreaseAllowance(owner, _spender[i], _toTokens(_amount[i]));
        }
        emit ApprovalBatch(owner, _spender, _amount);
    }

    /// @notice Transfers each principal amount to the matching receiver.
    function batchTransfer(address[] calldata _to, uint256[] calldata _amount, bytes[] calldata _data)
        external
        returns (bool)
    {
        if (_to.length != _amount.length || _to.length != _data.length) revert LengthMismatch();
        address sender = _msgSender();
        address[] memory from = new address[](_to.length);
        for (uint256 i = 0; i < _to.length; ++i) {
            from[i] = sender;
            _transfer(sender, _to[i], _toTokens(_amount[i]));
        }
        emit TransferBatch(from, _to, _amount);
        return true;
    }

    /// @notice Transfers each principal amount between the matching pair, against allowances.
    function batchTransferFrom(
        address[] calldata _from,
        address[] calldata _to,
        uint256[] calldata _amount,
        bytes[] calldata _data
    ) external returns (bool) {
        if (_from.length != _to.length || _to.length != _amount.length || _to.length != _data.length) {
            revert LengthMismatch();
        }
        address spender = _msgSender();
        for (uint256 i = 0; i < _to.length; ++i) {
            uint256 tokens = _toTokens(_amount[i]);
            _spendAllowance(_from[i], spender, tokens);
            _transfer(_from[i], _to[i], tokens);
        }
        emit TransferBatch(_from, _to, _amount);
        return true;
    }

    // ------------------------------------------------------------------ redemption

    /// @notice Closes the bond to transfers and mints for redemption (at maturity, or early on a call).
    function startRedemption() external onlyRole(PAYING_AGENT_ROLE) {
        if (!closed()) {
            _close();
            emit RedemptionStarted(block.timestamp < _maturityDate);
        }
    }

    /// @notice Marks the bond redeemed once no token is left.
    function markRedeemed() external onlyRole(PAYING_AGENT_ROLE) {
        if (totalSupply() != 0) revert NotFullyRedeemed(totalSupply());
        if (!_redeemed) {
            _redeemed = true;
            emit BondRedeemed();
        }
    }

    /// @notice Whether every token has been redeemed.
    function isRedeemed() external view returns (bool) {
        return _redeemed;
    }

    /// @inheritdoc SecurityToken
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IERC7092).interfaceId || interfaceId == type(IERC7092ESG).interfaceId
            || super.supportsInterface(interfaceId);
    }

    // ------------------------------------------------------------------ internals

    /// @dev From maturity, or once redemption starts, nothing moves but burns; minting never takes
    /// supply past the issue volume.
    function _checkInstrument(HotConfig memory h, address from, address to, uint256 value)
        internal
        view
        override
        returns (uint8)
    {
        if (to != address(0) && (block.timestamp >= _maturityDate || h.closed)) return TransferReason.INSTRUMENT_CLOSED;
        if (from == address(0) && (totalSupply() + value) * _denomination > _issueVolume) {
            return TransferReason.SUPPLY_CAP_EXCEEDED;
        }
        return TransferReason.OK;
    }

    function _toTokens(uint256 principal) private view returns (uint256) {
        if (principal % _denomination != 0) revert PrincipalNotMultipleOfDenomination(principal);
        return principal / _denomination;
    }

    function _decreaseAllowance(address owner, address spender, uint256 tokens) private {
        uint256 current = allowance(owner, spender);
        if (current < tokens) revert AllowanceBelowDecrease(spender, current, tokens);
        _approve(owner, spender, current - tokens);
    }
}
