"""The DuckDB warehouse: connection, schemas, run bookkeeping, quarantine and push-result logging.

Loading extracts lives in `connectors.warehouse.load` (re-exported here as `load_manifest`).
Layout (DESIGN.md): `raw` (current state of every record, tombstones kept), `meta` (watermarks, runs, quarantine,
`quarantine_open` (records whose newest state is still refused), `reconciliation` (per run and object:
extracted = loaded + quarantined, written in the load's transaction), rules), `staging`, `marts`, `sync` (push state and the append-only push log).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from connectors.warehouse.load import TABLES, LoadResult, load_manifest, table_for
from crm_risk.config import SIZE_PATTERN
from crm_risk.errors import WarehouseBusy

__all__ = [
    "LOCK_WAIT_SECONDS",
    "MEMORY_LIMIT",
    "SCHEMAS",
    "TABLES",
    "LoadResult",
    "connect",
    "ensure_schemas",
    "finish_run",
    "get_watermark",
    "load_manifest",
    "open_for",
    "payload_hash",
    "quarantine_rows",
    "record_push_results",
    "start_run",
    "table_for",
]

log = logging.getLogger(__name__)
# how long a writer waits for another process to release the warehouse file (DuckDB's single-writer lock)
LOCK_WAIT_SECONDS = 600.0
# DuckDB's own memory cap for a warehouse file (its default is 80% of the machine's RAM): past it, large loads and
# transforms spill to `<warehouse>.tmp/` instead of growing with the size of the org. In-memory databases (backtests)
# cannot spill and keep DuckDB's default.
MEMORY_LIMIT = "1GB"

SCHEMAS = ("raw", "meta", "staging", "marts", "sync")

# Fields whose values make up the pushed payload's hash. Risk_Computed_At__c is left out on purpose:
# an unchanged risk must not be re-pushed every night just because it was recomputed.
HASHED_FIELDS = (
    "Risk_Level__c",
    "Risk_Score__c",
    "Risk_Reasons__c",
    "Risk_Trend__c",
    "Risk_Model_Version__c",
)

_META_DDL = """
create table if not exists meta.watermarks (
    object varchar primary key, cursor_field varchar, watermark timestamptz, updated_at timestamptz, run_id varchar
);
create table if not exists meta.runs (
    run_id varchar primary key, flow varchar, started_at timestamptz, finished_at timestamptz, status varchar,
    counts json, api_calls bigint, message varchar
);
create table if not exists meta.quarantine (
    run_id varchar, object varchar, record_id varchar, failed json, record json, quarantined_at timestamptz
);
alter table meta.quarantine add column if not exists resolved_run_id varchar;
alter table meta.quarantine add column if not exists resolution varchar;
create or replace view meta.quarantine_open as
    select * from meta.quarantine where resolved_run_id is null;
create table if not exists meta.reconciliation (
    run_id varchar, object varchar, extracted bigint, loaded bigint, quarantined bigint, tombstones bigint,
    reconciled_at timestamptz, primary key (run_id, object)
);
create table if not exists sync.push_log (
    run_id varchar, object varchar, record_id varchar, operation varchar, payload json, payload_hash varchar,
    status varchar, error_code varchar, message varchar, "at" timestamptz
);
create table if not exists sync.account_push_state (
    account_id varchar primary key, payload json, payload_hash varchar, pushed_at timestamptz, run_id varchar,
    dead_hash varchar, dead_error_code varchar, dead_message varchar, dead_at timestamptz
);
"""


def connect(
    path: str | Path,
    read_only: bool = False,
    lock_wait_seconds: float = LOCK_WAIT_SECONDS,
    memory_limit: str | None = MEMORY_LIMIT,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (a file path, ':memory:' or a DuckDB connection string) with UTC as the session zone.

    DuckDB admits one read-write process per file: while another process holds it (a nightly sync, a backfill, a SQL
    client), this waits up to `lock_wait_seconds` for it (write windows are short), then raises WarehouseBusy.
    A local file gets DuckDB's `memory_limit` (None: DuckDB's default) so memory stays flat as the org grows.
    """
    target = str(path)
    local_file = target != ":memory:" and "://" not in target and not target.startswith("md:")
    if local_file:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    cap = _size(memory_limit) if local_file and memory_limit else None
    con = _open(target, read_only, lock_wait_seconds)
    if cap:
        con.execute(f"set memory_limit = '{cap}'")
    con.execute("set TimeZone = 'UTC'")
    if not read_only:
        ensure_schemas(con)
    return con


def open_for(settings: Any, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """The warehouse of these settings (`warehouse_path`, capped at `warehouse_memory_limit`)."""
    limit = getattr(settings, "warehouse_memory_limit", MEMORY_LIMIT)
    return connect(settings.warehouse_path, read_only=read_only, memory_limit=limit)


def _size(value: str) -> str:
    """A DuckDB size such as '1GB' or '512MB' (checked: it is formatted into a SET statement)."""
    if not re.fullmatch(SIZE_PATTERN, value):
        raise ValueError(f"memory_limit {value!r} is not a size such as '1GB' or '512MB'")
    return value.strip()


def _open(target: str, read_only: bool, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    deadline, pause, told = time.monotonic() + wait_seconds, 0.25, False
    while True:
        try:
            return duckdb.connect(target, read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusy(
                    f"warehouse {target} is held by another process (a sync, a backfill or a SQL client with it open "
                    f"read-write) and stayed so for {wait_seconds:g}s; try again when it is done: {exc}"
                ) from None
            if not told:
                log.warning(
                    "warehouse %s is held by another process; waiting up to %gs", target, wait_seconds
                )
                told = True
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 5.0)


def ensure_schemas(con: duckdb.DuckDBPyConnection) -> None:
    """Create the five schemas and the meta/sync bookkeeping tables if they are missing (idempotent)."""
    for schema in SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    con.execute(_META_DDL)


def get_watermark(con: duckdb.DuckDBPyConnection, object_name: str) -> datetime | None:
    """The object's committed watermark (UTC), or None when it was never loaded."""
    rows = con.execute("select watermark from meta.watermarks where object = ?", [object_name]).fetchall()
    return rows[0][0] if rows else None


def start_run(
    con: duckdb.DuckDBPyConnection, run_id: str, flow: str, started_at: datetime | None = None
) -> None:
    """Record a run as `running` in meta.runs (a rerun of the same run_id restarts its row)."""
    con.execute(
        "insert or replace into meta.runs (run_id, flow, started_at, status) values (?, ?, ?, 'running')",
        [run_id, flow, started_at or datetime.now(UTC)],
    )


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    status: str,
    counts: Mapping[str, Any] | None = None,
    api_calls: int | None = None,
    message: str | None = None,
    finished_at: datetime | None = None,
) -> None:
    """Close a run in meta.runs with its status (`completed`, `failed`, ...), counts, API calls and message."""
    con.execute(
        "update meta.runs set finished_at = ?, status = ?, counts = ?, api_calls = ?, message = ? where run_id = ?",
        [
            finished_at or datetime.now(UTC),
            status,
            json.dumps(counts or {}, default=str),
            api_calls,
            message,
            run_id,
        ],
    )


def quarantine_rows(
    con: duckdb.DuckDBPyConnection, run_id: str, object_name: str, rows: Iterable[Mapping[str, Any]]
) -> int:
    """Append rows to meta.quarantine; each row is `{"record_id", "failed": {check: detail}, "record": {...}}`."""
    now = datetime.now(UTC)
    batch = [
        {
            "run_id": run_id,
            "object": object_name,
            "record_id": r.get("record_id") or (r.get("record") or {}).get("Id"),
            "failed": json.dumps(r.get("failed") or {}, default=str),
            "record": json.dumps(r.get("record") or {}, default=str),
            "quarantined_at": now,
        }
        for r in rows
    ]
    if not batch:
        return 0
    _append(con, "meta.quarantine", batch)
    return len(batch)


def payload_hash(values: Mapping[str, Any]) -> str:
    """Hash of the pushed Account values, identical to the SQL macro `risk_payload_hash` in transforms/sync."""
    parts = []
    for name in HASHED_FIELDS:
        value = values.get(name)
        if value is None:
            parts.append("")
        elif name == "Risk_Score__c":
            parts.append(str(round(float(value))))
        else:
            parts.append(str(value))
    return hashlib.md5("|".join(parts).encode()).hexdigest()


def _hash_of(object_name: str, payload: Mapping[str, Any]) -> str:
    if object_name == "Account":
        return payload_hash(payload)
    return hashlib.md5(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _result_field(result: Any, name: str) -> Any:
    return result.get(name) if isinstance(result, Mapping) else getattr(result, name, None)


def record_push_results(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    object_name: str,
    results: Iterable[Any],
    payloads: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]],
    hashes: Mapping[str, str] | None = None,
    *,
    operation: str = "update",
) -> dict[str, int]:
    """Log push results to sync.push_log and, for Accounts, move sync.account_push_state; returns counts by status.

    `results` are PushResult objects or dicts (record_id, ok, status, error_code, message); `payloads` maps record
    id -> the row sent, or is the list of rows sent (matched on `Id`, or by position for creates), optionally
    carrying `payload_hash`; `hashes` (record id -> payload_hash, e.g. from sync.account_push_pending) wins over
    both. `operation` is what was done (`update`, `create`, `close`). Successes become the
    last pushed values; rejections dead-letter their hash (not retried until the value changes); `retry` results
    are only logged, so the record stays pending.
    """
    results = list(results)
    if isinstance(payloads, Mapping):
        sent = [payloads.get(_result_field(r, "record_id")) or {} for r in results]
    else:
        rows_sent = list(payloads)
        if all("Id" in p for p in rows_sent):
            by_id = {p["Id"]: p for p in rows_sent}
            sent = [by_id.get(_result_field(r, "record_id")) or {} for r in results]
        else:  # created records (no Id yet): results come back in the order the rows were sent
            sent = rows_sent + [{}] * (len(results) - len(rows_sent))
    now = datetime.now(UTC)
    rows = []
    for res, row in zip(results, sent, strict=False):
        rid = _result_field(res, "record_id")
        payload = {k: v for k, v in row.items() if k != "payload_hash"}
        sent_hash = (
            (hashes or {}).get(rid)
            or row.get("payload_hash")
            or (_hash_of(object_name, payload) if payload else None)
        )
        ok = bool(_result_field(res, "ok"))
        status = _result_field(res, "status") or ("updated" if ok else "rejected")
        rows.append(
            {
                "run_id": run_id,
                "object": object_name,
                "record_id": rid,
                "operation": operation,
                "payload": json.dumps(payload, default=str),
                "payload_hash": sent_hash,
                "status": status,
                "error_code": _result_field(res, "error_code"),
                "message": _result_field(res, "message"),
                "at": now,
            }
        )
    if not rows:
        return {}
    con.execute("begin")
    try:
        _append(con, "sync.push_log", rows)
        if object_name == "Account":
            _move_push_state(con, run_id, now)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return counts


def _move_push_state(con: duckdb.DuckDBPyConnection, run_id: str, now: datetime) -> None:
    """Fold this run's Account push_log rows into sync.account_push_state (one bulk merge)."""
    con.execute(
        """
        merge into sync.account_push_state as s
        using (
            select * from sync.push_log
            where run_id = $run_id and object = 'Account' and "at" = $now and status in ('updated', 'rejected')
            qualify row_number() over (partition by record_id order by status = 'updated' desc) = 1
        ) as l
        on s.account_id = l.record_id
        when matched and l.status = 'updated' then update set
            payload = l.payload, payload_hash = l.payload_hash, pushed_at = l."at", run_id = l.run_id,
            dead_hash = null, dead_error_code = null, dead_message = null, dead_at = null
        when matched then update set
            dead_hash = l.payload_hash, dead_error_code = l.error_code, dead_message = l.message, dead_at = l."at"
        when not matched and l.status = 'updated' then insert
            (account_id, payload, payload_hash, pushed_at, run_id)
            values (l.record_id, l.payload, l.payload_hash, l."at", l.run_id)
        when not matched then insert
            (account_id, dead_hash, dead_error_code, dead_message, dead_at)
            values (l.record_id, l.payload_hash, l.error_code, l.message, l."at")
        """,
        {"run_id": run_id, "now": now},
    )


def _append(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    """Bulk-append dict rows through Arrow (never row-by-row inserts)."""
    columns = ", ".join(f'"{c}"' for c in rows[0])
    con.register("_append_rows", pa.Table.from_pylist(rows))
    try:
        con.execute(f"insert into {table} ({columns}) select {columns} from _append_rows")
    finally:
        con.unregister("_append_rows")
