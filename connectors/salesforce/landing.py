"""Landing files: describe types -> Arrow types, raw values -> typed Arrow columns, and chunked Parquet writing.

REST (JSON values) and Bulk 2.0 (CSV strings) go through the same conversion, so both paths land identical Parquet:
`""` is NULL for every type (Salesforce stores no empty strings: an empty text field is null, and REST says so; the
Bulk CSV cannot tell the two apart), "NA"-like strings are never sniffed as null, datetimes such as
`2024-01-02T03:04:05.000+0000` become `timestamp[us, tz=UTC]`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crm_risk import landing as storage

__all__ = ["ChunkWriter", "arrow_type", "column_array", "schema_for", "write_json_atomic"]

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
