"""Warehouse tests: manifest loads (merge, idempotency, tombstones, atomic watermark, schema evolution), push state."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors import warehouse as wh
from crm_risk.errors import WarehouseBusy

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FIELDS = {
    "Id": "id",
    "IsDeleted": "boolean",
    "Name": "string",
    "AnnualRevenue": "currency",
    "SystemModstamp": "datetime",
}


def ts(day: int) -> datetime:
    """A UTC timestamp `day` days into January 2026."""
    return T0.replace(day=day)


def write_extract(
    root: Path,
    run_id: str,
    chunks: list[list[dict[str, Any]]],
    *,
    deleted: list[dict] | None = None,
    fields: dict[str, str] | None = None,
    window_end: str = "2026-01-20T00:00:00.000+0000",
    window_start: str = "1970-01-01T00:00:00.000+0000",
    obj: str = "Account",
) -> Path:
    """Write Parquet chunks (+ deleted.parquet) and a `_manifest.json` the way the extractor lands them."""
    fields = fields or FIELDS
    out = root / run_id / obj
    out.mkdir(parents=True)
    types = {
        "id": pa.string(),
        "string": pa.string(),
        "boolean": pa.bool_(),
        "currency": pa.float64(),
        "datetime": pa.timestamp("us", tz="UTC"),
        "double": pa.float64(),
        "int": pa.int64(),
    }
    schema = pa.schema([(n, types[t]) for n, t in fields.items()])
    files = []
    for i, rows in enumerate(chunks):
        name = f"part-{i:05d}.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), out / name)
        files.append(name)
    manifest = {
        "object": obj,
        "run_id": run_id,
        "fields": fields,
        "rows": sum(map(len, chunks)),
        "files": files,
        "deleted_file": None,
        "window_start": window_start,
        "window_end": window_end,
        "cursor_field": "SystemModstamp",
        "api": "rest",
        "api_calls": 1,
        "missing_fields": [],
    }
    if deleted is not None:
        pq.write_table(
            pa.Table.from_pylist(
                deleted,
                schema=pa.schema([("Id", pa.string()), ("deletedDate", pa.timestamp("us", tz="UTC"))]),
            ),
            out / "deleted.parquet",
        )
        manifest["deleted_file"] = "deleted.parquet"
    (out / "_manifest.json").write_text(json.dumps(manifest))
    return out


def acct(i: str, name: str, day: int, deleted: bool = False, revenue: float | None = 1.0) -> dict[str, Any]:
    """One Account row."""
    return {"Id": i, "IsDeleted": deleted, "Name": name, "AnnualRevenue": revenue, "SystemModstamp": ts(day)}


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """A fresh warehouse file."""
    c = wh.connect(tmp_path / "wh.duckdb")
    yield c
    c.close()


def rows(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Account rows as (Id, Name, _deleted, _deleted_at) sorted by Id."""
    return con.execute('select "Id", "Name", _deleted, _deleted_at from raw.account order by 1').fetchall()


def test_watermark_moves_only_over_windows_that_join_what_is_covered(con, tmp_path):
    wh.load_manifest(con, write_extract(tmp_path, "r1", [[acct("A1", "one", 2)]]), "r1")
    assert wh.get_watermark(con, "Account") == datetime(2026, 1, 20, tzinfo=UTC)
    # a backfill of an older window loads its rows and never moves the watermark back
    older = write_extract(
        tmp_path,
        "r2",
        [[acct("A0", "zero", 1)]],
        window_start="2025-06-01T00:00:00Z",
        window_end="2026-01-05T00:00:00Z",
    )
    assert wh.load_manifest(con, older, "r2").inserted == 1
    assert wh.get_watermark(con, "Account") == datetime(2026, 1, 20, tzinfo=UTC)
    # a window starting after the watermark leaves a gap: its rows load, the watermark stays
    gap = write_extract(
        tmp_path,
        "r3",
        [[acct("A3", "three", 26)]],
        window_start="2026-01-25T00:00:00Z",
        window_end="2026-01-28T00:00:00Z",
    )
    assert wh.load_manifest(con, gap, "r3").inserted == 1
    assert wh.get_watermark(con, "Account") == datetime(2026, 1, 20, tzinfo=UTC)
    # a window reaching back over the watermark (the nightly's lookback) moves it forward
    joined = write_extract(
        tmp_path,
        "r4",
        [[acct("A3", "three", 26)]],
        window_start="2026-01-19T23:50:00Z",
        window_end="2026-01-28T00:00:00Z",
    )
    wh.load_manifest(con, joined, "r4")
    assert wh.get_watermark(con, "Account") == datetime(2026, 1, 28, tzinfo=UTC)
    assert [r[0] for r in rows(con)] == ["A0", "A1", "A3"]


def test_a_first_load_from_a_later_date_sets_no_watermark(con, tmp_path):
    # e.g. `crm-risk backfill --since 2026-01-01` on a new warehouse: older records are not loaded yet, so the next
    # incremental run must still start from the beginning
    d = write_extract(tmp_path, "r1", [[acct("A1", "one", 2)]], window_start="2026-01-01T00:00:00Z")
    assert wh.load_manifest(con, d, "r1").inserted == 1
    assert wh.get_watermark(con, "Account") is None


def test_merge_latest_wins_across_chunks_and_idempotent(con, tmp_path):
    d = write_extract(tmp_path, "r1", [[acct("A1", "old", 2), acct("A2", "two", 3)], [acct("A1", "new", 5)]])
    res = wh.load_manifest(con, d, "r1")
    assert (res.rows_in_files, res.inserted, res.updated) == (3, 2, 0)
    assert rows(con) == [("A1", "new", False, None), ("A2", "two", False, None)]
    assert wh.get_watermark(con, "Account") == datetime(2026, 1, 20, tzinfo=UTC)
    before = con.execute("select * from raw.account order by 1").fetchall()
    again = wh.load_manifest(con, d, "r1-rerun")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert con.execute("select * from raw.account order by 1").fetchall() == before
    # an older copy arriving later (lookback overlap) does not win
    d2 = write_extract(tmp_path, "r2", [[acct("A1", "older", 4)]], window_end="2026-01-21T00:00:00Z")
    assert wh.load_manifest(con, d2, "r2").updated == 0
    assert rows(con)[0][1] == "new"


def test_tombstones_soft_and_hard_keep_the_row(con, tmp_path):
    wh.load_manifest(con, write_extract(tmp_path, "r1", [[acct("A1", "one", 2), acct("A2", "two", 2)]]), "r1")
    d = write_extract(
        tmp_path,
        "r2",
        [[acct("A1", "one", 6, deleted=True)]],
        deleted=[{"Id": "A2", "deletedDate": ts(7)}, {"Id": "A9", "deletedDate": ts(8)}],
        window_end="2026-01-25T00:00:00Z",
    )
    res = wh.load_manifest(con, d, "r2")
    assert res.tombstoned == 3
    assert rows(con) == [("A1", "one", True, ts(6)), ("A2", "two", True, ts(7)), ("A9", None, True, ts(8))]
    # rerun: nothing changes; an old copy of A2 from a lookback does not resurrect it
    assert wh.load_manifest(con, d, "r2b").tombstoned == 0
    wh.load_manifest(con, write_extract(tmp_path, "r3", [[acct("A2", "two", 2)]]), "r3")
    assert rows(con)[1] == ("A2", "two", True, ts(7))


def test_corrupt_chunk_rolls_back_rows_and_watermark(con, tmp_path):
    wh.load_manifest(con, write_extract(tmp_path, "r1", [[acct("A1", "one", 2)]]), "r1")
    d = write_extract(
        tmp_path,
        "r2",
        [[acct("A1", "changed", 9), acct("A3", "three", 9)], [acct("A4", "x", 9)]],
        window_end="2026-01-30T00:00:00Z",
    )
    (d / "part-00001.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(duckdb.Error):
        wh.load_manifest(con, d, "r2")
    assert rows(con) == [("A1", "one", False, None)]
    assert wh.get_watermark(con, "Account") == datetime(2026, 1, 20, tzinfo=UTC)


def test_schema_evolution_adds_columns_never_drops(con, tmp_path):
    wh.load_manifest(con, write_extract(tmp_path, "r1", [[acct("A1", "one", 2)]]), "r1")
    fields = {**FIELDS, "Expected_Resolution_Days__c": "double"}
    row = {**acct("A1", "one", 2), "Expected_Resolution_Days__c": 3.0}
    res = wh.load_manifest(con, write_extract(tmp_path, "r2", [[row]], fields=fields), "r2")
    assert res.added_columns == ["Expected_Resolution_Days__c"] and res.updated == 1
    slim = {"Id": "id", "Name": "string", "SystemModstamp": "datetime"}
    wh.load_manifest(
        con,
        write_extract(tmp_path, "r3", [[{"Id": "A2", "Name": "two", "SystemModstamp": ts(3)}]], fields=slim),
        "r3",
    )
    got = con.execute(
        'select "Id", "Expected_Resolution_Days__c", "AnnualRevenue" from raw.account order by 1'
    )
    assert got.fetchall() == [("A1", 3.0, 1.0), ("A2", None, None)]
    types = dict(
        con.execute(
            "select column_name, data_type from information_schema.columns where table_name = 'account'"
        ).fetchall()
    )
    assert types["SystemModstamp"] == "TIMESTAMP WITH TIME ZONE" and types["AnnualRevenue"] == "DOUBLE"


def test_rows_without_id_are_quarantined(con, tmp_path):
    d = write_extract(tmp_path, "r1", [[acct("A1", "one", 2), {**acct("x", "no id", 2), "Id": None}]])
    res = wh.load_manifest(con, d, "r1")
    assert (res.inserted, res.quarantined) == (1, 1)
    q = con.execute("select object, record ->> 'Name' from meta.quarantine").fetchall()
    assert q == [("Account", "no id")]
    wh.load_manifest(con, d, "r1")  # rerun of the same run: not quarantined twice
    assert con.execute("select count(*) from meta.quarantine").fetchall() == [(1,)]


def test_case_object_maps_to_quoted_table(con, tmp_path):
    f = {"Id": "id", "CaseNumber": "string", "SystemModstamp": "datetime"}
    d = write_extract(
        tmp_path,
        "r1",
        [[{"Id": "500A", "CaseNumber": "00001", "SystemModstamp": ts(2)}]],
        fields=f,
        obj="Case",
    )
    wh.load_manifest(con, d, "r1")
    assert con.execute('select "CaseNumber" from raw."case"').fetchall() == [("00001",)]


def test_runs_and_quarantine_helpers(con):
    wh.start_run(con, "run-1", "nightly_sync", started_at=ts(1))
    wh.finish_run(con, "run-1", "completed", counts={"Account": 3}, api_calls=12, message="ok")
    got = con.execute("select status, counts ->> 'Account', api_calls, message from meta.runs").fetchall()[0]
    assert got == ("completed", "3", 12, "ok")
    n = wh.quarantine_rows(
        con,
        "run-1",
        "Case",
        [{"record_id": "500X", "failed": {"AccountId": "null"}, "record": {"Id": "500X"}}],
    )
    assert n == 1 and con.execute("select record_id, failed ->> 'AccountId' from meta.quarantine").fetchall()[
        0
    ] == ("500X", "null")


def test_record_push_results_success_and_dead_letter(con):
    p1 = {
        "Id": "001A",
        "Risk_Level__c": "Red",
        "Risk_Score__c": 80.0,
        "Risk_Reasons__c": "r",
        "Risk_Trend__c": "Rising",
        "Risk_Model_Version__c": "v1",
        "Risk_Computed_At__c": "2026-01-01",
    }
    p2 = {**p1, "Id": "001B", "Risk_Level__c": "Amber"}
    results = [
        {"record_id": "001A", "ok": True, "status": "updated"},
        {
            "record_id": "001B",
            "ok": False,
            "status": "rejected",
            "error_code": "STRING_TOO_LONG",
            "message": "too long",
        },
    ]
    counts = wh.record_push_results(con, "run-1", "Account", results, [p1, p2])
    assert counts == {"updated": 1, "rejected": 1}
    state = con.execute(
        "select account_id, payload_hash, dead_hash, dead_error_code from sync.account_push_state order by 1"
    ).fetchall()
    assert state == [
        ("001A", wh.payload_hash(p1), None, None),
        ("001B", None, wh.payload_hash(p2), "STRING_TOO_LONG"),
    ]
    assert con.execute("select count(*) from sync.push_log").fetchall()[0][0] == 2
    # a later success clears the dead letter
    wh.record_push_results(con, "run-2", "Account", [{"record_id": "001B", "ok": True}], [p2])
    assert con.execute(
        "select payload_hash, dead_hash from sync.account_push_state where account_id = '001B'"
    ).fetchall()[0] == (wh.payload_hash(p2), None)


def test_record_push_results_takes_hashes_from_the_pending_view(con):
    row = {"Id": "001A", "Risk_Level__c": "Red"}
    wh.record_push_results(
        con, "run-1", "Account", [{"record_id": "001A", "ok": True}], [row], {"001A": "h-1"}
    )
    assert con.execute("select payload_hash from sync.account_push_state").fetchall() == [("h-1",)]
    assert con.execute("select payload ->> 'Risk_Level__c', operation from sync.push_log").fetchall() == [
        ("Red", "update")
    ]


def test_validation_refused_rows_go_to_quarantine_in_the_same_load(con, tmp_path):
    d = write_extract(tmp_path, "r1", [[acct("A1", "one", 2), acct("A2", "bad", 2)]])
    refused = [{"record_id": "A2", "failed": {"Name": "looks like a test record"}, "record": {"Id": "A2"}}]
    res = wh.load_manifest(con, d, "r1", quarantine=refused)
    assert (res.inserted, res.quarantined) == (1, 1)
    assert [r[0] for r in rows(con)] == ["A1"]
    wh.load_manifest(con, d, "r1", quarantine=refused)  # a rerun replaces its own quarantine rows
    q = con.execute("select record_id, failed ->> 'Name' from meta.quarantine").fetchall()
    assert q == [("A2", "looks like a test record")]
    assert wh.get_watermark(con, "Account") == datetime(2026, 1, 20, tzinfo=UTC)


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding the warehouse read-write for `seconds` (DuckDB locks per process)."""
    code = (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
        "time.sleep(float(sys.argv[2])); c.close()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_held_warehouse_is_waited_for_then_refused_clearly(tmp_path, caplog):
    path = tmp_path / "busy.duckdb"
    wh.connect(path).close()
    holder = _hold_lock(path, 60)
    try:
        with pytest.raises(WarehouseBusy, match="held by another process"):
            wh.connect(path, lock_wait_seconds=0.5)
    finally:
        holder.kill()
        holder.wait()
    holder = _hold_lock(path, 2)  # a short write window elsewhere: this writer waits its turn
    try:
        with caplog.at_level("WARNING", logger="connectors.warehouse"):
            con = wh.connect(path, lock_wait_seconds=60)
        assert (
            "held by another process; waiting" in caplog.text
        )  # it waited, then got in when the other let go
        con.execute("create table meta.after_wait (x integer)")
        con.close()
    finally:
        holder.kill()
        holder.wait()


def test_a_warehouse_file_gets_a_memory_cap_and_a_bad_size_is_refused(tmp_path):
    def limit(con: duckdb.DuckDBPyConnection) -> str:
        return con.execute("select current_setting('memory_limit')").fetchone()[0]

    with wh.connect(tmp_path / "capped.duckdb", memory_limit="256MB") as con:
        assert limit(con) == "244.1 MiB"  # DuckDB reports 256 MB in MiB
    with wh.connect(":memory:") as mem, wh.connect(tmp_path / "default.duckdb") as default:
        assert (
            limit(mem) != limit(default) == "488.2 MiB"
        )  # 512MB; in-memory (backtests) keeps DuckDB's default
    with pytest.raises(ValueError, match="not a size"):
        wh.connect(tmp_path / "bad.duckdb", memory_limit="1GB'; drop table x; --")


def test_the_memory_cap_is_a_setting_and_a_bad_one_names_the_variable(tmp_path):
    from crm_risk.config import load_settings
    from crm_risk.errors import ConfigError

    settings = load_settings(warehouse_path=str(tmp_path / "s.duckdb"), warehouse_memory_limit="512MB")
    with wh.open_for(settings) as con:
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] == "488.2 MiB"
    with pytest.raises(ConfigError, match="CRM_RISK_WAREHOUSE_MEMORY_LIMIT"):
        load_settings(warehouse_memory_limit="lots")


def test_without_a_cap_duckdb_gets_what_the_memory_budget_leaves(tmp_path):
    from connectors.warehouse.connect import _resident_mb
    from crm_risk.config import load_settings
    from crm_risk.errors import ConfigError

    def cap_mb(**kw: str) -> float:
        settings = load_settings(warehouse_path=str(tmp_path / "b.duckdb"), **kw)
        with wh.open_for(settings) as con:
            value = con.execute("select current_setting('memory_limit')").fetchone()[0]
        return float(value.split()[0]) * 2**20 / 1e6  # DuckDB reports MiB of its MB (10^6 bytes)

    held = _resident_mb()
    assert held is not None and held > 20  # this process: pytest, DuckDB, pandas (more in a busy test worker)
    big = cap_mb(memory_budget=f"{held + 96 + 2000}MB")  # plenty left: the 512MB ceiling
    assert big == pytest.approx(512, abs=1)
    tight = cap_mb(memory_budget=f"{held + 96 + 300}MB")  # 300MB left after what the process holds
    assert 240 <= tight <= 320  # the process grows a little between the two readings
    assert cap_mb(memory_budget="100MB") == pytest.approx(256, abs=1)  # never below 256MB
    assert cap_mb(memory_budget="100MB", warehouse_memory_limit="1GB") == pytest.approx(
        1000, abs=1
    )  # a set cap wins
    with pytest.raises(ConfigError, match="CRM_RISK_MEMORY_BUDGET"):
        load_settings(memory_budget="plenty")


def test_a_run_whose_process_is_gone_is_closed_as_died(con):
    import subprocess
    import sys

    wh.start_run(con, "alive", "nightly_sync")  # this process: still running
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    wh.start_run(con, "killed", "nightly_sync")
    con.execute("update meta.runs set process = ? where run_id = 'killed'", [f"{gone.pid}:1"])
    wh.start_run(con, "elsewhere", "nightly_sync")
    con.execute("update meta.runs set host = 'another-host', process = '1:1' where run_id = 'elsewhere'")
    wh.start_run(con, "older", "nightly_sync")
    con.execute(
        "update meta.runs set host = null, process = null where run_id = 'older'"
    )  # an older version's
    con.execute("insert into sync.account_push_intents values ('killed', '001A', '{}', 'h', now())")
    closed = dict(wh.mark_dead_runs(con))
    assert sorted(closed) == ["killed", "older"]
    assert "last step seen: the Account push (1 updates in flight)" in closed["killed"]
    status = dict(con.execute("select run_id, status from meta.runs").fetchall())
    assert status == {"alive": "running", "killed": "died", "elsewhere": "running", "older": "died"}
    assert wh.live_runs(con) == {"alive", "elsewhere"}
