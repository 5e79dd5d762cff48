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
import hashlib
import io
import json
from collections.abc import Callable
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

from sqlalchemy import inspect, text

from ledger import views
from ledger.db import Register, schema_revision
from ledger.errors import InputError


def _plain(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _csv(rows: list[dict]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _plain(v) for k, v in r.items()} for r in rows)
    return out.getvalue()


def _json(rows) -> str:
    return json.dumps(rows, indent=2, sort_keys=False, default=_plain) + "\n"


def _table_rows(register: Register, table: str) -> list[dict]:
    meta = inspect(register.engine)
    columns = [c["name"] for c in meta.get_columns(table)]
    keys = meta.get_pk_constraint(table).get("constrained_columns") or columns
    order = ", ".join(f'"{k}"' for k in keys)
    with register.engine.connect() as conn:
        result = conn.execute(text(f'SELECT * FROM "{table}" ORDER BY {order}'))
        return [{c: _plain(v) for c, v in zip(result.keys(), row)} for row in result]


def export(register: Register, out: Path, progress: Callable[[int, int], None] | None = None) -> dict:
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"--out: {out} is not empty; export into a new directory")
    files: dict[str, tuple[str, int]] = {}

    def put(path: str, rows) -> None:
        files[f"{path}.csv"] = (_csv(rows) if isinstance(rows, list) else "", len(rows) if isinstance(rows, list) else 1)
        files[f"{path}.json"] = (_json(rows), len(rows) if isinstance(rows, list) else 1)

    tables = sorted(t for t in inspect(register.engine).get_table_names() if t != "alembic_version")
    for table in tables:
        put(f"tables/{table}", _table_rows(register, table))

    instruments = views.instruments(register)
    put("views/instruments", instruments)
    indexed = register.indexed_block()
    for inst in instruments:
        code = inst["isin"]
        if indexed >= 0:
            _, holders = views.holders(register, code)
            put(f"views/{code}/holders", [h.as_json() for h in holders])
        put(f"views/{code}/transfers", views.transfer_rows(register, code))
        if inst["kind"] == "bond":
            put(f"views/{code}/coupons", views.coupons(register, code))
            put(f"views/{code}/payments", views.payments(register, code))
        else:
            put(f"views/{code}/nav", views.nav_history(register, code))
            put(f"views/{code}/flows", views.fund_flows(register, code))
    put("views/settlements", views.settlements(register))
    put("views/stamp_duty", views.stamp_duty(register))
    with register.engine.connect() as conn:
        investor_ids = [r[0] for r in conn.execute(text('SELECT investor_id FROM "investors" ORDER BY investor_id'))]
    for investor_id in investor_ids:
        put(f"views/movements/{investor_id}", views.movements(register, investor_id))

    manifest_files = []
    for n, (path, (content, rows)) in enumerate(sorted(files.items()), start=1):
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode()
        target.write_bytes(data)
        manifest_files.append({"path": path, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "rows": rows})
        if progress:
            progress(n, len(files))
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
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (out / "SHA256SUMS").write_text("".join(f"{f['sha256']}  {f['path']}\n" for f in manifest_files))
    return manifest
