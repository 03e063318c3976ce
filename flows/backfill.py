"""The backfill flow: pull again what changed in [since, until) for some objects, then score and push as nightly.

For a data engineer: restore rows lost from the warehouse, pick up a field added to the registry for old records,
or replay a window after fixing a quality rule. Rows merge by Id (latest SystemModstamp wins), so a backfill never
doubles a record; watermarks never move back, and a window that starts after an object's watermark does not move
it at all (the nightly run would skip the gap).

The span is cut into windows (`window`, CRM_RISK_BACKFILL_WINDOW, default 7d); up to `concurrency`
(CRM_RISK_BACKFILL_CONCURRENCY, default 4) window extracts run at once as task runs, on threads or, with
CRM_RISK_DASK_ADDRESS, on a Dask cluster. Loads stay one at a time, in window order per object, each recording its
window (meta.backfill_windows): a rerun with the same arguments resumes where an interrupted one stopped
(pipeline/backfill.py, docs/backfill.md). Scoring and the push are the nightly's, over the whole org.
"""

from __future__ import annotations

import queue
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

from prefect import flow, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from connectors.salesforce.client import CrmClient
from crm_risk import progress
from crm_risk.config import Settings, settings_from_parameters
from crm_risk.errors import ConfigError, ConnectorError, DataQualityError, QuotaExceeded
from flows.sync import sync_once
from pipeline import backfill as windows
from pipeline.context import RunContext
from pipeline.extract import ExtractFailed, ExtractOutcome, backfill_window
from pipeline.report import RunRecord

__all__ = ["backfill", "window_runner"]

PROGRESS_KEY = "crm-risk-backfill-progress"

extract_window_task = task(
    name="extract-window", cache_policy=NO_CACHE, task_run_name="extract-{window.object}-{window.tag}"
)(windows.extract_window)


def window_runner(settings: Settings, concurrency: int) -> TaskRunner[Any]:
    """Where window extracts run: a Dask cluster when CRM_RISK_DASK_ADDRESS is set, else `concurrency` threads."""
    if settings.dask_address:
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError:
            raise ConfigError(
                "CRM_RISK_DASK_ADDRESS is set but prefect-dask is not installed: install the 'dask' extra "
                "(uv sync --extra dask, or pip install 'crm-risk[dask]')"
            ) from None
        return DaskTaskRunner(address=settings.dask_address)
    return ThreadPoolTaskRunner(max_workers=concurrency)


def _ingest(
    objects: list[str] | None,
    since: datetime,
    until: datetime | None,
    size: str,
    concurrency: int,
    restart: bool,
    ctx: RunContext,
    client: CrmClient,
    run: RunRecord,
) -> None:
    """Plan the windows, extract them `concurrency` at a time, load each as soon as it is next in its object's
    order; progress on the terminal (records) and in a Prefect progress artifact (windows)."""
    plan = windows.plan_backfill(ctx, client, objects, since, until, windows.window_size(size), restart)
    run.extracted = ExtractOutcome(as_of=plan.as_of)
    loads = windows.WindowLoads(ctx, plan)
    total = len(plan.windows)
    skipped = total - len(plan.todo)

    def pct() -> float:
        return round(100.0 * (skipped + loads.windows_loaded) / total, 1) if total else 100.0

    artifact = create_progress_artifact(
        pct(), key=PROGRESS_KEY, description=f"backfill {plan.key} (run {ctx.run_id}): {total} windows"
    )
    assert isinstance(artifact, UUID)  # called from a sync flow: the id, not a coroutine
    records = windows.count_todo(client, plan) if progress.active() and plan.todo else None
    done: queue.Queue[PrefectFuture[Any]] = queue.Queue()
    inflight: dict[PrefectFuture[Any], windows.Window] = {}
    todo = list(plan.todo)
    with (
        progress.overall(
            f"{len(plan.objects)} objects, {len(plan.todo)}/{total} windows",
            "backfill",
            total=records,
            absorb=("extract", "validate", "load"),
        ) as advance,
        window_runner(ctx.settings, concurrency) as runner,
    ):

        def submit() -> None:
            while todo and len(inflight) < concurrency and not run.extracted.quota_stopped:
                w = todo.pop(0)
                if (
                    w.object in loads.held
                ):  # an earlier window failed: the rerun takes it from there, in order
                    continue
                params = {"settings": ctx.settings, "window": w, "run_id": ctx.run_id}
                future = runner.submit(extract_window_task, params)  # type: ignore[arg-type]
                inflight[future] = w
                future.add_done_callback(done.put)

        submit()
        while inflight:
            future = done.get()
            w = inflight.pop(future)
            try:
                landed: windows.Landed = future.result()
            except QuotaExceeded as exc:  # stop submitting; what landed loads, the rest is the rerun's
                run.extracted.quota_stopped = f"{w.object}: {exc}"
                loads.failed(w, "API quota")
            except ConnectorError as exc:
                cause = " ".join(str(exc).split())
                run.extracted.failed.setdefault(w.object, f"window from {w.start.isoformat()}: {cause}")
                loads.failed(w, cause)
            else:
                run.extracted.remote_api_calls += landed.api_calls
                advance(landed.rows)
                if loads.landed(landed):
                    update_progress_artifact(artifact, pct())
            submit()
    windows.close_window_clients()
    run.extracted.rows, run.loaded = loads.rows, loads.counts
    if loads.critical:
        raise DataQualityError(
            "; ".join(loads.critical)
            + ". Windows refused by the gate and the later windows of their objects were "
            "not loaded; rerun the same backfill once fixed"
        )
    if run.extracted.failed and not loads.windows_loaded and plan.todo and not run.extracted.quota_stopped:
        raise ExtractFailed(f"no window extracted; {run.extracted.failure_line()}")


@flow(name="backfill", log_prints=False)
def backfill(
    since: datetime,
    until: datetime | None = None,
    objects: list[str] | None = None,
    push: bool = True,
    settings: dict[str, Any] | None = None,
    dry_run: bool = False,
    window: str | None = None,
    concurrency: int | None = None,
    restart: bool = False,
) -> dict[str, Any]:
    """Re-extract the records of `objects` (default: all) changed in [since, until) (default: until now) in
    windows of `window` (default CRM_RISK_BACKFILL_WINDOW), `concurrency` at a time (default
    CRM_RISK_BACKFILL_CONCURRENCY), load, rebuild the risk and push what changed (`dry_run`: list what would be
    pushed, write nothing to the CRM). Windows already loaded by the same backfill are skipped (`restart`: all
    of them extracted again)."""
    start, end = backfill_window(since, until)
    cfg = settings_from_parameters(settings)
    size = window or cfg.backfill_window
    windows.window_size(size)  # a bad size fails before the run starts
    n = concurrency or cfg.backfill_concurrency
    if n < 1:
        raise ConfigError(f"backfill: concurrency must be at least 1 (got {n})")
    ingest = partial(_ingest, objects, start, end, size, n, restart)
    return sync_once(cfg, "backfill", objects, push, since=start, until=end, dry_run=dry_run, ingest=ingest)
