"""Load one extract (a `_manifest.json` with Parquet chunks) into `raw.<table>` and move the watermark, atomically.

One transaction per manifest: create or widen the raw table from the manifest's describe types, merge the chunks
on `Id` (the newest cursor wins; bulk SQL over `read_parquet`), mark tombstones (soft deletes from `IsDeleted`,
hard deletes from `deleted.parquet`, keeping the rest of the row), quarantine rows without an `Id` (and the rows
the gate refused), close older quarantine rows of records loaded or refused again, record the counts in
`meta.reconciliation`, and move `meta.watermarks` to the manifest's `window_end`. Either all of it commits or none of it does; loading the same
manifest again changes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.compute as pc

from connectors.warehouse.manifest import read_manifest
from connectors.warehouse.quarantine import (
    quarantine_missing_ids,
    quarantine_refused,
    reconcile,
    resolve_deleted,
    resolve_quarantine,
)
from crm_risk import landing as storage

__all__ = ["DESCRIBE_TYPES", "EPOCH", "TABLES", "LoadResult", "load_manifest", "table_for"]

# the start of an object's first extract: a watermark "covers" everything with a cursor before it
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TABLES: dict[str, str] = {
    "User": "user",
    "Account": "account",
    "Contact": "contact",
    "Opportunity": "opportunity",
    "OpportunityHistory": "opportunity_history",
    "OpportunityContactRole": "opportunity_contact_role",
    "Case": "case",
    "Task": "task",
    "Event": "event",
    "AccountHistory": "account_history",
}

DESCRIBE_TYPES: dict[str, str] = {
    "boolean": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMPTZ",
    "double": "DOUBLE",
    "currency": "DOUBLE",
    "percent": "DOUBLE",
    "int": "BIGINT",
    "long": "BIGINT",
}  # everything else (id, reference, string, picklist, textarea, email, anyType, ...) is VARCHAR

SYSTEM_COLUMNS = {
    "_run_id": "VARCHAR",
    "_loaded_at": "TIMESTAMPTZ",
    "_deleted": "BOOLEAN",
    "_deleted_at": "TIMESTAMPTZ",
}


@dataclass
class LoadResult:
    """What one manifest load did (counts are records, not files)."""

    object: str
    table: str
    run_id: str
    rows_in_files: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    tombstoned: int = 0
    quarantined: int = 0
    watermark: datetime | None = None
    added_columns: list[str] = field(default_factory=list)


def table_for(object_name: str) -> str:
    """The raw table (`raw."<snake>"`) of a Salesforce object; unknown objects get their snake_case name."""
    snake = TABLES.get(object_name) or "".join(
        ("_" + c.lower()) if c.isupper() and i else c.lower() for i, c in enumerate(object_name)
    )
    return f'raw."{snake}"'


def _q(name: str) -> str:
    """Quote an identifier taken from a manifest (Salesforce API names: letters, digits, underscores)."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unexpected field name in manifest: {name!r}")
    return f'"{name}"'


def _duck_type(describe: Any) -> str:
    kind = describe.get("type") if isinstance(describe, dict) else describe
    return DESCRIBE_TYPES.get(str(kind).lower(), "VARCHAR")


def _resolve(manifest_dir: Path | str, name: str) -> Path | str:
    """A file of the manifest: inside its directory (read_manifest refused anything else); a Path or a URL."""
    return storage.join(manifest_dir, name)


def _parse_ts(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        ts = value
    else:
        text = str(value).replace("Z", "+00:00")
        if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":  # Salesforce's +0000
            text = text[:-2] + ":" + text[-2:]
        ts = datetime.fromisoformat(text)
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def load_manifest(
    con: duckdb.DuckDBPyConnection,
    manifest_dir: str | Path,
    run_id: str,
    quarantine: Iterable[Mapping[str, Any]] | None = None,
    in_transaction: Callable[[duckdb.DuckDBPyConnection, LoadResult], None] | None = None,
) -> LoadResult:
    """Merge the extract in `manifest_dir` into its raw table and move its watermark in one transaction.

    `quarantine`: rows a validation step refused (`{"record_id", "failed": {...}, "record": {...}}`); they are kept
    out of the merge and written to meta.quarantine in the same transaction, so every record lands in one or the other.
    `in_transaction`: called last, before the commit (a backfill records the window it loaded: both or neither).
    """
    manifest_dir = storage.normalize(manifest_dir)  # a local folder (Path) or a URL (object storage)
    manifest = read_manifest(
        manifest_dir, TABLES
    )  # an unknown object, a file outside the extract: ManifestRefused
    obj = manifest["object"]
    table = table_for(obj)
    fields = {name: _duck_type(t) for name, t in (manifest.get("fields") or {}).items()}
    if "Id" not in fields:
        fields = {"Id": "VARCHAR", **fields}
    files = [str(_resolve(manifest_dir, f)) for f in manifest.get("files") or []]
    deleted = manifest.get("deleted_file")
    deleted_path = _resolve(manifest_dir, deleted) if deleted else None
    if deleted_path is not None and not storage.exists(deleted_path):
        deleted_path = None
    storage.register_duckdb(con, [*files, *([deleted_path] if deleted_path is not None else [])])
    window_start, window_end = _parse_ts(manifest.get("window_start")), _parse_ts(manifest.get("window_end"))
    if manifest.get(
        "scope"
    ):  # some accounts' records (an account refresh): says nothing of the rest of the org
        window_end = None
    result = LoadResult(object=obj, table=table, run_id=run_id, watermark=window_end)
    now = datetime.now(UTC)

    con.execute("begin")
    try:
        columns = _ensure_table(con, table, fields, result)
        cursor = next(
            (c for c in columns if c.lower() == str(manifest.get("cursor_field") or "").lower()), None
        )
        deleted_before = _count_deleted(con, table)
        if files:
            _stage_chunks(con, files, fields, columns, cursor)
            result.rows_in_files = con.execute("select count(*) from _load_src").fetchall()[0][0]  # type: ignore[index]
            result.quarantined = quarantine_missing_ids(con, obj, run_id, now)
            result.quarantined += quarantine_refused(con, obj, run_id, now, list(quarantine or []))
            _merge(
                con,
                table,
                [c for c in columns if c.lower() in {f.lower() for f in fields}],
                cursor,
                run_id,
                now,
                result,
            )
            resolve_quarantine(con, obj, run_id)
        if deleted_path is not None:
            _apply_hard_deletes(con, table, str(deleted_path), cursor, run_id, now)
            resolve_deleted(con, obj, run_id, str(deleted_path))
        result.tombstoned = _count_deleted(con, table) - deleted_before
        loaded = result.inserted + result.updated + result.unchanged
        reconcile(
            con, run_id, obj, (result.rows_in_files, loaded, result.quarantined, result.tombstoned), now
        )
        if window_end is not None:
            _move_watermark(con, obj, manifest.get("cursor_field"), (window_start, window_end), run_id, now)
        if in_transaction is not None:
            in_transaction(con, result)
        con.execute("commit")
    except BaseException:
        # a failed commit (a full disk) has already ended the transaction: its rollback error would hide the cause
        with contextlib.suppress(duckdb.Error):
            con.execute("rollback")
        raise
    finally:
        with contextlib.suppress(duckdb.Error):  # likewise: never replace the error being raised
            con.execute("drop view if exists _load_dedup")
            con.execute("drop view if exists _load_src")
            con.execute("drop table if exists _load_skip")
    return result


def _ensure_table(
    con: duckdb.DuckDBPyConnection, table: str, fields: dict[str, str], result: LoadResult
) -> dict[str, str]:
    """Create the raw table or add the manifest's new columns (never drop); returns column -> type."""
    schema, name = "raw", table.split(".", 1)[1].strip('"')
    existing = {
        r[0]: r[1]
        for r in con.execute(
            "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ?"
            " order by ordinal_position",
            [schema, name],
        ).fetchall()
    }
    if not existing:
        cols = {**fields, **SYSTEM_COLUMNS}
        con.execute(f"create table {table} ({', '.join(f'{_q(c)} {t}' for c, t in cols.items())})")
        return cols
    lower = {c.lower() for c in existing}
    for col, typ in {**fields, **SYSTEM_COLUMNS}.items():
        if col.lower() not in lower:
            con.execute(f"alter table {table} add column {_q(col)} {typ}")
            existing[col] = typ
            result.added_columns.append(col)
    return existing


def _stage_chunks(
    con: duckdb.DuckDBPyConnection,
    files: list[str],
    fields: dict[str, str],
    columns: dict[str, str],
    cursor: str | None,
) -> None:
    """Views over the chunks (nothing is copied: memory stays flat in the extract's size): `_load_src`, every row
    typed like the raw table; `_load_dedup`, the newest row per Id less the refused ones (`_load_skip`).

    The files are read again by each statement that uses a view, which costs less than holding a copy: Parquet
    reads are fast and DuckDB streams them. Most extracts carry each Id once; only then is the window skipped."""
    present = {
        r[0].lower()
        for r in con.execute(
            "describe select * from read_parquet($files, union_by_name = true)", {"files": files}
        ).fetchall()
    }
    by_lower = {c.lower(): c for c in columns}
    select = []
    for f in fields:
        col = by_lower[f.lower()]
        source = _q(f) if f.lower() in present else "null"
        select.append(f"cast({source} as {columns[col]}) as {_q(col)}")
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)  # a view cannot take parameters
    con.execute(
        f"create or replace temp view _load_src as select {', '.join(select)} "
        f"from read_parquet([{listed}], union_by_name = true)"
    )
    con.execute('create or replace temp table _load_skip ("Id" varchar)')
    repeated = con.execute('select count("Id") - count(distinct "Id") from _load_src').fetchall()[0][0]  # type: ignore[index]
    order = f"{_q(cursor)} desc nulls last" if cursor else "1"
    newest = f'qualify row_number() over (partition by "Id" order by {order}) = 1' if repeated else ""
    con.execute(
        'create or replace temp view _load_dedup as select * from _load_src where "Id" is not null '
        f'and "Id" not in (select "Id" from _load_skip) {newest}'
    )


def _merge(
    con: duckdb.DuckDBPyConnection,
    table: str,
    cols: list[str],
    cursor: str | None,
    run_id: str,
    now: datetime,
    result: LoadResult,
) -> None:
    """MERGE the deduplicated chunk rows into the raw table; only newer-or-equal and actually different rows."""
    is_deleted = next((c for c in cols if c.lower() == "isdeleted"), None)
    src_deleted = f"coalesce(s.{_q(is_deleted)}, false)" if is_deleted else "false"
    cur_s = f"s.{_q(cursor)}" if cursor else "null"
    cur_t = f"t.{_q(cursor)}" if cursor else "null"
    data_cols = [c for c in cols if c != "Id"]
    differs = " or ".join(
        [f"s.{_q(c)} is distinct from t.{_q(c)}" for c in data_cols]
        + [f"coalesce(t._deleted, false) <> {src_deleted}"]
    )
    # A newer source version wins; a hard-delete tombstone is not undone by an older copy of the record.
    newer = (
        f"({cur_s} is null or {cur_t} is null or {cur_s} >= {cur_t})"
        f" and not (coalesce(t._deleted, false) and not {src_deleted}"
        f" and t._deleted_at is not null and ({cur_s} is null or t._deleted_at >= {cur_s}))"
    )
    sets = ", ".join(
        [f"{_q(c)} = s.{_q(c)}" for c in data_cols]
        + [
            "_run_id = $run_id",
            "_loaded_at = $now",
            f"_deleted = {src_deleted}",
            f"_deleted_at = case when {src_deleted} then coalesce(t._deleted_at, {cur_s}, $now) end",
        ]
    )
    all_cols = ["Id", *data_cols]
    insert_cols = ", ".join([_q(c) for c in all_cols] + ["_run_id", "_loaded_at", "_deleted", "_deleted_at"])
    insert_vals = ", ".join(
        [f"s.{_q(c)}" for c in all_cols]
        + ["$run_id", "$now", src_deleted, f"case when {src_deleted} then coalesce({cur_s}, $now) end"]
    )
    if con.execute(f"select not exists (select 1 from {table})").fetchall()[0][0]:  # type: ignore[index]
        # a first load: every row is new, so a plain append (no join against the table, no per-row comparison)
        con.execute(
            f"""insert into {table} ({insert_cols}) select {insert_vals} from _load_dedup as s""",
            {"run_id": run_id, "now": now},
        )
        result.inserted = int(con.execute("select count(*) from _load_dedup").fetchall()[0][0])  # type: ignore[index]
        return
    actions = con.sql(  # a relation read once as Arrow: one column, not a Python tuple per merged row
        f"""merge into {table} as t using _load_dedup as s on t."Id" = s."Id"
            when matched and {newer} and ({differs}) then update set {sets}
            when not matched then insert ({insert_cols}) values ({insert_vals})
            returning merge_action""",
        params={"run_id": run_id, "now": now},
    ).to_arrow_table()
    counted = {str(v["values"]): int(v["counts"]) for v in pc.value_counts(actions.column(0)).to_pylist()}
    result.inserted = counted.get("INSERT", 0)
    result.updated = counted.get("UPDATE", 0)
    total = con.execute("select count(*) from _load_dedup").fetchall()[0][0]  # type: ignore[index]
    result.unchanged = int(total) - result.inserted - result.updated


def _apply_hard_deletes(
    con: duckdb.DuckDBPyConnection, table: str, path: str, cursor: str | None, run_id: str, now: datetime
) -> None:
    """Tombstone the ids of deleted.parquet (keeping the row); unknown ids get a stub tombstone row."""
    cur_t = f"t.{_q(cursor)}" if cursor else "null"
    deleted = (
        '(select "Id", max("deletedDate")::timestamptz as deleted_at from read_parquet($path) group by 1)'
    )
    con.execute(
        f"""update {table} as t set _deleted = true, _deleted_at = d.deleted_at, _run_id = $run_id, _loaded_at = $now
            from {deleted} as d
            where t."Id" = d."Id" and not coalesce(t._deleted, false)
              and ({cur_t} is null or {cur_t} <= d.deleted_at)""",
        {"path": path, "run_id": run_id, "now": now},
    )
    con.execute(
        f"""insert into {table} ("Id", _run_id, _loaded_at, _deleted, _deleted_at)
            select d."Id", $run_id, $now, true, d.deleted_at from {deleted} as d
            where not exists (select 1 from {table} t where t."Id" = d."Id")""",
        {"path": path, "run_id": run_id, "now": now},
    )


def _count_deleted(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"select count(*) from {table} where _deleted").fetchall()[0][0])  # type: ignore[index]


def _move_watermark(
    con: duckdb.DuckDBPyConnection,
    obj: str,
    cursor_field: str | None,
    window: tuple[datetime | None, datetime],
    run_id: str,
    now: datetime,
) -> None:
    """Move the object's watermark forward to the window's end when the window joins what is already covered.

    The watermark means "every record with a cursor before it is loaded". A backfill of an older window never moves
    it back; a window starting after it (or, for an object never loaded, after the EPOCH) would claim a gap the next
    incremental run then skips, so such a load keeps its rows but leaves the watermark where it was.
    """
    window_start, window_end = window
    if window_start is not None:
        row = con.execute(
            "select watermark from meta.watermarks where object = $obj", {"obj": obj}
        ).fetchone()
        covered_to = row[0] if row and row[0] is not None else EPOCH
        if window_start > covered_to:
            return
    con.execute(
        """insert into meta.watermarks (object, cursor_field, watermark, updated_at, run_id)
           values ($obj, $cursor, $wm, $now, $run_id)
           on conflict (object) do update set watermark = excluded.watermark, cursor_field = excluded.cursor_field,
               updated_at = excluded.updated_at, run_id = excluded.run_id
           where excluded.watermark > meta.watermarks.watermark or meta.watermarks.watermark is null""",
        {"obj": obj, "cursor": cursor_field, "wm": window_end, "now": now, "run_id": run_id},
    )
