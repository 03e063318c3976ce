"""Reading one object's window [start, end) from the CRM: its SOQL, the `COUNT()` probe, REST and Bulk 2.0 reads.

The window is closed-open on the cursor (`cursor >= start AND cursor < end ORDER BY cursor, Id`), read with
queryAll so soft deletes arrive as tombstones; rows go to a ChunkWriter page by page (extract.py lands them).

Recovery from QUERY_TIMEOUT (transient faults of one request are retried by retry.py; each case here is noted in
the manifest):

- on the `COUNT()` probe: the window is counted in halves (down to QUERY_TIMEOUT_MIN_WINDOW);
- on a REST query's first page: that window is queried in halves, recursively; on a later page (rows already
  landed): the rows are dropped and the whole window is queried again in halves, once.
"""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime, timedelta

from connectors.salesforce import bulk
from connectors.salesforce.client import CrmClient
from connectors.salesforce.landing import ChunkWriter, read_csv_page
from connectors.salesforce.registry import ObjectEntry
from crm_risk.errors import ConfigError, TransientError

__all__ = [
    "build_soql",
    "count",
    "count_changes",
    "count_window",
    "read_bulk",
    "read_rest",
    "soql_datetime",
    "utc",
]

log = logging.getLogger(__name__)

QUERY_TIMEOUT_MIN_WINDOW = timedelta(
    minutes=1
)  # a window this narrow that still times out is not split again


def utc(value: datetime, name: str) -> datetime:
    """A tz-aware UTC datetime (a naive one is refused: its meaning is ambiguous)."""
    if value.tzinfo is None:
        raise ConfigError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal, unquoted, in UTC at whole seconds: 2024-01-01T00:00:00Z."""
    return utc(value, "datetime").strftime("%Y-%m-%dT%H:%M:%SZ")


def build_soql(obj: ObjectEntry, fields: list[str] | dict[str, str], start: datetime, end: datetime) -> str:
    """SELECT fields FROM obj WHERE cursor >= start AND cursor < end ORDER BY cursor, Id."""
    cursor = obj.cursor_field
    return (
        f"SELECT {', '.join(fields)} FROM {obj.name} "
        f"WHERE {cursor} >= {soql_datetime(start)} AND {cursor} < {soql_datetime(end)} "
        f"ORDER BY {cursor}, Id"
    )


def _halves(start: datetime, end: datetime) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
    mid = (start + (end - start) / 2).replace(microsecond=0)
    return (start, mid), (mid, end)


def _timed_out(exc: TransientError, start: datetime, end: datetime) -> bool:
    """Whether a failure is a QUERY_TIMEOUT on a window still wide enough to split."""
    return exc.code == "QUERY_TIMEOUT" and end - start > QUERY_TIMEOUT_MIN_WINDOW


def count(
    client: CrmClient, obj: ObjectEntry, start: datetime, end: datetime | None, notes: list[str] | None = None
) -> int:
    """SELECT COUNT() of the window; a QUERY_TIMEOUT counts each half instead (an open end is the org's now)."""
    where = f"{obj.cursor_field} >= {soql_datetime(start)}"
    if end is not None:
        where += f" AND {obj.cursor_field} < {soql_datetime(end)}"
    try:
        page = next(client.query_pages(f"SELECT COUNT() FROM {obj.name} WHERE {where}", include_deleted=True))
    except TransientError as exc:
        # no record is stamped after the org's now: an open window ends there
        stop = end if end is not None else client.server_now().replace(microsecond=0) + timedelta(seconds=1)
        if not _timed_out(exc, start, stop):
            raise
        first, second = _halves(start, stop)
        log.info("%s: QUERY_TIMEOUT on COUNT() of [%s, %s); counting each half", obj.name, start, stop)
        if notes is not None:
            notes.append(
                f"QUERY_TIMEOUT on COUNT() [{start.isoformat()}, {stop.isoformat()}): counted in halves"
            )
        return count(client, obj, *first, notes) + count(client, obj, *second, notes)
    return int(page.get("totalSize", 0))


def count_changes(client: CrmClient, entry: ObjectEntry, since: datetime) -> int:
    """How many records of the object changed (or were soft-deleted) since `since`: one COUNT() call (more when
    it times out)."""
    return count(client, entry, since, None)


def count_window(client: CrmClient, entry: ObjectEntry, start: datetime, end: datetime) -> int:
    """How many records of the object have a cursor in [start, end): one COUNT() call (more when it times out)."""
    return count(
        client, entry, utc(start, "start").replace(microsecond=0), utc(end, "end").replace(microsecond=0)
    )


def _rest(
    client: CrmClient,
    entry: ObjectEntry,
    names: list[str],
    window: tuple[datetime, datetime],
    writer: ChunkWriter,
    page_size: int,
    notes: list[str],
) -> None:
    """Stream a REST queryAll of the window into the writer, page by page, oldest cursor first.

    Salesforce answers QUERY_TIMEOUT when a query scans too much before its first page; the window is then split in
    halves, each queried on its own, down to QUERY_TIMEOUT_MIN_WINDOW (each split is noted in the manifest).
    """
    start, end = window
    pages = client.query_pages(
        build_soql(entry, names, start, end), include_deleted=True, batch_size=page_size
    )
    try:
        first = next(pages)
    except TransientError as exc:
        if not _timed_out(exc, start, end):
            raise
        first_half, second_half = _halves(start, end)
        log.info("%s: QUERY_TIMEOUT on [%s, %s); querying each half", entry.name, start, end)
        notes.append(
            f"QUERY_TIMEOUT on [{start.isoformat()}, {end.isoformat()}): split at {first_half[1].isoformat()}"
        )
        _rest(client, entry, names, first_half, writer, page_size, notes)
        _rest(client, entry, names, second_half, writer, page_size, notes)
        return
    for page in itertools.chain([first], pages):
        records = page.get("records") or []
        if records:
            writer.add([[rec.get(n) for rec in records] for n in names])


def read_rest(
    client: CrmClient,
    entry: ObjectEntry,
    names: list[str],
    window: tuple[datetime, datetime],
    writer: ChunkWriter,
    page_size: int,
    notes: list[str],
) -> None:
    """`_rest` over the whole window; a QUERY_TIMEOUT past a first page (rows landed) drops the rows and reads the
    window again in halves, once (a query's pages cannot be resumed half-way without duplicating rows)."""
    try:
        _rest(client, entry, names, window, writer, page_size, notes)
    except TransientError as exc:
        if not _timed_out(exc, *window) or not writer.rows:
            raise
        log.info(
            "%s: QUERY_TIMEOUT after %d rows; reading the window again in halves", entry.name, writer.rows
        )
        notes.append(f"QUERY_TIMEOUT after {writer.rows} rows: dropped them, read the window again in halves")
        writer.discard()
        for half in _halves(*window):
            _rest(client, entry, names, half, writer, page_size, notes)


def read_bulk(
    client: CrmClient, soql: str, fields: dict[str, str], writer: ChunkWriter, page_rows: int, ahead: int
) -> None:
    """Stream a Bulk 2.0 queryAll into the writer, `ahead` result pages fetched concurrently; each page is parsed
    and typed by Arrow (no Python object per record), columns matched to fields by name, case-insensitively."""
    names = list(fields)
    for page in bulk.query_pages(client, soql, page_rows=page_rows, ahead=ahead):
        writer.add_table(read_csv_page(page, names, fields))
