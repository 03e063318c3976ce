"""The run summary: what a run did (its record), one markdown page per run (Prefect artifact), meta.runs closed."""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb

from crm_risk.errors import CrmRiskError
from expectations.gate import build_docs, docs_dir
from pipeline.context import RunContext, explain_failure, finish_run
from pipeline.extract import ExtractOutcome
from pipeline.load import run_quality
from pipeline.preview import preview_markdown

__all__ = ["RunRecord", "artifact_key", "close_run", "summary_markdown"]

log = logging.getLogger(__name__)


@dataclass
class RunRecord:
    """What one run's steps returned so far; a failed run keeps what its finished steps returned."""

    extracted: ExtractOutcome = field(default_factory=ExtractOutcome)
    loaded: dict[str, dict[str, int]] = field(default_factory=dict)
    levels: dict[str, int] = field(default_factory=dict)
    push: Any = None
    tasks: Any = None
    preview: Any = None  # a dry run's pipeline.preview.Preview
    coverage: Any = None  # pipeline.score.Coverage: signals not scored, accounts held from the push
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per step
    peak_rss_mb: dict[str, int] = field(default_factory=dict)  # the process's peak RSS after each step

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Record the wall time of a step and the process's peak RSS after it (kept when it fails): the step where
        the peak rises is the one that holds the most."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = round(time.perf_counter() - t0, 3)
            self.peak_rss_mb[step] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

    status: str = "failed"
    message: str = ""
    data_docs: str | None = None

    def settle(self) -> None:
        """The run got through every step: 'partial' when an object could not be extracted (the message names it),
        'stopped_quota' when the API quota cut a step short, else 'success'."""
        stopped = (
            self.extracted.quota_stopped
            or (self.push and self.push.quota_stopped)
            or (self.tasks and self.tasks.quota_stopped)
        )
        if self.extracted.failed:
            self.status = "partial"
            self.message = self.extracted.failure_line()
        else:
            self.status = "stopped_quota" if stopped else "success"

    def as_dict(self, run_id: str, api_calls: int) -> dict[str, Any]:
        """The flow's return value (the CLI prints it as JSON)."""
        return {
            "run_id": run_id,
            "status": self.status,
            "extracted": self.extracted.rows,
            "failed_objects": dict(self.extracted.failed),
            "loaded": self.loaded,
            "levels": self.levels,
            # the accepted level moves went out as events; the return value keeps their counts
            "push": {k: v for k, v in vars(self.push).items() if k != "moves"} if self.push else None,
            "tasks": self.tasks.__dict__ if self.tasks else None,
            "api_calls": api_calls,
            "data_docs": self.data_docs,
            "message": self.message or None,
            "seconds": self.seconds,
            "peak_rss_mb": self.peak_rss_mb,
            **({"preview": self.preview.as_dict()} if self.preview is not None else {}),
            **({"coverage": self.coverage.as_dict()} if self.coverage is not None else {}),
        }


def artifact_key(flow_label: str) -> str:
    """The Prefect artifact key of a flow's run summary (the nightly one keeps its first name, crm-risk-sync)."""
    return "crm-risk-sync" if flow_label == "nightly_sync" else f"crm-risk-{flow_label.replace('_', '-')}"


def close_run(ctx: RunContext, run: RunRecord, api_calls: int) -> str:
    """Build the run's Data Docs (when its steps collected their results), close the run's row in meta.runs and
    return its summary markdown (counts survive a failed load)."""
    if ctx.docs_results:
        _build_docs(ctx)
    dq = run_quality(ctx.settings, ctx.run_id)
    run.data_docs = dq["data_docs"]
    markdown = summary_markdown(
        ctx.run_id,
        run.extracted.rows,
        run.loaded or dq["loaded"],
        run.levels,
        run.push,
        api_calls,
        tasks=run.tasks,
        data_docs=run.data_docs,
        preview=run.preview,
        coverage=run.coverage,
        status=run.status,
        message=run.message,
    )
    counts = {"extracted": run.extracted.rows, "levels": run.levels, "failed": run.extracted.failed}
    try:
        finish_run(ctx, run.status, counts, api_calls, run.message)
    except (CrmRiskError, duckdb.Error, OSError) as exc:
        if run.status != "failed":
            raise
        # the warehouse itself failed (a full disk): the run's own error, being raised, says so; do not hide it
        log.warning(
            "run %s: could not record its end in meta.runs: %s",
            ctx.run_id,
            explain_failure(ctx.settings, exc),
        )
    return markdown


def _build_docs(ctx: RunContext) -> None:
    """The run's Data Docs from every step's results at once (one GX site build per run, not one per step).

    A site that cannot be written is logged, not raised: the run's data is loaded (or its own error is being
    raised), and its row in meta.runs must still be closed."""
    results, ctx.docs_results = ctx.docs_results or [], []
    try:
        build_docs(ctx.settings, results, ctx.run_id)
    except Exception as exc:
        log.error("run %s: could not build its Data Docs in %s: %s", ctx.run_id, docs_dir(ctx.settings), exc)


def summary_markdown(
    run_id: str,
    extracted: dict[str, int],
    loaded: dict[str, dict[str, int]],
    levels: dict[str, int],
    push: Any,
    api_calls: int,
    notes: list[str] | None = None,
    tasks: Any = None,
    data_docs: str | None = None,
    preview: Any = None,
    coverage: Any = None,
    status: str = "",
    message: str = "",
) -> str:
    """The run's status (and its failure, first), records per object, the levels (or why nothing was scored), flags
    raised and cleared, records pushed and rejected, owner tasks, API calls used; the signals not scored and the
    accounts held from the push; a dry run's push preview."""
    lines = [f"# CRM risk sync `{run_id}`", ""]
    if status:
        lines += [f"**Status: {status}**" + (f": {message}" if message else ""), ""]
    lines += [
        "## Records per object",
        "",
        "| object | extracted | loaded | quarantined | tombstones |",
        "|---|---:|---:|---:|---:|",
    ]
    for obj in sorted(set(extracted) | set(loaded)):
        c = loaded.get(obj, {})
        lines.append(
            f"| {obj} | {extracted.get(obj, 0)} | {c.get('loaded', 0)} | {c.get('quarantined', 0)} "
            f"| {c.get('tombstones', 0)} |"
        )
    if data_docs:
        lines += [
            "",
            f"**Data Docs** (validation results per object, quarantined rows by expectation): "
            f"[{data_docs}](file://{data_docs})",
        ]
    lines += ["", "## Risk", ""]
    if levels:
        lines += ["| level | accounts |", "|---|---:|"]
        lines += [f"| {lvl} | {levels.get(lvl, 0)} |" for lvl in ("Red", "Amber", "Green")]
    else:  # zero counts would read as "every account is fine"
        lines.append(
            "Not scored: the run stopped before scoring (see the status above); the CRM keeps its flags."
        )
    if coverage is not None and coverage.not_scored:
        lines += ["", "## Signals not scored", "", "| signal | why |", "|---|---|"]
        lines += [f"| {sid} | {why} |" for sid, why in coverage.not_scored.items()]
        if held := coverage.held_line():
            lines += ["", f"**{held}**"]
    if push is not None:
        lines += [
            "",
            "## Push to the CRM",
            "",
            # raised: a level the CRM accepted moved up (none/Green -> Amber/Red, Amber -> Red); cleared: back to Green
            f"- flags raised (up to Amber or Red): {push.raised}, cleared (back to Green): {push.cleared}",
            f"- accounts to update: {push.pending}: sent and accepted {push.updated}, rejected by the CRM "
            f"{push.rejected}, not sent (the next run sends them) {push.not_sent}",
        ]
        if push.reconciled:
            lines.append(f"- updates of an interrupted run found in the CRM and logged: {push.reconciled}")
        if push.errors:
            lines.append(
                "- rejections by error: " + ", ".join(f"{k} {v}" for k, v in sorted(push.errors.items()))
            )
        if push.quota_stopped:
            lines.append(f"- stopped by the API quota: {push.quota_stopped}")
    if tasks is not None:
        lines += [
            "",
            "## Owner tasks",
            "",
            f"- new: {tasks.pending}, created: {tasks.created}, already in the CRM (upserted): {tasks.updated}, "
            f"rejected: {tasks.rejected}, to retry: {tasks.retry}",
            f"- reconciled after an interrupted run: {tasks.reconciled}, sent again: {tasks.resent}, "
            f"adopted from the CRM: {tasks.adopted}",
            f"- closed because the signal cleared: {tasks.closed}, close rejected: {tasks.close_rejected}",
        ]
        if tasks.errors:
            lines.append("- task errors: " + ", ".join(f"{k} {v}" for k, v in sorted(tasks.errors.items())))
    if preview is not None:
        lines += ["", preview_markdown(preview)]
    lines += ["", f"**API calls used:** {api_calls}"]
    for note in notes or []:
        lines += ["", f"> {note}"]
    return "\n".join(lines) + "\n"
