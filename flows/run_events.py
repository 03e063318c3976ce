"""The Prefect events a sync run emits for users' automations (one POST per 200 events, at the end of the run).

| event | resource | when |
|---|---|---|
| `crm.risk.flag.raised` | `salesforce.account.<18-char Id>` | the CRM accepted a level up: none/Green -> Amber/Red, Amber -> Red |
| `crm.risk.flag.cleared` | `salesforce.account.<Id>` | the CRM accepted Amber/Red -> Green |
| `crm.risk.flag.changed` | `salesforce.account.<Id>` | every accepted level move, raised and cleared included |
| `crm.push.failed` | `crm-risk.run.<run_id>` | Account updates or owner Tasks were rejected, or a push step failed |
| `crm.sync.completed` | `crm-risk.run.<run_id>` | every run, failed ones included, after the events above |

An account resource carries the labels `prefect.resource.name` (the account's name), `crm-risk.level`,
`crm-risk.previous-level` (`none` before any level) and `crm-risk.key-account` (`true`/`false`), so a trigger can
match on them (Prefect triggers match labels, not payloads). Flag payloads: level, previous_level, score, reasons (the
top reasons, a list of sentences), model_version, run_id, account_id. No secret is sent: every string goes through
`crm_risk.secrets.mask`, and a push failure names error codes and counts, never record values. Event ids derive from
the run, the event and the account, so an event sent twice is one event. Emitting never fails a run: a refusal
is logged as a warning.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from prefect.context import FlowRunContext
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

from connectors.salesforce.ids import normalize_id
from crm_risk.errors import ConfigError
from crm_risk.secrets import mask
from flows.events import EventPoster
from pipeline.context import RunContext
from pipeline.moves import move_kind
from pipeline.owner_tasks import TaskOutcome
from pipeline.push import PushOutcome
from pipeline.refresh import RefreshOutcome
from pipeline.report import RunRecord

__all__ = [
    "CHUNK",
    "FLAG_CHANGED",
    "FLAG_CLEARED",
    "FLAG_RAISED",
    "PUSH_FAILED",
    "SYNC_COMPLETED",
    "emit_refresh_events",
    "emit_run_events",
    "flag_events",
    "push_failed_event",
    "refresh_record",
    "run_events",
    "sync_completed_event",
]

SYNC_COMPLETED = "crm.sync.completed"
FLAG_RAISED = "crm.risk.flag.raised"
FLAG_CLEARED = "crm.risk.flag.cleared"
FLAG_CHANGED = "crm.risk.flag.changed"
PUSH_FAILED = "crm.push.failed"
CHUNK = 200  # events per POST: a few hundred kB at most (reasons are up to 1,000 characters)
_NAMESPACE = uuid.UUID("0c1f3b9e-52a4-4f0e-9d6c-6a1f2f3e8b27")


def _masked(value: Any) -> Any:
    """`value` with every string in it masked (CRM text is no place for a secret, but a message may carry one)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


def _event(
    name: str, resource: dict[str, str], payload: dict[str, Any], key: str, related: list[dict[str, str]]
) -> dict[str, Any]:
    """The JSON of one Prefect `Event` (a test checks it against the model)."""
    return {
        "id": str(uuid.uuid5(_NAMESPACE, f"{name}:{key}")),
        "occurred": datetime.now(UTC).isoformat(),
        "event": name,
        "resource": _masked(resource),
        "related": related,
        "payload": _masked(payload),
        "follows": None,
    }


def _related(run_id: str) -> list[dict[str, str]]:
    """The run, and the Prefect flow run when there is one (the UI links the event to it)."""
    related = [{"prefect.resource.id": f"crm-risk.run.{run_id}", "prefect.resource.role": "run"}]
    flow_run = FlowRunContext.get()
    if flow_run is not None and flow_run.flow_run is not None:
        related.append(
            {
                "prefect.resource.id": f"prefect.flow-run.{flow_run.flow_run.id}",
                "prefect.resource.role": "flow-run",
            }
        )
    return related


def _id18(account_id: str) -> str:
    """The 18-character id (the API's form; a 15-character one is converted), or the value as it is if not an id."""
    try:
        return normalize_id(account_id, "account id")
    except ConfigError:
        return account_id


def flag_events(run_id: str, moves: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """`crm.risk.flag.changed` for every accepted move, preceded by `raised` or `cleared` when it is one."""
    related = _related(run_id)
    events = []
    for move in moves:
        kind = move_kind(move["previous_level"], move["level"])
        if kind is None:
            continue
        account_id = _id18(move["account_id"])
        resource = {
            "prefect.resource.id": f"salesforce.account.{account_id}",
            "crm-risk.level": str(move["level"]),
            "crm-risk.previous-level": str(move["previous_level"] or "none"),
            "crm-risk.key-account": "true" if move.get("is_key_account") else "false",
        }
        if move.get("account_name"):
            resource["prefect.resource.name"] = str(move["account_name"])
        score = move.get("score")
        payload = {
            "account_id": account_id,
            "level": move["level"],
            "previous_level": move["previous_level"],
            "score": None if score is None else round(float(score)),
            "reasons": [str(r) for r in move.get("reasons") or []],
            "model_version": move.get("model_version"),
            "run_id": run_id,
        }
        names = ([] if kind == "changed" else [f"crm.risk.flag.{kind}"]) + [FLAG_CHANGED]
        events += [_event(n, resource, payload, f"{run_id}:{account_id}", related) for n in names]
    return events


def _run_resource(run_id: str, flow_label: str, status: str | None = None) -> dict[str, str]:
    resource = {
        "prefect.resource.id": f"crm-risk.run.{run_id}",
        "prefect.resource.name": flow_label,
        "crm-risk.flow": flow_label,
    }
    if status:
        resource["crm-risk.status"] = status
    return resource


def _failed_step(run: RunRecord, failure: BaseException | None) -> str | None:
    """The push step a failure stopped: flags pushed only after the scores, owner Tasks only after the flags."""
    if failure is None:
        return None
    if run.push is None and run.levels:
        return "push"
    if run.push is not None and run.tasks is None:
        return "owner-tasks"
    return None


def push_failed_event(
    run_id: str, flow_label: str, run: RunRecord, failure: BaseException | None = None
) -> dict[str, Any] | None:
    """`crm.push.failed` when the CRM rejected Account updates or owner Tasks, or a push step raised; else None."""
    push = run.push or getattr(failure, "outcome", None)
    step = _failed_step(run, failure)
    rejected = push.rejected if push else 0
    task_rejected = (run.tasks.rejected + run.tasks.close_rejected) if run.tasks else 0
    if not (rejected or task_rejected or step):
        return None
    payload = {
        "run_id": run_id,
        "flow": flow_label,
        "failed_step": step,
        "error": type(failure).__name__ if step and failure else None,  # the message may quote record values
        "accounts": {
            "pending": push.pending if push else None,
            "updated": push.updated if push else 0,
            "rejected": rejected,
            "errors": dict(push.errors) if push else {},
        },
        "tasks": {"rejected": task_rejected, "errors": dict(run.tasks.errors) if run.tasks else {}},
        "details": f"sync.push_log, run_id '{run_id}'",
    }
    return _event(PUSH_FAILED, _run_resource(run_id, flow_label), payload, run_id, _related(run_id))


def sync_completed_event(run_id: str, flow_label: str, run: RunRecord, api_calls: int) -> dict[str, Any]:
    """`crm.sync.completed`: the run's status, levels (None when it scored nothing), the objects it could not
    extract, pushes and API calls (its message masked)."""
    push, tasks = run.push, run.tasks
    moves = push.moves if push else []
    payload = {
        "run_id": run_id,
        "flow": flow_label,
        "status": run.status,
        "message": run.message or None,
        # a run that scored nothing has no levels (zeros would read as "every account is fine")
        "levels": {level: int(run.levels.get(level, 0)) for level in ("Red", "Amber", "Green")}
        if run.levels
        else None,
        "records_extracted": sum(run.extracted.rows.values()),
        "failed_objects": sorted(run.extracted.failed),
        "api_calls": api_calls,
        "push": None
        if push is None
        else {
            "pending": push.pending,
            "updated": push.updated,
            "rejected": push.rejected,
            "not_sent": push.not_sent,
            "raised": push.raised,
            "cleared": push.cleared,
            "changed": len(moves),
        },
        "tasks": None
        if tasks is None
        else {"created": tasks.created, "closed": tasks.closed, "rejected": tasks.rejected},
    }
    resource = _run_resource(run_id, flow_label, run.status)
    return _event(SYNC_COMPLETED, resource, payload, run_id, _related(run_id))


def run_events(
    run_id: str, flow_label: str, run: RunRecord, api_calls: int, failure: BaseException | None = None
) -> list[dict[str, Any]]:
    """Every event of one run, in order: flag moves, the push failure if any, then the completion."""
    push = run.push or getattr(failure, "outcome", None)
    events = flag_events(run_id, push.moves if push else [])
    failed = push_failed_event(run_id, flow_label, run, failure)
    if failed is not None:
        events.append(failed)
    events.append(sync_completed_event(run_id, flow_label, run, api_calls))
    return events


def refresh_record(
    passes: Iterable[RefreshOutcome], status: str, message: str = "", errors: Iterable[BaseException] = ()
) -> RunRecord:
    """An account refresh's passes as one run record, so it emits what a sync emits (levels: the accounts scored).

    `errors`: the exceptions of failed passes; a `PushRejectedError`'s outcome still counts (its accepted updates
    moved flags in the CRM)."""
    outcomes = list(passes)
    pushes = [p.push for p in outcomes if p.push] + [
        o for o in (getattr(e, "outcome", None) for e in errors) if isinstance(o, PushOutcome)
    ]
    run = RunRecord(status=status, message=message)
    for p in outcomes:
        for level, n in p.levels.items():
            run.levels[level] = run.levels.get(level, 0) + n
        for obj, n in p.extracted.items():
            run.extracted.rows[obj] = run.extracted.rows.get(obj, 0) + n
    if pushes:
        run.push = PushOutcome()
        for push in pushes:
            for name in ("pending", "updated", "rejected", "not_sent", "raised", "cleared", "api_calls"):
                setattr(run.push, name, getattr(run.push, name) + getattr(push, name))
            for code, n in push.errors.items():
                run.push.errors[code] = run.push.errors.get(code, 0) + n
            run.push.moves += push.moves
    tasks = [p.tasks for p in outcomes if p.tasks]
    if tasks:
        run.tasks = TaskOutcome()
        for t in tasks:
            for name in ("created", "closed", "rejected", "close_rejected"):
                setattr(run.tasks, name, getattr(run.tasks, name) + getattr(t, name))
            for code, n in t.errors.items():
                run.tasks.errors[code] = run.tasks.errors.get(code, 0) + n
    return run


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


def emit_run_events(
    ctx: RunContext, run: RunRecord, api_calls: int, failure: BaseException | None = None
) -> int:
    """Post the run's events in chunks of CHUNK; the number accepted. Never raises: a refusal is a warning."""
    sent = 0
    poster = EventPoster()
    try:
        events = run_events(ctx.run_id, ctx.flow, run, api_calls, failure)
        for start in range(0, len(events), CHUNK):
            poster.post(events[start : start + CHUNK])
            sent += len(events[start : start + CHUNK])
    except Exception as exc:
        _logger().warning(
            "run %s: %d of its Prefect events were emitted, the rest were not (%s: %s)",
            ctx.run_id,
            sent,
            type(exc).__name__,
            mask(exc),
        )
    finally:
        poster.close()
    return sent


def emit_refresh_events(
    ctx: RunContext,
    passes: Iterable[RefreshOutcome],
    status: str,
    api_calls: int,
    failures: Iterable[str] = (),
    errors: Iterable[BaseException] = (),
) -> int:
    """An account refresh's events (`refresh_record` of its passes); the number accepted. Never raises."""
    try:
        run = refresh_record(passes, status, "; ".join(failures), errors)
    except Exception as exc:  # a bug here must not fail the refresh either
        _logger().warning("run %s: no Prefect events (%s: %s)", ctx.run_id, type(exc).__name__, mask(exc))
        return 0
    return emit_run_events(ctx, run, api_calls)
