"""Bulk 1.0 wire shapes: job and batch info (JSON or XML, as the job was created), errors, and result files.

Result files hold records as Bulk 1.0 writes them: JSON records keep `attributes` and nest parents, dates and
datetimes are epoch milliseconds (UTC); CSV quotes every value, datetimes end in `Z`, null is an empty cell.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from simulator.api.http import JSON_TYPE, XML_TYPE, HttpError, Response
from simulator.org.result import QueryResult

__all__ = ["NS", "bulk_error", "info_response", "result_csv", "result_json"]

NS = "http://www.force.com/2009/06/asyncapi/dataload"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _xml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def _xml(root: str, payload: dict[str, Any]) -> bytes:
    """A flat object (lists become repeated elements of `root`'s item name) as Bulk 1.0 XML."""
    parts = [f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="{NS}">']
    for key, value in payload.items():
        if value is None:
            continue
        if isinstance(value, list):
            for item in value:
                inner = (
                    "".join(f"<{k}>{_xml_value(v)}</{k}>" for k, v in item.items() if v is not None)
                    if isinstance(item, dict)
                    else _xml_value(item)
                )
                parts.append(f"<{key}>{inner}</{key}>")
            continue
        parts.append(f"<{key}>{_xml_value(value)}</{key}>")
    parts.append(f"</{root}>")
    return "".join(parts).encode("utf-8")


def info_response(root: str, payload: dict[str, Any], as_xml: bool, status: int = 200) -> Response:
    """A jobInfo / batchInfo / batchInfoList / result-list answer in the job's format."""
    if as_xml:
        return Response(status, _xml(root, payload), XML_TYPE)
    body = payload.get("result") if root == "result-list" else payload
    return Response(status, json.dumps(body, separators=(",", ":")).encode("utf-8"), JSON_TYPE)


def bulk_error(status: int, code: str, message: str, as_xml: bool) -> HttpError:
    """A Bulk 1.0 error: `{"exceptionCode", "exceptionMessage"}` (XML `<error>` for XML and CSV callers)."""
    payload = {"exceptionCode": code, "exceptionMessage": message}
    if as_xml:
        return HttpError(status, _xml("error", payload), XML_TYPE)
    return HttpError(status, payload, JSON_TYPE)


def _epoch_ms(value: str) -> int:
    """`2024-01-02T03:04:05.000+0000` or `2024-01-02` as milliseconds since the epoch (a date at 00:00 UTC)."""
    if len(value) == 10:
        d = date.fromisoformat(value)
        return (datetime(d.year, d.month, d.day, tzinfo=UTC) - _EPOCH) // _MS
    return (datetime.fromisoformat(value[:23] + "+00:00") - _EPOCH) // _MS


def _temporal(result: QueryResult) -> tuple[set[str], dict[str, set[str]]]:
    """Top-level and per-parent names of the date and datetime columns."""
    own: set[str] = set()
    nested: dict[str, set[str]] = {}
    for col in result.column_defs:
        if col.field.type not in ("date", "datetime"):
            continue
        if col.rel_name is None:
            own.add(col.name)
        else:
            nested.setdefault(col.rel_name, set()).add(col.field.name)
    return own, nested


def result_json(result: QueryResult, offset: int, limit: int, version: str) -> bytes:
    """One JSON result file: a list of records, dates and datetimes as epoch milliseconds."""
    records = result.records(offset, limit, api_version=version)
    own, nested = _temporal(result)
    if own or nested:
        for rec in records:
            for name in own:
                if rec[name] is not None:
                    rec[name] = _epoch_ms(rec[name])
            for rel, names in nested.items():
                parent = rec.get(rel)
                if parent:
                    for name in names:
                        if parent[name] is not None:
                            parent[name] = _epoch_ms(parent[name])
    return json.dumps(records, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _csv_value(value: object, kind: str) -> object:
    if value is None:
        return ""
    if kind == "datetime":
        return str(value)[:23] + "Z"
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def result_csv(result: QueryResult, offset: int, limit: int, version: str) -> bytes:
    """One CSV result file: a header row (dotted names for parent fields), every value quoted."""
    cols = result.column_defs
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(result.columns)
    for rec in result.records(offset, limit, api_version=version):
        row = []
        for col in cols:
            if col.rel_name is None:
                value = rec[col.name]
            else:
                parent = rec.get(col.rel_name)
                value = parent.get(col.field.name) if parent else None
            row.append(_csv_value(value, col.field.type))
        writer.writerow(row)
    return buf.getvalue().encode("utf-8")
