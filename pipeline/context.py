"""A run's context: its id, flow, start and settings, and its row in meta.runs (opened and closed here)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from connectors import warehouse
from connectors.warehouse.errors import explain
from crm_risk.config import Settings
from pipeline.retention import prune_landing

__all__ = ["RunContext", "begin_run", "explain_failure", "finish_run"]

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    """What every step of one run needs to know."""

    run_id: str
    flow: str
    started_at: datetime
    settings: Settings
    # objects whose extract failed this run (their watermarks kept): set after the extract, read by later steps
    failed_objects: list[str] = field(default_factory=list)
    # a list: the steps' Great Expectations results, whose Data Docs the run builds once, when it closes
    # (pipeline/report.py); None: each step builds its own
    docs_results: list[Any] | None = None


def begin_run(settings: Settings, flow: str, run_id: str | None = None) -> RunContext:
    """Close the runs whose process died (status `died`), register this one in meta.runs, return its context."""
    ctx = RunContext(run_id or uuid.uuid4().hex[:16], flow, datetime.now(UTC), settings)
    try:
        with warehouse.open_for(settings) as con:
            warehouse.ensure_schemas(con)
            for dead, message in warehouse.mark_dead_runs(con):
                log.warning("run %s %s", dead, message)
            warehouse.start_run(con, ctx.run_id, flow)
    except duckdb.Error as exc:  # a full or read-only warehouse: one line saying what to do
        explained = explain_failure(settings, exc)
        if explained is exc:
            raise
        raise explained from exc
    return ctx


def finish_run(
    ctx: RunContext, status: str, counts: dict[str, Any], api_calls: int, message: str = ""
) -> None:
    """Close the run's row in meta.runs, then prune old runs' landing files (CRM_RISK_LANDING_KEEP_RUNS)."""
    with warehouse.open_for(ctx.settings) as con:
        warehouse.finish_run(con, ctx.run_id, status, counts, api_calls, message)
        live = warehouse.live_runs(con)
    prune_landing(ctx.settings, keep_also=live)


def explain_failure(settings: Settings, exc: BaseException) -> BaseException:
    """The error to report for a failed step: a full or read-only warehouse (or landing area: a file error outside
    DuckDB) as one line saying what to do (a WarehouseError), anything else as it is."""
    if isinstance(exc, OSError) and not isinstance(exc, duckdb.Error):
        landing = explain(exc, str(settings.landing_dir), "the landing area", "CRM_RISK_LANDING_DIR")
        if landing is not None:
            return landing
    return explain(exc, str(settings.warehouse_path)) or exc
