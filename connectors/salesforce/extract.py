"""Extract one object's changes in a window into landing Parquet chunks, hard deletes and a manifest.

    landing/<run_id>/<Object>/part-NNNNN.parquet   records, typed from describe, Salesforce field names
    landing/<run_id>/<Object>/deleted.parquet      hard deletes (Id, deletedDate) from sobjects/X/deleted
    landing/<run_id>/<Object>/_manifest.json       written last: its presence marks a complete extract

The window is read by windows.py (its SOQL, the `COUNT()` probe, REST or Bulk 2.0, QUERY_TIMEOUT recovery): REST or
Bulk 2.0 is chosen from the count. Rows stream page by page; memory holds one row group at most.

Recovery here (each case noted in the manifest): Bulk 2.0 refusing the object (INVALIDENTITY), or a Bulk job that
ends Failed or fails past the retries: the rows it landed are dropped and the object is read through REST instead.
"""

from __future__ import annotations

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
from connectors.salesforce.landing import TIMESTAMP, ChunkWriter, column_array, write_json_atomic
from connectors.salesforce.registry import ObjectEntry, resolve_fields
from connectors.salesforce.windows import build_soql, count, read_bulk, read_rest, utc
from crm_risk import landing as storage
from crm_risk import progress
from crm_risk.config import Settings
from crm_risk.errors import ConfigError, TransientError

__all__ = ["ExtractManifest", "clear_landing", "deleted_window", "extract_object", "landing_dir"]

log = logging.getLogger(__name__)

DELETED_MAX_AGE = timedelta(days=15)
DELETED_MIN_SPAN = timedelta(minutes=2)  # getDeleted needs start to precede end by more than a minute
BULK_MAX_PAGE = 50_000
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


def deleted_window(
    start: datetime, end: datetime, now: datetime | None = None
) -> tuple[datetime, datetime, bool]:
    """(start, end, clipped) for sobjects/X/deleted: at most 15 days back, at least two minutes wide."""
    start, end = utc(start, "window_start"), utc(end, "window_end")
    now = utc(now, "now") if now else max(end, datetime.now(UTC))
    floor = now - DELETED_MAX_AGE + timedelta(minutes=5)
    clipped = start < floor
    start = max(start, floor)
    if end - start < DELETED_MIN_SPAN:
        start = end - DELETED_MIN_SPAN
    return start, end, clipped


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
        start = utc(window_start, "window_start").replace(microsecond=0)
        end = utc(window_end, "window_end").replace(microsecond=0)
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
        estimate = count(client, entry, start, end, notes)
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
                    read_bulk(
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
                read_rest(client, entry, names, (start, end), writer, settings.extract_page_size, notes)
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
