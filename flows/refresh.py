"""The account refresh flow: re-score the accounts CRM changes concern and push their flags back, in seconds.

Run by the `account-refresh` deployment's trigger on `salesforce.account.changed` events (prefect.yaml), or by hand
(`crm-risk refresh --account 001...`). A run refreshes its trigger's account at once, then every account named by a
change event of its window (flows/inbox.py), in passes: each pass takes every account pending at that moment, so a
burst of changes is a few passes, not one per change. The warehouse is held only in each pass's short windows.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from connectors.salesforce.client import CrmClient, connect
from crm_risk.config import settings_from_parameters
from expectations.gate import warm_up
from flows.inbox import Change, Inbox, account_of, parse_time
from flows.run_events import emit_refresh_events
from pipeline import context
from pipeline.refresh import RefreshOutcome, objects_to_pull, refresh_accounts

__all__ = ["account_refresh"]

refresh_task = task(name="refresh-pass", cache_policy=NO_CACHE)(refresh_accounts)
SEEN_BY_PULL = timedelta(seconds=1)
ALL = "*"  # a pull of every account-owned object  # an event this much older than an account's last pull is already in it


class Pending:
    """Accounts waiting for a pass -> the objects whose changes concern them (None: every object)."""

    def __init__(self) -> None:
        self._objects: dict[str, set[str] | None] = {}

    def add(self, account_id: str, obj: str | None) -> None:
        """Queue `account_id` for a change to `obj` (None: unknown, pull every object)."""
        known = self._objects.get(account_id, set())
        self._objects[account_id] = None if obj is None or known is None else known | {obj}

    def take(self) -> tuple[list[str], list[str] | None]:
        """Every pending account and the objects a pass over them pulls; the queue is emptied."""
        ids = sorted(self._objects)
        wanted = list(self._objects.values())
        self._objects = {}
        if any(w is None for w in wanted):
            return ids, None
        return ids, sorted(set().union(*[w for w in wanted if w is not None]))

    def __bool__(self) -> bool:
        return bool(self._objects)


@flow(name="account-refresh", log_prints=False)
def account_refresh(
    account: str | None = None,
    account_ids: list[str] | None = None,
    changed_object: str | None = None,
    since: str | None = None,
    event_id: str | None = None,
    window_seconds: float = 0.0,
    push: bool = True,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Refresh `account` / `account_ids` now, then the accounts of every change event in [since, since + window).

    From the trigger: `account` is the event's resource (`salesforce.account.<Id>`), `changed_object` its object,
    `since` and `event_id` its time and id; `window_seconds` is the trigger's `within`.
    """
    cfg = settings_from_parameters(settings)
    log = get_run_logger()
    threading.Thread(
        target=warm_up, daemon=True, name="gx-warm-up"
    ).start()  # ~5 s, while we connect and pull
    pending = Pending()
    for name in [account, *(account_ids or [])]:
        if name:
            pending.add(account_of(name), changed_object)
    inbox = Inbox(
        parse_time(since) or datetime.now(UTC),
        timedelta(seconds=window_seconds),
        timedelta(seconds=cfg.refresh_settle_seconds),
        seen={event_id} if event_id else set(),
    )
    ctx = context.begin_run(cfg, "account_refresh")
    client: CrmClient | None = None
    passes: list[RefreshOutcome] = []
    changes, failures = int(bool(pending)), []
    errors: list[Exception] = []
    pulled_at: dict[tuple[str, str], datetime] = {}  # (account, object or ALL) -> when its last pull started
    status = "failed"
    try:
        client = connect(cfg)  # inside: a refused login closes the run as failed, with its cause
        while True:
            if pending:
                ids, objects = pending.take()
                started = datetime.now(UTC)
                try:
                    passes.append(refresh_task(ctx, client, ids, objects, push))
                    pulled = objects_to_pull(objects) or {ALL}
                    pulled_at.update({(a, o): started for a in ids for o in pulled})
                except Exception as exc:  # the other accounts of the window still get their refresh
                    failures.append(f"{len(ids)} accounts: {type(exc).__name__}: {exc}")
                    errors.append(exc)
                    log.error("refresh of %d accounts failed: %s", len(ids), exc)
            closed = inbox.done()
            fresh = [c for c in inbox.poll() if not _already_pulled(c, pulled_at)]
            changes += len(fresh)
            for change in fresh:
                pending.add(change.account_id, change.object)
            if not pending and closed:
                break
            if not pending:
                time.sleep(cfg.refresh_poll_seconds)
        status = "failed" if failures else "success"
    except Exception as exc:  # the login, or the inbox: the run record says why it failed
        failures.append(f"{type(exc).__name__}: {exc}")
        errors.append(exc)
        raise
    finally:
        inbox.close()
        counts = _counts(passes, changes)
        calls = client.api_calls if client else 0
        context.finish_run(ctx, status, counts, calls, "; ".join(failures))
        create_markdown_artifact(
            _summary(ctx.run_id, counts, failures),
            key="crm-risk-account-refresh",
            description=f"run {ctx.run_id}",
        )
        emit_refresh_events(ctx, passes, status, calls, failures, errors)  # never raises
    log.info(
        "account refresh %s: %d changes, %d accounts in %d passes, %d API calls",
        ctx.run_id,
        changes,
        counts["accounts"],
        len(passes),
        calls,
    )
    if failures:
        raise RuntimeError("account refresh failed for " + "; ".join(failures))
    return {"run_id": ctx.run_id, "status": status, **counts, "api_calls": calls}


def _already_pulled(change: Change, pulled_at: dict[tuple[str, str], datetime]) -> bool:
    """True when a pull of the change's object for its account started after the change was announced: that pull
    already has it. (A pass pulls the objects its accounts' changes named: a Contact pull has no Case change.)"""
    starts = [pulled_at.get((change.account_id, ALL))]
    if change.object is not None:
        starts.append(pulled_at.get((change.account_id, change.object)))
    latest = max((s for s in starts if s is not None), default=None)
    return latest is not None and change.occurred < latest - SEEN_BY_PULL


def _counts(passes: list[RefreshOutcome], changes: int) -> dict[str, Any]:
    accounts = sorted({a for p in passes for a in p.accounts})
    levels: dict[str, int] = {}
    for p in passes:
        for level, n in p.levels.items():
            levels[level] = levels.get(level, 0) + n
    return {
        "changes": changes,
        "passes": len(passes),
        "accounts": len(accounts),
        "account_ids": accounts[:200],
        "levels_scored": levels,
        "flags_pushed": sum(p.push.updated for p in passes if p.push),
        "flags_rejected": sum(p.push.rejected for p in passes if p.push),
        "flags_not_sent": sum(p.push.not_sent for p in passes if p.push),
        "tasks_created": sum(p.tasks.created for p in passes if p.tasks),
        "tasks_closed": sum(p.tasks.closed for p in passes if p.tasks),
        "extracted": {
            k: sum(p.extracted.get(k, 0) for p in passes)
            for k in sorted({k for p in passes for k in p.extracted})
        },
    }


def _summary(run_id: str, counts: dict[str, Any], failures: list[str]) -> str:
    lines = [
        f"# Account refresh `{run_id}`",
        "",
        f"- change events answered: {counts['changes']}, accounts refreshed: {counts['accounts']} "
        f"in {counts['passes']} passes",
        f"- flags written to the CRM: {counts['flags_pushed']}, rejected: {counts['flags_rejected']}, "
        f"not sent (the next run sends them): {counts['flags_not_sent']}",
        f"- owner Tasks created: {counts['tasks_created']}, closed: {counts['tasks_closed']}",
        "- records pulled: " + (", ".join(f"{k} {v}" for k, v in counts["extracted"].items()) or "none"),
    ]
    lines += [f"> failed: {f}" for f in failures]
    return "\n".join(lines) + "\n"
