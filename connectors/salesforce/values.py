"""Values on the wire: datetimes as Salesforce writes them, JSON values for REST, CSV for Bulk 2.0 uploads."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

__all__ = ["collection_record", "json_value", "sf_datetime", "to_csv"]


def sf_datetime(value: datetime) -> str:
    """A datetime as Salesforce writes one: UTC, `2026-01-31T09:30:00.000+0000` (whole seconds; naive = UTC)."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def json_value(value: Any) -> Any:
    """A JSON value the REST API accepts (datetimes in Salesforce's form, dates as YYYY-MM-DD)."""
    if isinstance(value, datetime):
        return sf_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    """Bulk 2.0 upload CSV: Id first, CRLF line endings, '#N/A' for null (an empty cell would mean 'unchanged')."""
    header: list[str] = ["Id"]
    for row in rows:
        header.extend(k for k in row if k not in header)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        cells = []
        for name in header:
            v = json_value(row.get(name)) if name in row else ""
            if name in row and v is None:
                v = "#N/A"
            elif isinstance(v, bool):
                v = "true" if v else "false"
            cells.append(v)
        writer.writerow(cells)
    return buf.getvalue().encode("utf-8")


def collection_record(sobject: str, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "attributes": {"type": sobject},
        **{("id" if k == "Id" else k): json_value(v) for k, v in row.items()},
    }
