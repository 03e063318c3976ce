"""Quarantine bookkeeping inside a load's transaction: newest state wins, and every record is accounted for.

`meta.quarantine` keeps every refusal (append-only apart from closing it); a row is closed by setting
`resolved_run_id` and `resolution`: `loaded` (fixed in the CRM, now in raw), `requarantined` (a newer version
was refused again: the newer row is the open one), `deleted` (hard-deleted in the CRM). `meta.quarantine_open`
lists what is still refused. `meta.reconciliation` holds, per run and object, extracted = loaded + quarantined.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from connectors.warehouse.rows import append

__all__ = [
    "quarantine_missing_ids",
    "quarantine_refused",
    "quarantine_rows",
    "reconcile",
    "resolve_deleted",
    "resolve_quarantine",
]


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
    append(con, "meta.quarantine", batch)
    return len(batch)


def quarantine_missing_ids(con: duckdb.DuckDBPyConnection, obj: str, run_id: str, now: datetime) -> int:
    """Rows without an Id cannot be merged: keep them in meta.quarantine with the reason."""
    n = con.execute('select count(*) from _load_src where "Id" is null').fetchall()[0][0]  # type: ignore[index]
    if n:
        con.execute(  # a rerun of the same run replaces its own rows
            "delete from meta.quarantine where run_id = $run_id and object = $obj and record_id is null",
            {"run_id": run_id, "obj": obj},
        )
        con.execute(
            """insert into meta.quarantine (run_id, object, record_id, failed, record, quarantined_at)
               select $run_id, $obj, null, '{"Id": "missing"}'::json, to_json(s), $now from _load_src s
               where s."Id" is null""",
            {"run_id": run_id, "obj": obj, "now": now},
        )
    return int(n)


def quarantine_refused(
    con: duckdb.DuckDBPyConnection, obj: str, run_id: str, now: datetime, rows: list[Mapping[str, Any]]
) -> int:
    """Keep validation-refused records out of the merge and log them (a rerun replaces its own rows)."""
    if not rows:
        return 0
    batch = [
        {
            "record_id": str(r.get("record_id") or (r.get("record") or {}).get("Id")),
            "failed": json.dumps(r.get("failed") or {}, default=str),
            "record": json.dumps(r.get("record") or {}, default=str),
        }
        for r in rows
    ]
    con.register("_refused", pa.Table.from_pylist(batch))
    try:
        params = {"run_id": run_id, "obj": obj, "now": now}
        con.execute(
            "delete from meta.quarantine where run_id = $run_id and object = $obj "
            "and record_id in (select record_id from _refused)",
            {"run_id": run_id, "obj": obj},
        )
        con.execute(
            "insert into meta.quarantine (run_id, object, record_id, failed, record, quarantined_at) "
            "select $run_id, $obj, record_id, failed::json, record::json, $now "
            "from _refused",
            params,
        )
        con.execute("insert into _load_skip select record_id from _refused")  # out of _load_dedup
    finally:
        con.unregister("_refused")
    return len(batch)
