"""The export writes each file as it goes; what it writes is exactly what json.dumps and csv
would give for the whole list at once."""

import csv
import io
import json
from decimal import Decimal

from ledger.export import _plain, _write

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
