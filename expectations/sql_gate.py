"""The gate's rules run by DuckDB over an extract's Parquet files, for batches where GX's per-row cost dominates.

Same rules (`expectations.suites`), same findings: a failing row is quarantined with the reasons GX's path gives
(`engine._reason` words them from the same values), a batch rule fails with the same message. What changes is the
cost: one SQL pass over the files, no pandas frame, no GX run, so memory does not grow with the batch (only the
failing rows reach Python) and a 5-million-row extract validates in seconds. Data Docs hold GX results only: a batch
validated here is reported by the quarantine table and the run's summary instead (docs/contracts.md, gate).

Semantics kept from the GX path (tests/expectations/test_sql_gate.py runs both on a dirty org and compares):
nulls pass every rule but not_null; date and datetime columns compare as UTC instants; text lengths count
characters; ids match `ID_REGEX`; a duplicate record is a later row (by CreatedDate, then Id) with the same trimmed,
case-folded keys as an earlier one in the batch or already loaded.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crm_risk import landing as storage
from expectations.engine import _reason
from expectations.model import CriticalFailure, GateSettings
from expectations.suites import (
    DUPLICATE_COLUMN,
    OBJECT_RULES,
    ObjectRules,
    Rule,
    batch_rules,
    date_columns,
    default_max_date,
    row_rules,
)

__all__ = ["SqlFindings", "dtypes_of", "run_sql_rules", "validate_in_sql"]

log = logging.getLogger(__name__)

_TYPES = {  # the GX expectation each batch rule kind stands for (named in messages as GX names it)
    "not_null": "expect_column_values_to_not_be_null",
    "mostly_not_null": "expect_column_values_to_not_be_null",
    "unique": "expect_column_values_to_be_unique",
    "row_count_min": "expect_table_row_count_to_be_between",
    "columns_present": "expect_table_columns_to_match_set",
}


class SqlFindings:
    """Quarantine rows (in file order) and critical failures of one extract."""

    def __init__(self) -> None:
        self.quarantine: list[dict[str, Any]] = []
        self.critical: list[CriticalFailure] = []


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fails(rule: Rule, dates: set[str]) -> str:
    """SQL that is true on a row the rule refuses (nulls pass, as in GX, except for not_null)."""
    cols = [_q(c) for c in rule.columns]
    c = cols[0] if cols else ""
    p = rule.params
    match rule.kind:
        case "not_null":
            return f"{c} is null"
        case "regex":
            return f"not regexp_full_match({c}, {_lit(p['regex'].removeprefix('^').removesuffix('$'))})"
        case "in_set":
            values = ", ".join(_lit(str(v)) for v in p["value_set"])
            return f"{c}::varchar not in ({values})" if values else f"{c} is not null"
        case "between":
            bounds = []
            if p.get("min_value") is not None:
                bounds.append(f"{c} < {_bound(p['min_value'], rule.columns[0] in dates)}")
            if p.get("max_value") is not None:
                bounds.append(f"{c} > {_bound(p['max_value'], rule.columns[0] in dates)}")
            return " or ".join(bounds) or "false"
        case "max_length":
            return f"length({c}::varchar) > {int(p['max_value'])}"
        case "date_order":
            return f"{cols[0]} < {cols[1]}"
        case "is_null":
            return f"{c} is not null"
    raise ValueError(f"no SQL for rule kind {rule.kind!r} ({rule.name})")


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _bound(value: Any, is_date: bool) -> str:
    if isinstance(value, datetime) or is_date:
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return f"timestamptz '{stamp.isoformat()}'"
    return repr(float(value))


def _source(files: list[str], schema: pa.Schema, dates: list[str]) -> str:
    """The extract's rows with their position in file order; date columns as UTC instants (as the GX frame)."""
    listed = ", ".join(_lit(f) for f in files)
    cols = []
    for name in schema.names:
        if name in dates:
            cols.append(f"cast({_q(name)} as timestamptz) as {_q(name)}")
        else:
            cols.append(_q(name))
    order = {f: i for i, f in enumerate(files)}
    file_index = "case filename " + " ".join(f"when {_lit(f)} then {i}" for f, i in order.items()) + " end"
    return (
        f"select {', '.join(cols)}, {file_index} as _file, file_row_number as _row "
        f"from read_parquet([{listed}], union_by_name = true, filename = true, file_row_number = true)"
    )


def _duplicates(keys: tuple[str, ...], has_created: bool) -> str:
    """`_duplicate_of` per batch row: the Id of the first record (CreatedDate, Id) with the same normalized keys."""

    def norm(k: str) -> str:
        return f"lower(regexp_replace(coalesce({_q(k)}::varchar, ''), '^\\s+|\\s+$', '', 'g'))"

    created = '"CreatedDate"' if has_created else "null::timestamptz"
    part = ", ".join(norm(k) for k in keys)
    return f"""
        with everyone as (
            select "Id", {", ".join(_q(k) for k in keys)}, {created} as _created, _file, _row from src
            union all
            select "Id", {", ".join(_q(k) for k in keys)}, _created, null, null from known
            where "Id" not in (select "Id" from src where "Id" is not null)
        ), ranked as (
            select "Id", _file, _row,
                   first_value("Id") over (partition by {part} order by _created nulls last, "Id") as _first
            from everyone where {_q(keys[0])} is not null
        )
        select _file, _row, _first from ranked where _file is not null and _first is distinct from "Id"
    """


def run_sql_rules(
    object_name: str,
    files: list[str],
    *,
    row: list[Rule],
    batch: list[Rule],
    dates: list[str],
    keys: tuple[str, ...],
    known: pd.DataFrame | None,
    sample_size: int = 200,
) -> SqlFindings:
    """Run the row and batch rules over `files`; returns the quarantine rows and the critical failures."""
    out = SqlFindings()
    schemas = []
    for path in files:
        with storage.open_read(path) as source:
            schemas.append(pq.read_schema(source))
    schema = pa.unify_schemas(schemas, promote_options="default")
    with duckdb.connect() as con:
        storage.register_duckdb(con, files)  # object storage: DuckDB reads through fsspec
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"create temp view src as {_source(files, schema, dates)}")
        rows = int(con.execute("select count(*) from src").fetchall()[0][0])  # type: ignore[index]
        rules = list(row)
        if any(r.kind == "is_null" and r.columns == (DUPLICATE_COLUMN,) for r in rules):
            frame = (known if known is not None else pd.DataFrame()).copy()
            for k in ("Id", *keys):
                if k not in frame.columns:
                    frame[k] = pd.Series([], dtype=object)
            created = pd.to_datetime(frame["CreatedDate"], utc=True) if "CreatedDate" in frame else None
            known_frame = frame[["Id", *keys]].assign(
                _created=created
                if created is not None
                else pd.Series([pd.NaT] * len(frame), dtype="datetime64[ns, UTC]")
            )
            con.register("known", known_frame)
            con.execute(f"create temp table dup as {_duplicates(keys, 'CreatedDate' in schema.names)}")
            source = (
                "(select s.*, d._first as " + _q(DUPLICATE_COLUMN) + " from src s "
                "left join dup d on s._file = d._file and s._row = d._row)"
            )
        else:
            source = "src"
        out.critical += _batch_failures(con, object_name, batch, rows, schema.names)
        if rules:
            out.quarantine += _row_failures(con, source, rules, set(dates), files)
    return out


def _row_failures(
    con: duckdb.DuckDBPyConnection, source: str, rules: list[Rule], dates: set[str], files: list[str]
) -> list[dict[str, Any]]:
    flags = [f"coalesce(({_fails(r, dates)}), false) as _f{i}" for i, r in enumerate(rules)]
    read = list(dict.fromkeys(c for r in rules for c in r.columns))
    failing = con.execute(
        f"select _file, _row, {', '.join(flags)}, {', '.join(_q(c) for c in read)} from {source} "
        f"where {' or '.join(f'coalesce(({_fails(r, dates)}), false)' for r in rules)} order by _file, _row"
    ).fetchall()
    if not failing:
        return []
    n = len(rules)
    reasons: list[tuple[int, int, dict[str, str]]] = []
    for rec in failing:
        values = dict(zip(read, rec[2 + n :], strict=True))
        failed: dict[str, str] = {}
        for i, rule in enumerate(rules):
            if not rec[2 + i]:
                continue
            if rule.kind == "date_order":
                value: Any = (values[rule.columns[0]], values[rule.columns[1]])
            else:
                value = values.get(rule.columns[0]) if rule.columns else None
            failed[rule.name] = _reason(rule.name, rule.kind, dict(rule.params), value).split(": ", 1)[1]
        reasons.append((int(rec[0]), int(rec[1]), failed))
    return _with_records(reasons, files)


def _with_records(reasons: list[tuple[int, int, dict[str, str]]], files: list[str]) -> list[dict[str, Any]]:
    """The quarantine rows: each failing row's raw record read back from its file (as the GX path shows it)."""
    by_file: dict[int, list[tuple[int, dict[str, str]]]] = {}
    for f, r, failed in reasons:
        by_file.setdefault(f, []).append((r, failed))
    out = []
    for f in sorted(by_file):
        picked = by_file[f]
        with storage.open_read(files[f]) as source:
            table = pq.read_table(source).take(pa.array([r for r, _ in picked], pa.int64()))
        records = json.loads(table.to_pandas().to_json(orient="records", date_format="iso", date_unit="us"))
        for (_, failed), record in zip(picked, records, strict=True):
            rid = record.get("Id")
            if isinstance(rid, str) and rid:  # rows without an Id are the loader's to quarantine
                out.append({"record_id": rid, "failed": failed, "record": record})
    return out


def _batch_failures(
    con: duckdb.DuckDBPyConnection, obj: str, batch: list[Rule], rows: int, columns: list[str]
) -> list[CriticalFailure]:
    out = []
    for rule in batch:
        head = f"expectation {rule.name} ({_TYPES.get(rule.kind, rule.kind)}) failed on {obj}: "
        p = rule.params
        if rule.kind == "columns_present":
            missing = sorted(set(p["column_set"]) - set(columns))
            if missing:
                out.append(
                    CriticalFailure(
                        rule.name,
                        obj,
                        head + f"expected field(s) vanished: {', '.join(missing)}",
                        {"missing": missing},
                    )
                )
        elif rule.kind == "unique":
            dup, sample = con.execute(
                f"with ids as (select {_q(rule.columns[0])} as v, count(*) as n from src where {_q(rule.columns[0])} "
                "is not null group by 1 having n > 1) select coalesce(sum(n), 0), list(v order by v) from ids"
            ).fetchall()[0]
            if dup:
                ids = [repr(v) for v in (sample or [])[:3]]
                out.append(
                    CriticalFailure(
                        rule.name,
                        obj,
                        head
                        + f"{dup} of {rows} rows carry an Id that occurs more than once (e.g. {', '.join(ids)})",
                        {"rows": rows, "duplicate_rows": int(dup), "sample": ids},
                    )
                )
        elif rule.kind == "row_count_min":
            floor, prev = int(p["min_value"]), int(p.get("previous_count") or 0)
            if rows < floor:
                drop = (1 - rows / prev) if prev else 0.0
                out.append(
                    CriticalFailure(
                        rule.name,
                        obj,
                        head + f"{rows} rows against {prev} in the previous run, a {drop:.1%} drop "
                        f"(at least {floor} rows expected)",
                        {"rows": rows, "previous_count": prev, "min_rows": floor},
                    )
                )
        elif rule.kind == "mostly_not_null":
            col = rule.columns[0]
            empty = int(con.execute(f"select count(*) from src where {_q(col)} is null").fetchall()[0][0])  # type: ignore[index]
            mostly = float(p["mostly"])
            if rows and (rows - empty) / rows < mostly and not math.isclose((rows - empty) / rows, mostly):
                share = empty / rows
                out.append(
                    CriticalFailure(
                        rule.name,
                        obj,
                        head + f"{empty} of {rows} rows ({share:.1%}) have no {col}, "
                        f"at most {1 - mostly:.0%} may be empty",
                        {"rows": rows, "empty": empty, "share": round(share, 4)},
                    )
                )
        else:
            raise ValueError(f"no SQL for batch rule kind {rule.kind!r} ({rule.name})")
    return out


def validate_in_sql(
    check: Any,
    files: list[str],
    schema: pa.Schema,
    rows: int,
    rules: dict[str, Any],
    expected: list[str],
    snapshot: tuple[int | None, bool],
    now: datetime,
    gs: GateSettings,
    known: pd.DataFrame | None,
) -> Any:
    """Fill the gate's ManifestCheck for an extract validated here: the rules GX would run on one frame.
    `snapshot`: (live rows loaded before, whether the extract is a full snapshot)."""
    started = time.perf_counter()
    previous, full = snapshot
    previous = previous if full else None
    obj = check.object
    columns = list(schema.names)
    field_types = rules.get("field_types")
    dtypes = dict(dtypes_of(schema))
    dates = date_columns(columns, field_types, dtypes)
    for col in dates:  # as the GX path's frame holds them once prepared
        dtypes[col] = "datetime64[ns, UTC]"
    spec = OBJECT_RULES.get(obj, ObjectRules())
    keys = spec.duplicate_keys if "Id" in columns and all(k in columns for k in spec.duplicate_keys) else ()
    row = row_rules(
        obj,
        columns,
        dtypes=dtypes,
        picklists=rules.get("picklists"),
        lengths=rules.get("lengths"),
        field_types=field_types,
        required_refs=None,
        min_date=gs.min_date,
        max_date=default_max_date(now, gs.future_years),
    )
    batch = batch_rules(
        obj,
        columns,
        rows,
        required_refs=None,
        expected_fields=expected,
        previous_count=previous,
        full_snapshot=full,
        max_row_drop=gs.max_row_drop,
        max_empty_ref_share=gs.max_empty_ref_share,
        min_rows_for_share=gs.min_rows_for_share,
    )
    found = run_sql_rules(obj, files, row=row, batch=batch, dates=dates, keys=keys, known=known)
    check.rows, check.quarantine, check.critical = rows, found.quarantine, found.critical
    check.seconds = time.perf_counter() - started
    log.info(
        "validated %s in SQL: %d rows, %d quarantined, %d critical in %.2fs",
        obj,
        rows,
        len(check.quarantine),
        len(check.critical),
        check.seconds,
    )
    return check


def dtypes_of(schema: pa.Schema) -> Mapping[str, Any]:
    """The pandas dtypes the GX path's frame would have (rules depend on them: text lengths, date columns)."""
    return schema.empty_table().to_pandas().dtypes
