"""DuckDB tables of the simulated org: one table per object typed from the schema, plus bookkeeping tables.

Datetimes are stored as naive `TIMESTAMP` in UTC (no session time zone can shift them); bulk loads go through Arrow.
"""

from __future__ import annotations

import gc
from typing import Any

import duckdb
import pyarrow as pa

from simulator.org.rules import temporal
from simulator.org.schema import SCHEMA, Field, SObject
from simulator.org.sql import quote

__all__ = ["arrow_columns", "arrow_type", "create_tables", "duck_type", "scalar", "to_arrow"]

_DUCK = {
    "boolean": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "double": "DOUBLE",
    "currency": "DOUBLE",
    "percent": "DOUBLE",
    "int": "BIGINT",
}
_ARROW = {
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "double": pa.float64(),
    "currency": pa.float64(),
    "percent": pa.float64(),
    "int": pa.int64(),
}

BOOKKEEPING = [
    "CREATE TABLE IF NOT EXISTS _deleted_log (sobject VARCHAR, id VARCHAR, deleted_at TIMESTAMP, hard BOOLEAN)",
    "CREATE TABLE IF NOT EXISTS _counters (name VARCHAR PRIMARY KEY, value BIGINT)",
    "CREATE TABLE IF NOT EXISTS _meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
]


def duck_type(f: Field) -> str:
    """The DuckDB column type of a field (string-like and anyType -> VARCHAR)."""
    return _DUCK.get(f.type, "VARCHAR")


def arrow_type(f: Field) -> pa.DataType:
    """The Arrow type used to bulk-load a field."""
    return _ARROW.get(f.type, pa.string())


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create missing tables and add columns a newer schema has (reopening an older state dir keeps working)."""
    have: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'"
    ).fetchall():
        have.setdefault(table, set()).add(column.lower())
    stmts = [stmt for stmt in BOOKKEEPING]
    for obj in SCHEMA.values():
        if obj.name not in have:
            cols = ", ".join(f"{quote(f.name)} {duck_type(f)}" for f in obj.fields)
            stmts.append(f"CREATE TABLE {quote(obj.name)} ({cols})")
            continue
        stmts += [
            f"ALTER TABLE {quote(obj.name)} ADD COLUMN {quote(f.name)} {duck_type(f)}"
            for f in obj.fields
            if f.name.lower() not in have[obj.name]
        ]
    con.execute("; ".join(stmts))


def scalar(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    """The one value a one-row statement returns (a count, a counter's RETURNING value)."""
    row = cur.execute(sql, params).fetchone()
    if row is None:  # count(*) and an upsert's RETURNING always give a row
        raise RuntimeError(f"no row from: {sql}")
    return row[0]


def _column(f: Field, values: list | tuple) -> pa.Array:
    if f.type == "datetime":
        # pyarrow stores aware datetimes as their UTC instant and naive ones as given (UTC already); a tz-typed
        # array would be 20 times slower to build
        try:
            return pa.array(values, pa.timestamp("us"))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pa.array([None if v is None else temporal(f, v) for v in values], pa.timestamp("us"))
    try:
        return pa.array(values, arrow_type(f))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    # Slow path for loosely typed input: numeric strings or Decimals, ISO date strings, non-string text values.
    if f.type in ("double", "currency", "percent", "int"):
        cast = float if f.type != "int" else int
        return pa.array([None if v is None else cast(v) for v in values], arrow_type(f))
    if f.type == "date":
        return pa.array([None if v is None else temporal(f, v) for v in values], pa.date32())
    if f.type == "boolean":
        return pa.array([None if v is None else str(v).lower() == "true" for v in values], pa.bool_())
    return pa.array([None if v is None else str(v) for v in values], pa.string())


def _transpose(rows: list[dict]) -> dict[str, list | tuple]:
    """Rows to columns; one zip when every row has the same keys in the same order (generated data does)."""
    first = tuple(rows[0])
    if all(tuple(r) == first for r in rows):
        return dict(zip(first, zip(*[tuple(r.values()) for r in rows], strict=True), strict=True))
    present = set().union(*rows)
    return {name: [r.get(name) for r in rows] for name in present}


def to_arrow(obj: SObject, rows: list[dict]) -> pa.Table:
    """Rows (field name -> Python value) as an Arrow table with the object's columns (unknown keys ignored)."""
    enabled = gc.isenabled()
    gc.disable()  # a million short-lived tuples make the cyclic GC dominate the load time
    try:
        values = _transpose(rows) if rows else {}
        columns = {}
        for f in obj.fields:
            if f.name in values:
                columns[f.name] = _column(f, values[f.name])
            else:
                columns[f.name] = pa.nulls(len(rows), arrow_type(f))
        return pa.table(columns)
    finally:
        if enabled:
            gc.enable()


def arrow_columns(obj: SObject, names: list[str], rows: list[dict]) -> pa.Table:
    """Rows as an Arrow table of just these fields, each typed as its column (a set-based update's values)."""
    return pa.table({n: _column(obj.by_name[n.lower()], [r.get(n) for r in rows]) for n in names})
