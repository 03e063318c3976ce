"""Landing files: describe types -> Arrow types, raw values -> typed Arrow columns, and chunked Parquet writing.

REST (JSON values) and Bulk 2.0 (CSV strings) go through the same conversion, so both paths land identical Parquet:
`""` is NULL for every type (Salesforce stores no empty strings: an empty text field is null, and REST says so; the
Bulk CSV cannot tell the two apart), "NA"-like strings are never sniffed as null, datetimes such as
`2024-01-02T03:04:05.000+0000` become `timestamp[us, tz=UTC]`.
"""

from __future__ import annotations

import csv as _csv
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crm_risk import landing as storage

__all__ = [
    "ChunkWriter",
    "arrow_type",
    "column_array",
    "read_csv_page",
    "schema_for",
    "text_column",
    "write_json_atomic",
]

log = logging.getLogger(__name__)

TIMESTAMP = pa.timestamp("us", tz="UTC")
_TYPES: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": TIMESTAMP,
    "double": pa.float64(),
    "currency": pa.float64(),
    "percent": pa.float64(),
    "int": pa.int64(),
    "long": pa.int64(),
}


def arrow_type(sf_type: str) -> pa.DataType:
    """The Arrow type of a describe field type (string-like types -> string)."""
    return _TYPES.get(sf_type.lower(), pa.string())


def schema_for(fields: dict[str, str]) -> pa.Schema:
    """The landing schema for {field: describe type}, in that order."""
    return pa.schema([pa.field(name, arrow_type(t)) for name, t in fields.items()])


def _as_text(value: Any) -> str:
    """A non-string JSON value (anyType fields) as the text the Bulk CSV would carry."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def column_array(values: Sequence[Any], sf_type: str) -> pa.Array:
    """A typed Arrow array from REST JSON values or Bulk CSV strings ("" -> NULL, never sniffing 'NA')."""
    target = arrow_type(sf_type)
    cleaned = [None if v == "" else v for v in values]
    if pa.types.is_string(target):
        return pa.array([v if v is None or isinstance(v, str) else _as_text(v) for v in cleaned], pa.string())
    if pa.types.is_boolean(target):
        return pa.array(
            [v if v is None or isinstance(v, bool) else str(v).lower() == "true" for v in cleaned], pa.bool_()
        )
    try:
        raw = pa.array(cleaned)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raw = pa.array([None if v is None else str(v) for v in cleaned], pa.string())
    if pa.types.is_integer(target) and pa.types.is_string(raw.type):
        raw = pc.cast(raw, pa.float64())  # "12.0" from a CSV is still an integer value
    return pc.cast(raw, target)


def text_column(values: pa.Array | pa.ChunkedArray, sf_type: str) -> pa.Array | pa.ChunkedArray:
    """A typed column from CSV text already parsed by Arrow (empty fields null): the vectorised twin of
    `column_array` for Bulk pages, with no Python object per value."""
    target = arrow_type(sf_type)
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), target)
    if pa.types.is_string(target):
        return values.cast(pa.string())
    if pa.types.is_boolean(target):
        return pc.equal(pc.utf8_lower(values), "true")
    if pa.types.is_integer(target):
        return pc.cast(pc.cast(values, pa.float64()), target)
    return pc.cast(values, target)


def read_csv_page(source: Any, names: list[str], fields: dict[str, str]) -> pa.Table:
    """One Bulk 2.0 result page (CSV with a header row) as a table typed like the landing schema, columns matched
    to `names` case-insensitively (a column the page lacks is null): Arrow parses it, not Python.

    Every column is read as text first ("" is NULL, nothing else is: 'NA' stays 'NA'), then cast like
    `column_array` casts REST values, so both paths land identical Parquet."""
    from pyarrow import csv

    start = source.tell()
    header = next(_csv.reader([source.readline().decode("utf-8")]), [])
    source.seek(start)
    table = csv.read_csv(
        source,
        read_options=csv.ReadOptions(block_size=4 << 20),
        convert_options=csv.ConvertOptions(
            column_types={h: pa.string() for h in header},  # no type sniffing: the describe types decide
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
        parse_options=csv.ParseOptions(newlines_in_values=True),
    )
    position = {h.lower(): i for i, h in enumerate(table.column_names)}
    columns = []
    for name in names:
        i = position.get(name.lower())
        if i is None:
            columns.append(pa.nulls(table.num_rows, arrow_type(fields[name])))
        else:
            columns.append(text_column(table.column(i), fields[name]))
    return pa.table(columns, schema=schema_for({n: fields[n] for n in names}))


def write_json_atomic(path: Path | str, payload: dict[str, Any]) -> None:
    """Write JSON so a reader sees the whole file or none (a local temp file + rename; one PUT on object storage)."""
    storage.write_json_atomic(path, payload)


class ChunkWriter:
    """Streams rows into `part-NNNNN.parquet` files of at most `chunk_rows` rows, buffering one row group at most."""

    def __init__(
        self,
        out_dir: Path | str,
        fields: dict[str, str],
        *,
        chunk_rows: int,
        group_rows: int = 10_000,
        on_rows: Callable[[int], None] | None = None,
    ) -> None:
        self.out_dir = out_dir  # a local folder or a URL (crm_risk.landing)
        self.on_rows = on_rows  # told of every batch added (progress)
        self.fields = dict(fields)
        self.schema = schema_for(self.fields)
        self.chunk_rows = max(1, chunk_rows)
        self.group_rows = max(1, min(group_rows, self.chunk_rows))
        self.files: list[str] = []
        self.rows = 0
        self._buffer: list[list[Any]] = [[] for _ in self.fields]
        self._buffered = 0
        self._writer: pq.ParquetWriter | None = None
        self._in_file = 0

    def add(self, columns: Sequence[Sequence[Any]]) -> None:
        """Append rows given column-wise (same order as `fields`); flushes full row groups to disk."""
        if not columns or not columns[0]:
            return
        for buf, col in zip(self._buffer, columns, strict=True):
            buf.extend(col)
        self._buffered += len(columns[0])
        if self.on_rows is not None:
            self.on_rows(len(columns[0]))
        while self._buffered >= self.group_rows:
            self._flush(self.group_rows)

    def add_table(self, table: pa.Table) -> None:
        """Append rows already typed like the schema (a Bulk page read by Arrow), after any buffered rows."""
        if not table.num_rows:
            return
        if self.on_rows is not None:
            self.on_rows(table.num_rows)
        while self._buffered:  # rows added column-wise come first
            self._flush(self._buffered)
        table = table.cast(self.schema)
        while table.num_rows:
            if self._writer is None:
                self._writer = self._open()
            n = min(table.num_rows, self.chunk_rows - self._in_file)
            self._writer.write_table(table.slice(0, n), row_group_size=self.group_rows)
            table = table.slice(n)
            self._in_file += n
            self.rows += n
            if self._in_file >= self.chunk_rows:
                self._writer.close()
                self._writer = None

    def _open(self) -> pq.ParquetWriter:
        name = f"part-{len(self.files):05d}.parquet"
        self.files.append(name)
        self._in_file = 0
        where, filesystem = storage.arrow_target(storage.join(self.out_dir, name))
        return pq.ParquetWriter(where, self.schema, compression="zstd", filesystem=filesystem)

    def _flush(self, limit: int) -> None:
        """Write up to `limit` buffered rows, never crossing a file boundary."""
        if self._writer is None:
            self._writer = self._open()
        n = min(limit, self._buffered, self.chunk_rows - self._in_file)
        arrays = [column_array(buf[:n], t) for buf, t in zip(self._buffer, self.fields.values(), strict=True)]
        self._writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        for buf in self._buffer:
            del buf[:n]
        self._buffered -= n
        self._in_file += n
        self.rows += n
        if self._in_file >= self.chunk_rows:
            self._writer.close()
            self._writer = None

    def discard(self) -> None:
        """Drop every row taken so far, its files included (the extract starts again another way)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for name in self.files:
            storage.remove(storage.join(self.out_dir, name))
        self.files, self.rows, self._buffered, self._in_file = [], 0, 0, 0
        self._buffer = [[] for _ in self.fields]

    def close(self) -> list[str]:
        """Flush the rest and close; an empty extract still gets one (empty, typed) part file."""
        while self._buffered:
            self._flush(self._buffered)
        if self._writer is None and not self.files:
            self._writer = self._open()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return list(self.files)
