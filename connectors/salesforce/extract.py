"""Extract one object's changes in a window into landing Parquet chunks, hard deletes and a manifest.

    landing/<run_id>/<Object>/part-NNNNN.parquet   records, typed from describe, Salesforce field names
    landing/<run_id>/<Object>/deleted.parquet      hard deletes (Id, deletedDate) from sobjects/X/deleted
    landing/<run_id>/<Object>/_manifest.json       written last: its presence marks a complete extract

The window is closed-open on the cursor (`cursor >= start AND cursor < end ORDER BY cursor, Id`), read with queryAll
so soft deletes arrive as tombstones. REST or Bulk 2.0 is chosen from a `SELECT COUNT()`. Rows stream page by page;
memory holds one row group at most.

Recovery (transient faults of one request are retried by retry.py; what is left is handled here, each case noted in
the manifest):

- QUERY_TIMEOUT on the `COUNT()` probe: the window is counted in halves (down to QUERY_TIMEOUT_MIN_WINDOW);
- QUERY_TIMEOUT on a REST query's first page: that window is queried in halves, recursively; on a later page
  (rows already landed): the rows are dropped and the whole window is queried again in halves, once;
- Bulk 2.0 refusing the object (INVALIDENTITY), or a Bulk job that ends Failed or fails past the retries: the rows
  it landed are dropped and the object is read through REST instead.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.salesforce import bulk
from connectors.salesforce.client import CrmClient
from connectors.salesforce.landing import (
    TIMESTAMP,
    ChunkWriter,
    column_array,
    read_csv_page,
    write_json_atomic,
)
from connectors.salesforce.registry import ObjectEntry, resolve_fields
from crm_risk import landing as storage
from crm_risk import progress
from crm_risk.config import Settings
from crm_risk.errors import ConfigError, TransientError

__all__ = [
    "ExtractManifest",
    "build_soql",
    "clear_landing",
    "count_changes",
    "count_window",
    "deleted_window",
    "extract_object",
    "landing_dir",
    "soql_datetime",
]

log = logging.getLogger(__name__)

DELETED_MAX_AGE = timedelta(days=15)
DELETED_MIN_SPAN = timedelta(minutes=2)  # getDeleted needs start to precede end by more than a minute
BULK_MAX_PAGE = 50_000
QUERY_TIMEOUT_MIN_WINDOW = timedelta(
    minutes=1
)  # a window this narrow that still times out is not split again
REST_SOQL_MAX = (
    12_000  # a longer query would pass the REST URL limit (414 at ~16 KB encoded): use Bulk (POST body)
)


@dataclass
class ExtractManifest:
    """What one object's extract landed (the `_manifest.json` of contracts §2, plus timing and diagnostics)."""

    object: str
    run_id: str
    fields: dict[str, str]
    rows: int
    files: list[str]
    deleted_file: str | None
    window_start: str
    window_end: str
    cursor_field: str
    api: str
    api_calls: int
    missing_fields: list[str]
    deleted_rows: int = 0
    deleted_window: list[str] | None = None
    deleted_window_clipped: bool = False
    deleted_latest_covered: str | None = None
    count_estimate: int = 0
    seconds: float = 0.0
    extracted_at: str = ""
    notes: list[str] = field(default_factory=list)
    # the object's landing directory, a local Path or a URL (not in the JSON)
    path: Path | str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON-ready data."""
        data = asdict(self)
        data.pop("path", None)
        return data


def _utc(value: datetime, name: str) -> datetime:
    """A tz-aware UTC datetime (a naive one is refused: its meaning is ambiguous)."""
    if value.tzinfo is None:
        raise ConfigError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal, unquoted, in UTC at whole seconds: 2024-01-01T00:00:00Z."""
    return _utc(value, "datetime").strftime("%Y-%m-%dT%H:%M:%SZ")


def build_soql(obj: ObjectEntry, fields: list[str] | dict[str, str], start: datetime, end: datetime) -> str:
    """SELECT fields FROM obj WHERE cursor >= start AND cursor < end ORDER BY cursor, Id."""
    cursor = obj.cursor_field
    return (
        f"SELECT {', '.join(fields)} FROM {obj.name} "
        f"WHERE {cursor} >= {soql_datetime(start)} AND {cursor} < {soql_datetime(end)} "
        f"ORDER BY {cursor}, Id"
    )


def deleted_window(
    start: datetime, end: datetime, now: datetime | None = None
) -> tuple[datetime, datetime, bool]:
    """(start, end, clipped) for sobjects/X/deleted: at most 15 days back, at least two minutes wide."""
    start, end = _utc(start, "window_start"), _utc(end, "window_end")
    now = _utc(now, "now") if now else max(end, datetime.now(UTC))
    floor = now - DELETED_MAX_AGE + timedelta(minutes=5)
    clipped = start < floor
    start = max(start, floor)
    if end - start < DELETED_MIN_SPAN:
        start = end - DELETED_MIN_SPAN
    return start, end, clipped


def _halves(start: datetime, end: datetime) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
    mid = (start + (end - start) / 2).replace(microsecond=0)
    return (start, mid), (mid, end)


def _timed_out(exc: TransientError, start: datetime, end: datetime) -> bool:
    """Whether a failure is a QUERY_TIMEOUT on a window still wide enough to split."""
    return exc.code == "QUERY_TIMEOUT" and end - start > QUERY_TIMEOUT_MIN_WINDOW


def _count(
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
        return _count(client, obj, *first, notes) + _count(client, obj, *second, notes)
    return int(page.get("totalSize", 0))


def count_changes(client: CrmClient, entry: ObjectEntry, since: datetime) -> int:
    """How many records of the object changed (or were soft-deleted) since `since`: one COUNT() call (more when
    it times out)."""
    return _count(client, entry, since, None)


def count_window(client: CrmClient, entry: ObjectEntry, start: datetime, end: datetime) -> int:
    """How many records of the object have a cursor in [start, end): one COUNT() call (more when it times out)."""
    return _count(
        client, entry, _utc(start, "start").replace(microsecond=0), _utc(end, "end").replace(microsecond=0)
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


def _rest_window(
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


def _bulk(
    client: CrmClient, soql: str, fields: dict[str, str], writer: ChunkWriter, page_rows: int, ahead: int
) -> None:
    """Stream a Bulk 2.0 queryAll into the writer, `ahead` result pages fetched concurrently; each page is parsed
    and typed by Arrow (no Python object per record), columns matched to fields by name, case-insensitively."""
    names = list(fields)
    for page in bulk.query_pages(client, soql, page_rows=page_rows, ahead=ahead):
        writer.add_table(read_csv_page(page, names, fields))


def _hard_deletes(
    client: CrmClient, obj: ObjectEntry, start: datetime, end: datetime, out: Path | str
) -> dict[str, Any]:
    """Write deleted.parquet (Id, deletedDate) from sobjects/X/deleted; returns the manifest's deleted_* items."""
    d_start, d_end, clipped = deleted_window(start, end)
    params = {"start": d_start.isoformat(timespec="seconds"), "end": d_end.isoformat(timespec="seconds")}
    body = client.request("GET", f"sobjects/{obj.name}/deleted/", params=params).json()
    records = body.get("deletedRecords") or []
    table = pa.table(
        {
            "Id": column_array([r.get("id") for r in records], "id"),
            "deletedDate": column_array([r.get("deletedDate") for r in records], "datetime"),
        },
        schema=pa.schema([("Id", pa.string()), ("deletedDate", TIMESTAMP)]),
    )
    where, filesystem = storage.arrow_target(storage.join(out, "deleted.parquet"))
    pq.write_table(table, where, compression="zstd", filesystem=filesystem)
    if clipped:
        log.info(  # normal on a first run; on an incremental run it means the watermark is > 15 days old
            "%s: hard-delete window clipped to the last 15 days (from %s): older hard deletes need a "
            "reconciliation run",
            obj.name,
            params["start"],
        )
    return {
        "deleted_file": "deleted.parquet",
        "deleted_rows": len(records),
        "deleted_window": [params["start"], params["end"]],
        "deleted_window_clipped": clipped,
        "deleted_latest_covered": body.get("latestDateCovered"),
    }


def clear_landing(out: Path | str) -> None:
    """Remove what an earlier attempt of the same run left behind (manifest first: incomplete at once)."""
    storage.remove(storage.join(out, "_manifest.json"))
    for stale in [*storage.glob(out, "part-*.parquet"), storage.join(out, "deleted.parquet")]:
        storage.remove(stale)


def landing_dir(landing: Path | str, run_id: str, name: str) -> Path | str:
    """`<landing>/<run_id>/<name>/`, created when local (object storage has no folders)."""
    out = storage.join(landing, run_id, name)
    storage.makedirs(out)
    return out


def extract_object(
    client: CrmClient,
    entry: ObjectEntry,
    window_start: datetime,
    window_end: datetime,
    landing: Path | str,
    run_id: str,
    settings: Settings,
) -> ExtractManifest:
    """Land the object's records with cursor in [window_start, window_end) plus its hard deletes; see module doc."""
    # this object's calls: others may be extracted beside it on the same client
    with client.tally() as calls:
        started = time.monotonic()
        start = _utc(window_start, "window_start").replace(microsecond=0)
        end = _utc(window_end, "window_end").replace(microsecond=0)
        if end <= start:
            raise ConfigError(f"{entry.name}: empty extract window [{start.isoformat()}, {end.isoformat()})")
        out = landing_dir(landing, run_id, entry.name)
        clear_landing(out)

        described = client.describe(entry.name)
        fields, missing = resolve_fields(entry, described)
        if missing:
            log.warning("%s: fields not in the org (reported, not fatal): %s", entry.name, ", ".join(missing))
        names = list(fields)
        soql = build_soql(entry, names, start, end)
        notes: list[str] = []
        estimate = _count(client, entry, start, end, notes)
        with progress.track(entry.name, "extract", total=estimate) as advance:
            writer = ChunkWriter(
                out,
                fields,
                chunk_rows=settings.extract_chunk_rows,
                group_rows=min(settings.extract_chunk_rows, max(settings.extract_page_size, 10_000)),
                on_rows=advance,
            )
            api = "rest"
            if estimate > settings.extract_bulk_threshold or (estimate > 0 and len(soql) > REST_SOQL_MAX):
                api = "bulk2"
                try:
                    _bulk(
                        client,
                        soql,
                        fields,
                        writer,
                        min(settings.extract_chunk_rows, BULK_MAX_PAGE),
                        settings.extract_bulk_concurrency,
                    )
                except bulk.BulkUnsupported as exc:
                    writer.discard()
                    log.info("%s: Bulk 2.0 refused the object (%s); using REST", entry.name, exc.code)
                    api = "rest"
                    notes.append(f"bulk2 unsupported: {exc}")
                except TransientError as exc:  # the job ended Failed, or a request failed past the retries
                    writer.discard()
                    log.warning(
                        "%s: Bulk 2.0 query failed (%s); reading the object through REST", entry.name, exc
                    )
                    api = "rest"
                    notes.append(f"bulk2 failed, read through REST: {exc}")
            if (
                api == "rest" and estimate > 0
            ):  # nothing counted: skip the query (a no-change run stays cheap)
                _rest_window(client, entry, names, (start, end), writer, settings.extract_page_size, notes)
            files = writer.close()

        deletes: dict[str, Any] = {"deleted_file": None}
        if entry.tracks_hard_deletes and described.get("replicateable", True):  # getDeleted needs replication
            if end > client.server_now() - DELETED_MAX_AGE + timedelta(minutes=5):
                deletes = _hard_deletes(client, entry, start, end, out)
            else:  # Salesforce keeps hard deletes 15 days: an older window (a backfill) has none to ask for
                notes.append("getDeleted skipped: the window ends more than 15 days ago")

        manifest = ExtractManifest(
            object=entry.name,
            run_id=run_id,
            fields=fields,
            rows=writer.rows,
            files=files,
            window_start=start.isoformat(),
            window_end=end.isoformat(),
            cursor_field=entry.cursor_field,
            api=api,
            api_calls=calls[0],
            missing_fields=missing,
            **deletes,
            count_estimate=estimate,
            seconds=round(time.monotonic() - started, 3),
            extracted_at=datetime.now(UTC).isoformat(),
            notes=notes,
            path=out,
        )
        write_json_atomic(storage.join(out, "_manifest.json"), manifest.to_dict())
        log.info(
            "%s: %d rows (%s, %d files), %d hard deletes, %d API calls, %.1f s",
            entry.name,
            manifest.rows,
            api,
            len(files),
            manifest.deleted_rows,
            manifest.api_calls,
            manifest.seconds,
        )
        return manifest
