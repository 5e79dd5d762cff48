"""One typed model per row of each register view: what the queries in ledger.register.views return and
every edge shows as is (the CLI's table, JSON and CSV, the web API and its OpenAPI document, the
pages, export).

Values are typed (Decimal currency units, int token quantities and minor units, dates, times);
they become text only at the edge, in `as_json`: amounts as the Decimal's own string (never a
float), dates and times in ISO 8601 (times in UTC with "+00:00"). A new column is one field here.
"""

import datetime as dt
import functools
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PrivateAttr, TypeAdapter, WithJsonSchema, computed_field

#: Currency units (or a NAV, a price): exact, shown as the Decimal's own string.
Money = Annotated[
    Decimal,
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "decimal"}, mode="serialization"),
]
#: A moment (a block's time): shown as `datetime.isoformat()` ("...+00:00", not pydantic's "Z").
Moment = Annotated[
    dt.datetime,
    PlainSerializer(dt.datetime.isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]


class Row(BaseModel):
    """A row of a view: its fields, in the order every output shows them."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    def as_json(self) -> dict:
        """The row as JSON values by their published names (`--format json`, the API, export)."""
        return self.model_dump(mode="json", by_alias=True)


class ChainRow(Row):
    """A row derived from the chain's events (at a block). A fact every such row carries (such as
    whether its block is final yet) is one field here."""

    _provisional: bool = PrivateAttr(default=False)

    @computed_field(description="Above the register's finalized block: a reorganisation may still take it back")
    @property
    def provisional(self) -> bool:
        # the last field of every output (computed fields follow the others): set by the query
        # that made the row, from the finalized height it read (ledger.register.finality)
        return self._provisional

    def at_finality(self, finalized: int, block: int | None = None) -> "ChainRow":
        """This row, marked provisional when its block (`block`, else its own block_number) is
        above `finalized`."""
        block = block if block is not None else getattr(self, "block_number", None)
        self._provisional = block is not None and block > finalized
        return self


@functools.cache
def _list_of(model: type[Row]) -> TypeAdapter:
    return TypeAdapter(list[model])


def as_json(rows: list) -> list:
    """Rows as JSON values in one pass (what `Row.as_json` gives each); dicts pass as they are."""
    if not rows or not isinstance(rows[0], Row):
        return list(rows)
    return _list_of(type(rows[0])).dump_python(rows, mode="json", by_alias=True)


def json_bytes(rows: list | Row) -> bytes:
    """Compact JSON (UTF-8, no spaces) of rows or of one row, as the web API answers."""
    if isinstance(rows, Row):
        return rows.model_dump_json(by_alias=True).encode()
    if rows and isinstance(rows[0], Row):
        return _list_of(type(rows[0])).dump_json(rows, by_alias=True)
    import json

    return json.dumps(rows, default=str, ensure_ascii=False, separators=(",", ":")).encode()


# ---------------------------------------------------------------------- instruments


class InstrumentRow(Row):
    isin: str = Field(description="The bond's ISIN, or the fund's code")
    kind: str = Field(description="bond | fund")
    name: str
    symbol: str
    currency: str
    address: str = Field(description="The token contract")
    outstanding: int = Field(description="Units outstanding at the indexed block")
    issuer: str
    maturity_date: dt.date | None
    settlement_asset: str | None = Field(description="Bonds: the cash token it settles and pays in (a settlement asset's label)")
    dti: str | None = Field(description="ISO 24165 Digital Token Identifier")
    issuer_lei: str | None = Field(description="ISO 17442 Legal Entity Identifier of the issuer")


class HolderRow(ChainRow):
    investor_id: str | None = Field(description="The register's investor, as linked to the wallet at that block")
    wallet: str
    quantity: int = Field(description="Tokens held")
    principal: Money | None = Field(description="Bonds: quantity x denomination, in currency units; funds: null")


class TransferRow(ChainRow):
    block_number: int
    time: Moment
    from_: str = Field(alias="from", description="0x0…0 for a mint")
    to: str = Field(description="0x0…0 for a burn")
    quantity: int
    tx_hash: str
    log_index: int
    block_hash: str
    chain_id: int


# ---------------------------------------------------------------------- bonds


class CouponRow(Row):
    coupon: int
    record_date: dt.date
    payment_date: dt.date
    amount_per_denomination: Money = Field(description="Currency units per denomination, as scheduled")
    quantity_of_record: int = Field(description="Units held at the record date")
    due: Money = Field(description="Exactly due on the holdings of record, in currency units")
    paid: Money
    residue: Money | None = Field(description="Due less paid, once the coupon is paid in full")
    status: str = Field(description="paid | paying | not declared")
    declared_per_token: int | None = Field(description="As declared to the paying agent: cash base units x 10^10 per token")


class PaymentRow(ChainRow):
    kind: str = Field(description="coupon | redemption")
    coupon: int | None
    payment_date: dt.date
    investor_id: str | None
    wallet: str
    quantity: int
    amount: Money
    currency: str
    settlement_asset: str | None = Field(description="The cash token paid in")
    asset_kind: str | None = Field(description="tokenised_central_bank_money | tokenised_deposit | licensed_stablecoin")
    tx_hash: str
    block_number: int


# ---------------------------------------------------------------------- funds


class NavRow(ChainRow):
    fund_code: str
    nav: Money
    currency: str
    published_at: Moment
    block_number: int
    tx_hash: str


class FlowRow(ChainRow):
    kind: str = Field(description="creation | redemption")
    fund_code: str
    participant: str = Field(description="The authorized participant's investor id (its wallet when unregistered)")
    units: int
    creation_units: int
    cash_amount: Money
    currency: str
    nav: Money
    date: dt.date
    block_number: int
    tx_hash: str


# ---------------------------------------------------------------------- settlements


class SettlementRow(ChainRow):
    instruction_id: str
    isin: str
    status: str = Field(description="pending | settled | failed | cancelled | expired")
    reason: str | None
    seller: str
    buyer: str
    quantity: int
    price: Money = Field(description="Clean price as captured (per 100 of principal for bonds, per unit for funds)")
    cash_amount: Money
    currency: str
    settlement_asset: str | None = Field(description="The cash token of the cash leg")
    asset_kind: str | None = Field(description="tokenised_central_bank_money | tokenised_deposit | licensed_stablecoin")
    trade_date: dt.date
    settlement_date: dt.date
    tx_hash: str | None
    block_number: int | None


class IssuanceRow(ChainRow):
    isin: str
    allocation_id: str
    investor_id: str | None
    wallet: str
    quantity: int
    cash_amount: Money
    currency: str
    settlement_asset: str | None = Field(description="The cash token it settled in")
    asset_kind: str | None = Field(description="tokenised_central_bank_money | tokenised_deposit | licensed_stablecoin")
    date: dt.date
    block_number: int
    tx_hash: str


class DutyRow(ChainRow):
    instruction_id: str
    isin: str | None
    instrument_class: str
    treatment: str = Field(description="not_chargeable | waived | chargeable")
    currency: str
    consideration: Money
    duty_without_relief: Money
    duty_buyer: Money
    duty_seller: Money
    basis: str
    rule_version: str
    trade_date: dt.date
    tx_hash: str
    block_number: int


# ---------------------------------------------------------------------- investors and cash


class InvestorRow(Row):
    """An investor as the register knows it (identities stay off chain), with its active wallets."""

    investor_id: str
    name: str
    country: str = Field(description="ISO 3166-1 alpha-2")
    category: str
    kyc_expiry: dt.date = Field(description="KYC valid through this date")
    wallets: str = Field(description="Active wallets, space-separated")


class AssetRow(Row):
    """A settlement asset: a cash token with its legal kind."""

    label: str
    currency: str
    kind: str = Field(description="tokenised_central_bank_money | tokenised_deposit | licensed_stablecoin")
    issuer: str | None
    licence: str | None = Field(description="The HKMA stablecoin licence (licensed stablecoins only)")
    address: str


class MovementRow(ChainRow):
    time: Moment
    instrument: str
    kind: str = Field(description="bond | fund | cash")
    direction: str = Field(description="in | out")
    quantity: int | Money = Field(description="Tokens for securities; currency units (a decimal string) for cash")
    wallet: str
    counterparty: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


# ---------------------------------------------------------------------- reconciliation


class BreakRow(Row):
    kind: str
    subject: str = Field(description="A wallet, the instrument, an allocation id, an instruction id")
    register_: int | str | None = Field(alias="register", description="What the register says (a status for instruction_status)")
    chain: int | str | None = Field(description="What the chain says")


class ReconciliationReport(Row):
    isin: str
    block: int
    ok: bool
    wallets_checked: int
    supply_register: int
    supply_chain: int
    breaks: list[BreakRow]
    final_block: int = Field(
        -1, description="The register's finalized height: rows above it may still be taken back by a reorganisation"
    )


class ReconciliationRecordRow(Row):
    """The last reconciliation `bondledger reconcile` recorded of an instrument."""

    block: int
    reconciled_at: Moment
    ok: bool
    breaks: int
    report: ReconciliationReport
