"""The run summary: what a run did (its record), one markdown page per run (Prefect artifact), meta.runs closed."""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pipeline.context import RunContext, finish_run
from pipeline.extract import ExtractOutcome
from pipeline.load import run_quality
from pipeline.preview import preview_markdown

__all__ = ["RunRecord", "artifact_key", "close_run", "summary_markdown"]


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
        """The run got through every step: 'stopped_quota' when the API quota cut a step short, else 'success'."""
        stopped = (
            self.extracted.quota_stopped
            or (self.push and self.push.quota_stopped)
            or (self.tasks and self.tasks.quota_stopped)
        )
        self.status = "stopped_quota" if stopped else "success"

    def as_dict(self, run_id: str, api_calls: int) -> dict[str, Any]:
        """The flow's return value (the CLI prints it as JSON)."""
        return {
            "run_id": run_id,
            "status": self.status,
            "extracted": self.extracted.rows,
            "loaded": self.loaded,
            "levels": self.levels,
            # the accepted level moves went out as events; the return value keeps their counts
            "push": {k: v for k, v in vars(self.push).items() if k != "moves"} if self.push else None,
            "tasks": self.tasks.__dict__ if self.tasks else None,
            "api_calls": api_calls,
            "data_docs": self.data_docs,
            "seconds": self.seconds,
            "peak_rss_mb": self.peak_rss_mb,
            **({"preview": self.preview.as_dict()} if self.preview is not None else {}),
            **({"coverage": self.coverage.as_dict()} if self.coverage is not None else {}),
        }


def artifact_key(flow_label: str) -> str:
    """The Prefect artifact key of a flow's run summary (the nightly one keeps its first name, crm-risk-sync)."""
    return "crm-risk-sync" if flow_label == "nightly_sync" else f"crm-risk-{flow_label.replace('_', '-')}"


def close_run(ctx: RunContext, run: RunRecord, api_calls: int) -> str:
    """Close the run's row in meta.runs and return its summary markdown (counts survive a failed load)."""
    dq = run_quality(ctx.settings, ctx.run_id)
    run.data_docs = dq["data_docs"]
    markdown = summary_markdown(
        ctx.run_id,
        run.extracted.rows,
        run.loaded or dq["loaded"],
        run.levels,
        run.push,
        api_calls,
        [run.message] if run.message else None,
        tasks=run.tasks,
        data_docs=run.data_docs,
        preview=run.preview,
        coverage=run.coverage,
    )
    counts = {"extracted": run.extracted.rows, "levels": run.levels}
    finish_run(ctx, run.status, counts, api_calls, run.message)
    return markdown


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
) -> str:
    """Records per object, flags raised and cleared, records pushed and rejected, owner tasks, API calls used;
    the signals not scored and the accounts held from the push; a dry run's push preview."""
    lines = [
        f"# CRM risk sync `{run_id}`",
        "",
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
    lines += ["", "## Risk", "", "| level | accounts |", "|---|---:|"]
    lines += [f"| {lvl} | {levels.get(lvl, 0)} |" for lvl in ("Red", "Amber", "Green")]
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
            f"- flags raised: {push.raised}, cleared: {push.cleared}",
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
