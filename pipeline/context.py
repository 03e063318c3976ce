"""A run's context: its id, flow, start and settings, and its row in meta.runs (opened and closed here)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors import warehouse
from crm_risk.config import Settings
from pipeline.retention import prune_landing

__all__ = ["RunContext", "begin_run", "finish_run"]

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    """What every step of one run needs to know."""

    run_id: str
    flow: str
    started_at: datetime
    settings: Settings


def begin_run(settings: Settings, flow: str, run_id: str | None = None) -> RunContext:
    """Close the runs whose process died (status `died`), register this one in meta.runs, return its context."""
    ctx = RunContext(run_id or uuid.uuid4().hex[:16], flow, datetime.now(UTC), settings)
    with warehouse.open_for(settings) as con:
        warehouse.ensure_schemas(con)
        for dead, message in warehouse.mark_dead_runs(con):
            log.warning("run %s %s", dead, message)
        warehouse.start_run(con, ctx.run_id, flow)
    return ctx


def finish_run(
    ctx: RunContext, status: str, counts: dict[str, Any], api_calls: int, message: str = ""
) -> None:
    """Close the run's row in meta.runs, then prune old runs' landing files (CRM_RISK_LANDING_KEEP_RUNS)."""
    with warehouse.open_for(ctx.settings) as con:
        warehouse.finish_run(con, ctx.run_id, status, counts, api_calls, message)
        live = warehouse.live_runs(con)
    prune_landing(ctx.settings, keep_also=live)
