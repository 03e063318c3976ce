"""The nightly sync flow: extract -> load -> transform -> push -> summary artifact."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from connectors.salesforce.client import CrmClient, connect
from crm_risk.config import Settings, load_settings
from flows import quality, steps
from flows import tasks as owner_tasks
from flows.report import summary_markdown

__all__ = ["nightly_sync", "sync_once"]

connect_task = task(name="connect", cache_policy=NO_CACHE)(connect)
extract_task = task(name="extract", cache_policy=NO_CACHE)(steps.extract_all)
load_task = task(name="load", cache_policy=NO_CACHE)(steps.load_all)
transform_task = task(name="transform", cache_policy=NO_CACHE)(steps.transform)
push_task = task(name="push", cache_policy=NO_CACHE)(steps.push_flags)
tasks_task = task(name="owner-tasks", cache_policy=NO_CACHE)(owner_tasks.push_tasks)


def sync_once(
    cfg: Settings,
    flow_label: str,
    objects: list[str] | None = None,
    push: bool = True,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """One run inside a flow: extract (since the watermarks, or [since, until)) -> load -> transform -> push."""
    logger = get_run_logger()
    ctx = steps.begin_run(cfg, flow_label)
    client: CrmClient = connect_task(cfg)
    status, message, loaded, levels, outcome, tasks = "failed", "", {}, {}, None, None
    extracted = steps.ExtractOutcome()
    try:
        extracted = extract_task(ctx, client, objects, since, until)
        loaded = load_task(ctx, extracted.manifests)
        levels = transform_task(ctx, extracted.as_of)
        if push and not extracted.quota_stopped:
            outcome = push_task(ctx, client)
            tasks = None if outcome.quota_stopped else tasks_task(ctx, client)
        stopped = (
            extracted.quota_stopped or (outcome and outcome.quota_stopped) or (tasks and tasks.quota_stopped)
        )
        status = "stopped_quota" if stopped else "success"
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        dq = quality.run_quality(cfg, ctx.run_id)  # counts survive a failed load; the Data Docs link
        md = summary_markdown(
            ctx.run_id,
            extracted.rows,
            loaded or dq["loaded"],
            levels,
            outcome,
            client.api_calls,
            [message] if message else None,
            tasks=tasks,
            data_docs=dq["data_docs"],
        )
        key = "crm-risk-sync" if flow_label == "nightly_sync" else f"crm-risk-{flow_label.replace('_', '-')}"
        create_markdown_artifact(md, key=key, description=f"run {ctx.run_id}")
        steps.finish_run(
            ctx, status, {"extracted": extracted.rows, "levels": levels}, client.api_calls, message
        )
    logger.info("run %s %s: %d API calls", ctx.run_id, status, client.api_calls)
    return {
        "run_id": ctx.run_id,
        "status": status,
        "extracted": extracted.rows,
        "loaded": loaded,
        "levels": levels,
        "push": outcome.__dict__ if outcome else None,
        "tasks": tasks.__dict__ if tasks else None,
        "api_calls": client.api_calls,
        "data_docs": dq["data_docs"],
    }


@flow(name="nightly-sync", log_prints=False)
def nightly_sync(
    objects: list[str] | None = None,
    push: bool = True,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Pull what changed in the CRM, rebuild account history and risk, write changed flags back."""
    return sync_once(load_settings(**(settings or {})), "nightly_sync", objects, push)
