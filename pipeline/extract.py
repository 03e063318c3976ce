"""Extract step: every registry object changed since its watermark (or in a backfill's window) to landing files.

Objects are extracted up to `extract_object_concurrency` at a time (3: their Bulk jobs run in the org at once,
while this process downloads and parses the pages of another), each on its own: one whose extract still fails once
the retry policy and the connector's recoveries are spent (a persistent 5xx, a query that times out however narrow,
a field it lost) lands nothing and keeps its watermark, and the others go on; the run is then "partial" and names it
(`ExtractOutcome.failed`). Only when every object fails does the step raise. The API quota stops the extract
cleanly instead (`quota_stopped`): the objects under way end, none is begun after it, and the rest is left for the
next run. Manifests are listed in the registry's order whatever order the objects ended in.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors import warehouse
from connectors.salesforce import registry
from connectors.salesforce.client import CrmClient
from connectors.salesforce.extract import extract_object
from connectors.warehouse.load import EPOCH
from crm_risk import landing as storage
from crm_risk import memory
from crm_risk.config import Settings
from crm_risk.errors import ConfigError, ConnectorError, CrmRiskError, QuotaExceeded
from expectations.gate import save_rules
from pipeline.context import RunContext

__all__ = ["ExtractFailed", "ExtractOutcome", "backfill_window", "entries", "extract_all"]

log = logging.getLogger(__name__)


class ExtractFailed(CrmRiskError):
    """Every object's extract failed (the run fails; each object's cause is in the message)."""


@dataclass
class ExtractOutcome:
    """Manifests written by the extract, and whether the API quota stopped it early."""

    manifests: list[Path | str] = field(default_factory=list)  # extract folders (or URLs on object storage)
    rows: dict[str, int] = field(default_factory=dict)
    api_calls: int = 0
    remote_api_calls: int = 0  # made by other clients than the run's (a backfill's window extracts)
    quota_stopped: str | None = None
    as_of: datetime | None = None  # the org's time when the extract window closed: what the flags are "as of"
    # objects whose extract failed past the retries: object -> the cause in one line (their watermarks are kept)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def pushable(self) -> bool:
        """Whether the run's flags may go to the CRM: not when the quota stopped the extract. A failed object does
        not stop the push: loaded before, it keeps its watermark and scoring is as of the oldest watermark
        (pipeline/score.py); never loaded, the signals reading it are not scored and the accounts whose level rests
        on them are held from the push (marts.signal_coverage): no flag from half a picture either way."""
        return not self.quota_stopped

    def failure_line(self) -> str:
        """One line naming each failed object and its cause ('' when none failed)."""
        if not self.failed:
            return ""
        causes = "; ".join(f"{obj}: {cause}" for obj, cause in self.failed.items())
        return f"not extracted (watermark kept, the next run reads it again): {causes}"


def entries(settings: Settings, objects: list[str] | None) -> list[registry.RegistryEntry]:
    """The registry entries to extract: `objects` (or CRM_RISK_EXTRACT_OBJECTS), all when empty; unknown names refused."""
    return registry.select(objects or settings.extract_objects)


def extract_all(
    ctx: RunContext,
    client: CrmClient,
    objects: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ExtractOutcome:
    """Extract every registry object changed since its watermark (or in [`since`, `until`), for backfills)."""
    settings = ctx.settings
    wanted = entries(settings, objects)
    client.describe(wanted[0].name)  # needed anyway (cached); its answer tells the org's clock
    org_now = client.server_now() - timedelta(seconds=settings.extract_safety_seconds)
    window_end = org_now if until is None else min(org_now, until)
    with warehouse.open_for(settings) as con:
        marks = {e.name: warehouse.get_watermark(con, e.name) for e in wanted}
    landing = storage.landing(
        settings, verify=True
    ).root  # a folder, or object storage (checked once: reachable)
    out = ExtractOutcome(as_of=org_now)  # a backfill of an old window still scores the accounts as of now
    calls_before = client.api_calls

    def start_of(entry: registry.RegistryEntry) -> datetime:
        mark = marks[entry.name]
        if since is not None:
            return since
        if mark is None:
            return EPOCH
        return mark - timedelta(seconds=settings.extract_lookback_seconds)

    def one(entry: registry.RegistryEntry) -> Path | str:
        manifest = extract_object(client, entry, start_of(entry), window_end, landing, ctx.run_id, settings)
        assert manifest.path is not None  # extract_object always sets where it landed
        save_rules(manifest.path, client.describe(entry.name))  # cached: no API call
        out.rows[entry.name] = manifest.rows
        if manifest.rows >= 10_000:
            memory.release()  # Arrow keeps the pages' buffers for reuse: give them back between big objects
        return manifest.path

    for entry, result in _concurrently(one, wanted, settings.extract_object_concurrency):
        if isinstance(result, QuotaExceeded):
            # Stop cleanly: what was extracted loads, the rest keeps its watermark for the next run.
            if out.quota_stopped is None:
                out.quota_stopped = f"{entry.name}: {result}"
                log.warning("API quota reached while extracting %s; stopping the extract cleanly", entry.name)
        elif isinstance(result, ConnectorError):
            # Past the retries: this object lands nothing (no manifest) and keeps its watermark; the others go on.
            out.failed[entry.name] = " ".join(str(result).split())
            log.error("%s not extracted, the run goes on without it: %s", entry.name, out.failed[entry.name])
        elif result is not None:
            out.manifests.append(result)
    out.rows = {e.name: out.rows[e.name] for e in wanted if e.name in out.rows}  # registry order
    out.api_calls = client.api_calls - calls_before
    if out.failed and not out.manifests and not out.quota_stopped:
        (first, cause), others = next(iter(out.failed.items())), len(out.failed) - 1
        more = (
            f" (and {others} other object{'s' * (others > 1)}: {', '.join(list(out.failed)[1:])})"
            if others
            else ""
        )
        raise ExtractFailed(f"no object extracted; {first}: {cause}{more}")
    log.info(
        "extracted %s rows in %d objects with %d API calls",
        sum(out.rows.values()),
        len(out.rows),
        out.api_calls,
    )
    return out


def _concurrently(
    one: Callable[[registry.RegistryEntry], Path | str], wanted: list[registry.RegistryEntry], workers: int
) -> Iterator[tuple[registry.RegistryEntry, Path | str | QuotaExceeded | ConnectorError | None]]:
    """`one(entry)` for every entry, up to `workers` at once; (entry, its manifest, or the quota's or the
    connector's error, or None when the quota stopped the extract before it began) in the registry's order.
    Any other error is raised once the objects under way have ended (none is started after it)."""
    stop = threading.Event()

    def guarded(entry: registry.RegistryEntry) -> Path | str | QuotaExceeded | ConnectorError | None:
        if stop.is_set():
            return None  # not begun: keeps its watermark
        try:
            return one(entry)
        except QuotaExceeded as exc:
            stop.set()
            return exc
        except ConnectorError as exc:
            return exc
        except BaseException:
            stop.set()
            raise

    if workers <= 1 or len(wanted) <= 1:
        for entry in wanted:
            yield entry, guarded(entry)
        return
    pool = ThreadPoolExecutor(min(workers, len(wanted)), thread_name_prefix="extract")
    try:
        futures = [(entry, pool.submit(guarded, entry)) for entry in wanted]
        for entry, future in futures:
            yield entry, future.result()
    finally:  # an error, an interrupt or a cancelled run: no object begins after it; those under way end
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _utc(value: datetime | str, name: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"backfill: {name} {value!r} is not a date or an ISO 8601 time (e.g. 2026-01-31 or "
                "2026-01-31T00:00:00Z)"
            ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def backfill_window(
    since: datetime | str, until: datetime | str | None = None, now: datetime | None = None
) -> tuple[datetime, datetime | None]:
    """The window as UTC datetimes (a naive time is UTC); ConfigError when it is empty or starts in the future."""
    start = _utc(since, "since")
    end = _utc(until, "until") if until is not None else None
    now = now or datetime.now(UTC)
    if start >= now:
        raise ConfigError(f"backfill: since ({start.isoformat()}) is in the future; nothing to pull yet")
    if end is not None and end <= start:
        raise ConfigError(f"backfill: until ({end.isoformat()}) must be after since ({start.isoformat()})")
    return start, end
