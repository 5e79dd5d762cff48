"""Export: the whole register to a directory, as CSV and JSON, with a manifest of sha256 sums.

tables/  every register table, all columns, in a stable order (CSV and JSON);
views/   what auditors read: instruments, holders, transfers, coupons and payments of each
         instrument, NAV and flows of each fund, settlements, stamp duty, each investor's movements;
manifest.json  the register's chain, checkpoint and, for every file, its sha256, size and rows;
SHA256SUMS     the same sums in coreutils format: `sha256sum -c SHA256SUMS` checks the export.
Files are written in a stable order with stable content, so two exports of one register are
byte-identical (but for the manifest's generation time).
"""

import csv
import functools
import hashlib
import io
import json
import textwrap
from json.encoder import encode_basestring_ascii
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

from sqlalchemy import inspect, text

from ledger.register import movements, views
from ledger.register.db import Register, schema_revision
from ledger.errors import InputError
from ledger.register.rows import Row


def _plain(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


class _File:
    """One exported file, written as it is produced, its sha256 and size kept on the way: an
    export never holds a whole table in memory."""

    def __init__(self, root: Path, path: str):
        self.path = path
        target = root / path
        try:
            self._f = open(target, "wb")
        except FileNotFoundError:  # its directory's first file (not a mkdir per file: 20,000 of them)
            target.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(target, "wb")
        self._sha = hashlib.sha256()
        self.bytes = 0

    def write(self, text: str) -> None:
        data = text.encode()
        self._f.write(data)
        self._sha.update(data)
        self.bytes += len(data)

    def close(self, rows: int) -> dict:
        self._f.close()
        return {"path": self.path, "sha256": self._sha.hexdigest(), "bytes": self.bytes, "rows": rows}


FLUSH_ROWS = 2_000  # rows formatted before a write: few system calls, little held


def _write(root: Path, path: str, rows: Iterable[dict | Row] | dict) -> list[dict]:
    """`path`.csv and `path`.json from one pass over `rows` (a view's models, or a table's dicts;
    a single record: JSON only, empty CSV). The JSON is byte for byte what json.dumps(list,
    indent=2) gives of the rows' JSON values."""
    csv_out, json_out = _File(root, f"{path}.csv"), _File(root, f"{path}.json")
    if isinstance(rows, dict):
        json_out.write(json.dumps(rows, indent=2, default=_plain) + "\n")
        return [csv_out.close(1), json_out.close(1)]
    buffer, writer, fields, keys, n = io.StringIO(), None, None, None, 0
    items: list[str] = []
    for n, row in enumerate(rows, start=1):
        if isinstance(row, Row):
            row = row.as_json()
        if writer is None:
            fields = list(row)
            writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
            writer.writeheader()
            keys = [f"    {encode_basestring_ascii(k)}: " for k in fields]
        fast = _formatted(keys, row.values()) if list(row) == fields else None
        if fast is not None:
            writer.writer.writerow(fast[0])  # the DictWriter's own row, minus its key checks
            items.append(fast[1])
        else:
            writer.writerow({k: _plain(v) for k, v in row.items()})
            items.append(textwrap.indent(json.dumps(row, indent=2, default=_plain), "  "))
        if len(items) == FLUSH_ROWS:
            csv_out.write(buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()
            json_out.write(("[\n" if n == FLUSH_ROWS else ",\n") + ",\n".join(items))
            items = []
    csv_out.write(buffer.getvalue())
    if items:
        json_out.write(("[\n" if n == len(items) else ",\n") + ",\n".join(items))
    json_out.write("\n]\n" if n else "[]\n")
    return [csv_out.close(n), json_out.close(n)]


def _formatted(keys: list[str], values) -> tuple[list, str] | None:
    """A flat row's CSV fields and its item as json.dumps([row], indent=2) lays it out, in one
    pass and built directly (the indenting JSON encoder is pure Python: it was most of an
    export's time); None when a value is not a scalar."""
    fields, parts = [], []
    for key, v in zip(keys, values):
        t = type(v)
        if t is str:
            fields.append(v)
            parts.append(key + encode_basestring_ascii(v))
        elif t is int:
            fields.append(v)
            parts.append(key + int.__repr__(v))
        elif v is None:
            fields.append(None)
            parts.append(key + "null")
        elif t is bool:
            fields.append(v)
            parts.append(key + ("true" if v else "false"))
        elif t in (dict, list, tuple):
            return None
        else:
            v = _plain(v)
            fields.append(v)
            parts.append(key + json.dumps(v))
    return fields, ("  {\n" + ",\n".join(parts) + "\n  }" if parts else "  {}")


def _table_rows(register: Register, table: str) -> Iterator[dict]:
    """A table's rows in primary-key order, streamed from the database."""
    meta = inspect(register.engine)
    columns = [c["name"] for c in meta.get_columns(table)]
    keys = meta.get_pk_constraint(table).get("constrained_columns") or columns
    order = ", ".join(f'"{k}"' for k in keys)
    with register.engine.connect() as conn:
        result = conn.execution_options(yield_per=1000).execute(text(f'SELECT * FROM "{table}" ORDER BY {order}'))
        names = list(result.keys())
        for row in result:
            yield dict(zip(names, row))  # dates and decimals made plain as they are written


def _plan(register: Register) -> list[tuple[str, Callable[[], Iterable[dict] | dict]]]:
    """What the export writes: (path without extension, what produces its rows), in file order,
    but for each investor's movements (views/movements/ID), which come last from one stream."""
    plan = [
        (f"tables/{table}", functools.partial(_table_rows, register, table))
        for table in sorted(t for t in inspect(register.engine).get_table_names() if t != "alembic_version")
    ]
    # one row an instrument: the plan needs each one's code and kind (every other view is streamed)
    instruments = views.instruments(register)
    plan.append(("views/instruments", lambda: instruments))
    indexed = register.indexed_block()
    for inst in instruments:
        code = inst.isin
        if indexed >= 0:
            plan.append((f"views/{code}/holders", lambda code=code: views.stream_holders(register, code)[1]))
        plan.append((f"views/{code}/transfers", functools.partial(movements.stream_transfer_rows, register, code)))
        if inst.kind == "bond":
            plan.append((f"views/{code}/coupons", functools.partial(views.stream_coupons, register, code)))
            plan.append((f"views/{code}/payments", functools.partial(views.stream_payments, register, code)))
        else:
            plan.append((f"views/{code}/nav", functools.partial(views.stream_nav_history, register, code)))
            plan.append((f"views/{code}/flows", functools.partial(views.stream_fund_flows, register, code)))
    plan.append(("views/settlements", functools.partial(views.stream_settlements, register)))
    plan.append(("views/issuances", functools.partial(views.stream_issuances, register)))
    plan.append(("views/stamp_duty", functools.partial(views.stream_stamp_duty, register)))
    return plan


def export(register: Register, out: Path, progress: Callable[[int, int], None] | None = None) -> dict:
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"--out: {out} is not empty; export into a new directory")
    plan = _plan(register)
    with register.engine.connect() as conn:
        total = len(plan) + conn.execute(text('SELECT count(*) FROM "investors"')).scalar()
    manifest_files = []
    for n, (path, rows) in enumerate(plan, start=1):
        manifest_files += _write(out, path, rows())
        if progress:
            progress(n, total)
    for n, (investor_id, rows) in enumerate(movements.every_investors_movements(register), start=len(plan) + 1):
        manifest_files += _write(out, f"views/movements/{investor_id}", rows)
        if progress:
            progress(n, total)
    manifest_files.sort(key=lambda f: f["path"])
    cp = register.checkpoint()
    with register.engine.connect() as conn:
        network = conn.execute(text('SELECT chain_id, genesis_hash FROM "network"')).first()
        audit_head = conn.execute(text('SELECT hash FROM "audit_log" ORDER BY id DESC LIMIT 1')).scalar()
        revision = schema_revision(conn)
    manifest = {
        "generated_at": datetime.now(timezone.utc).isoformat(),
        "register": register.engine.url.render_as_string(hide_password=True),
        "chain_id": network[0] if network else None,
        "genesis_hash": network[1] if network else None,
        "checkpoint": {"block_number": cp.block_number, "block_hash": cp.block_hash} if cp else None,
        "schema_revision": revision,
        # the audit log's last hash: a later export (or `verify`) whose log no longer leads to it was cut short
        "audit_head": audit_head,
        "files": manifest_files,
    }
    # written as encoded (json.dumps of 40,000 files' entries with indent builds tens of MiB of pieces)
    with open(out / "manifest.json", "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    with open(out / "SHA256SUMS", "w") as f:
        f.writelines(f"{entry['sha256']}  {entry['path']}\n" for entry in manifest_files)
    return manifest
