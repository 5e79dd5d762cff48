"""An export streams every view it writes (but the one row an instrument): a view's rows come from
the database a batch at a time, never all at once, and they are the rows, in the order and with
the finality marks, that the CLI's and the API's lists give."""

import gc
import hashlib
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import insert

from ledger.proofs import export
from ledger.register import models, views
from ledger.register.db import Register
from ledger.register.paging import Page
from ledger.register.rows import DutyRow, SettlementRow

ISIN, BOND, CASH = "HK0000000001", "0x" + "b0" * 20, "0x" + "ca" * 20
INVESTORS, TRADES, FINALIZED = 120, 300, 100  # trades are in blocks 42 to 141


def fake(*parts) -> str:
    return "0x" + hashlib.sha256(repr(parts).encode()).hexdigest()


@pytest.fixture(scope="module")
def register(tmp_path_factory) -> Register:
    """A bond minted to INVESTORS wallets, then TRADES trades settled between them, each with its
    instruction and stamp duty assessment; final up to block FINALIZED."""
    url = f"sqlite:///{tmp_path_factory.mktemp('register')}/register.db"
    reg = Register(url)
    wallets = [f"0x{i + 1:040x}" for i in range(INVESTORS)]
    ids = [fake("id", i) for i in range(INVESTORS)]

    def proof(n: int) -> dict:
        block = 2 + n // 3
        return {
            "chain_id": 31337,
            "block_number": block,
            "block_hash": fake("block", block),
            "block_timestamp": 1_767_574_800 + 2 * block,
            "tx_hash": fake("tx", n),
            "log_index": n % 3,
        }

    transfers, instructions, duty = [], [], []
    for n in range(INVESTORS + TRADES):
        minted = n < INVESTORS
        sender = views.ZERO_ADDRESS if minted else wallets[n % INVESTORS]
        receiver = wallets[n] if minted else wallets[(n * 7 + 3) % INVESTORS]
        quantity = 1000 + n % 17 if minted else 1 + n % 5
        transfers.append({**proof(n), "token": BOND, "from_address": sender, "to_address": receiver, "quantity": quantity})
        if minted:
            continue
        day = date(2026, 1, 5 + n % 20)
        instructions.append(
            {
                **proof(n),
                "instruction_id": fake("instruction", n),
                "isin": ISIN,
                "seller_investor_id": "s",
                "buyer_investor_id": "b",
                "seller": sender,
                "buyer": receiver,
                "security_token": BOND,
                "cash_token": CASH,
                "currency": "HKD",
                "quantity": quantity,
                "price": "100.5",
                "accrued": 0,
                "cash_amount": quantity * 5_025_000,
                "trade_date": day,
                "settlement_date": day,
                "expiry": 1_800_000_000,
                "nonce": n,
                "status": "settled",
            }
        )
        duty.append(
            {
                **proof(n),
                "instruction_id": fake("instruction", n),
                "isin": ISIN,
                "instrument_class": "bond",
                "treatment": "not_chargeable",
                "currency": "HKD",
                "consideration": quantity * 5_025_000,
                "duty_without_relief": 0,
                "duty_buyer": 0,
                "duty_seller": 0,
                "basis": "loan capital",
                "rule_version": "test",
                "trade_date": day,
            }
        )
    head = proof(INVESTORS + TRADES)["block_number"]
    with reg.engine.begin() as conn:
        conn.execute(insert(models.Network), [{"id": 1, "chain_id": 31337, "genesis_hash": fake("genesis")}])
        conn.execute(
            insert(models.Checkpoint),
            [{"id": 1, "chain_id": 31337, "block_number": head, "block_hash": fake("block", head), "finalized_block": FINALIZED}],
        )
        conn.execute(
            insert(models.Instrument),
            [
                {
                    "isin": ISIN,
                    "kind": "bond",
                    "name": "Streamed Bond",
                    "symbol": "SB",
                    "issuer": "Issuer",
                    "currency": "HKD",
                    "address": BOND,
                    "denomination": 5_000_000,
                    "termsheet": "{}",
                    "termsheet_sha256": "0" * 64,
                }
            ],
        )
        conn.execute(
            insert(models.Investor),
            [
                {
                    "investor_id": f"inv{i:04d}",
                    "id_hash": ids[i],
                    "name": f"Investor {i}",
                    "country": "HK",
                    "category": "professional_investor",
                    "kyc_expiry": date(2030, 1, 1),
                }
                for i in range(INVESTORS)
            ],
        )
        conn.execute(
            insert(models.Wallet), [{"address": w, "id_hash": h, "active": True, "block_number": 1} for w, h in zip(wallets, ids)]
        )
        conn.execute(
            insert(models.Registration),
            [
                {**proof(-1), "tx_hash": fake("reg", w), "event": "wallet_added", "id_hash": h, "wallet": w}
                for w, h in zip(wallets, ids)
            ],
        )
        conn.execute(insert(models.Transfer), transfers)
        conn.execute(insert(models.Instruction), instructions)
        conn.execute(insert(models.DutyAssessment), duty)
    reg.engine.dispose()
    return Register(url, read_only=True)


def test_every_view_the_export_writes_is_an_iterator_but_the_instruments(register):
    for path, produce in export._plan(register):
        rows = produce()
        if path == "views/instruments":
            assert isinstance(rows, list)
        else:
            assert isinstance(rows, Iterator) and not isinstance(rows, list), path


def live(model) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, model))


@pytest.mark.parametrize(
    "stream, model, row",
    [
        (views.stream_settlements, models.Instruction, SettlementRow),
        (views.stream_stamp_duty, models.DutyAssessment, DutyRow),
    ],
)
def test_a_streamed_view_holds_one_batch_of_its_rows_not_all_of_them(register, monkeypatch, stream, model, row):
    monkeypatch.setattr(views, "STREAM_BATCH", 50)
    before = live(model), live(row)
    rows = stream(register)
    first = next(rows)
    assert first.provisional is (first.block_number > FINALIZED)
    read, made = live(model) - before[0], live(row) - before[1]
    assert 0 < read <= 50 < TRADES and made <= 50, "a batch read from the database, not every row"
    assert sum(1 for _ in rows) == TRADES - 1


def test_streamed_holders_look_up_their_investors_a_batch_at_a_time(register, monkeypatch):
    monkeypatch.setattr(views, "STREAM_BATCH", 50)
    looked_up = []
    lookup = views.investor_ids_at
    monkeypatch.setattr(
        views, "investor_ids_at", lambda s, wallets, block: looked_up.append(len(wallets)) or lookup(s, wallets, block)
    )
    _, rows = views.stream_holders(register, ISIN)
    assert len(list(rows)) == INVESTORS and looked_up == [50, 50, 20]


def pages(view, *args) -> list:
    out, key = [], None
    while True:
        page = view(*args, page=Page(37, key))
        out += page
        if page.next is None:
            return out
        key = page.next


def as_json(rows) -> list:
    return [r.as_json() for r in rows]


def test_streams_give_the_rows_the_lists_and_their_pages_give_with_their_finality(register):
    block, holders = views.stream_holders(register, ISIN)
    listed = views.holders(register, ISIN)
    assert (block, as_json(holders)) == (listed[0], as_json(listed[1]))
    assert as_json(listed[1]) == as_json(pages(lambda page: views.holders(register, ISIN, page=page)[1]))
    with register.session() as s:  # the database's order is the one Python gives the balances
        by_python = sorted(views.balances(s, BOND, block).items(), key=lambda kv: (-kv[1], kv[0]))
    assert [(h.wallet, h.quantity) for h in listed[1]] == by_python
    assert all(h.provisional for h in listed[1])  # as of the indexed block, above the finalized one

    for stream, listing in [
        (views.stream_settlements, views.settlements),
        (views.stream_stamp_duty, views.stamp_duty),
    ]:
        rows = as_json(stream(register))
        assert rows == as_json(listing(register)) == as_json(pages(listing, register))
        assert {r["provisional"] for r in rows} == {True, False}
    assert as_json(views.stream_payments(register, ISIN)) == as_json(views.payments(register, ISIN)) == []
    assert as_json(views.stream_coupons(register, ISIN)) == as_json(views.coupons(register, ISIN)) == []
