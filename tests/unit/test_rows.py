"""The row models (ledger/register/rows.py) become text only at the edge, exactly as the views' dicts did:
an amount is its Decimal's own string, a time ISO 8601 with "+00:00", a date ISO 8601."""

import json
from datetime import date, datetime, timezone
from decimal import Decimal

from ledger.register.rows import MovementRow, TransferRow, as_json, json_bytes

WHEN = datetime.fromtimestamp(1_707_267_600, timezone.utc)


def movement(quantity) -> MovementRow:
    return MovementRow(
        time=WHEN,
        instrument="e-HKD",
        kind="cash",
        direction="in",
        quantity=quantity,
        wallet="0x" + "a" * 40,
        counterparty="kowloon_life",
        block_number=7,
        block_hash="0x" + "b" * 64,
        tx_hash="0x" + "c" * 64,
        log_index=0,
    )


def test_values_are_typed_and_turn_to_text_at_the_edge():
    cash, units = movement(Decimal("1.50")), movement(100)
    assert cash.quantity == Decimal("1.50") and units.quantity == 100 and cash.time == WHEN
    assert cash.as_json()["quantity"] == "1.50" and units.as_json()["quantity"] == 100
    assert cash.as_json()["time"] == WHEN.isoformat() == "2024-02-07T01:00:00+00:00"
    assert movement(Decimal("1E+3")).as_json()["quantity"] == "1E+3", "the Decimal's own string, never reformatted"


def test_published_names_and_one_pass_serialization_match_json_dumps():
    row = TransferRow(
        block_number=1,
        time=WHEN,
        from_="0x" + "0" * 40,
        to="0x" + "a" * 40,
        quantity=5,
        tx_hash="0x" + "c" * 64,
        log_index=2,
        block_hash="0x" + "d" * 64,
        chain_id=31337,
    )
    assert list(row.as_json())[:4] == ["block_number", "time", "from", "to"]
    rows = [row, row]
    assert as_json(rows) == [row.as_json(), row.as_json()]
    assert json_bytes(rows) == json.dumps(as_json(rows), ensure_ascii=False, separators=(",", ":")).encode()
    assert json_bytes([]) == b"[]" and as_json([{"a": date(2024, 1, 1)}]) == [{"a": date(2024, 1, 1)}]
