"""Run bookkeeping: meta.runs (one row per run) and the per-object watermarks in meta.watermarks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import duckdb

__all__ = ["finish_run", "get_watermark", "loaded_objects", "start_run"]


def get_watermark(con: duckdb.DuckDBPyConnection, object_name: str) -> datetime | None:
    """The object's committed watermark (UTC), or None when it was never loaded."""
    rows = con.execute("select watermark from meta.watermarks where object = ?", [object_name]).fetchall()
    return rows[0][0] if rows else None


def loaded_objects(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The objects loaded at least once: those with a watermark (a full extract from the start of time committed;
    a backfill of a later window alone does not count, it leaves the records before it unknown)."""
    return {
        r[0] for r in con.execute("select object from meta.watermarks where watermark is not null").fetchall()
    }


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
