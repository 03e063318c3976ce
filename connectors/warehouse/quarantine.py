"""Quarantine bookkeeping inside a load's transaction: newest state wins, and every record is accounted for.

`meta.quarantine` keeps every refusal (append-only apart from closing it); a row is closed by setting
`resolved_run_id` and `resolution`: `loaded` (fixed in the CRM, now in raw), `requarantined` (a newer version
was refused again: the newer row is the open one), `deleted` (hard-deleted in the CRM). `meta.quarantine_open`
lists what is still refused. `meta.reconciliation` holds, per run and object, extracted = loaded + quarantined.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

__all__ = ["reconcile", "resolve_deleted", "resolve_quarantine"]


def resolve_quarantine(con: duckdb.DuckDBPyConnection, obj: str, run_id: str) -> None:
    """Close earlier quarantine rows of records this run merged (`_load_dedup`) or refused again."""
    for resolution, source in (
        ("loaded", 'select "Id" from _load_dedup'),
        ("requarantined", "select record_id from meta.quarantine where run_id = $run_id and object = $obj"),
    ):
        con.execute(
            f"""update meta.quarantine set resolved_run_id = $run_id, resolution = '{resolution}'
                where object = $obj and resolved_run_id is null and run_id <> $run_id
                  and record_id in ({source})""",
            {"run_id": run_id, "obj": obj},
        )


def resolve_deleted(con: duckdb.DuckDBPyConnection, obj: str, run_id: str, deleted_parquet: str) -> None:
    """Close quarantine rows of records hard-deleted in the CRM since: nothing is left to fix."""
    con.execute(
        "update meta.quarantine set resolved_run_id = $run_id, resolution = 'deleted' "
        "where object = $obj and resolved_run_id is null "
        'and record_id in (select "Id" from read_parquet($path))',
        {"run_id": run_id, "obj": obj, "path": deleted_parquet},
    )


def reconcile(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    obj: str,
    counts: tuple[int, int, int, int],
    now: datetime,
) -> None:
    """Record (extracted, loaded, quarantined, tombstones) for the run and object; a rerun replaces its row."""
    extracted, loaded, quarantined, tombstones = counts
    con.execute(
        "insert or replace into meta.reconciliation values ($run_id, $obj, $e, $l, $q, $t, $now)",
        {
            "run_id": run_id,
            "obj": obj,
            "e": extracted,
            "l": loaded,
            "q": quarantined,
            "t": tombstones,
            "now": now,
        },
    )
