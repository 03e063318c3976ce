"""The backfill flow: pull again what changed in [since, until) for some objects, then score and push as nightly.

For a data engineer: restore rows lost from the warehouse, pick up a field added to the registry for old records,
or replay a window after fixing a quality rule. Rows merge by Id (latest SystemModstamp wins), so a backfill never
doubles a record; watermarks never move back, and a window that starts after an object's watermark does not move
it at all (the nightly run would skip the gap). Same steps, same one-writer concurrency, as the nightly sync.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow

from crm_risk.config import settings_from_parameters
from flows.sync import sync_once
from pipeline.extract import backfill_window

__all__ = ["backfill"]


@flow(name="backfill", log_prints=False)
def backfill(
    since: datetime,
    until: datetime | None = None,
    objects: list[str] | None = None,
    push: bool = True,
    settings: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Re-extract the records of `objects` (default: all) changed in [since, until) (default: until now), load,
    rebuild the risk and push what changed (`dry_run`: list what would be pushed, write nothing to the CRM)."""
    start, end = backfill_window(since, until)
    return sync_once(
        settings_from_parameters(settings), "backfill", objects, push, since=start, until=end, dry_run=dry_run
    )
