"""What `sync`, `backfill` and `refresh` print when they end: a few lines a person reads (`--json` for machines).

print(run_summary("Nightly sync", result, seconds=41.2))
"""

from __future__ import annotations

from typing import Any

__all__ = ["refresh_summary", "run_summary"]

_STATUS = {
    "success": "done",
    "stopped_quota": "stopped by the API quota (the next run resumes where it stopped)",
    "failed": "FAILED",
}


def _n(value: Any) -> str:
    return f"{int(value or 0):,}"


def run_summary(title: str, result: dict[str, Any], seconds: float) -> str:
    """A sync or backfill run (the flow's return value) in plain lines."""
    status = str(result.get("status"))
    lines = [
        f"{title} {result.get('run_id')}: {_STATUS.get(status, status)} in {seconds:.1f}s, "
        f"{_n(result.get('api_calls'))} API calls"
    ]
    extracted: dict[str, int] = result.get("extracted") or {}
    loaded: dict[str, dict[str, int]] = result.get("loaded") or {}
    quarantined = sum(int(c.get("quarantined", 0)) for c in loaded.values())
    pulled = ", ".join(f"{obj} {_n(n)}" for obj, n in sorted(extracted.items()) if n) or "nothing changed"
    lines.append(
        f"  pulled: {pulled}"
        + (f"; {_n(quarantined)} records quarantined (meta.quarantine_open)" if quarantined else "")
    )
    levels = result.get("levels") or {}
    if levels:
        lines.append(
            f"  risk: {_n(levels.get('Red'))} Red, {_n(levels.get('Amber'))} Amber, {_n(levels.get('Green'))} Green "
            "customer accounts"
        )
    cover = result.get("coverage") or {}
    if cover.get("not_scored"):
        lines.append(f"  not scored: {', '.join(sorted(cover['not_scored']))} (`crm-risk flags` says why)")
    preview = result.get("preview")
    if preview is not None:
        lines.append(
            f"  dry run: {_n(preview.get('accounts'))} Accounts would be updated, "
            f"{_n(len(preview.get('tasks') or []))} owner Tasks created or closed; nothing was written to the CRM"
        )
    push = result.get("push")
    if push:
        lines.append(
            f"  written to the CRM: {_n(push.get('updated'))} Account updates"
            + (f", {_n(push.get('rejected'))} rejected" if push.get("rejected") else "")
            + (f", {_n(push.get('not_sent'))} not sent (next run)" if push.get("not_sent") else "")
            + " (every result in sync.push_log)"
        )
    elif preview is None and status == "success":
        lines.append("  nothing written to the CRM (--no-push)")
    tasks = result.get("tasks")
    if tasks:
        lines.append(
            f"  owner Tasks: {_n(tasks.get('created'))} created, {_n(tasks.get('closed'))} closed"
            + (f", {_n(tasks.get('rejected'))} rejected" if tasks.get("rejected") else "")
        )
    if cover.get("held_accounts"):
        objects = ", ".join(cover.get("missing_objects") or [])
        lines.append(
            f"  held: {_n(cover['held_accounts'])} accounts not pushed until {objects} are loaded "
            "(their level rests on signals not scored yet)"
        )
    if steps := result.get("seconds"):
        lines.append("  time: " + ", ".join(f"{k.replace('_', ' ')} {v:.1f}s" for k, v in steps.items()))
    if result.get("data_docs"):
        lines.append(f"  data docs: {result['data_docs']}")
    lines.append("  next: `crm-risk flags` (the flagged accounts and why); `--json` prints this run as JSON")
    return "\n".join(lines)


def refresh_summary(result: dict[str, Any], seconds: float) -> str:
    """An account refresh (flows.refresh.account_refresh's return value) in plain lines."""
    status = str(result.get("status"))
    levels = result.get("levels_scored") or {}
    pulled = ", ".join(f"{k} {_n(v)}" for k, v in (result.get("extracted") or {}).items() if v) or "nothing"
    return "\n".join(
        [
            f"Account refresh {result.get('run_id')}: {_STATUS.get(status, status)} in {seconds:.1f}s, "
            f"{_n(result.get('api_calls'))} API calls",
            f"  accounts refreshed: {_n(result.get('accounts'))}; pulled: {pulled}",
            f"  risk: {_n(levels.get('Red'))} Red, {_n(levels.get('Amber'))} Amber, {_n(levels.get('Green'))} Green",
            f"  written to the CRM: {_n(result.get('flags_pushed'))} Account updates"
            + (f", {_n(result.get('flags_rejected'))} rejected" if result.get("flags_rejected") else "")
            + f"; owner Tasks {_n(result.get('tasks_created'))} created, {_n(result.get('tasks_closed'))} closed",
            "  next: `crm-risk flags --account <Id>`; `--json` prints this run as JSON",
        ]
    )
