"""Push preview (a dry run): what a push would write to the CRM now, read from the push's own views; writes nothing.

Per Account the pushed fields whose value would change (the CRM's value as of this run's extract -> the new one),
the owner Tasks that would be created or closed, and the API calls the push would cost. It reads the same views
the push reads (sync.account_push_pending, sync.owner_task_pending, sync.owner_task_close) and stores no ledger
intent and no push state, so a real push afterwards sends exactly what the preview listed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from connectors import warehouse
from connectors.salesforce.push import BATCH, BULK_JOB_ROWS
from crm_risk.config import Settings
from expectations.gate import check_payload
from pipeline.context import RunContext
from transforms.statements import statement

__all__ = [
    "FieldChange",
    "Preview",
    "TaskChange",
    "build_preview",
    "dry_run",
    "estimate_calls",
    "preview_markdown",
    "preview_table",
]

# a Bulk 2.0 update job: create, upload, upload complete, at least one status poll, successful and failed results
BULK_JOB_CALLS = 6


@dataclass(frozen=True)
class FieldChange:
    """One pushed field of one Account that would change: the CRM's value -> the new one."""

    account_id: str
    account_name: str
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class TaskChange:
    """One owner Task that would be created or closed (action 'create' | 'close')."""

    action: str
    account_id: str
    account_name: str
    subject: str
    task_key: str


@dataclass
class Preview:
    """What a push would write now; `reasons`: each updated Account's new Risk_Reasons__c (why it changes)."""

    accounts: int = 0
    changes: list[FieldChange] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    tasks: list[TaskChange] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The preview as plain values (the flow's return value)."""
        return {
            "accounts": self.accounts,
            "changes": [asdict(c) for c in self.changes],
            "reasons": self.reasons,
            "tasks": [asdict(t) for t in self.tasks],
            "api_calls": self.calls,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preview:
        """The preview from `as_dict`'s values (e.g. a flow's return value)."""
        return cls(
            d["accounts"],
            [FieldChange(**c) for c in d["changes"]],
            dict(d["reasons"]),
            [TaskChange(**t) for t in d["tasks"]],
            dict(d["api_calls"]),
        )


def _calls_for_updates(rows: int, bulk_threshold: int) -> int:
    """Calls of push_updates for `rows` records: Collections 200 a call, Bulk 2.0 jobs above the threshold."""
    if rows > bulk_threshold:
        return math.ceil(rows / BULK_JOB_ROWS) * BULK_JOB_CALLS
    return math.ceil(rows / BATCH)


def estimate_calls(accounts: int, creates: int, closes: int, bulk_threshold: int) -> dict[str, int]:
    """API calls a push would cost without retries (describes are cached from the extract, so not counted)."""
    calls = {
        "account_updates": _calls_for_updates(accounts, bulk_threshold),
        "task_creates": math.ceil(creates / BATCH),  # upserts on the Task key: always Collections
        "task_closes": _calls_for_updates(closes, bulk_threshold),
    }
    calls["total"] = sum(calls.values())
    return calls


def _same(field_key: str, old: Any, new: Any) -> bool:
    """Equal as the push compares them (meta.risk_payload_hash: the score rounded, blanks as empty)."""
    if field_key == "score":
        old = None if old is None or old != old else round(float(old))
        new = None if new is None or new != new else round(float(new))
    return bool((old or None) == (new or None))


def _value(v: Any) -> Any:
    """A value as the CRM would show it: NaN as None, whole floats as ints."""
    if isinstance(v, float):
        if v != v:
            return None
        if v.is_integer():
            return int(v)
    return v


def build_preview(settings: Settings) -> Preview:
    """Read what the push would send now (Accounts, owner Tasks) and estimate its API calls; writes nothing."""
    out = Preview()
    with warehouse.open_for(settings, read_only=True) as con:
        cur = con.execute(statement("sync/preview/accounts"))
        names = [d[0] for d in cur.description]
        accounts = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        creates = con.execute(statement("sync/preview/task_creates")).fetchall()
        closes = con.execute(statement("sync/preview/task_closes")).fetchall()
    for row in accounts:
        account_id, name = str(row["Id"]), str(row["account_name"] or "")
        # the fields the CRM holds a value of (crm_risk_*): computed-at moves every run, it is no change
        for key, sf_field in settings.push_fields.items():
            crm_column = f"crm_risk_{key}"
            if crm_column not in row or sf_field not in row:
                continue
            old, new = _value(row[crm_column]), _value(row[sf_field])
            if not _same(key, old, new):
                out.changes.append(FieldChange(account_id, name, sf_field, old, new))
        reasons_field = settings.push_fields.get("reasons", "")
        out.reasons[account_id] = str(_value(row.get(reasons_field)) or "")
    out.accounts = len(accounts)
    out.tasks = [TaskChange("create", a, n or "", s or "", k) for a, n, k, s in creates]
    out.tasks += [TaskChange("close", a, n or "", s or "", k) for a, n, k, s in closes]
    out.calls = estimate_calls(len(accounts), len(creates), len(closes), settings.push_bulk_threshold)
    return out


def dry_run(ctx: RunContext) -> Preview:
    """A dry run's push step: gate the payload and build the preview, then take the run's scores out of
    marts.account_risk_history.

    The trend is scored against the previous run's history: a dry run left in it would be the "previous run" of
    the next real one, whose trend (e.g. Rising) would then differ from what this preview listed.
    """
    settings = ctx.settings
    try:
        if settings.dq_enabled:  # the payload gate runs as in a push: a payload it would stop fails here too
            with warehouse.open_for(settings, read_only=True) as con:
                pending = con.execute("select * from sync.account_push_pending").fetch_df()
            check_payload(pending, settings, ctx.run_id, docs_into=ctx.docs_results)
        return build_preview(settings)
    finally:
        with warehouse.open_for(settings) as con:
            con.execute(statement("sync/preview/forget_history"), {"run_id": ctx.run_id})


def _short(v: Any, width: int = 60) -> str:
    text = "(blank)" if v is None or v == "" else str(v).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def preview_table(p: Preview) -> str:
    """The preview as a plain-text table: Account fields old -> new, then Tasks, then the estimated API calls."""
    lines = [
        f"Push preview (dry run, nothing written to the CRM): {p.accounts} Accounts would be updated",
        "",
    ]
    if p.changes:
        w = max(len(c.account_name) for c in p.changes)
        w = min(max(w, 4), 32)
        lines.append(f"{'Account Id':<18}  {'name':<{w}}  {'field':<16}  old -> new")
        for i, c in enumerate(p.changes):
            lines.append(
                f"{c.account_id:<18}  {_short(c.account_name, w):<{w}}  {c.field:<16}  "
                f"{_short(c.old)} -> {_short(c.new)}"
            )
            if i + 1 == len(p.changes) or p.changes[i + 1].account_id != c.account_id:
                lines.append(f"{'':<18}  {'':<{w}}  why: {_short(p.reasons.get(c.account_id), 100)}")
    lines += [
        "",
        f"Owner Tasks: {sum(t.action == 'create' for t in p.tasks)} to create, "
        f"{sum(t.action == 'close' for t in p.tasks)} to close",
    ]
    lines += [f"  {t.action:<6}  {t.account_id:<18}  {_short(t.subject, 90)}" for t in p.tasks]
    lines += ["", f"Estimated API calls: {_calls_line(p.calls)}"]
    return "\n".join(lines) + "\n"


def preview_markdown(p: Preview) -> str:
    """The preview as a markdown section of the run's artifact."""
    lines = [
        "## Push preview (dry run: nothing written to the CRM)",
        "",
        f"- Accounts that would be updated: {p.accounts}",
        f"- estimated API calls: {_calls_line(p.calls)}",
    ]
    if p.changes:
        lines += ["", "| Account Id | name | field | old | new |", "|---|---|---|---|---|"]
        lines += [
            f"| {c.account_id} | {_md(c.account_name)} | {c.field} | {_md(_short(c.old))} | {_md(_short(c.new))} |"
            for c in p.changes
        ]
    if p.tasks:
        lines += ["", "| Task | Account Id | subject |", "|---|---|---|"]
        lines += [f"| {t.action} | {t.account_id} | {_md(t.subject)} |" for t in p.tasks]
    return "\n".join(lines)


def _calls_line(calls: dict[str, int]) -> str:
    return (
        f"{calls.get('total', 0)} (Account updates {calls.get('account_updates', 0)}, "
        f"Task creates {calls.get('task_creates', 0)}, Task closes {calls.get('task_closes', 0)})"
    )


def _md(text: str) -> str:
    return str(text).replace("|", "\\|")
