"""The backfill flow: pull again what changed in [since, until) for some objects, then score and push as nightly.

For a data engineer: restore rows lost from the warehouse, pick up a field added to the registry for old records,
or replay a window after fixing a quality rule. Rows merge by Id (latest SystemModstamp wins), so a backfill never
doubles a record; watermarks never move back, and a window that starts after an object's watermark does not move
it at all (the nightly run would skip the gap). Same steps, same one-writer concurrency, as the nightly sync.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow

from crm_risk.config import load_settings
from crm_risk.errors import ConfigError
from flows.nightly import sync_once

__all__ = ["backfill", "backfill_window"]


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


@flow(name="backfill", log_prints=False)
def backfill(
    since: datetime,
    until: datetime | None = None,
    objects: list[str] | None = None,
    push: bool = True,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Re-extract the records of `objects` (default: all) changed in [since, until) (default: until now), load,
    rebuild the risk and push what changed."""
    start, end = backfill_window(since, until)
    return sync_once(load_settings(**(settings or {})), "backfill", objects, push, since=start, until=end)
