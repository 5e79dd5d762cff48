// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {IInvestorRegistry, EligibilityWord} from "./interfaces/IInvestorRegistry.sol";
import {ISecurityToken, TransferReason} from "./interfaces/ISecurityToken.sol";
import {IERC7943Fungible} from "./interfaces/IERC7943.sol";

/**
 * @title SecurityToken
 * @notice A permissioned ERC-20: only eligible investors hold it. Every balance change (transfer,
 * mint, burn, settlement, forced transfer, recovery) passes one hook, {_update}, which asks
 * {_check} and reverts with {TransferRestricted} and a reason code when the answer is no (or
 * with ERC-7943's {ERC7943InsufficientUnfrozenBalance} when only frozen tokens stand in the way).
 * Other systems read it through ERC-7943 (uRWA: {canSend}, {canReceive}, {canTransfer}, frozen
 * amounts, {forcedTransfer}) and ERC-1404 ({detectTransferRestriction} and its messages).
 * @dev What ERC-3643 (T-REX) asks of a permissioned token, at a fraction of its gas: one
 * registry call per transfer returning both parties' packed records, the instrument's
 * configuration packed into the slot Pausable already uses, and freeze lookups skipped while no
 * wallet of this token has a freeze. A wallet's two freezes, the whole-wallet flag (ERC-3643)
 * and the frozen amount (ERC-7943), share one slot: the hook reads both in one load.
 *
 * Record dates: a token may carry a schedule of record times (a bond's coupon record dates).
 * When one passes, a snapshot opens by itself (on the next balance change, or on
 * {openDueSnapshots}); from then on the first change of each balance records what it was, so
 * {balanceOfAt} answers the holding at the record time however the token moves afterwards. A
 * paying agent closes a snapshot once it has paid on it; while none is open, transfers pay
 * nothing for the feature.
 */
abstract contract SecurityToken is ISecurityToken, ERC20, AccessControl, Pausable {
    using EligibilityWord for uint256;
    using Checkpoints for Checkpoints.Trace208;

    /// @notice Transfer agent: freeze, forced transfer, wallet recovery, pause.
    bytes32 public constant AGENT_ROLE = keccak256("AGENT_ROLE");
    /// @notice May mint (primary issuance, ETF creation).
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice May burn (redemption).
    bytes32 public constant BURNER_ROLE = keccak256("BURNER_ROLE");
    /// @notice A settlement venue that moves holders' tokens on their signed instruction.
    bytes32 public constant SETTLEMENT_ROLE = keccak256("SETTLEMENT_ROLE");
    /// @notice A paying agent: closes record-date snapshots it has paid on; redeems.
    bytes32 public constant PAYING_AGENT_ROLE = keccak256("PAYING_AGENT_ROLE");
    /// @notice The most record times (snapshots) an instrument can have.
    uint256 public constant MAX_RECORD_TIMES = type(uint8).max;

    /// @notice Everything a token is configured with at deployment.
    struct TokenConfig {
        string name;
        string symbol;
        address admin; // issuer: admin, agent, minter and burner
        IInvestorRegistry registry;
        address currency; // the cash token
        address treasury; // the issuer's or fund's cash account
        address settlement; // a DvP venue: minter and settlement roles; zero for none
        address payingAgent; // paying agent and burner roles; zero for none
        uint8 categoryMask; // bit c set = investor category c (1..7) may receive
        bytes2[] allowedJurisdictions; // empty = any country
        uint64[] recordTimes; // ascending unix times whose holdings are snapshotted; may be empty
    }

    // These pack into the slot of Pausable's `_paused`, so the hot path reads one slot.
    IInvestorRegistry private _registry;
    uint8 private _categoryMask;
    bool private _jurisdictionsRestricted;
    uint16 private _frozenCount; // wallets with a freeze of either kind
    uint40 private _nextRecordTime; // type(uint40).max when no record time is ahead
    uint8 private _openSnapshots;
    bool private _closed; // no more transfers or mints (e.g. a bond being redeemed)

    uint64[] private _recordTimes;
    uint256 private _snapshotCount; // snapshots opened: snapshot k is record time k - 1
    mapping(uint256 snapshotId => bool) private _snapshotClosed;
    mapping(address account => Checkpoints.Trace208) private _balanceCheckpoints;
    Checkpoints.Trace208 private _supplyCheckpoints;

    address private immutable _currency;
    address private _treasury;

    /// @dev A wallet's freezes, in one slot. `tokens` is the ERC-7943 frozen amount; _FROZEN_ALL
    /// (any amount from type(uint248).max up, beyond every balance) freezes every token.
    struct Freeze {
        bool wallet;
        uint248 tokens;
    }

    uint248 private constant _FROZEN_ALL = type(uint248).max;

    /// @dev {messageForTransferRestriction}'s messages, for codes 0, 1, 2... in order, each ended by "|".
    bytes private constant _MESSAGES = "No restriction|Transfers are paused|Sender is not a registered investor|"
        "Receiver is not a registered investor|Sender's KYC has expired|Receiver's KYC has expired|"
        "Sender's wallet is frozen|Receiver's wallet is frozen|Receiver's investor category may not hold it|"
        "Receiver's country is not allowed|Sender's balance is too low|It would exceed the issue volume|"
        "The instrument is closed to transfers|Allowance is too low|Sender's unfrozen balance is too low|";

    mapping(address wallet => Freeze) private _freezes;
    mapping(bytes2 country => bool) private _jurisdictionAllowed;

    struct Document {
        string uri;
        bytes32 documentHash;
        uint256 timestamp;
    }

    mapping(bytes32 name => Document) private _documents;
    bytes32[] private _documentNames;

    // Set for the duration of an agent action so the hook applies the agent rules.
    bool private transient _agentAction;

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
    /// @notice A wallet was frozen or unfrozen (ERC-3643 name).
    event AddressFrozen(address indexed userAddress, bool indexed isFrozen, address indexed owner);
    /// @notice An agent moved a lost wallet's balance to a new wallet of the same investor.
    event WalletRecovered(address indexed lostWallet, address indexed newWallet, bytes32 indexed investorId);
    /// @notice A document was added or replaced (ERC-1643).
    event DocumentUpdated(bytes32 indexed _name, string _uri, bytes32 _documentHash);
    /// @notice A document was removed (ERC-1643).
    event DocumentRemoved(bytes32 indexed _name, string _uri, bytes32 _documentHash);
    /// @notice A record time passed: holdings as of `recordTime` are kept as snapshot `snapshotId`.
    event SnapshotOpened(uint256 indexed snapshotId, uint256 recordTime);
    /// @notice A paying agent has paid on a snapshot and released it.
    event SnapshotClosed(uint256 indexed snapshotId);
    /// @notice The instrument closed: no more holder transfers or mints; burns, and the agent's
    /// forced transfers and wallet recoveries (a court order, a lost key before the payout), remain.
    event InstrumentClosed();

    error ZeroAddress();
    error InvalidCountry(bytes2 country);
    error NotSameInvestor(address lostWallet, address newWallet);
    error DocumentNotFound(bytes32 name);
    error LengthMismatch();
    error RecordTimesNotAscending();
    error TooManyRecordTimes(uint256 count, uint256 max);
    error SnapshotNotOpen(uint256 snapshotId);

    constructor(TokenConfig memory cfg) ERC20(cfg.name, cfg.symbol) {
        if (cfg.admin == address(0) || address(cfg.registry) == address(0) || cfg.currency == address(0)) {
            revert ZeroAddress();
        }
        _grantRole(DEFAULT_ADMIN_ROLE, cfg.admin);
        _grantRole(AGENT_ROLE, cfg.admin);
        _grantRole(MINTER_ROLE, cfg.admin);
        _grantRole(BURNER_ROLE, cfg.admin);
        if (cfg.settlement != address(0)) {
            _grantRole(MINTER_ROLE, cfg.settlement);
            _grantRole(SETTLEMENT_ROLE, cfg.settlement);
        }
        if (cfg.payingAgent != address(0)) {
            _grantRole(PAYING_AGENT_ROLE, cfg.payingAgent);
            _grantRole(BURNER_ROLE, cfg.payingAgent);
        }
        // Every record time can be open at once (none closed yet): the uint8 count of open
        // snapshots must hold them all, or opening one more would revert every balance change.
        if (cfg.recordTimes.length > MAX_RECORD_TIMES) revert TooManyRecordTimes(cfg.recordTimes.length, MAX_RECORD_TIMES);
        for (uint256 i = 1; i < cfg.recordTimes.length; ++i) {
            if (cfg.recordTimes[i] <= cfg.recordTimes[i - 1]) revert RecordTimesNotAscending();
        }
        _recordTimes = cfg.recordTimes;
        _nextRecordTime = cfg.recordTimes.length > 0 ? uint40(cfg.recordTimes[0]) : type(uint40).max;
        _currency = cfg.currency;
        _setRegistry(cfg.registry);
        _setTreasury(cfg.treasury == address(0) ? cfg.admin : cfg.treasury);
        _setCategoryMask(cfg.categoryMask);
        for (uint256 i = 0; i < cfg.allowedJurisdictions.length; ++i) {
            _setJurisdiction(cfg.allowedJurisdictions[i], true);
        }
        _setJurisdictionRestricted(cfg.allowedJurisdictions.length > 0);
    }

    // ------------------------------------------------------------------ the hook

    /// @dev The one hook every balance change passes.
    function _update(address from, address to, uint256 value) internal virtual override {
        uint8 reason;
        if (_agentAction) {
            // Only an agent's move may take frozen tokens: they are unfrozen before they move.
            if (from != to && _frozenCount != 0) _unfreezeTaken(from, value);
            reason = _checkAgentMove(to);
        } else {
            reason = _check(from, to, value);
        }
        if (reason != TransferReason.OK) _refuse(from, to, value, reason);
        if (block.timestamp >= _nextRecordTime) _openDueSnapshots();
        if (_openSnapshots != 0) _recordBeforeChange(from, to);
        super._update(from, to, value);
    }

    /// @dev The rules for holder transfers, mints, burns and settlements. Reads, never writes.
    /// Frozen tokens stay put for all of them, burns (a redemption) included: only an agent's
    /// forced transfer or recovery moves them.
    function _check(address from, address to, uint256 value) internal view virtual returns (uint8) {
        if (paused()) return TransferReason.PAUSED;
        bool anyFrozen = _frozenCount != 0;
        // The sender's freezes (one slot), read only while some wallet has a freeze.
        bool senderFrozen = false;
        uint248 frozenTokens = 0;
        if (anyFrozen && from != address(0)) {
            Freeze storage freeze = _freezes[from];
            (senderFrozen, frozenTokens) = (freeze.wallet, freeze.tokens);
        }
        if (to != address(0)) {
            (uint256 sender, uint256 receiver) = _registry.eligibilityPair(from, to);
            if (from != address(0)) {
                uint256 expiry = sender.kycExpiry();
                if (expiry == 0) return TransferReason.SENDER_NOT_REGISTERED;
                if (expiry <= block.timestamp) return TransferReason.SENDER_KYC_EXPIRED;
                if (senderFrozen) return TransferReason.SENDER_FROZEN;
            }
            uint8 reason = _checkReceiver(to, receiver, anyFrozen);
            if (reason != TransferReason.OK) return reason;
        }
        if (frozenTokens != 0 && _takesFrozen(from, frozenTokens, value)) {
            return TransferReason.INSUFFICIENT_UNFROZEN_BALANCE;
        }
        return _checkInstrument(from, to, value);
    }

    /// @dev A refusal: ERC-7943's own error when only frozen tokens stand in the way, else the reason code.
    function _refuse(address from, address to, uint256 value, uint8 reason) private view {
        if (reason == TransferReason.INSUFFICIENT_UNFROZEN_BALANCE) {
            revert ERC7943InsufficientUnfrozenBalance(from, value, _unfrozen(balanceOf(from), _freezes[from].tokens));
        }
        revert TransferRestricted(from, to, value, reason);
    }

    /// @dev An agent's move (forced transfer, recovery): only the receiver's eligibility counts.
    function _checkAgentMove(address to) private view returns (uint8) {
        return _checkReceiver(to, _recordOf(to), _frozenCount != 0);
    }

    /// @dev `account`'s packed registry record.
    function _recordOf(address account) private view returns (uint256 record) {
        // slither-disable-next-line unused-return (only the account's half of the pair is wanted)
        (, record) = _registry.eligibilityPair(address(0), account);
    }

    /// @dev Whether `to`, with packed registry record `r`, may receive this instrument.
    function _checkReceiver(address to, uint256 r, bool anyFrozen) private view returns (uint8) {
        uint256 expiry = r.kycExpiry();
        if (expiry == 0) return TransferReason.RECEIVER_NOT_REGISTERED;
        if (expiry <= block.timestamp) return TransferReason.RECEIVER_KYC_EXPIRED;
        if (anyFrozen && _freezes[to].wallet) return TransferReason.RECEIVER_FROZEN;
        uint8 category = r.category();
        if (category > 7 || _categoryMask & (uint8(1) << category) == 0) return TransferReason.CATEGORY_NOT_ALLOWED;
        if (_jurisdictionsRestricted && !_jurisdictionAllowed[r.country()]) {
            return TransferReason.JURISDICTION_NOT_ALLOWED;
        }
        return TransferReason.OK;
    }

    /// @dev Instrument-specific rules (a supply cap, a closed bond). Override to add them.
    function _checkInstrument(address, address, uint256) internal view virtual returns (uint8) {
        return TransferReason.OK;
    }

    // ------------------------------------------------------------------ ERC-7943 and ERC-1404 checks

    /// @inheritdoc IERC7943Fungible
    /// @dev Registered, KYC current, wallet not frozen. A pause and frozen amounts are transfer
    /// rules ({canTransfer}), not account rules.
    function canSend(address account) external view returns (bool) {
        return _recordOf(account).kycExpiry() > block.timestamp && !_freezes[account].wallet;
    }

    /// @inheritdoc IERC7943Fungible
    /// @dev Registered, KYC current, wallet not frozen, an allowed category and country.
    function canReceive(address account) external view returns (bool) {
        return _checkReceiver(account, _recordOf(account), _frozenCount != 0) == TransferReason.OK;
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
        uint8 reason = _check(from, to, value);
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

    // ------------------------------------------------------------------ supply and settlement

    /// @inheritdoc ISecurityToken
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /// @notice Burns `amount` of `from`'s tokens (redemption).
    function burn(address from, uint256 amount) external onlyRole(BURNER_ROLE) {
        _burn(from, amount);
    }

    /// @inheritdoc ISecurityToken
    function settlementTransfer(address from, address to, uint256 amount) external onlyRole(SETTLEMENT_ROLE) {
        _transfer(from, to, amount);
    }

    // ------------------------------------------------------------------ agent powers

    /// @notice Pauses every holder transfer, mint, burn and settlement; agent actions still run.
    function pause() external onlyRole(AGENT_ROLE) {
        _pause();
    }

    /// @notice Lifts a pause.
    function unpause() external onlyRole(AGENT_ROLE) {
        _unpause();
    }

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

    /// @inheritdoc IERC7943Fungible
    /// @dev Agents only (court order, error correction). The receiver must still be eligible; the
    /// sender's state, its frozen amount and a pause do not stop it. Frozen tokens it takes are
    /// unfrozen first ({Frozen} before {Transfer}); a move to the same wallet unfreezes nothing.
    function forcedTransfer(address from, address to, uint256 amount) external onlyRole(AGENT_ROLE) returns (bool) {
        _agentAction = true;
        _transfer(from, to, amount);
        _agentAction = false;
        emit ForcedTransfer(from, to, amount);
        return true;
    }

    /// @notice Moves the whole balance of a lost wallet to a new wallet of the same investor;
    /// both freezes on the lost wallet carry over (its frozen amount adds to the new wallet's).
    function recoverWallet(address lostWallet, address newWallet) external onlyRole(AGENT_ROLE) {
        bytes32 investorId = _registry.investorOf(lostWallet);
        if (investorId == bytes32(0) || _registry.investorOf(newWallet) != investorId) {
            revert NotSameInvestor(lostWallet, newWallet);
        }
        uint256 frozenTokens = getFrozenTokens(lostWallet);
        if (frozenTokens != 0) _setFrozenTokens(lostWallet, 0); // unfrozen before it moves
        _agentAction = true;
        _transfer(lostWallet, newWallet, balanceOf(lostWallet));
        _agentAction = false;
        if (frozenTokens != 0) {
            _setFrozenTokens(newWallet, Math.saturatingAdd(getFrozenTokens(newWallet), frozenTokens));
        }
        if (_freezes[lostWallet].wallet) {
            _setFrozen(lostWallet, false);
            _setFrozen(newWallet, true);
        }
        emit WalletRecovered(lostWallet, newWallet, investorId);
    }

    // ------------------------------------------------------------------ record-date snapshots

    /// @notice Opens the snapshots of every record time that has passed (anyone may; idempotent).
    function openDueSnapshots() external {
        if (block.timestamp >= _nextRecordTime) _openDueSnapshots();
    }

    /// @notice Releases a snapshot the paying agent has paid on: it answers no more queries.
    function closeSnapshot(uint256 snapshotId) external onlyRole(PAYING_AGENT_ROLE) {
        if (snapshotId == 0 || snapshotId > _snapshotCount || _snapshotClosed[snapshotId]) {
            revert SnapshotNotOpen(snapshotId);
        }
        _snapshotClosed[snapshotId] = true;
        --_openSnapshots;
        emit SnapshotClosed(snapshotId);
    }

    /// @notice `account`'s balance at the record time of snapshot `snapshotId` (open, or due).
    function balanceOfAt(address account, uint256 snapshotId) external view returns (uint256) {
        _requireQueryable(snapshotId);
        (bool found, uint256 value) = _lookup(_balanceCheckpoints[account], snapshotId);
        return found ? value : balanceOf(account);
    }

    /// @notice The total supply at the record time of snapshot `snapshotId` (open, or due).
    function totalSupplyAt(uint256 snapshotId) external view returns (uint256) {
        _requireQueryable(snapshotId);
        (bool found, uint256 value) = _lookup(_supplyCheckpoints, snapshotId);
        return found ? value : totalSupply();
    }

    /// @notice The record times, in order: snapshot k is record time k - 1.
    function recordTimes() external view returns (uint64[] memory) {
        return _recordTimes;
    }

    /// @notice How many snapshots have opened.
    function snapshotCount() external view returns (uint256) {
        return _snapshotCount;
    }

    /// @notice Whether snapshot `snapshotId` answers queries: its record time has passed and no
    /// paying agent has closed it.
    function isSnapshotOpen(uint256 snapshotId) public view returns (bool) {
        return snapshotId != 0 && snapshotId <= _recordTimes.length && block.timestamp >= _recordTimes[snapshotId - 1]
            && !_snapshotClosed[snapshotId];
    }

    // ------------------------------------------------------------------ configuration

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

    // ------------------------------------------------------------------ documents (ERC-1643)

    /// @notice Adds or replaces a document: its URI and the sha256 of its content.
    function setDocument(bytes32 _name, string calldata _uri, bytes32 _documentHash)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _setDocument(_name, _uri, _documentHash);
    }

    /// @notice Removes a document.
    function removeDocument(bytes32 _name) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Document memory doc = _documents[_name];
        if (doc.timestamp == 0) revert DocumentNotFound(_name);
        delete _documents[_name];
        uint256 last = _documentNames.length - 1;
        for (uint256 i = 0; i <= last; ++i) {
            if (_documentNames[i] == _name) {
                _documentNames[i] = _documentNames[last];
                _documentNames.pop();
                break;
            }
        }
        emit DocumentRemoved(_name, doc.uri, doc.documentHash);
    }

    /// @notice A document's URI, content hash and last update time.
    function getDocument(bytes32 _name) public view returns (string memory, bytes32, uint256) {
        Document memory doc = _documents[_name];
        return (doc.uri, doc.documentHash, doc.timestamp);
    }

    /// @notice The names of all documents.
    function getAllDocuments() external view returns (bytes32[] memory) {
        return _documentNames;
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc ISecurityToken
    function currency() public view virtual returns (address) {
        return _currency;
    }

    /// @inheritdoc ISecurityToken
    function treasury() public view returns (address) {
        return _treasury;
    }

    /// @notice The investor registry the hook consults.
    function registry() external view returns (IInvestorRegistry) {
        return _registry;
    }

    /// @notice Which investor categories may receive (bit c = category c).
    function categoryMask() external view returns (uint8) {
        return _categoryMask;
    }

    /// @notice Whether receivers' countries are restricted to the allowed set.
    function jurisdictionsRestricted() external view returns (bool) {
        return _jurisdictionsRestricted;
    }

    /// @notice Whether `country` is in the allowed set.
    function isJurisdictionAllowed(bytes2 country) external view returns (bool) {
        return _jurisdictionAllowed[country];
    }

    /// @notice Whether the instrument has closed to transfers and mints.
    function closed() public view returns (bool) {
        return _closed;
    }

    /// @notice Whether `wallet` is frozen as a whole (ERC-3643 name).
    function isFrozen(address wallet) external view returns (bool) {
        return _freezes[wallet].wallet;
    }

    /// @inheritdoc IERC7943Fungible
    function getFrozenTokens(address account) public view returns (uint256) {
        return _frozenAmount(_freezes[account].tokens);
    }

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view virtual override(AccessControl, IERC165) returns (bool) {
        return interfaceId == type(IERC7943Fungible).interfaceId || interfaceId == type(ISecurityToken).interfaceId
            || super.supportsInterface(interfaceId);
    }

    // ------------------------------------------------------------------ internals

    /// @dev Closes the instrument to transfers and mints for good (a bond's redemption).
    function _close() internal {
        _closed = true;
        emit InstrumentClosed();
    }

    function _openDueSnapshots() private {
        uint256 count = _snapshotCount;
        uint256 n = _recordTimes.length;
        while (count < n && block.timestamp >= _recordTimes[count]) {
            ++count;
            ++_openSnapshots;
            emit SnapshotOpened(count, _recordTimes[count - 1]);
        }
        _snapshotCount = count;
        _nextRecordTime = count < n ? uint40(_recordTimes[count]) : type(uint40).max;
    }

    /// @dev Keeps a balance (and the supply) as it was before its first change since the latest snapshot.
    function _recordBeforeChange(address from, address to) private {
        uint48 current = uint48(_snapshotCount);
        if (from != address(0)) _record(_balanceCheckpoints[from], current, balanceOf(from));
        if (to != address(0)) _record(_balanceCheckpoints[to], current, balanceOf(to));
        if (from == address(0) || to == address(0)) _record(_supplyCheckpoints, current, totalSupply());
    }

    function _record(Checkpoints.Trace208 storage trace, uint48 current, uint256 value) private {
        // slither-disable-next-line unused-return (the latest value is not needed, only its key)
        (bool exists, uint48 last,) = trace.latestCheckpoint();
        // slither-disable-next-line unused-return (push returns the old and new values; nothing to check)
        if (!exists || last < current) trace.push(current, uint208(value));
    }

    /// @dev The first value recorded at or after `snapshotId`: what the balance was at its record time.
    function _lookup(Checkpoints.Trace208 storage trace, uint256 snapshotId) private view returns (bool, uint256) {
        // slither-disable-next-line unused-return (the latest value is not needed, only its key)
        (bool exists, uint48 last,) = trace.latestCheckpoint();
        if (!exists || last < snapshotId) return (false, 0);
        return (true, trace.lowerLookup(uint48(snapshotId)));
    }

    function _requireQueryable(uint256 snapshotId) private view {
        if (!isSnapshotOpen(snapshotId)) revert SnapshotNotOpen(snapshotId);
    }

    function _setDocument(bytes32 name_, string memory uri, bytes32 documentHash) internal {
        // slither-disable-next-line incorrect-equality (a zero timestamp means "never set", not a time test)
        if (_documents[name_].timestamp == 0) _documentNames.push(name_);
        _documents[name_] = Document(uri, documentHash, block.timestamp);
        emit DocumentUpdated(name_, uri, documentHash);
    }

    function _setFrozen(address wallet, bool frozen) private {
        Freeze storage freeze = _freezes[wallet];
        if (freeze.wallet == frozen) return;
        _countFreeze(freeze.wallet || freeze.tokens != 0, frozen || freeze.tokens != 0);
        freeze.wallet = frozen;
        emit AddressFrozen(wallet, frozen, _msgSender());
    }

    function _setFrozenTokens(address account, uint256 amount) private {
        Freeze storage freeze = _freezes[account];
        uint248 tokens = amount >= _FROZEN_ALL ? _FROZEN_ALL : uint248(amount);
        _countFreeze(freeze.wallet || freeze.tokens != 0, freeze.wallet || tokens != 0);
        freeze.tokens = tokens;
        emit Frozen(account, _frozenAmount(tokens));
    }

    /// @dev Keeps {_frozenCount}, the wallets with a freeze of either kind, as a wallet gains or loses one.
    function _countFreeze(bool had, bool has) private {
        if (had == has) return;
        if (has) ++_frozenCount;
        else --_frozenCount;
    }

    /// @dev An agent's move of `value` out of `from` takes its frozen tokens last: what it takes
    /// beyond the unfrozen balance is unfrozen first. Beyond the balance, ERC-20 refuses it next.
    function _unfreezeTaken(address from, uint256 value) private {
        uint248 tokens = _freezes[from].tokens;
        if (tokens == 0) return;
        uint256 balance = balanceOf(from);
        uint256 unfrozen = _unfrozen(balance, tokens);
        if (value <= unfrozen || value > balance) return;
        _setFrozenTokens(from, _frozenAmount(tokens) - (value - unfrozen));
    }

    /// @dev Whether moving `value` out of `from` takes frozen tokens: within the balance but beyond
    /// its unfrozen part (beyond the balance is ERC-20's own error).
    function _takesFrozen(address from, uint248 tokens, uint256 value) private view returns (bool) {
        uint256 balance = balanceOf(from);
        return value <= balance && value > _unfrozen(balance, tokens);
    }

    function _unfrozen(uint256 balance, uint248 tokens) private pure returns (uint256) {
        uint256 frozen = _frozenAmount(tokens);
        return balance > frozen ? balance - frozen : 0;
    }

    function _frozenAmount(uint248 tokens) private pure returns (uint256) {
        return tokens == _FROZEN_ALL ? type(uint256).max : tokens;
    }

    function _setRegistry(IInvestorRegistry registry_) private {
        _registry = registry_;
        emit RegistryUpdated(address(registry_));
    }

    function _setTreasury(address treasury_) private {
        _treasury = treasury_;
        emit TreasuryUpdated(treasury_);
    }

    function _setCategoryMask(uint8 mask) private {
        _categoryMask = mask;
        emit CategoryMaskUpdated(mask);
    }

    function _setJurisdictionRestricted(bool restricted) private {
        _jurisdictionsRestricted = restricted;
        emit JurisdictionRestrictionUpdated(restricted);
    }

    function _setJurisdiction(bytes2 country, bool allowed) private {
        if (!_isUpperAlpha(uint8(country[0])) || !_isUpperAlpha(uint8(country[1]))) revert InvalidCountry(country);
        _jurisdictionAllowed[country] = allowed;
        emit JurisdictionUpdated(country, allowed);
    }

    function _isUpperAlpha(uint8 c) private pure returns (bool) {
        return c >= 0x41 && c <= 0x5A;
    }
}
