"""How the OpenAPI document shows the routes: each list's row model (ledger.register.rows, the models the
views return and the routes serialize), the pages' headers, and the errors.
"""

from fastapi import FastAPI
from pydantic import BaseModel, Field

from ledger.register.rows import (
    CouponRow,
    DutyRow,
    FlowRow,
    HolderRow,
    InstrumentRow,
    MovementRow,
    NavRow,
    PaymentRow,
    SettlementRow,
    TransferRow,
)


class Problem(BaseModel):
    detail: str = Field(description="One line naming what is wrong")


#: Each list's name (as its cursor carries it) -> its row model.
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
    "X-Previous-Cursor": {
        "description": "Pass as `cursor` for the page before; absent on the first page",
        "schema": {"type": "string"},
    },
}


def rows_responses(description: str, *errors: int, paged: bool = False) -> dict:
    """The responses of a route besides its 200's model (its `response_model`)."""
    responses: dict = {200: {"description": description}}
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
