"""The run summary: one markdown page per run (Prefect artifact, CLI output)."""

from __future__ import annotations

from typing import Any

__all__ = ["summary_markdown"]


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
) -> str:
    """Records per object, flags raised and cleared, records pushed and rejected, owner tasks, API calls used."""
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
    if push is not None:
        lines += [
            "",
            "## Push to the CRM",
            "",
            f"- flags raised: {push.raised}, cleared: {push.cleared}",
            f"- accounts to update: {push.pending}, updated: {push.updated}, rejected: {push.rejected}",
        ]
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
    lines += ["", f"**API calls used:** {api_calls}"]
    for note in notes or []:
        lines += ["", f"> {note}"]
    return "\n".join(lines) + "\n"
