"""The register's tables.

Rows that come from the chain carry their proof (chain id, block number and hash, transaction
hash, log index, block time) and are unique on (chain_id, tx_hash, log_index), so indexing the
same log twice is impossible. Off-chain facts (investor identities, term sheets) are plain rows.
Token amounts are integers in the token's base unit (bond tokens, cash cents).
"""

from datetime import date, datetime, timezone

from sqlalchemy import BigInteger, Column, Index, Numeric, Text, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from ledger.errors import RegisterError

_INT64_MAX = 2**63 - 1


class TokenAmount(TypeDecorator):
    """An unsigned token amount: NUMERIC(78,0) on PostgreSQL (all of uint256), BIGINT elsewhere.

    SQLite has no exact type wider than 64 bits; amounts beyond it are refused loudly rather
    than stored as a lossy REAL.
    """

    impl = BigInteger
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(78, 0))
        return dialect.type_descriptor(BigInteger())

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = int(value)
        if dialect.name != "postgresql" and value > _INT64_MAX:
            raise RegisterError(f"amount {value} exceeds what a {dialect.name} register stores exactly; use PostgreSQL")
        return value

    def process_result_value(self, value, dialect):
        return None if value is None else int(value)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _amount(**kw):
    return Field(sa_column=Column(TokenAmount(), nullable=False), **kw)


def _proof_constraint(table: str):
    return (UniqueConstraint("chain_id", "tx_hash", "log_index", name=f"uq_{table}_log"),)


class ChainProof(SQLModel):
    """Where a row came from on chain."""

    chain_id: int
    block_number: int = Field(index=True)
    block_hash: str
    block_timestamp: int
    tx_hash: str = Field(index=True)
    log_index: int


# ---------------------------------------------------------------------- bookkeeping


class Network(SQLModel, table=True):
    """The chain this register belongs to (one register, one chain)."""

    __tablename__ = "network"
    id: int = Field(default=1, primary_key=True)
    chain_id: int
    genesis_hash: str
    created_at: datetime = Field(default_factory=utcnow)


class Checkpoint(SQLModel, table=True):
    """How far the indexer has read: every event up to and including this block is in."""

    __tablename__ = "checkpoint"
    id: int = Field(default=1, primary_key=True)
    chain_id: int
    block_number: int
    block_hash: str
    updated_at: datetime = Field(default_factory=utcnow)
    # the chain's finalized height when the checkpoint was set (ledger/register/finality.py): rows above it
    # are provisional; None in a register indexed before finality was recorded
    finalized_block: int | None = None
    finalized_hash: str | None = None
    head_block: int | None = None  # the chain's head when the checkpoint was set


class ProvisionalBlock(SQLModel, table=True):
    """The hash of every indexed block above the finalized height (pruned as blocks become final):
    what `sync` compares with the chain to find the common ancestor after a reorganisation."""

    __tablename__ = "provisional_blocks"
    number: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    hash: str


class ContractRecord(SQLModel, table=True):
    """A contract the indexer follows, with how far it has been read."""

    __tablename__ = "contracts"
    address: str = Field(primary_key=True)
    kind: str = Field(index=True)  # registry | dvp | cash | bond
    label: str  # currency code for cash, ISIN for instruments
    chain_id: int
    deploy_block: int
    deploy_tx: str
    synced_block: int  # events up to here are indexed for this contract


class AuditLog(SQLModel, table=True):
    """Append-only log of what operators did through bondledger, hash-chained. The database
    refuses updates and deletes (triggers, migration 0002); the chain catches whoever drops them."""

    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    actor: str
    action: str
    detail: str = Field(sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(index=True, unique=True)  # one successor per entry: the chain cannot fork
    hash: str


# ---------------------------------------------------------------------- off-chain facts


class Instrument(SQLModel, table=True):
    """A bond (keyed by its ISIN) or a fund (keyed by its fund code), with its term sheet."""

    __tablename__ = "instruments"
    isin: str = Field(primary_key=True)  # the ISIN of a bond, the fund code of a fund
    kind: str  # bond | fund
    name: str
    symbol: str
    issuer: str
    currency: str
    address: str = Field(unique=True)
    denomination: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))  # bonds: minor units
    issue_size: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))  # bonds: minor units
    issue_date: date | None = None
    maturity_date: date | None = None
    creation_unit: int | None = None  # funds: units per creation unit
    termsheet: str = Field(sa_column=Column(Text, nullable=False))  # the validated term sheet, JSON
    termsheet_sha256: str
    created_at: datetime = Field(default_factory=utcnow)
    # bonds: the cash token it settles in (a settlement asset's label), and its identifiers
    settlement_asset: str | None = None
    dti: str | None = None  # ISO 24165 Digital Token Identifier
    issuer_lei: str | None = None  # ISO 17442 Legal Entity Identifier


class SettlementAsset(SQLModel, table=True):
    """A cash token with its legal kind: what an auditor asks of every settlement ("was it
    central bank money?"). Joined to chain rows by the token's address."""

    __tablename__ = "settlement_assets"
    label: str = Field(primary_key=True)  # the cash token's label in `contracts` (HKD, e-HKD, ...)
    address: str = Field(unique=True)
    currency: str
    kind: str  # tokenised_central_bank_money | tokenised_deposit | licensed_stablecoin
    issuer: str | None = None  # the central bank, deposit-taking bank or stablecoin issuer
    licence: str | None = None  # the HKMA stablecoin licence number (licensed_stablecoin only)
    created_at: datetime = Field(default_factory=utcnow)


class Investor(SQLModel, table=True):
    """An investor's identity: off chain only; the chain knows it by `id_hash`."""

    __tablename__ = "investors"
    investor_id: str = Field(primary_key=True)
    id_hash: str = Field(unique=True)
    name: str
    country: str
    category: str
    kyc_expiry: date
    updated_at: datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------------- from chain events


class Wallet(SQLModel, table=True):
    """Current wallet -> investor links, as the registry's events leave them."""

    __tablename__ = "wallets"
    address: str = Field(primary_key=True)
    id_hash: str = Field(index=True)
    active: bool
    block_number: int


class Registration(ChainProof, table=True):
    """Every registry event: the registration history of holders."""

    __tablename__ = "registrations"
    __table_args__ = _proof_constraint("registrations")
    id: int | None = Field(default=None, primary_key=True)
    event: str  # investor_updated | investor_removed | wallet_added | wallet_removed
    id_hash: str = Field(index=True)
    wallet: str | None = None
    country: str | None = None
    category: int | None = None
    kyc_expiry: int | None = None


class Transfer(ChainProof, table=True):
    """Every ERC-20 Transfer of a followed token (mints from and burns to the zero address)."""

    __tablename__ = "transfers"
    # A token's transfers in chain order (pages of them), and its wallets' received and sent sums
    # read from the index alone (holders, largest first, without reading every row).
    __table_args__ = (
        *_proof_constraint("transfers"),
        Index("ix_transfers_token_chain_order", "token", "block_number", "log_index"),
        Index("ix_transfers_token_to", "token", "to_address", "block_number", "quantity"),
        Index("ix_transfers_token_from", "token", "from_address", "block_number", "quantity"),
    )
    id: int | None = Field(default=None, primary_key=True)
    token: str
    from_address: str = Field(index=True)
    to_address: str = Field(index=True)
    quantity: int = _amount()


class Issuance(ChainProof, table=True):
    """A primary allocation settled delivery-versus-payment."""

    __tablename__ = "issuances"
    __table_args__ = _proof_constraint("issuances")
    allocation_id: str = Field(primary_key=True)
    token: str = Field(index=True)
    investor: str
    quantity: int = _amount()
    cash_token: str
    cash_amount: int = _amount()
    treasury: str


class TokenEvent(ChainProof, table=True):
    """Every other event of a followed contract (freezes, forced transfers, documents, roles,
    pauses ...), decoded, for the audit trail."""

    __tablename__ = "token_events"
    __table_args__ = _proof_constraint("token_events")
    id: int | None = Field(default=None, primary_key=True)
    contract: str = Field(index=True)
    event: str = Field(index=True)
    args: str = Field(sa_column=Column(Text, nullable=False))  # JSON


# ---------------------------------------------------------------------- secondary settlement


class Instruction(SQLModel, table=True):
    """A captured trade and its settlement instruction: the off-chain facts (parties, price,
    dates) and the status the chain's events leave it in, with the proof of its last event."""

    __tablename__ = "instructions"
    instruction_id: str = Field(primary_key=True)  # the EIP-712 digest both parties sign
    isin: str = Field(index=True)
    seller_investor_id: str
    buyer_investor_id: str
    seller: str
    buyer: str
    security_token: str
    cash_token: str
    currency: str
    quantity: int = _amount()
    price: str  # clean price as captured (per 100 of principal for bonds, per unit for funds)
    accrued: int = _amount()  # minor units, included in cash_amount
    cash_amount: int = _amount()  # minor units
    trade_date: date
    settlement_date: date
    expiry: int  # unix seconds
    nonce: int = _amount()
    status: str = Field(index=True)  # pending | settled | failed | cancelled | expired
    reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # proof of the event that gave the status (settled, cancelled, failed on chain)
    chain_id: int | None = None
    block_number: int | None = None
    block_hash: str | None = None
    block_timestamp: int | None = None
    tx_hash: str | None = None
    log_index: int | None = None


class NonceAllocator(SQLModel, table=True):
    """The last settlement nonce handed out (one row, id 1): `trade` increments it in its own
    transaction, so two captures at once never get the same nonce."""

    __tablename__ = "nonce_allocator"
    id: int = Field(default=1, primary_key=True)
    last_nonce: int = _amount()


class Affirmation(SQLModel, table=True):
    """One party's EIP-712 signature over an instruction."""

    __tablename__ = "affirmations"
    __table_args__ = (UniqueConstraint("instruction_id", "party", name="uq_affirmation_party"),)
    id: int | None = Field(default=None, primary_key=True)
    instruction_id: str = Field(index=True)
    party: str  # seller | buyer
    wallet: str
    signature: str
    at: datetime = Field(default_factory=utcnow)


class SettlementEvent(ChainProof, table=True):
    """Every settlement event of the DvP venue: settled, cancelled, failed (best effort)."""

    __tablename__ = "settlement_events"
    __table_args__ = _proof_constraint("settlement_events")
    id: int | None = Field(default=None, primary_key=True)
    instruction_id: str = Field(index=True)
    event: str  # settled | cancelled | failed
    reason: int | None = None
    token_reason: int | None = None
    party: str | None = None


class DutyAssessment(ChainProof, table=True):
    """The stamp duty treatment of one settled transfer. Written once, never updated."""

    __tablename__ = "duty_assessments"
    __table_args__ = _proof_constraint("duty_assessments")
    instruction_id: str = Field(primary_key=True)
    isin: str | None = Field(default=None, index=True)
    instrument_class: str
    treatment: str  # not_chargeable | waived | chargeable
    currency: str
    consideration: int = _amount()
    duty_without_relief: int = _amount()
    duty_buyer: int = _amount()
    duty_seller: int = _amount()
    basis: str = Field(sa_column=Column(Text, nullable=False))
    rule_version: str
    trade_date: date


# ---------------------------------------------------------------------- funds


class NavRecord(ChainProof, table=True):
    """Every NAV a fund manager published."""

    __tablename__ = "nav_history"
    __table_args__ = _proof_constraint("nav_history")
    id: int | None = Field(default=None, primary_key=True)
    fund: str = Field(index=True)  # the fund token's address
    nav_e6: int = _amount()  # NAV per unit, cash base units x 10^6
    published_at: int


class FundFlow(ChainProof, table=True):
    """A creation or a redemption of fund units by an authorized participant, settled DvP."""

    __tablename__ = "fund_flows"
    __table_args__ = _proof_constraint("fund_flows")
    id: int | None = Field(default=None, primary_key=True)
    kind: str  # creation | redemption
    fund: str = Field(index=True)
    participant: str
    creation_units: int
    units: int = _amount()
    cash_token: str
    cash_amount: int = _amount()
    nav_e6: int = _amount()


# ---------------------------------------------------------------------- bond lifecycle


class CouponRecord(SQLModel, table=True):
    """A coupon (or a redemption, coupon_id 0) the paying agent declared, and when it completed."""

    __tablename__ = "coupons"
    __table_args__ = (UniqueConstraint("bond", "coupon_id", name="uq_coupon"),)
    id: int | None = Field(default=None, primary_key=True)
    bond: str = Field(index=True)
    coupon_id: int  # the record-date snapshot id; 0 for the redemption
    kind: str  # coupon | redemption
    amount_per_token: int = _amount()  # cash base units x PayingAgent.AMOUNT_SCALE
    payment_time: int
    early: bool = False  # redemption on an issuer's call
    declared_block: int
    declared_tx: str
    completed: bool = False
    paid_quantity: int | None = Field(default=None, sa_column=Column(TokenAmount(), nullable=True))
    paid_amount: int | None = Field(default=None, sa_column=Column(TokenAmount(), nullable=True))
    completed_block: int | None = None
    completed_tx: str | None = None


class Payment(ChainProof, table=True):
    """Cash the paying agent paid a holder: a coupon, or principal on redemption."""

    __tablename__ = "payments"
    __table_args__ = _proof_constraint("payments")
    id: int | None = Field(default=None, primary_key=True)
    bond: str = Field(index=True)
    kind: str  # coupon | redemption
    coupon_id: int  # 0 for a redemption
    holder: str = Field(index=True)
    quantity: int = _amount()
    amount: int = _amount()  # cash base units


class GreenAllocation(SQLModel, table=True):
    """Proceeds of a green bond allocated to a project in one of its framework's categories."""

    __tablename__ = "green_allocations"
    id: int | None = Field(default=None, primary_key=True)
    isin: str = Field(index=True)
    category: str
    project: str
    amount: int = _amount()  # minor units of the bond's currency
    allocated_on: date
    recorded_at: datetime = Field(default_factory=utcnow)


class ScheduledCoupon(SQLModel, table=True):
    """A bond's coupon schedule as issued (an off-chain fact): what falls due, and when."""

    __tablename__ = "coupon_schedule"
    __table_args__ = (UniqueConstraint("isin", "coupon_id", name="uq_scheduled_coupon"),)
    id: int | None = Field(default=None, primary_key=True)
    isin: str = Field(index=True)
    coupon_id: int  # 1-based; the bond's record-date snapshot id
    accrual_start: date
    accrual_end: date
    record_date: date
    record_time: int  # unix: the end of the record date in Hong Kong
    payment_date: date
    amount_per_denomination: str  # Decimal, currency units


# ---------------------------------------------------------------------- reconciliation


class ReconciliationRecord(SQLModel, table=True):
    """The result of each `bondledger reconcile`: what the read-only web page shows (a page never
    reconciles itself; `/api/reconciliation/{isin}` runs one on demand without recording it)."""

    __tablename__ = "reconciliations"
    id: int | None = Field(default=None, primary_key=True)
    isin: str = Field(index=True)
    block_number: int  # the indexed block it compared at
    reconciled_at: datetime = Field(default_factory=utcnow)
    ok: bool
    breaks: int
    summary: str = Field(sa_column=Column(Text, nullable=False))  # the report, as `reconcile --format json` prints it
