"""The tasks of a sync run and `sync_once`, the run both the nightly and the backfill flows make."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from connectors.salesforce.client import CrmClient, connect
from crm_risk.config import Settings
from flows.run_events import emit_run_events
from pipeline import context, extract, load, owner_tasks, preview, report, score
from pipeline.push import push_flags

__all__ = ["sync_once"]

connect_task = task(name="connect", cache_policy=NO_CACHE)(connect)
extract_task = task(name="extract", cache_policy=NO_CACHE)(extract.extract_all)
load_task = task(name="load", cache_policy=NO_CACHE)(load.load_all)
transform_task = task(name="transform", cache_policy=NO_CACHE)(score.transform)
push_task = task(name="push", cache_policy=NO_CACHE)(push_flags)
tasks_task = task(name="owner-tasks", cache_policy=NO_CACHE)(owner_tasks.push_tasks)
preview_task = task(name="preview", cache_policy=NO_CACHE)(preview.dry_run)


def sync_once(
    cfg: Settings,
    flow_label: str,
    objects: list[str] | None = None,
    push: bool = True,
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    ingest: Callable[[context.RunContext, CrmClient, report.RunRecord], None] | None = None,
) -> dict[str, Any]:
    """One run inside a flow: extract (since the watermarks, or [since, until)) -> load -> transform -> push.

    `dry_run`: the warehouse is updated as usual but nothing is written to the CRM nor marked as pushed; the run
    lists what the push would write instead (pipeline/preview.py). `ingest`: the extract and load in one step of
    the caller's (a backfill's windows, flows/backfill.py), filling `run.extracted` and `run.loaded`.
    """
    ctx = context.begin_run(cfg, flow_label)  # a full, read-only or locked warehouse: one line from connect()
    ctx.docs_results = []  # the load's and the payload's results: one Data Docs build, at the run's close
    client: CrmClient | None = None
    run = report.RunRecord()
    failure: Exception | None = None
    try:
        with run.timed("connect"):  # inside: a refused login closes the run as failed, with its cause
            client = connect_task(cfg)
        if ingest is not None:
            with run.timed("extract_load"):
                ingest(ctx, client, run)
            ctx.failed_objects = sorted(run.extracted.failed)
        else:
            with run.timed("extract"):
                run.extracted = extract_task(ctx, client, objects, since, until)
            ctx.failed_objects = sorted(run.extracted.failed)  # for the steps after: scoring, the report
            with run.timed("load"):
                run.loaded = load_task(ctx, run.extracted.manifests)
        with run.timed("score"):
            scored = transform_task(ctx, run.extracted.as_of)
        run.levels, run.coverage = scored.levels, scored.coverage
        if dry_run:
            with run.timed("preview"):
                run.preview = preview_task(ctx)
        elif push and run.extracted.pushable:
            with run.timed("push"):
                run.push = push_task(ctx, client)
            with run.timed("owner_tasks"):
                run.tasks = None if run.push.quota_stopped else tasks_task(ctx, client)
        run.settle()
    except Exception as exc:
        failure = exc
        explained = context.explain_failure(cfg, exc)
        run.message = f"{type(explained).__name__}: {explained}"
        if explained is exc:
            raise
        raise explained from exc
    finally:
        calls = (client.api_calls if client else 0) + run.extracted.remote_api_calls
        markdown = report.close_run(ctx, run, calls)
        create_markdown_artifact(
            markdown, key=report.artifact_key(flow_label), description=f"run {ctx.run_id}"
        )
        emit_run_events(ctx, run, calls, failure)  # for users' automations; never raises
    logger = get_run_logger()
    if run.status == "partial":
        logger.warning("run %s partial: %s", ctx.run_id, run.message)
    logger.info("run %s %s: %d API calls", ctx.run_id, run.status, calls)
    return run.as_dict(ctx.run_id, calls)
