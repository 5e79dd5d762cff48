// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ISecurityToken, TransferReason} from "./interfaces/ISecurityToken.sol";
import {IERC7943Fungible} from "./interfaces/IERC7943.sol";
import {IFundToken} from "./interfaces/IFundToken.sol";

/**
 * @title SettlementFailure
 * @notice Why a settlement instruction did not settle, carried by {DvPSettlement-SettlementFailed}
 * and {DvPSettlement-SettlementRefused}. When a leg is refused, the refusing token's reason in
 * {TransferReason} codes comes alongside where it is known (the security token's compliance
 * reason; insufficient balance or allowance on either leg), else 0. The Python layer mirrors this
 * table (ledger/codes.py).
 */
library SettlementFailure {
    uint8 internal constant OK = 0;
    uint8 internal constant EXPIRED = 1;
    uint8 internal constant NONCE_USED = 2; // its nonce settled an instruction already
    uint8 internal constant BAD_SELLER_SIGNATURE = 3;
    uint8 internal constant BAD_BUYER_SIGNATURE = 4;
    uint8 internal constant TOKEN_NOT_LISTED = 5;
    uint8 internal constant SECURITY_LEG_REFUSED = 6;
    uint8 internal constant CASH_LEG_REFUSED = 7;
    uint8 internal constant INVALID_INSTRUCTION = 8; // seller is buyer, or nothing to deliver
    uint8 internal constant LEG_REVERTED = 9; // a leg reverted for a reason not classified above
    uint8 internal constant CANCELLED = 10; // a party cancelled it
    uint8 internal constant NOT_YET_DUE = 11; // before its intended settlement date
}

/**
 * @title DvPSettlement
 * @notice Delivery versus payment: securities move one way and cash the other in the same
 * transaction, or nothing moves. Investors authorize this contract on their cash token
 * (`approve` or `permit`); security tokens grant it their minter and settlement roles.
 * @dev Investors' cash authorizations are only ever spent on tokens the venue's admin has
 * listed, by a settlement agent of the venue: a contract that merely claims to be a security
 * token cannot pull anyone's cash. The contract never holds a balance between the legs.
 *
 * Primary issuance: a settlement agent who is also a minter of the (listed) token submits
 * allocations; for each, the investor's cash goes to the token's treasury and the new tokens
 * are minted to the investor. An allocation id settles once per token. ETF creations and
 * redemptions by authorized participants settle here too, units against cash at the fund's NAV.
 *
 * Secondary trades: both parties sign the same EIP-712 {Instruction} (so investors need no gas)
 * and the agent submits it. Its id is the EIP-712 digest both signed. Each instruction carries a
 * nonce, chosen by the agent, that settles once, so an instruction settles at most once and a
 * signature cannot be replayed; settlement waits for the intended settlement date and stops at
 * expiry. Either party may cancel an instruction before it settles; a cancellation voids that
 * instruction (its id) only, so nobody can void another's instruction by cancelling one of
 * their own making. The security token and the cash token must each be listed on the venue, in
 * separate lists, so a cash token can never stand in for a security. Calls out to tokens and to
 * contract parties' signature checks get bounded gas, so no one party can starve a batch.
 * Eligibility stays the tokens' own: the security leg goes through the token's compliance hook.
 */
contract DvPSettlement is AccessControl, ReentrancyGuardTransient, EIP712 {
    using SafeERC20 for IERC20;

    /// @notice May submit settlements (the platform operator).
    bytes32 public constant SETTLEMENT_AGENT_ROLE = keccak256("SETTLEMENT_AGENT_ROLE");

    bytes32 private constant _TOKEN_MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @notice EIP-712 type of a settlement instruction.
    bytes32 public constant INSTRUCTION_TYPEHASH = keccak256(
        "Instruction(address seller,address buyer,address securityToken,uint256 quantity,address cashToken,"
        "uint256 cashAmount,uint64 tradeDate,uint64 settlementDate,uint64 expiry,uint256 nonce)"
    );
    /// @notice EIP-712 type of a party's cancellation of an instruction.
    bytes32 public constant CANCEL_TYPEHASH = keccak256("Cancel(bytes32 instructionId)");

    /// @notice One investor's allocation in a primary issuance.
    struct Allocation {
        bytes32 allocationId; // unique per issuance line, chosen by the issuer
        address investor; // receives the tokens, pays the cash
        uint256 quantity; // tokens
        uint256 cashAmount; // base units of the token's currency
    }

    /// @notice A secondary trade to settle: `quantity` of `securityToken` from seller to buyer
    /// against `cashAmount` of `cashToken` from buyer to seller.
    struct Instruction {
        address seller;
        address buyer;
        address securityToken;
        uint256 quantity; // tokens
        address cashToken;
        uint256 cashAmount; // base units of the cash token
        uint64 tradeDate; // unix seconds, 00:00 UTC
        uint64 settlementDate; // intended settlement date, unix seconds, 00:00 UTC
        uint64 expiry; // unix seconds: it cannot settle at or after this time
        uint256 nonce; // chosen by the agent, unique on this venue; a nonce settles one instruction
    }

    mapping(address token => bool) private _listed; // security tokens
    mapping(address token => bool) private _cashListed;
    // slither-disable-next-line uninitialized-state (written through a storage reference in settleIssuance)
    mapping(address token => mapping(bytes32 allocationId => bool)) private _allocationSettled;
    // 256 nonces a word: consecutive instructions share a slot, so marking one used is cheap.
    mapping(uint256 word => uint256 bits) private _usedNonces;
    mapping(bytes32 instructionId => bool) private _cancelled;

    /// @notice A security token was listed on (or removed from) the venue.
    event TokenListed(address indexed token, bool listed);
    /// @notice A cash token was listed on (or removed from) the venue.
    event CashTokenListed(address indexed token, bool listed);

    /// @notice An allocation settled: `quantity` tokens to `investor` against `cashAmount` to `treasury`.
    event IssuanceSettled(
        bytes32 indexed allocationId,
        address indexed token,
        address indexed investor,
        uint256 quantity,
        address cashToken,
        uint256 cashAmount,
        address treasury
    );

    /// @notice An authorized participant created units of a fund against cash.
    event CreationSettled(
        address indexed fund,
        address indexed participant,
        uint256 creationUnits,
        uint256 units,
        address cashToken,
        uint256 cashAmount,
        uint256 navPerUnit
    );

    /// @notice An authorized participant redeemed units of a fund for cash.
    event RedemptionSettled(
        address indexed fund,
        address indexed participant,
        uint256 creationUnits,
        uint256 units,
        address cashToken,
        uint256 cashAmount,
        uint256 navPerUnit
    );

    /// @notice An instruction settled: both legs moved in this transaction.
    event InstructionSettled(
        bytes32 indexed instructionId,
        address indexed seller,
        address indexed buyer,
        address securityToken,
        uint256 quantity,
        address cashToken,
        uint256 cashAmount,
        uint256 nonce
    );

    /// @notice A party cancelled an instruction before it settled.
    event InstructionCancelled(bytes32 indexed instructionId, address indexed party, uint256 nonce);

    /// @notice In a best-effort batch, an instruction was skipped: nothing of it moved.
    event SettlementFailed(bytes32 indexed instructionId, uint8 reason, uint8 tokenReason);

    error NotIssuer(address caller, address token);
    error TokenNotListed(address token);
    error AllocationAlreadySettled(bytes32 allocationId);
    /// @notice An all-or-nothing settlement stopped at this instruction; nothing of the call moved.
    error SettlementRefused(bytes32 instructionId, uint8 reason, uint8 tokenReason);
    error NotAParty(address caller, bytes32 instructionId);
    error BadCancelSignature(address party, bytes32 instructionId);
    error NonceUsed(uint256 nonce);
    error AlreadyCancelled(bytes32 instructionId);
    error LengthMismatch();
    error OnlySelf();
    /// @dev Raised inside the self-call by the leg that failed: 1 security, 2 cash.
    error LegFailed(uint8 leg, bytes reason);

    uint8 private constant _SECURITY_LEG = 1;
    uint8 private constant _CASH_LEG = 2;
    // Revert data kept from a failing leg; a longer reason is cut (a token cannot grief with size).
    uint256 private constant _MAX_REASON = 256;
    // Gas a leg's token call, or a contract party's ERC-1271 check, may use: generous for an honest
    // token or wallet, small enough that one bad party cannot starve the rest of a batch.
    uint256 private constant _LEG_GAS = 300_000;
    uint256 private constant _SIGNATURE_GAS = 100_000;

    /// @param admin Receives the admin and settlement agent roles.
    constructor(address admin) EIP712("bondledger DvPSettlement", "1") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(SETTLEMENT_AGENT_ROLE, admin);
    }

    // ------------------------------------------------------------------ listing

    /// @notice Lists a security token on the venue (or removes it): only listed securities settle.
    function setListed(address token, bool listed) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _listed[token] = listed;
        emit TokenListed(token, listed);
    }

    /// @notice Lists a cash token on the venue (or removes it): only listed cash pays.
    function setCashListed(address token, bool listed) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _cashListed[token] = listed;
        emit CashTokenListed(token, listed);
    }

    /// @notice Whether security token `token` may settle on this venue.
    function isListed(address token) external view returns (bool) {
        return _listed[token];
    }

    /// @notice Whether cash token `token` may pay on this venue.
    function isCashListed(address token) external view returns (bool) {
        return _cashListed[token];
    }

    // ------------------------------------------------------------------ primary issuance

    /**
     * @notice Settles primary allocations of `token`, all or none: each investor's cash moves to
     * the token's treasury and its tokens are minted to it. The token must be listed and the
     * caller must be a settlement agent of the venue and a minter of `token`.
     */
    function settleIssuance(ISecurityToken token, Allocation[] calldata allocations)
        external
        nonReentrant
        onlyRole(SETTLEMENT_AGENT_ROLE)
    {
        if (!_listed[address(token)]) revert TokenNotListed(address(token));
        if (!IAccessControl(address(token)).hasRole(_TOKEN_MINTER_ROLE, msg.sender)) {
            revert NotIssuer(msg.sender, address(token));
        }
        mapping(bytes32 => bool) storage settled = _allocationSettled[address(token)];
        IERC20 cash = IERC20(_listedCurrency(token));
        address treasury = token.treasury();
        for (uint256 i = 0; i < allocations.length; ++i) {
            Allocation calldata a = allocations[i];
            if (settled[a.allocationId]) revert AllocationAlreadySettled(a.allocationId);
            settled[a.allocationId] = true;
            // slither-disable-next-line arbitrary-send-erc20 (a settlement agent moves an investor's cash it authorized for its allocation)
            cash.safeTransferFrom(a.investor, treasury, a.cashAmount);
            token.mint(a.investor, a.quantity);
            emit IssuanceSettled(
                a.allocationId, address(token), a.investor, a.quantity, address(cash), a.cashAmount, treasury
            );
        }
    }

    /// @notice Whether an allocation id of `token` has settled.
    function isAllocationSettled(address token, bytes32 allocationId) external view returns (bool) {
        return _allocationSettled[token][allocationId];
    }

    // ------------------------------------------------------------------ ETF creation and redemption

    /**
     * @notice An authorized participant creates `creationUnits` creation units of `fund`: the
     * units are minted to it and it pays their cash, at the fund's latest NAV (rounded up), to
     * the fund's cash account, in one transaction. The fund checks the participant and the NAV.
     */
    function settleCreation(IFundToken fund, address ap, uint256 creationUnits)
        external
        nonReentrant
        onlyRole(SETTLEMENT_AGENT_ROLE)
    {
        (IERC20 cash, uint256 navPerUnit) = _fundSettlement(fund);
        (uint256 units, uint256 cashAmount) = fund.mintCreation(ap, creationUnits);
        // slither-disable-next-line arbitrary-send-erc20 (the fund checked the participant; it authorized the venue)
        cash.safeTransferFrom(ap, fund.treasury(), cashAmount);
        emit CreationSettled(address(fund), ap, creationUnits, units, address(cash), cashAmount, navPerUnit);
    }

    /**
     * @notice An authorized participant redeems `creationUnits` creation units of `fund`: the
     * units are burned and the fund's cash account pays their cash, at the latest NAV (rounded
     * down), in one transaction. The fund's cash account authorizes this venue for payouts.
     */
    function settleRedemption(IFundToken fund, address ap, uint256 creationUnits)
        external
        nonReentrant
        onlyRole(SETTLEMENT_AGENT_ROLE)
    {
        (IERC20 cash, uint256 navPerUnit) = _fundSettlement(fund);
        (uint256 units, uint256 cashAmount) = fund.burnRedemption(ap, creationUnits);
        // slither-disable-next-line arbitrary-send-erc20 (a listed fund's cash account, which authorized the venue for payouts)
        cash.safeTransferFrom(fund.treasury(), ap, cashAmount);
        emit RedemptionSettled(address(fund), ap, creationUnits, units, address(cash), cashAmount, navPerUnit);
    }

    // ------------------------------------------------------------------ secondary settlement

    /// @notice Settles one instruction both parties signed; reverts with {SettlementRefused} if it cannot.
    function settle(Instruction calldata ins, bytes calldata sellerSignature, bytes calldata buyerSignature)
        external
        nonReentrant
        onlyRole(SETTLEMENT_AGENT_ROLE)
    {
        (bytes32 id, uint8 reason, uint8 tokenReason) = _settleOne(ins, sellerSignature, buyerSignature);
        if (reason != SettlementFailure.OK) revert SettlementRefused(id, reason, tokenReason);
    }

    /**
     * @notice Settles a batch of signed instructions in one transaction. All or nothing: the first
     * instruction that cannot settle reverts the call with {SettlementRefused}. Best effort: it is
     * skipped with {SettlementFailed} (none of its legs moves) and the others settle.
     * @return settled How many instructions settled.
     */
    function settleBatch(
        Instruction[] calldata instructions,
        bytes[] calldata sellerSignatures,
        bytes[] calldata buyerSignatures,
        bool bestEffort
    ) external nonReentrant onlyRole(SETTLEMENT_AGENT_ROLE) returns (uint256 settled) {
        if (instructions.length != sellerSignatures.length || instructions.length != buyerSignatures.length) {
            revert LengthMismatch();
        }
        for (uint256 i = 0; i < instructions.length; ++i) {
            (bytes32 id, uint8 reason, uint8 tokenReason) =
                _settleOne(instructions[i], sellerSignatures[i], buyerSignatures[i]);
            if (reason == SettlementFailure.OK) {
                ++settled;
            } else if (bestEffort) {
                emit SettlementFailed(id, reason, tokenReason);
            } else {
                revert SettlementRefused(id, reason, tokenReason);
            }
        }
    }

    /// @dev Both legs, run as an external self-call so that a refused leg undoes the other. Each
    /// leg's failure is re-raised as {LegFailed}, so which leg failed is this contract's word,
    /// not the failing token's.
    function executeLegs(bytes32 id, Instruction calldata ins) external {
        if (msg.sender != address(this)) revert OnlySelf();
        _useNonce(ins.nonce);
        _callLeg(
            _SECURITY_LEG,
            ins.securityToken,
            abi.encodeCall(ISecurityToken.settlementTransfer, (ins.seller, ins.buyer, ins.quantity))
        );
        _callLeg(_CASH_LEG, ins.cashToken, abi.encodeCall(IERC20.transferFrom, (ins.buyer, ins.seller, ins.cashAmount)));
        emit InstructionSettled(
            id, ins.seller, ins.buyer, ins.securityToken, ins.quantity, ins.cashToken, ins.cashAmount, ins.nonce
        );
    }

    /// @notice A party cancels an instruction it is party to, before it settles.
    function cancel(Instruction calldata ins) external {
        bytes32 id = instructionId(ins);
        if (msg.sender != ins.seller && msg.sender != ins.buyer) revert NotAParty(msg.sender, id);
        _cancel(id, ins, msg.sender);
    }

    /// @notice Cancels on a party's signed `Cancel(instructionId)`, submitted by anyone (gas-free for the party).
    function cancelBySig(Instruction calldata ins, address party, bytes calldata signature) external {
        bytes32 id = instructionId(ins);
        if (party != ins.seller && party != ins.buyer) revert NotAParty(party, id);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(CANCEL_TYPEHASH, id)));
        if (!_validSignature(party, digest, signature)) revert BadCancelSignature(party, id);
        _cancel(id, ins, party);
    }

    /// @notice Whether a party cancelled the instruction with this id.
    function isCancelled(bytes32 instructionId_) external view returns (bool) {
        return _cancelled[instructionId_];
    }

    /// @notice The instruction's id: the EIP-712 digest both parties sign.
    function instructionId(Instruction calldata ins) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(INSTRUCTION_TYPEHASH, ins)));
    }

    /// @notice Whether `nonce` has settled an instruction.
    function isNonceUsed(uint256 nonce) public view returns (bool) {
        return _usedNonces[nonce >> 8] & (1 << (nonce & 0xff)) != 0;
    }

    /// @notice The EIP-712 domain separator parties sign under.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ------------------------------------------------------------------ internals

    function _settleOne(Instruction calldata ins, bytes calldata sellerSignature, bytes calldata buyerSignature)
        private
        returns (bytes32 id, uint8 reason, uint8 tokenReason)
    {
        id = instructionId(ins);
        reason = _validate(id, ins, sellerSignature, buyerSignature);
        if (reason != SettlementFailure.OK) return (id, reason, 0);
        try this.executeLegs(id, ins) {
            return (id, SettlementFailure.OK, 0);
        } catch (bytes memory err) {
            (reason, tokenReason) = _classify(err);
        }
    }

    function _validate(bytes32 id, Instruction calldata ins, bytes calldata sellerSig, bytes calldata buyerSig)
        private
        view
        returns (uint8)
    {
        if (ins.seller == ins.buyer || ins.quantity == 0) return SettlementFailure.INVALID_INSTRUCTION;
        if (block.timestamp >= ins.expiry) return SettlementFailure.EXPIRED;
        if (block.timestamp < ins.settlementDate) return SettlementFailure.NOT_YET_DUE;
        if (isNonceUsed(ins.nonce)) return SettlementFailure.NONCE_USED;
        if (_cancelled[id]) return SettlementFailure.CANCELLED;
        if (!_listed[ins.securityToken] || !_cashListed[ins.cashToken]) return SettlementFailure.TOKEN_NOT_LISTED;
        if (!_validSignature(ins.seller, id, sellerSig)) return SettlementFailure.BAD_SELLER_SIGNATURE;
        if (!_validSignature(ins.buyer, id, buyerSig)) return SettlementFailure.BAD_BUYER_SIGNATURE;
        return SettlementFailure.OK;
    }

    /// @dev What creation and redemption share: the fund and its cash token must be listed, and
    /// the NAV per unit they settle at (the fund checks its age when it mints or burns; minting
    /// and burning leave it unchanged, so it is read first).
    function _fundSettlement(IFundToken fund) private view returns (IERC20 cash, uint256 navPerUnit) {
        if (!_listed[address(fund)]) revert TokenNotListed(address(fund));
        cash = IERC20(_listedCurrency(fund));
        // slither-disable-next-line unused-return (the NAV's time is checked by the fund; only the price is reported)
        (navPerUnit,) = fund.nav();
    }

    /// @dev The token's currency, which must be a listed cash token: no authorization is spent on other cash.
    function _listedCurrency(ISecurityToken token) private view returns (address currency) {
        currency = token.currency();
        if (!_cashListed[currency]) revert TokenNotListed(currency);
    }

    /// @dev Calls one leg; on failure re-raises its (bounded) revert data as {LegFailed}.
    function _callLeg(uint8 leg, address token, bytes memory data) private {
        (bool ok, bytes memory ret) = _boundedCall(token, data);
        // A token without code, or an ERC-20 that answers `false`, fails the leg too.
        if (ok && (token.code.length == 0 || (ret.length > 0 && (ret.length < 32 || abi.decode(ret, (uint256)) == 0)))) {
            ok = false;
            ret = "";
        }
        if (!ok) revert LegFailed(leg, ret);
    }

    /// @dev A call with at most {_LEG_GAS} that copies at most {_MAX_REASON} bytes of what it returns.
    function _boundedCall(address target, bytes memory data) private returns (bool ok, bytes memory ret) {
        uint256 max = _MAX_REASON;
        uint256 gasLimit = _LEG_GAS;
        assembly ("memory-safe") {
            ok := call(gasLimit, target, 0, add(data, 0x20), mload(data), 0, 0)
            let size := returndatasize()
            if gt(size, max) { size := max }
            ret := mload(0x40)
            mstore(ret, size)
            returndatacopy(add(ret, 0x20), 0, size)
            mstore(0x40, add(add(ret, 0x20), and(add(size, 0x1f), not(0x1f))))
        }
    }

    /// @dev An EOA's ECDSA signature, or a contract party's ERC-1271 answer given bounded gas.
    function _validSignature(address signer, bytes32 digest, bytes calldata signature) private view returns (bool) {
        if (signer.code.length == 0) {
            // slither-disable-next-line unused-return (the third value only details err, which is checked)
            (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
            return err == ECDSA.RecoverError.NoError && recovered == signer;
        }
        (bool ok, bytes memory ret) = signer.staticcall{gas: _SIGNATURE_GAS}(
            abi.encodeCall(IERC1271.isValidSignature, (digest, signature))
        );
        // The whole word must be the magic value, as OpenZeppelin's SignatureChecker requires.
        return ok && ret.length >= 32 && bytes32(ret) == bytes32(IERC1271.isValidSignature.selector);
    }

    /// @dev Which leg refused and why, in the token's reason codes ({TransferReason}). A leg's
    /// failure not recognised exactly (selector and length) is that leg's refusal with reason 0;
    /// anything but {LegFailed} (the self-call ran out of gas) is LEG_REVERTED.
    function _classify(bytes memory err) private pure returns (uint8, uint8) {
        if (err.length < 4 || bytes4(err) != LegFailed.selector) return (SettlementFailure.LEG_REVERTED, 0);
        (uint8 leg, bytes memory inner) = abi.decode(_tail(err), (uint8, bytes));
        uint8 failure = leg == _SECURITY_LEG ? SettlementFailure.SECURITY_LEG_REFUSED : SettlementFailure.CASH_LEG_REFUSED;
        if (inner.length < 4) return (failure, 0);
        bytes4 selector = bytes4(inner);
        if (leg == _SECURITY_LEG && selector == ISecurityToken.TransferRestricted.selector && inner.length == 132) {
            // Read only the last word (the reason) by hand: abi.decode would revert on dirty words.
            uint256 tokenReason;
            assembly ("memory-safe") {
                tokenReason := mload(add(inner, 132))
            }
            return (failure, tokenReason <= type(uint8).max ? uint8(tokenReason) : 0);
        }
        if (
            leg == _SECURITY_LEG && selector == IERC7943Fungible.ERC7943InsufficientUnfrozenBalance.selector
                && inner.length == 100
        ) {
            return (failure, TransferReason.INSUFFICIENT_UNFROZEN_BALANCE);
        }
        if (selector == IERC20Errors.ERC20InsufficientBalance.selector && inner.length == 100) {
            return (failure, TransferReason.INSUFFICIENT_BALANCE);
        }
        if (selector == IERC20Errors.ERC20InsufficientAllowance.selector && inner.length == 100) {
            return (failure, TransferReason.INSUFFICIENT_ALLOWANCE);
        }
        return (failure, 0);
    }

    /// @dev `err` without its 4-byte selector.
    function _tail(bytes memory err) private pure returns (bytes memory tail) {
        tail = new bytes(err.length - 4);
        for (uint256 i = 0; i < tail.length; ++i) {
            tail[i] = err[i + 4];
        }
    }

    function _cancel(bytes32 id, Instruction calldata ins, address party) private {
        if (isNonceUsed(ins.nonce)) revert NonceUsed(ins.nonce);
        if (_cancelled[id]) revert AlreadyCancelled(id);
        _cancelled[id] = true;
        emit InstructionCancelled(id, party, ins.nonce);
    }

    function _useNonce(uint256 nonce) private {
        uint256 bit = 1 << (nonce & 0xff);
        uint256 word = _usedNonces[nonce >> 8];
        if (word & bit != 0) revert NonceUsed(nonce);
        _usedNonces[nonce >> 8] = word | bit;
    }
}
