"""A query's result, executed once into an Arrow table and sliced per page as REST JSON records or Bulk 2.0 CSV."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.csv as pacsv

from simulator.ids import KEY_PREFIXES
from simulator.store_sql import Column

__all__ = ["QueryResult"]

DEFAULT_API_VERSION = "62.0"
_OBJECT_OF_PREFIX = {prefix: name for name, prefix in KEY_PREFIXES.items()}


class QueryResult:
    """Rows of one SOQL query: `records()` pages REST JSON dicts, `csv()` pages Bulk 2.0 CSV (header on every page)."""

    def __init__(self, sobject: str, columns: list[Column], table: pa.Table | None, total_size: int,
                 parents: list[tuple[str, str]] | None = None, *, is_count: bool = False,
                 api_version: str = DEFAULT_API_VERSION) -> None:
        self.sobject = sobject
        self.columns: list[str] = [c.name for c in columns]
        self.total_size = total_size
        self.is_count = is_count
        self.api_version = api_version
        self._cols = columns
        self._table = table
        # hidden parent-id column per relationship name, and the parent's type
        self._parent_of: dict[str, tuple[str, str]] = {
            rel: (f"__p{i}", parent) for i, (rel, parent) in enumerate(parents or [])}
        self._csv_table: pa.Table | None = None

    def __len__(self) -> int:
        return self.total_size

    def records(self, offset: int = 0, limit: int | None = None, *, api_version: str | None = None) -> list[dict]:
        """REST JSON records `[offset, offset+limit)`: attributes first, fields in SELECT order, parents nested."""
        if self._table is None or self.is_count:
            return []
        n = self._table.num_rows - offset if limit is None else limit
        page = self._table.slice(offset, max(n, 0)).to_pydict()
        prefix = f"/services/data/v{api_version or self.api_version}/sobjects/"
        ids = page["__id"]
        own_url = prefix + self.sobject + "/"
        # One plan per column: (key, values) for own fields, (rel, None) markers for a parent group.
        groups: list[tuple[str, object]] = []
        seen_rel: dict[str, list[tuple[str, list]]] = {}
        for i, c in enumerate(self._cols):
            values = page[f"c{i}"]
            if c.rel_name is None:
                groups.append((c.name, values))
            else:
                if c.rel_name not in seen_rel:
                    seen_rel[c.rel_name] = []
                    groups.append((c.rel_name, None))
                seen_rel[c.rel_name].append((c.field.name, values))
        parent_ids = {rel: (page[self._parent_of[rel][0]],
                            prefix + self._parent_of[rel][1] + "/" if self._parent_of[rel][1] else "")
                      for rel in seen_rel}
        out: list[dict] = []
        attrs_type = self.sobject
        for row, rid in enumerate(ids):
            rec: dict = {"attributes": {"type": attrs_type, "url": own_url + rid}}
            for key, values in groups:
                if values is not None:
                    rec[key] = values[row]  # type: ignore[index]
                    continue
                pids, purl = parent_ids[key]
                pid = pids[row]
                if pid is None:
                    rec[key] = None
                    continue
                ptype = self._parent_of[key][1] or _OBJECT_OF_PREFIX.get(pid[:3], "Name")  # polymorphic: by id
                nested: dict = {"attributes": {"type": ptype, "url": (purl or prefix + ptype + "/") + pid}}
                for fname, fvalues in seen_rel[key]:
                    nested[fname] = fvalues[row]
                rec[key] = nested
            out.append(rec)
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
