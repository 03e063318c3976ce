"""Score step: rebuild staging, history, signals and risk in the warehouse, as of the instant every object is loaded."""

from __future__ import annotations

import logging
from datetime import datetime

import duckdb

from connectors import warehouse
from crm_risk.config import Settings
from pipeline.context import RunContext
from pipeline.extract import entries
from transforms.runner import run_transforms

__all__ = ["complete_as_of", "transform"]

log = logging.getLogger(__name__)


def complete_as_of(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: datetime) -> datetime:
    """`as_of`, or the oldest watermark of the configured objects when earlier: the instant up to which every object
    is loaded. A backfill of some objects (or a run stopped by the quota) then scores the accounts on a consistent
    picture, not on today's cases next to yesterday's activities."""
    names = [e.name for e in entries(settings, None)]
    marks = [warehouse.get_watermark(con, n) for n in names]
    known = [m for m in marks if m is not None]
    return min([as_of, *known]) if len(known) == len(marks) else as_of


def transform(ctx: RunContext, as_of: datetime | None = None) -> dict[str, int]:
    """Rebuild staging, history and marts, scored as of the data's complete instant; return the risk levels."""
    with warehouse.open_for(ctx.settings) as con:
        at = complete_as_of(con, ctx.settings, as_of or ctx.started_at)
        if at != (as_of or ctx.started_at):
            log.info("scoring as of %s, the instant up to which every object is loaded", at.isoformat())
        if ctx.failed_objects:  # their watermarks did not move: `at` is no later than the oldest of them
            log.warning("scoring without this run's %s (not extracted)", ", ".join(ctx.failed_objects))
        run_transforms(con, as_of=at, run_id=ctx.run_id)
        rows = con.execute("select level, count(*) from marts.account_risk group by level").fetchall()
    return {str(level): int(n) for level, n in rows}
