"""meta.backfill_windows: a backfill's windows once loaded, so a rerun of the same backfill resumes.

A window is recorded inside the transaction that loads it (`load_manifest(..., in_transaction=...)`): it is either
loaded and recorded, or neither. A backfill is named by its key (pipeline/backfill.py derives it from since, until,
the objects and the window size).
"""

from __future__ import annotations

from datetime import datetime

import duckdb

__all__ = ["completed_windows", "record_window"]


def completed_windows(
    con: duckdb.DuckDBPyConnection, key: str
) -> dict[tuple[str, datetime], tuple[datetime, int]]:
    """(object, window_start) -> (window_end, rows) of the backfill's windows already loaded."""
    rows = con.execute(
        "select object, window_start, window_end, rows from meta.backfill_windows where backfill_key = ?",
        [key],
    ).fetchall()
    return {(obj, start): (end, int(n or 0)) for obj, start, end, n in rows}


def record_window(
    con: duckdb.DuckDBPyConnection,
    key: str,
    obj: str,
    window: tuple[datetime, datetime],
    rows: int,
    run_id: str,
    now: datetime,
) -> None:
    """Record a loaded window (call inside its load's transaction); a window loaded again replaces its row."""
    con.execute(
        """insert or replace into meta.backfill_windows
           (backfill_key, object, window_start, window_end, rows, run_id, completed_at)
           values (?, ?, ?, ?, ?, ?, ?)""",
        [key, obj, window[0], window[1], rows, run_id, now],
    )
