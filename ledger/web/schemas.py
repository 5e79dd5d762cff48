"""The row shapes the OpenAPI document shows, and how it documents errors.

For the OpenAPI document only: the routes return the views' rows as they are (RowsResponse),
so the web can never differ from the CLI by a coercion; tests check the keys match.
"""

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field


class _Row(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class InstrumentRow(_Row):
    isin: str = Field(description="The bond's ISIN, or the fund's code")
    kind: str = Field(description="bond | fund")
    name: str
    symbol: str
    currency: str
    address: str = Field(description="The token contract")
    outstanding: int = Field(description="Units outstanding at the indexed block")
    issuer: str
    maturity_date: str | None
    settlement_asset: str | None = Field(description="Bonds: the cash token it settles and pays in (a settlement asset's label)")
    dti: str | None = Field(description="ISO 24165 Digital Token Identifier")
    issuer_lei: str | None = Field(description="ISO 17442 Legal Entity Identifier of the issuer")


class HolderRow(_Row):
    investor_id: str | None = Field(description="The register's investor, as linked to the wallet at that block")
    wallet: str
    quantity: int = Field(description="Tokens held")
    principal: str | None = Field(description="Bonds: quantity x denomination, in currency units; funds: null")


class TransferRow(_Row):
    block_number: int
    time: str
    from_: str = Field(alias="from", description="0x0…0 for a mint")
    to: str = Field(description="0x0…0 for a burn")
    quantity: int
    tx_hash: str
    log_index: int
    block_hash: str
    chain_id: int


class CouponRow(_Row):
    coupon: int
    record_date: str
    payment_date: str
    amount_per_denomination: str
    quantity_of_record: int
    due: str
    paid: str
    residue: str | None
    status: str = Field(description="paid | paying | not declared")
    declared_per_token: int | None


class PaymentRow(_Row):
    kind: str = Field(description="coupon | redemption")
    coupon: int | None
    payment_date: str
    investor_id: str | None
    wallet: str
    quantity: int
    amount: str
    currency: str
    settlement_asset: str | None = Field(description="The cash token paid in")
    asset_kind: str | None = Field(description="tokenised_central_bank_money | tokenised_deposit | licensed_stablecoin")
    tx_hash: str
    block_number: int


class NavRow(_Row):
    fund_code: str
    nav: str
    currency: str
    published_at: str
    block_number: int
    tx_hash: str


class FlowRow(_Row):
    kind: str = Field(description="creation | redemption")
    fund_code: str
    participant: str
    units: int
    creation_units: int
    cash_amount: str
    currency: str
    nav: str
    date: str
    block_number: int
    tx_hash: str


class SettlementRow(_Row):
    instruction_id: str
    isin: str
    status: str = Field(description="pending | settled | failed | cancelled | expired")
    reason: str | None
    seller: str
    buyer: str
    quantity: int
    price: str
    cash_amount: str
    currency: str
    settlement_asset: str | None = Field(description="The cash token of the cash leg")
    asset_kind: str | None = Field(description="tokenised_central_bank_money | tokenised_deposit | licensed_stablecoin")
    trade_date: str
    settlement_date: str
    tx_hash: str | None
    block_number: int | None


class DutyRow(_Row):
    instruction_id: str
    isin: str | None
    instrument_class: str
    treatment: str = Field(description="not_chargeable | waived | chargeable")
    currency: str
    consideration: str
    duty_without_relief: str
    duty_buyer: str
    duty_seller: str
    basis: str
    rule_version: str
    trade_date: str
    tx_hash: str
    block_number: int


class MovementRow(_Row):
    time: str
    instrument: str
    kind: str = Field(description="bond | fund | cash")
    direction: str = Field(description="in | out")
    quantity: int | str = Field(description="Tokens for securities; currency units (a decimal string) for cash")
    wallet: str
    counterparty: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


class BreakRow(_Row):
    kind: str
    subject: str
    register_: int | None = Field(alias="register", description="What the register says")
    chain: int | None = Field(description="What the chain says")


class ReconciliationReport(_Row):
    isin: str
    block: int
    ok: bool
    wallets_checked: int
    supply_register: int
    supply_chain: int
    breaks: list[BreakRow]
    final_block: int = Field(-1, description="The register's finalized height: rows above it may still be taken back by a reorganisation")


class Problem(_Row):
    detail: str = Field(description="One line naming what is wrong")


DOCUMENTED = {
    "instruments": InstrumentRow,
    "holders": HolderRow,
    "transfers": TransferRow,
    "coupons": CouponRow,
    "payments": PaymentRow,
    "nav": NavRow,
    "flows": FlowRow,
    "settlements": SettlementRow,
    "stamp-duty": DutyRow,
    "movements": MovementRow,
}


PAGE_HEADERS = {
    "Link": {
        "description": 'The next and previous pages, when there are: `<URL>; rel="next", <URL>; rel="prev"` (RFC 8288)',
        "schema": {"type": "string"},
    },
    "X-Next-Cursor": {"description": "Pass as `cursor` for the next page; absent on the last page", "schema": {"type": "string"}},
    "X-Previous-Cursor": {"description": "Pass as `cursor` for the page before; absent on the first page", "schema": {"type": "string"}},
}


def rows_responses(model: type[BaseModel], description: str, *errors: int, paged: bool = False) -> dict:
    responses: dict = {200: {"model": list[model], "description": description}}
    if paged:
        responses[200] |= {"description": description + "; one page of them", "headers": PAGE_HEADERS}
    for status in errors:
        responses[status] = {"model": Problem, "description": ERROR_DESCRIPTIONS[status]}
    return responses


ERROR_DESCRIPTIONS = {
    400: "Bad input (a block beyond the indexed one, a malformed date, a bad limit or cursor, an empty register)",
    404: "Not in the register",
    409: "The node is not the register's chain, or it reorganised below the indexed block",
    503: "No chain: the app was started without an RPC URL, or the node is unreachable",
}


def document_errors_as_400(app: FastAPI) -> None:
    """Invalid parameters answer 400 with one line (not FastAPI's 422 with a list): say so."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
        return app.openapi_schema

    app.openapi = openapi

