"""A query's result, executed once into an Arrow table and sliced per page as REST JSON records or Bulk 2.0 CSV."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.csv as pacsv

from simulator.org.ids import KEY_PREFIXES
from simulator.org.sql import Column

__all__ = ["QueryResult"]

DEFAULT_API_VERSION = "62.0"
_OBJECT_OF_PREFIX = {prefix: name for name, prefix in KEY_PREFIXES.items()}


class QueryResult:
    """Rows of one SOQL query: `records()` pages REST JSON dicts, `csv()` pages Bulk 2.0 CSV (header on every page)."""

    def __init__(
        self,
        sobject: str,
        columns: list[Column],
        table: pa.Table | None,
        total_size: int,
        parents: list[tuple[str, str]] | None = None,
        *,
        is_count: bool = False,
        api_version: str = DEFAULT_API_VERSION,
    ) -> None:
        self.sobject = sobject
        self.columns: list[str] = [c.name for c in columns]
        self.total_size = total_size
        self.is_count = is_count
        self.api_version = api_version
        self._cols = columns
        self._table = table
        # hidden parent-id column per relationship name, and the parent's type
        self._parent_of: dict[str, tuple[str, str]] = {
            rel: (f"__p{i}", parent) for i, (rel, parent) in enumerate(parents or [])
        }
        self._csv_table: pa.Table | None = None

    @property
    def column_defs(self) -> list[Column]:
        """The visible columns with their fields and parent relationships, in SELECT order."""
        return list(self._cols)

    @property
    def has_compound(self) -> bool:
        """Whether a compound address is selected (the Bulk APIs refuse those queries)."""
        return any(c.field.type == "address" for c in self._cols)

    def __len__(self) -> int:
        return self.total_size

    def records(
        self, offset: int = 0, limit: int | None = None, *, api_version: str | None = None
    ) -> list[dict]:
        """REST JSON records `[offset, offset+limit)`: attributes first, fields in SELECT order, parents nested."""
        if self._table is None or self.is_count:
            return []
        n = self._table.num_rows - offset if limit is None else limit
        page = self._table.slice(offset, max(n, 0)).to_pydict()
        prefix = f"/services/data/v{api_version or self.api_version}/sobjects/"
        ids = page["__id"]
        own_url = prefix + self.sobject + "/"
        # Columns in SELECT order; a parent relationship becomes one column of nested dicts (or None).
        keys: list[str] = []
        columns: list[list] = []
        parent_fields: dict[str, list[tuple[str, list]]] = {}
        for i, c in enumerate(self._cols):
            values = page[f"c{i}"]
            if c.rel_name is None:
                keys.append(c.name)
                columns.append(values)
                continue
            if c.rel_name not in parent_fields:
                parent_fields[c.rel_name] = []
                keys.append(c.rel_name)
                columns.append([])  # filled below
            parent_fields[c.rel_name].append((c.field.name, values))
        for rel, fields in parent_fields.items():
            columns[keys.index(rel)] = self._nested(page, rel, fields, prefix)
        out: list[dict] = []
        append = out.append
        sobject = self.sobject
        for rid, *values in zip(ids, *columns, strict=True):
            rec: dict = {"attributes": {"type": sobject, "url": own_url + rid}}
            rec.update(zip(keys, values, strict=True))
            append(rec)
        return out

    def _nested(self, page: dict[str, list], rel: str, fields: list[tuple[str, list]], prefix: str) -> list:
        """One parent relationship's nested records (None where the reference is empty)."""
        hidden, parent_type = self._parent_of[rel]
        names = [name for name, _ in fields]
        url = prefix + parent_type + "/"
        out: list[dict | None] = []
        for pid, *values in zip(page[hidden], *(v for _, v in fields), strict=True):
            if pid is None:
                out.append(None)
                continue
            ptype = parent_type or _OBJECT_OF_PREFIX.get(pid[:3], "Name")  # polymorphic: the id says which
            nested: dict = {
                "attributes": {"type": ptype, "url": (url if parent_type else prefix + ptype + "/") + pid}
            }
            nested.update(zip(names, values, strict=True))
            out.append(nested)
        return out

    def csv(self, offset: int = 0, limit: int | None = None) -> str:
        """A Bulk 2.0 results page: header row (dotted names for parent fields), every value quoted, null empty."""
        if self._table is None or self.is_count:
            return ",".join(f'"{c}"' for c in self.columns) + "\n"
        if self._csv_table is None:
            table = self._table.select([f"c{i}" for i in range(len(self._cols))])
            self._csv_table = table.rename_columns(self.columns)
        n = self._csv_table.num_rows - offset if limit is None else limit
        page = self._csv_table.slice(offset, max(n, 0))
        buf = io.BytesIO()
        pacsv.write_csv(page, buf, pacsv.WriteOptions(quoting_style="all_valid"))
        return buf.getvalue().decode("utf-8")
