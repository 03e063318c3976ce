"""DuckDB tables of the simulated org: one table per object typed from `simulator.schema`, plus bookkeeping tables.

Datetimes are stored as naive `TIMESTAMP` in UTC (no session time zone can shift them); bulk loads go through Arrow.
"""

from __future__ import annotations

import gc

import duckdb
import pyarrow as pa

from simulator.schema import SCHEMA, Field, SObject
from simulator.store_sql import quote

__all__ = ["arrow_type", "create_tables", "duck_type", "to_arrow"]

_DUCK = {"boolean": "BOOLEAN", "date": "DATE", "datetime": "TIMESTAMP", "double": "DOUBLE", "currency": "DOUBLE",
         "percent": "DOUBLE", "int": "BIGINT"}
_ARROW = {"boolean": pa.bool_(), "date": pa.date32(), "datetime": pa.timestamp("us"), "double": pa.float64(),
          "currency": pa.float64(), "percent": pa.float64(), "int": pa.int64()}

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
    for table, column in con.execute("SELECT table_name, column_name FROM information_schema.columns "
                                     "WHERE table_schema = 'main'").fetchall():
        have.setdefault(table, set()).add(column.lower())
    stmts = [stmt for stmt in BOOKKEEPING]
    for obj in SCHEMA.values():
        if obj.name not in have:
            cols = ", ".join(f"{quote(f.name)} {duck_type(f)}" for f in obj.fields)
            stmts.append(f"CREATE TABLE {quote(obj.name)} ({cols})")
            continue
        stmts += [f"ALTER TABLE {quote(obj.name)} ADD COLUMN {quote(f.name)} {duck_type(f)}"
                  for f in obj.fields if f.name.lower() not in have[obj.name]]
    con.execute("; ".join(stmts))


def _column(f: Field, values: list) -> pa.Array:
    if f.type == "datetime":
        # pyarrow stores aware datetimes as their UTC instant and naive ones as given (UTC already); a tz-typed
        # array would be 20 times slower to build
        return pa.array(values, pa.timestamp("us"))
    if f.type in ("double", "currency", "percent"):
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    return pa.array(values, arrow_type(f))


def to_arrow(obj: SObject, rows: list[dict]) -> pa.Table:
    """Rows (field name -> Python value) as an Arrow table with the object's columns (unknown keys ignored)."""
    present = set().union(*rows) if rows else set()
    enabled = gc.isenabled()
    gc.disable()  # a million short-lived lists make the cyclic GC dominate the load time
    try:
        columns = {}
        for f in obj.fields:
            name = f.name
            if name in present:
                columns[name] = _column(f, [r.get(name) for r in rows])
            else:
                columns[name] = pa.nulls(len(rows), arrow_type(f))
        return pa.table(columns)
    finally:
        if enabled:
            gc.enable()
