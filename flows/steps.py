"""The nightly job's steps as plain functions (no Prefect here): the flow wraps each in one task.

Each step opens the warehouse for as short a window as it needs and closes it (DuckDB admits one writer).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from connectors import warehouse
from connectors.salesforce import registry
from connectors.salesforce.client import CrmClient
from connectors.salesforce.extract import extract_object
from connectors.salesforce.push import push_updates
from connectors.warehouse_load import EPOCH
from crm_risk.config import Settings
from crm_risk.errors import PushRejectedError, QuotaExceeded
from flows import quality
from transforms.runner import run_transforms

__all__ = [
    "ExtractOutcome",
    "PushOutcome",
    "RunContext",
    "begin_run",
    "extract_all",
    "finish_run",
    "load_all",
    "push_flags",
    "transform",
]

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    """What every step of one run needs to know."""

    run_id: str
    flow: str
    started_at: datetime
    settings: Settings


@dataclass
class ExtractOutcome:
    """Manifests written by the extract, and whether the API quota stopped it early."""

    manifests: list[Path] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    api_calls: int = 0
    quota_stopped: str | None = None
    as_of: datetime | None = None  # the org's time when the extract window closed: what the flags are "as of"


@dataclass
class PushOutcome:
    """What the push sent and how the CRM answered."""

    pending: int = 0
    updated: int = 0
    rejected: int = 0
    raised: int = 0
    cleared: int = 0
    api_calls: int = 0
    quota_stopped: str | None = None
    errors: dict[str, int] = field(default_factory=dict)


def begin_run(settings: Settings, flow: str, run_id: str | None = None) -> RunContext:
    """Register the run in meta.runs and return its context."""
    ctx = RunContext(run_id or uuid.uuid4().hex[:16], flow, datetime.now(UTC), settings)
    with warehouse.open_for(settings) as con:
        warehouse.ensure_schemas(con)
        warehouse.start_run(con, ctx.run_id, flow)
    return ctx


def _entries(settings: Settings, objects: list[str] | None) -> list[registry.RegistryEntry]:
    wanted = objects or settings.extract_objects
    entries = list(registry.REGISTRY)
    if wanted:
        known = {e.name.lower(): e for e in entries}
        missing = [o for o in wanted if o.lower() not in known]
        if missing:
            from crm_risk.errors import ConfigError

            raise ConfigError(
                f"unknown object(s) {missing} (in --objects or CRM_RISK_EXTRACT_OBJECTS); "
                f"known: {sorted(e.name for e in entries)}"
            )
        entries = [known[o.lower()] for o in wanted]
    return entries


def extract_all(
    ctx: RunContext,
    client: CrmClient,
    objects: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ExtractOutcome:
    """Extract every registry object changed since its watermark (or in [`since`, `until`), for backfills)."""
    settings = ctx.settings
    entries = _entries(settings, objects)
    client.describe(entries[0].name)  # needed anyway (cached); its answer tells the org's clock
    org_now = client.server_now() - timedelta(seconds=settings.extract_safety_seconds)
    window_end = org_now if until is None else min(org_now, until)
    with warehouse.open_for(settings) as con:
        marks = {e.name: warehouse.get_watermark(con, e.name) for e in entries}
    landing = Path(settings.landing_dir)
    out = ExtractOutcome(as_of=org_now)  # a backfill of an old window still scores the accounts as of now
    calls_before = client.api_calls
    for entry in entries:
        mark = marks[entry.name]
        if since is not None:
            start = since
        elif mark is None:
            start = EPOCH
        else:
            start = mark - timedelta(seconds=settings.extract_lookback_seconds)
        try:
            manifest = extract_object(client, entry, start, window_end, landing, ctx.run_id, settings)
        except QuotaExceeded as exc:
            # Stop cleanly: what was extracted loads, the rest keeps its watermark for the next run.
            out.quota_stopped = f"{entry.name}: {exc}"
            log.warning("API quota reached while extracting %s; stopping the extract cleanly", entry.name)
            break
        assert manifest.path is not None  # extract_object always sets where it landed
        quality.save_rules(manifest.path, client.describe(entry.name))  # cached: no API call
        out.manifests.append(manifest.path)
        out.rows[entry.name] = manifest.rows
    out.api_calls = client.api_calls - calls_before
    log.info(
        "extracted %s rows in %d objects with %d API calls",
        sum(out.rows.values()),
        len(out.rows),
        out.api_calls,
    )
    return out


def load_all(ctx: RunContext, manifests: list[Path]) -> dict[str, dict[str, int]]:
    """Validate (the data-quality gate) and merge every manifest into raw.*, each object in its own transaction."""
    return quality.load_gated(ctx.settings, ctx.run_id, manifests)


def complete_as_of(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: datetime) -> datetime:
    """`as_of`, or the oldest watermark of the configured objects when earlier: the instant up to which every object
    is loaded. A backfill of some objects (or a run stopped by the quota) then scores the accounts on a consistent
    picture, not on today's cases next to yesterday's activities."""
    names = [e.name for e in _entries(settings, None)]
    marks = [warehouse.get_watermark(con, n) for n in names]
    known = [m for m in marks if m is not None]
    return min([as_of, *known]) if len(known) == len(marks) else as_of


def transform(ctx: RunContext, as_of: datetime | None = None) -> dict[str, int]:
    """Rebuild staging, history and marts, scored as of the data's complete instant; return the risk levels."""
    with warehouse.open_for(ctx.settings) as con:
        at = complete_as_of(con, ctx.settings, as_of or ctx.started_at)
        if at != (as_of or ctx.started_at):
            log.info("scoring as of %s, the instant up to which every object is loaded", at.isoformat())
        run_transforms(con, as_of=at, run_id=ctx.run_id)
        rows = con.execute("select level, count(*) from marts.account_risk group by level").fetchall()
    return {str(level): int(n) for level, n in rows}


def push_flags(ctx: RunContext, client: CrmClient) -> PushOutcome:
    """Send changed flags to the CRM's Account fields, log every result, fail above the rejected share."""
    settings = ctx.settings
    out = PushOutcome()
    with warehouse.open_for(settings) as con:
        pending = con.execute("select * from sync.account_push_pending").fetch_df()
    out.pending = len(pending)
    if settings.dq_enabled and settings.push_enabled:
        quality.check_payload(pending, settings, ctx.run_id)  # critical -> DataQualityError, nothing sent
    if pending.empty or not settings.push_enabled:
        return out
    fields = ["Id", *settings.push_fields.values()]
    rows = [_jsonable({k: r[k] for k in fields if k in r}) for r in pending.to_dict("records")]
    hashes = dict(zip(pending["Id"], pending["payload_hash"], strict=True))
    calls_before = client.api_calls
    try:
        results = push_updates(client, "Account", rows, settings)
    except QuotaExceeded as exc:
        results = list(getattr(exc, "results", []))
        out.quota_stopped = str(exc)
    out.api_calls = client.api_calls - calls_before
    with warehouse.open_for(settings) as con:
        warehouse.record_push_results(con, ctx.run_id, "Account", results, rows, hashes)
    for r in results:
        if r.ok:
            out.updated += 1
        else:
            out.rejected += 1
            out.errors[r.error_code or "UNKNOWN"] = out.errors.get(r.error_code or "UNKNOWN", 0) + 1
    if out.pending and out.rejected / out.pending > settings.push_reject_threshold:
        raise PushRejectedError(
            f"{out.rejected} of {out.pending} Account updates were rejected "
            f"({out.rejected / out.pending:.0%} > CRM_RISK_PUSH_REJECT_THRESHOLD={settings.push_reject_threshold:.0%}); "
            f"errors: {out.errors}. Each record's error is in sync.push_log (run_id '{ctx.run_id}')."
        )
    return out


def finish_run(
    ctx: RunContext, status: str, counts: dict[str, Any], api_calls: int, message: str = ""
) -> None:
    """Close the run's row in meta.runs."""
    with warehouse.open_for(ctx.settings) as con:
        warehouse.finish_run(con, ctx.run_id, status, counts, api_calls, message)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """Values the JSON encoder and the CRM accept: datetimes in Salesforce's form, NaN as None."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if hasattr(v, "to_pydatetime"):
            v = v.to_pydatetime()
        if isinstance(v, datetime):
            v = v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        elif isinstance(v, float) and v != v:
            v = None
        out[k] = v
    json.dumps(out)  # fail here, not in the HTTP layer, if a value is not serialisable
    return out
