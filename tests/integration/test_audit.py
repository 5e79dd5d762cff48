"""What auditors get without write access: point-in-time views, movements, periods; `verify`
proving every row against the chain (an edited or deleted row is caught, and so is a tampered
audit log); `export` of the whole register with a manifest of sha256 sums."""

import csv
import hashlib
import io
import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import select

from conftest import both_backends
from helpers import dev_address, drop_audit_guards, fund, register_counts, trade
from ledger.register import db, models
from ledger.register.db import Register

ISIN = "HK0000987658"


@pytest.fixture
def traded(issued):
    """The issued bond and one settled trade: harbour_pension sells 100 to kowloon_life."""
    world, out = issued
    fund(world.run, 2, "5000000")
    iid = trade(world, ISIN, "harbour_pension", "kowloon_life")["instruction_id"]
    for index in (1, 2):
        assert world.run("affirm", iid, "--dev-account", index).exit_code == 0
    assert world.run("settle").exit_code == 0
    return world, out, iid


def sql(world, statement: str, **params) -> int:
    with Register(world.db_url).engine.begin() as conn:
        return conn.execute(text(statement), params).rowcount


def verify(world):
    r = world.run("verify", "--format", "json")
    return r.exit_code, r.json()


# ---------------------------------------------------------------------- verify


def test_verify_proves_an_untouched_register(traded):
    world, _, _ = traded
    code, report = verify(world)
    assert code == 0 and report["ok"] and report["problems"] == []
    assert report["rows_checked"] > 20 and report["logs_checked"] >= report["rows_checked"] - 10
    assert report["audit_entries"] > 10
    assert world.run("verify").stdout.startswith(f"register at block {report['block']}: OK")


def test_verify_catches_an_edited_transfer(traded):
    world, out, _ = traded
    assert sql(world, "UPDATE transfers SET quantity = 12001 WHERE token = :t AND quantity = 12000", t=out["address"]) == 1
    code, report = verify(world)
    assert code == 1
    [problem] = report["problems"]
    assert (problem["check"], problem["table"]) == ("integrity", "transfers")
    assert problem["what"] == "quantity is 12001 in the register, 12000 on chain"


def test_verify_catches_a_deleted_transfer(traded):
    world, out, _ = traded
    with Register(world.db_url).engine.begin() as conn:
        tx, log_index = conn.execute(
            text("SELECT tx_hash, log_index FROM transfers WHERE quantity = 100 AND token = :t"), {"t": out["address"]}
        ).one()
        conn.execute(text("DELETE FROM transfers WHERE tx_hash = :h AND log_index = :i"), {"h": tx, "i": log_index})
    code, report = verify(world)
    assert code == 1
    assert {"check": "completeness", "table": "transfers", "where": f"{tx}:{log_index}"}.items() <= report["problems"][0].items()


def test_verify_catches_an_edited_settlement_and_duty_row(traded):
    world, _, iid = traded
    sql(world, "UPDATE duty_assessments SET consideration = 1 WHERE instruction_id = :i", i=iid)
    sql(world, "UPDATE token_events SET args = '{}' WHERE id = (SELECT MIN(id) FROM token_events)")
    code, report = verify(world)
    assert code == 1
    assert sorted(p["table"] for p in report["problems"]) == ["duty_assessments", "token_events"]


@both_backends
def test_the_register_refuses_to_edit_or_delete_an_audit_entry(traded):
    world, _, _ = traded
    for statement in ("UPDATE audit_log SET actor = 'someone else' WHERE id = 3", "DELETE FROM audit_log WHERE id = 7"):
        with pytest.raises(DBAPIError, match="audit_log is append-only"):
            sql(world, statement)
    assert verify(world)[0] == 0


@both_backends
def test_the_audit_chain_cannot_fork(traded):
    """Two commands appending at once cannot both chain to the same entry: the second is refused."""
    world, _, _ = traded
    reg = Register(world.db_url)
    with reg.session() as s:
        last = s.exec(select(models.AuditLog).order_by(models.AuditLog.id.desc())).first()
        s.add(models.AuditLog(actor="a rival", action="fork", detail="{}", prev_hash=last.prev_hash, hash="0" * 64))
        with pytest.raises(IntegrityError):
            s.commit()
    assert verify(world)[0] == 0


@both_backends
def test_verify_catches_a_tampered_audit_log(traded):
    """Whoever can drop the guards (a database administrator) is caught by the hash chain."""
    world, _, _ = traded
    with Register(world.db_url).engine.begin() as conn:
        drop_audit_guards(conn)
    sql(world, 'UPDATE audit_log SET detail = \'{"isin": "forged"}\' WHERE id = 3')
    sql(world, "DELETE FROM audit_log WHERE id = 7")
    code, report = verify(world)
    assert code == 1
    found = {(p["where"], p["what"]) for p in report["problems"] if p["check"] == "audit_log"}
    assert ("3", "its content does not match its hash (edited)") in found
    assert ("8", "entries 7..7 are missing") in found


# ---------------------------------------------------------------------- point in time, periods, movements


def test_holders_as_of_a_date(traded):
    world, _, _ = traded
    on_issue_day = world.run("register", "holders", ISIN, "--as-of-date", "2024-02-07", "--format", "json").json()
    assert {h["investor_id"]: h["quantity"] for h in on_issue_day}["harbour_pension"] == 11_900
    before = world.run("register", "holders", ISIN, "--as-of-date", "2024-02-06")
    assert before.exit_code == 2 and "nothing is indexed before the end of 2024-02-06" in before.stderr
    both = world.run("register", "holders", ISIN, "--as-of-date", "2024-02-07", "--as-of-block", "3")
    assert both.exit_code == 2


def test_every_movement_of_one_investor(traded):
    world, _, _ = traded
    moves = world.run("register", "movements", "harbour_pension", "--format", "json").json()
    kinds = [(m["instrument"], m["direction"], m["quantity"], m["counterparty"]) for m in moves]
    assert ("HKD", "in", "600000000.00", "issue/redemption") in kinds  # cash minted to it
    assert (ISIN, "in", 12_000, "issue/redemption") in kinds  # its allocation
    assert (ISIN, "out", 100, "kowloon_life") in kinds  # the trade
    assert all(m["tx_hash"].startswith("0x") and m["block_hash"].startswith("0x") for m in moves)
    unknown = world.run("register", "movements", "nobody")
    assert unknown.exit_code == 2 and "INVESTOR: nobody is not an investor in this register" in unknown.stderr


def test_settlements_in_a_period(traded):
    world, _, iid = traded
    assert [
        s["instruction_id"]
        for s in world.run("register", "settlements", "--from", "2024-02-07", "--to", "2024-02-07", "--format", "json").json()
    ] == [iid]
    assert world.run("register", "settlements", "--from", "2024-02-08", "--format", "json").json() == []


def test_a_period_ending_before_it_starts_is_refused(traded):
    world, _, _ = traded
    for command in (["settlements"], ["stamp-duty"], ["movements", "harbour_pension"]):
        r = world.run("register", *command, "--from", "2024-12-31", "--to", "2024-01-01")
        assert r.exit_code == 2, command
        assert r.stderr.strip() == "error: --from: 2024-12-31 is after --to 2024-01-01", (command, r.stderr)


def test_reading_the_register_needs_neither_the_chain_nor_write_access(traded):
    world, _, _ = traded
    db_file = world.db_url.removeprefix("sqlite:///")
    before = hashlib.sha256(open(db_file, "rb").read()).hexdigest(), register_counts(world.db_url)
    dead_node = {"BONDLEDGER_RPC_URL": "http://127.0.0.1:9"}
    for args in (
        ["register", "holders", ISIN],
        ["register", "settlements"],
        ["register", "stamp-duty"],
        ["register", "instruments"],
    ):
        r = world.run(*args, env=dead_node)
        assert r.exit_code == 0, (args, r.stderr)
    assert (hashlib.sha256(open(db_file, "rb").read()).hexdigest(), register_counts(world.db_url)) == before


@both_backends
def test_a_read_only_register_cannot_be_written_to(traded):
    world, _, _ = traded
    before = register_counts(world.db_url)
    reader = Register(world.db_url, read_only=True)
    with pytest.raises(DBAPIError, match="(?i)read-only|readonly"):
        with reader.engine.begin() as conn:
            conn.execute(text("DELETE FROM transfers"))
    reader.engine.dispose()
    assert register_counts(world.db_url) == before


# ---------------------------------------------------------------------- export


def test_export_writes_every_table_and_view_with_a_manifest_of_sums(traded, tmp_path):
    world, _, _ = traded
    out = tmp_path / "export"
    r = world.run("export", "--out", out)
    assert r.exit_code == 0, r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["chain_id"] == 31337 and manifest["checkpoint"]["block_number"] > 0
    assert manifest["schema_revision"] == db.head_revision()
    assert manifest["audit_head"] == verify(world)[1]["audit_head"] and len(manifest["audit_head"]) == 64
    paths = {f["path"] for f in manifest["files"]}
    for table in ("transfers", "instruments", "investors", "audit_log", "duty_assessments", "instructions"):
        assert {f"tables/{table}.csv", f"tables/{table}.json"} <= paths
    assert {
        f"views/{ISIN}/holders.csv",
        "views/stamp_duty.json",
        "views/settlements.csv",
        "views/movements/harbour_pension.json",
    } <= paths
    for f in manifest["files"]:
        assert hashlib.sha256((out / f["path"]).read_bytes()).hexdigest() == f["sha256"]
    sums = (out / "SHA256SUMS").read_text().splitlines()
    assert len(sums) == len(manifest["files"]) and all("  " in line for line in sums)

    exported = list(csv.DictReader(io.StringIO((out / f"views/{ISIN}/holders.csv").read_text())))
    cli = list(csv.DictReader(io.StringIO(world.run("register", "holders", ISIN, "--format", "csv").stdout)))
    assert exported == cli


def test_the_exported_movements_of_every_investor_are_its_movements(traded, tmp_path):
    """The export reads every investor's movements in one stream: each file is what
    `register movements` gives for that investor, and every investor has its file."""
    world, _, _ = traded
    assert world.run("export", "--out", tmp_path / "x").exit_code == 0
    investors = [i["investor_id"] for i in world.run("investors", "list", "--format", "json").json()]
    assert investors and sorted(p.stem for p in (tmp_path / "x/views/movements").glob("*.json")) == sorted(investors)
    for investor_id in investors:
        exported = json.loads((tmp_path / f"x/views/movements/{investor_id}.json").read_text())
        assert exported == world.run("register", "movements", investor_id, "--format", "json").json(), investor_id


def test_an_export_is_reproducible_and_refuses_a_used_directory(traded, tmp_path):
    world, _, _ = traded
    assert world.run("export", "--out", tmp_path / "a").exit_code == 0
    assert world.run("export", "--out", tmp_path / "b").exit_code == 0
    assert (tmp_path / "a" / "SHA256SUMS").read_text() == (tmp_path / "b" / "SHA256SUMS").read_text()
    again = world.run("export", "--out", tmp_path / "a")
    assert again.exit_code == 2 and "is not empty; export into a new directory" in again.stderr
    assert dev_address(1)  # (the sample wallets are in the movements views)
