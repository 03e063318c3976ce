"""Bulk-append rows to a warehouse table through Arrow (never row-by-row inserts)."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

__all__ = ["append"]


def append(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    """Bulk-append dict rows through Arrow (never row-by-row inserts)."""
    columns = ", ".join(f'"{c}"' for c in rows[0])
    con.register("_append_rows", pa.Table.from_pylist(rows))
    try:
        con.execute(f"insert into {table} ({columns}) select {columns} from _append_rows")
    finally:
        con.unregister("_append_rows")
