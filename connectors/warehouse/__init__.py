"""The DuckDB warehouse: connection, schemas, run bookkeeping, loads, quarantine and push-result logging.

Layout (DESIGN.md): `raw` (current state of every record, tombstones kept), `meta` (watermarks, runs, quarantine,
`quarantine_open` (records whose newest state is still refused), `reconciliation` (per run and object:
extracted = loaded + quarantined, written in the load's transaction), rules), `staging`, `marts`, `sync` (push
state and the append-only push log). The DDL is `ddl.sql` beside this file.

    connect.py     open the warehouse (single-writer wait, memory cap, UTC), schemas and bookkeeping tables
    load.py        merge an extract's Parquet files into raw.* and move its watermark, one transaction
    quarantine.py  refused rows, closed when a later version loads; per-run reconciliation
    runs.py        meta.runs (a run whose process died is closed by the next start) and watermarks
    backfill_windows.py  meta.backfill_windows: a backfill's loaded windows (a rerun resumes)
    push_log.py    sync.push_log and sync.account_push_state
"""

from __future__ import annotations

from connectors.warehouse.backfill_windows import completed_windows, record_window
from connectors.warehouse.connect import (
    LOCK_WAIT_SECONDS,
    MEMORY_LIMIT,
    SCHEMAS,
    connect,
    ensure_schemas,
    open_for,
)
from connectors.warehouse.load import TABLES, LoadResult, load_manifest, table_for
from connectors.warehouse.push_log import HASHED_FIELDS, RejectRetry, payload_hash, record_push_results
from connectors.warehouse.quarantine import quarantine_rows
from connectors.warehouse.runs import (
    DIED,
    finish_run,
    get_watermark,
    live_runs,
    loaded_objects,
    mark_dead_runs,
    start_run,
)

__all__ = [
    "DIED",
    "HASHED_FIELDS",
    "LOCK_WAIT_SECONDS",
    "MEMORY_LIMIT",
    "SCHEMAS",
    "TABLES",
    "LoadResult",
    "RejectRetry",
    "completed_windows",
    "connect",
    "ensure_schemas",
    "finish_run",
    "get_watermark",
    "live_runs",
    "load_manifest",
    "loaded_objects",
    "mark_dead_runs",
    "open_for",
    "payload_hash",
    "quarantine_rows",
    "record_push_results",
    "record_window",
    "start_run",
    "table_for",
]
