"""The event map (ledger/register/eventmap.py) is the one place that says what each event writes: every
entry names an event its contract kind really emits, builds only columns its model has, and is
covered by what verify proves and what unwinding removes. What a new event needs is its entry."""

import pytest

from ledger.chain import artifacts
from ledger.register import eventmap, models
from ledger.register.indexer import KIND_ARTIFACT, DecodedLog

ADDRESS = "0x" + "11" * 20


def sample(abi_type: str):
    if abi_type == "address":
        return ADDRESS
    if abi_type == "bool":
        return True
    if abi_type == "bytes2":
        return "0x484b"
    if abi_type.startswith("bytes"):
        return "0x" + "ab" * 32
    if abi_type == "string":
        return "text"
    if abi_type.endswith("[]"):
        return []
    return 7


def event_abi(kind: str, event: str) -> dict | None:
    return next((e for e in artifacts.load(KIND_ARTIFACT[kind]).abi if e["type"] == "event" and e["name"] == event), None)


def log_of(kind: str, event: str) -> DecodedLog:
    args = {i["name"]: sample(i["type"]) for i in event_abi(kind, event)["inputs"]}
    proof = {
        "chain_id": 31337,
        "block_number": 9,
        "block_hash": "0x" + "cd" * 32,
        "block_timestamp": 1_707_267_600,
        "tx_hash": "0x" + "ef" * 32,
        "log_index": 3,
    }
    return DecodedLog(ADDRESS, kind, event, args, proof)


@pytest.mark.parametrize(("kind", "event"), sorted(eventmap.EVENTS))
def test_every_entry_names_an_event_its_contract_emits_and_columns_its_model_has(kind, event):
    assert event_abi(kind, event) is not None, f"{kind} contracts ({KIND_ARTIFACT[kind]}) emit no {event}"
    entry = eventmap.EVENTS[(kind, event)]
    row = entry.row(log_of(kind, event))
    columns = set(entry.model.__table__.columns.keys())
    assert set(row) <= columns, f"{event} writes columns {set(row) - columns} that {entry.model.__name__} lacks"
    if entry.inserts:
        required = {c.name for c in entry.model.__table__.columns if not c.nullable and not c.primary_key and c.default is None}
        assert required - {"id"} <= set(row) | {"completed", "early"}, f"{event} leaves {required - set(row)} unset"
    # verify finds it again: in a table whose rows carry their log's proof, or by its transaction
    assert entry.proven or entry.tx_column in columns
    if entry.proven:
        assert entry.model in eventmap.PROVEN_MODELS  # so unwinding deletes it by block


def test_an_event_no_entry_names_is_kept_for_the_audit_trail():
    row = eventmap.entry("bond", "Paused").row(log_of("bond", "Paused"))
    assert eventmap.table_of("bond", "Paused") == "token_events"
    assert (row["contract"], row["event"], row["block_number"]) == (ADDRESS, "Paused", 9)


def test_compare_finds_an_edited_column_and_nothing_in_a_faithful_row():
    log = log_of("cash", "Transfer")
    row = models.Transfer(**eventmap.entry("cash", "Transfer").row(log))
    assert eventmap.compare("transfers", row, log) is None
    row.quantity = 8
    assert eventmap.compare("transfers", row, log) == "quantity is 8 in the register, 7 on chain"
    assert "goes to transfers" in eventmap.compare("payments", row, log)
