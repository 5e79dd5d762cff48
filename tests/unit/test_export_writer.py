"""The export writes each file as it goes; what it writes is exactly what json.dumps and csv
would give for the whole list at once."""

import csv
import io
import json
from decimal import Decimal

from ledger.proofs.export import _plain, _write

ROWS = [
    {"investor": "harbour_pension", "quantity": 1, "amount": Decimal("1.50"), "note": None},
    {"investor": "kowloon_life", "quantity": 2, "amount": Decimal("2"), "note": 'line one\nline "two"'},
]


def test_streamed_json_is_byte_identical_to_dumping_the_whole_list(tmp_path):
    files = _write(tmp_path, "v", iter(ROWS))
    assert (tmp_path / "v.json").read_text() == json.dumps(ROWS, indent=2, default=_plain) + "\n"
    assert [f["rows"] for f in files] == [2, 2]


def test_streamed_csv_reads_back_as_the_rows(tmp_path):
    _write(tmp_path, "v", iter(ROWS))
    back = list(csv.DictReader(io.StringIO((tmp_path / "v.csv").read_text())))
    assert back == [{k: "" if v is None else str(v) for k, v in r.items()} for r in ROWS]


def test_no_rows_gives_an_empty_list_and_an_empty_csv(tmp_path):
    _write(tmp_path, "v", iter([]))
    assert (tmp_path / "v.json").read_text() == "[]\n" and (tmp_path / "v.csv").read_text() == ""


def test_every_kind_of_value_and_many_rows_stream_byte_identical_to_one_dump(tmp_path):
    from datetime import date, datetime, timezone

    from ledger.proofs import export

    odd = [
        {
            "s": 'naïve ünïcode \u2028 "quoted", comma',
            "i": -(2**70),
            "b": True,
            "f": 0.1,
            "n": None,
            "d": date(2024, 2, 7),
            "t": datetime(2024, 2, 7, 1, tzinfo=timezone.utc),
            "m": Decimal("-0.000"),
        },
        {
            "s": "",
            "i": 0,
            "b": False,
            "f": 1e300,
            "n": None,
            "d": date(1999, 1, 1),
            "t": datetime(2000, 1, 1),
            "m": Decimal("1E+3"),
        },
        {
            "i": 1,
            "s": "keys in another order",
            "b": False,
            "f": 2.5,
            "n": None,
            "d": date(2000, 1, 1),
            "t": datetime(2000, 1, 1),
            "m": Decimal(0),
        },
        {
            "s": "nested",
            "i": [1, {"a": None}],
            "b": {"k": "v"},
            "f": [],
            "n": {},
            "d": date(2000, 1, 1),
            "t": datetime(2000, 1, 1),
            "m": Decimal(1),
        },
    ]
    rows = [dict(r, s=f"{r['s']} {n}") for n in range(export.FLUSH_ROWS + 3) for r in odd]  # several flushes
    files = _write(tmp_path, "v", iter(rows))
    assert (tmp_path / "v.json").read_text() == json.dumps(rows, indent=2, default=_plain) + "\n"
    expected = io.StringIO()
    writer = csv.DictWriter(expected, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _plain(v) for k, v in r.items()} for r in rows)
    assert (tmp_path / "v.csv").read_text() == expected.getvalue()
    assert [f["rows"] for f in files] == [len(rows)] * 2


def test_an_empty_row_is_laid_out_as_json_dumps_does(tmp_path):
    _write(tmp_path, "v", iter([{}, {}]))
    assert (tmp_path / "v.json").read_text() == json.dumps([{}, {}], indent=2) + "\n"
