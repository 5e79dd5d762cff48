// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IBondLifecycle} from "./interfaces/IBondLifecycle.sol";

/**
 * @title PayingAgent
 * @notice Pays a bond's coupons and principal from the issuer's cash account (which authorizes
 * this contract) to the holders of record, in batches, each holder at most once.
 * @dev A coupon is declared on its record-date snapshot with an amount per token; holders are paid
 * their snapshot balance times it, rounded down to the cash token's base unit (the issuer keeps the
 * residue). Holders are paid in ascending address order: each coupon keeps a cursor, the highest
 * holder passed so far, and a batch pays only holders above it, strictly ascending; so no holder
 * is paid twice, however many batches and re-runs (a re-run after a crash starts above the cursor),
 * at one storage write per batch rather than one per holder. When the quantities paid reach the
 * snapshot's total supply the coupon is complete and the snapshot released: no holder missed. (A
 * caller that passes over a holder of record leaves the coupon incomplete, for all to see.) Redemption closes the bond to transfers,
 * then pays each holder's tokens at the declared amount and burns them in the same transaction.
 * It acts only for bonds its admin (the issuer) has registered: a paying-agent key alone cannot
 * make it pay out of a treasury through a bond of its own making.
 */
contract PayingAgent is AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice May declare and pay (the issuer's paying agent).
    bytes32 public constant PAYING_AGENT_ROLE = keccak256("PAYING_AGENT_ROLE");

    /// @notice Amounts per token are in base units of the cash token times this.
    uint256 public constant AMOUNT_SCALE = 1e10;

    struct Payment {
        uint256 amountPerToken; // cash base units x AMOUNT_SCALE
        uint256 paymentTime; // coupons: not payable before
        uint256 paidQuantity;
        uint256 paidAmount;
        bool declared;
        bool complete;
    }

    mapping(address bond => mapping(uint256 couponId => Payment)) private _coupons;
    // The highest holder passed so far, per coupon: holders at or below it were paid (if owed).
    mapping(address bond => mapping(uint256 couponId => address)) private _couponCursor;
    mapping(address bond => Payment) private _redemptions;
    mapping(address bond => bool) private _registered;

    /// @notice Coupon `couponId` (= the bond's record-date snapshot id) will pay `amountPerToken`.
    event CouponDeclared(address indexed bond, uint256 indexed couponId, uint256 amountPerToken, uint256 paymentTime);
    /// @notice A holder of record was paid its coupon.
    event CouponPaid(
        address indexed bond, uint256 indexed couponId, address indexed holder, uint256 quantity, uint256 amount
    );
    /// @notice Every holder of record has been paid.
    event CouponCompleted(address indexed bond, uint256 indexed couponId, uint256 quantity, uint256 amount);
    /// @notice The bond will be redeemed at `amountPerToken`; `early` on an issuer's call.
    event RedemptionDeclared(address indexed bond, uint256 amountPerToken, bool early);
    /// @notice A holder's tokens were redeemed: paid and burned.
    event PrincipalPaid(address indexed bond, address indexed holder, uint256 quantity, uint256 amount);
    /// @notice Every token has been redeemed.
    event RedemptionCompleted(address indexed bond, uint256 quantity, uint256 amount);

    /// @notice The issuer registered `bond` with this paying agent, or withdrew it.
    event BondRegistered(address indexed bond, bool registered);

    error BondNotRegistered(address bond);
    error AlreadyDeclared(address bond, uint256 couponId);
    error NotDeclared(address bond, uint256 couponId);
    error RecordDateNotPassed(address bond, uint256 couponId);
    error NotYetPayable(uint256 paymentTime);
    error PaymentComplete(address bond, uint256 couponId);
    /// @notice `holder` is not above `previous` (the cursor, or the holder before it in the batch).
    error HoldersNotAscending(address holder, address previous);
    /// @notice The batch was built to follow `expected`, but the coupon's cursor is at `cursor`.
    error CursorMismatch(address expected, address cursor);

    /// @param admin Receives the admin and paying agent roles.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAYING_AGENT_ROLE, admin);
    }

    /// @dev Only for a bond the issuer registered: its treasury and cash token are then trusted.
    modifier onlyRegistered(IBondLifecycle bond) {
        if (!_registered[address(bond)]) revert BondNotRegistered(address(bond));
        _;
    }

    // ------------------------------------------------------------------ bonds

    /// @notice Registers `bond` (or withdraws it): the paying agent pays only for registered bonds.
    function setBondRegistered(address bond, bool registered) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _registered[bond] = registered;
        emit BondRegistered(bond, registered);
    }

    /// @notice Whether the issuer has registered `bond` with this paying agent.
    function isBondRegistered(address bond) external view returns (bool) {
        return _registered[bond];
    }

    // ------------------------------------------------------------------ coupons

    /**
     * @notice Declares coupon `couponId` of `bond`: its record time must have passed (the holders
     * of record are the bond's snapshot `couponId`); it pays `amountPerToken` from `paymentTime`.
     */
    function declareCoupon(IBondLifecycle bond, uint256 couponId, uint256 amountPerToken, uint256 paymentTime)
        external
        nonReentrant
        onlyRole(PAYING_AGENT_ROLE)
        onlyRegistered(bond)
    {
        Payment storage p = _coupons[address(bond)][couponId];
        if (p.declared) revert AlreadyDeclared(address(bond), couponId);
        // Checks-effects-interactions: declared before the bond is called (a record date not yet
        // passed reverts it all).
        p.declared = true;
        p.amountPerToken = amountPerToken;
        p.paymentTime = paymentTime;
        emit CouponDeclared(address(bond), couponId, amountPerToken, paymentTime);
        bond.openDueSnapshots();
        if (!bond.isSnapshotOpen(couponId)) revert RecordDateNotPassed(address(bond), couponId);
    }

    /// @notice Pays coupon `couponId` to `holders`, strictly ascending and above the coupon's
    /// cursor ({couponCursor}); completes it when all are paid.
    function payCoupon(IBondLifecycle bond, uint256 couponId, address[] calldata holders)
        external
        nonReentrant
        onlyRole(PAYING_AGENT_ROLE)
        onlyRegistered(bond)
    {
        _payCoupon(bond, couponId, holders);
    }

    /// @notice {payCoupon}, for a batch built to follow holder `after` (zero for the first batch):
    /// refused unless the cursor is there, so when batches are sent back to back and one fails,
    /// the ones after it fail too rather than pass over its holders.
    function payCouponAfter(IBondLifecycle bond, uint256 couponId, address after_, address[] calldata holders)
        external
        nonReentrant
        onlyRole(PAYING_AGENT_ROLE)
        onlyRegistered(bond)
    {
        address cursor = _couponCursor[address(bond)][couponId];
        if (cursor != after_) revert CursorMismatch(after_, cursor);
        _payCoupon(bond, couponId, holders);
    }

    /// @notice The state of coupon `couponId` of `bond`.
    function coupon(address bond, uint256 couponId) external view returns (Payment memory) {
        return _coupons[bond][couponId];
    }

    /// @notice Whether `holder` has been passed for coupon `couponId` of `bond`: paid, if it held
    /// any at the record time. It cannot be paid on this coupon again.
    function isCouponPaid(address bond, uint256 couponId, address holder) external view returns (bool) {
        return holder != address(0) && holder <= _couponCursor[bond][couponId];
    }

    /// @notice The highest holder passed so far for coupon `couponId` of `bond` (zero before the
    /// first batch): the next batch pays holders above it, in ascending order.
    function couponCursor(address bond, uint256 couponId) external view returns (address) {
        return _couponCursor[bond][couponId];
    }

    /// @dev Pays a batch: the cursor moves to its last holder before any call goes out (a
    /// revert anywhere undoes it), and the running totals are written once per batch.
    function _payCoupon(IBondLifecycle bond, uint256 couponId, address[] calldata holders) private {
        Payment storage p = _coupons[address(bond)][couponId];
        if (!p.declared) revert NotDeclared(address(bond), couponId);
        if (p.complete) revert PaymentComplete(address(bond), couponId);
        if (block.timestamp < p.paymentTime) revert NotYetPayable(p.paymentTime);
        _advanceCursor(address(bond), couponId, holders);
        IERC20 cash = IERC20(bond.currency());
        address treasury = bond.treasury();
        uint256 amountPerToken = p.amountPerToken;
        uint256 paidQuantity = p.paidQuantity;
        uint256 paidAmount = p.paidAmount;
        for (uint256 i = 0; i < holders.length; ++i) {
            address holder = holders[i];
            uint256 quantity = bond.balanceOfAt(holder, couponId);
            if (quantity == 0) continue;
            uint256 amount = quantity * amountPerToken / AMOUNT_SCALE;
            paidQuantity += quantity;
            paidAmount += amount;
            // slither-disable-next-line arbitrary-send-erc20 (the registered bond's treasury, which authorized what is due)
            cash.safeTransferFrom(treasury, holder, amount);
            emit CouponPaid(address(bond), couponId, holder, quantity, amount);
        }
        p.paidQuantity = paidQuantity;
        p.paidAmount = paidAmount;
        if (paidQuantity == bond.totalSupplyAt(couponId)) {
            p.complete = true;
            bond.closeSnapshot(couponId);
            emit CouponCompleted(address(bond), couponId, paidQuantity, paidAmount);
        }
    }

    /// @dev Moves coupon `couponId`'s cursor to the batch's last holder; refuses a batch that is
    /// not strictly ascending above it (a repeat, a re-run, a holder already passed).
    function _advanceCursor(address bond, uint256 couponId, address[] calldata holders) private {
        address previous = _couponCursor[bond][couponId];
        for (uint256 i = 0; i < holders.length; ++i) {
            if (holders[i] <= previous) revert HoldersNotAscending(holders[i], previous);
            previous = holders[i];
        }
        _couponCursor[bond][couponId] = previous;
    }

    // ------------------------------------------------------------------ redemption

    /**
     * @notice Declares `bond`'s redemption at `amountPerToken` and closes it to transfers: at
     * maturity, or before it on the issuer's call.
     */
    function declareRedemption(IBondLifecycle bond, uint256 amountPerToken)
        external
        nonReentrant
        onlyRole(PAYING_AGENT_ROLE)
        onlyRegistered(bond)
    {
        Payment storage p = _redemptions[address(bond)];
        if (p.declared) revert AlreadyDeclared(address(bond), 0);
        p.declared = true;
        p.amountPerToken = amountPerToken;
        bond.startRedemption();
        emit RedemptionDeclared(address(bond), amountPerToken, block.timestamp < bond.maturityDate());
    }

    /// @notice Redeems `holders`' tokens: pays each its tokens at the declared amount and burns them.
    // slither-disable-next-line reentrancy-no-eth (nonReentrant; the calls go to the registered bond and its cash token)
    function redeem(IBondLifecycle bond, address[] calldata holders)
        external
        nonReentrant
        onlyRole(PAYING_AGENT_ROLE)
        onlyRegistered(bond)
    {
        Payment storage p = _redemptions[address(bond)];
        if (!p.declared) revert NotDeclared(address(bond), 0);
        if (p.complete) revert PaymentComplete(address(bond), 0);
        IERC20 cash = IERC20(bond.currency());
        address treasury = bond.treasury();
        for (uint256 i = 0; i < holders.length; ++i) {
            address holder = holders[i];
            uint256 quantity = bond.balanceOf(holder);
            // slither-disable-next-line incorrect-equality (a holder with nothing left has nothing to redeem)
            if (quantity == 0) continue;
            uint256 amount = quantity * p.amountPerToken / AMOUNT_SCALE;
            p.paidQuantity += quantity;
            p.paidAmount += amount;
            bond.burn(holder, quantity);
            // slither-disable-next-line arbitrary-send-erc20 (the registered bond's treasury, which authorized what is due)
            cash.safeTransferFrom(treasury, holder, amount);
            emit PrincipalPaid(address(bond), holder, quantity, amount);
        }
        // slither-disable-next-line incorrect-equality (every token burned is exactly what completes a redemption)
        if (bond.totalSupply() == 0) {
            p.complete = true;
            bond.markRedeemed();
            emit RedemptionCompleted(address(bond), p.paidQuantity, p.paidAmount);
        }
    }

    /// @notice The state of `bond`'s redemption.
    function redemption(address bond) external view returns (Payment memory) {
        return _redemptions[bond];
    }
}
