"""Owner Tasks: one CRM Task per (account, high-severity signal) episode, created idempotently, closed when it clears.

The ledger `sync.owner_tasks` (transforms/sync/owner_tasks/ledger.sql; its statements beside it) makes it safe across reruns and crashes:

1. `reconcile`: an intent logged by an earlier run without a result (the process died between the create and the
   log; never one of a run still running, whose results are on their way) is looked up in the CRM by its key: found -> 'open'; not found -> sent again (the create is an upsert on
   Risk_Task_Key__c, so even a create that did land is never duplicated). Open CRM Tasks carrying our key that the
   ledger does not know (e.g. a rebuilt warehouse) are adopted, not created again.
2. `store_intents`: new rows of `sync.owner_task_pending` go to the ledger as 'intent' and are committed BEFORE
   anything is sent.
3. `send_creates`: Collections upsert on the key, 200 a call; every result in `sync.push_log` (operation 'create')
   and in the ledger ('open' / 'rejected'; 'retry' stays an intent for the next run). A rejected create is a dead
   letter until the Task would read differently (owner, subject, description), then sent again under its key; a
   run whose rejected share passes CRM_RISK_PUSH_REJECT_THRESHOLD fails (PushRejectedError), as the Account push.
4. `close_cleared`: policy for a cleared signal: the open Task is set to Completed with a dated note appended to its
   Description ("Signal cleared on <date>: ..."); a Task the rep already completed or deleted is left alone. Logged
   as operation 'close'. A signal that still fires but is mitigated (one severity down) keeps its open Task; a
   mitigated signal never opens one.

A Task the rep completes while the signal still fires ends nothing: no new Task is raised until the signal clears
and fires again (a new episode, a new key `<account>:<signal>:<episode>`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from connectors import warehouse
from connectors.salesforce.client import CrmClient
from connectors.salesforce.lookup import find_ids
from connectors.salesforce.push import PushResult, create_tasks, push_updates
from crm_risk.config import Settings
from crm_risk.errors import PushRejectedError, QuotaExceeded
from pipeline.context import RunContext
from transforms.statements import statement

__all__ = ["TaskOutcome", "close_cleared", "push_tasks", "reconcile", "send_creates", "store_intents"]

log = logging.getLogger(__name__)
TASK_FIELDS = (
    "Risk_Task_Key__c",
    "WhatId",
    "OwnerId",
    "Subject",
    "Description",
    "ActivityDate",
    "Status",
    "Priority",
)


@dataclass
class TaskOutcome:
    """Owner Tasks raised, reconciled and closed by one run."""

    pending: int = 0
    created: int = 0
    updated: int = 0
    rejected: int = 0
    retry: int = 0
    reconciled: int = 0
    adopted: int = 0
    resent: int = 0
    closed: int = 0
    close_rejected: int = 0
    api_calls: int = 0
    quota_stopped: str | None = None
    errors: dict[str, int] = field(default_factory=dict)


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    """Create sync.owner_tasks if the transforms have not yet (idempotent)."""
    con.execute(statement("sync/owner_tasks/ledger"))


def _scoped(view: str, accounts: list[str] | None, extra: str = "") -> tuple[str, dict[str, Any]]:
    """`select * from view` [restricted to some accounts], with its parameters."""
    if accounts is None:
        return f"select * from {view} {('where ' + extra) if extra else ''}", {}
    where = "account_id in (select unnest($ids::varchar[]))" + (f" and {extra}" if extra else "")
    return f"select * from {view} where {where}", {"ids": accounts}


def reconcile(
    con: duckdb.DuckDBPyConnection,
    client: CrmClient,
    run_id: str,
    out: TaskOutcome,
    accounts: list[str] | None = None,
) -> list[dict]:
    """Settle intents left without a result and adopt unknown open CRM Tasks; return the intents to send again."""
    ensure_ledger(con)
    adopted = con.execute(statement("sync/owner_tasks/adopt"), {"run_id": run_id}).fetchall()
    out.adopted = len(adopted)
    sql, params = _scoped("sync.owner_tasks", accounts, "state = 'intent'")
    # another run still running owns its intents: its results are on their way (reconciling them too would log
    # every such Task twice, and send again those it has not answered yet)
    busy = sorted(warehouse.live_runs(con) - {run_id})
    intents = con.execute(
        f"select task_key, payload from ({sql}) where run_id is null or run_id not in "
        "(select unnest($busy::varchar[])) order by task_key",
        {**params, "busy": busy},
    ).fetchall()
    if not intents:
        return []
    found = find_ids(client, "Task", "Risk_Task_Key__c", [k for k, _ in intents])
    _mark(
        con,
        "mark_open",
        {"task_key": list(found), "task_id": list(found.values())},
        now=datetime.now(UTC),
        run_id=run_id,
    )
    if found:
        payloads = {k: json.loads(p) for k, p in intents}
        warehouse.record_push_results(
            con,
            run_id,
            "Task",
            [
                PushResult(
                    found[k], True, "created", message="reconciled: found in the CRM by its key", key=k
                )
                for k in sorted(found)
            ],
            {found[k]: payloads[k] for k in sorted(found)},
            operation="reconcile",
        )
    out.reconciled = len(found)
    live = set(con.execute(statement("sync/owner_tasks/live_signals")).fetchall())
    again, dropped = [], []
    for key, payload in intents:
        if key in found:
            continue
        account_id, signal_id = key.split(":")[:2]
        if (account_id, signal_id) in live:
            again.append(json.loads(payload))
        else:  # never reached the CRM and no longer wanted
            dropped.append(key)
    _mark(con, "mark_dropped", {"task_key": dropped})
    out.resent = len(again)
    return again


def store_intents(
    con: duckdb.DuckDBPyConnection, run_id: str, accounts: list[str] | None = None
) -> list[dict[str, Any]]:
    """Write every pending Task to the ledger as an 'intent' (committed before any create); return the payloads."""
    cur = con.execute(*_scoped("sync.owner_task_pending", accounts))
    names = [d[0] for d in cur.description]
    pending = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    rows = []
    for p in pending:
        payload = {k: (str(p[k]) if k == "ActivityDate" else p[k]) for k in TASK_FIELDS}
        rows.append(
            (p["Risk_Task_Key__c"], p["account_id"], p["signal_id"], p["episode"], json.dumps(payload))
        )
    if rows:  # one bulk statement through Arrow, committed before any create is sent
        columns = ("task_key", "account_id", "signal_id", "episode", "payload")
        con.register("_intents", pa.Table.from_pylist([dict(zip(columns, r, strict=True)) for r in rows]))
        try:
            con.execute(statement("sync/owner_tasks/store_intents"), {"run_id": run_id})
        finally:
            con.unregister("_intents")
    return [json.loads(r[4]) for r in rows]


def send_creates(
    client: CrmClient, rows: list[dict[str, Any]], settings: Settings | None = None
) -> tuple[list[PushResult], str | None]:
    """Upsert the Tasks on their key (Collections); return every row's result and the quota message if stopped."""
    if not rows:
        return [], None
    try:
        return create_tasks(client, rows, settings), None
    except QuotaExceeded as exc:
        return list(getattr(exc, "results", [])), str(exc)


def record_creates(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    rows: list[dict[str, Any]],
    results: list[PushResult],
    out: TaskOutcome,
) -> None:
    """Log the creates in sync.push_log and move their ledger rows (open / rejected; retry stays an intent)."""
    if not results:
        return
    warehouse.record_push_results(con, run_id, "Task", results, rows, operation="create")
    opened: dict[str, list[Any]] = {"task_key": [], "task_id": []}
    failed: dict[str, list[Any]] = {"task_key": [], "state": [], "error_code": [], "message": []}
    for row, res in zip(rows, results, strict=False):
        key = row["Risk_Task_Key__c"]
        if res.ok:
            out.created += res.status == "created"
            out.updated += res.status == "updated"
            opened["task_key"].append(key)
            opened["task_id"].append(res.record_id)
            continue
        code = res.error_code or "UNKNOWN"
        out.errors[code] = out.errors.get(code, 0) + 1
        if res.status in ("retry", "not_sent"):
            out.retry += 1
            state = "intent"
        else:
            out.rejected += 1
            state = "rejected"
        for column, value in zip(failed, (key, state, code, res.message), strict=True):
            failed[column].append(value)
    _mark(con, "mark_open", opened, now=datetime.now(UTC), run_id=run_id)
    _mark(con, "mark_failed", failed)


def close_cleared(
    con: duckdb.DuckDBPyConnection,
    client: CrmClient,
    run_id: str,
    settings: Settings,
    out: TaskOutcome,
    accounts: list[str] | None = None,
) -> None:
    """Complete the open Tasks whose signal cleared (with a dated note); log every result."""
    cur = con.execute(*_scoped("sync.owner_task_close", accounts))
    names = [d[0] for d in cur.description]
    closing = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    # rejected creates of a cleared signal end with their episode; Tasks the rep closed or deleted are left alone
    con.execute(statement("sync/owner_tasks/settle_cleared"))
    rows = [
        {"Id": c["Id"], "Status": c["Status"], "Description": c["Description"]}
        for c in closing
        if c["crm_state"] in ("open", "unknown")
    ]
    if not rows:
        return
    keys = {c["Id"]: c["task_key"] for c in closing}
    try:
        results = push_updates(client, "Task", rows, settings)
    except QuotaExceeded as exc:
        results = list(getattr(exc, "results", []))
        out.quota_stopped = out.quota_stopped or str(exc)
    warehouse.record_push_results(con, run_id, "Task", results, rows, operation="close")
    closed = []
    for res in results:
        key = keys.get(res.record_id or "")
        # a Task deleted in the CRM meanwhile has nothing left to close
        if res.ok or res.error_code == "ENTITY_IS_DELETED":
            out.closed += res.ok
            closed.append(key)
        elif res.status not in ("retry", "not_sent"):  # those are closed by a later run
            out.close_rejected += 1
            code = res.error_code or "UNKNOWN"
            out.errors[code] = out.errors.get(code, 0) + 1
    _mark(con, "mark_closed", {"task_key": closed})


def _mark(con: duckdb.DuckDBPyConnection, name: str, marks: dict[str, list[Any]], **params: Any) -> None:
    """One set-based update of the ledger (`transforms/sync/owner_tasks/<name>.sql`) for every row of `marks`
    (column -> values), read as `_task_marks`: one statement for a run's thousands of Tasks, not one per Task
    (5,125 at 50,000 accounts: seconds of row-by-row updates)."""
    if not marks["task_key"]:
        return
    con.register("_task_marks", pa.table({c: pa.array(v, pa.string()) for c, v in marks.items()}))
    try:
        con.execute(statement(f"sync/owner_tasks/{name}"), params or None)
    finally:
        con.unregister("_task_marks")


def push_tasks(ctx: RunContext, client: CrmClient, accounts: list[str] | None = None) -> TaskOutcome:
    """Reconcile, store intents, create, then close cleared Tasks; each warehouse window short (one writer).

    `accounts`: only these accounts' Tasks (an account refresh touches no other account).
    """
    run_id, settings, out = ctx.run_id, ctx.settings, TaskOutcome()
    if not settings.push_enabled:
        return out
    calls_before = client.api_calls
    with warehouse.open_for(settings) as con:
        again = reconcile(con, client, run_id, out, accounts)
        new = store_intents(con, run_id, accounts)
    out.pending = len(new)
    rows = again + new
    results, out.quota_stopped = send_creates(client, rows, settings)
    with warehouse.open_for(settings) as con:
        record_creates(con, run_id, rows, results, out)
        if out.quota_stopped is None:
            close_cleared(con, client, run_id, settings, out, accounts)
    out.api_calls = client.api_calls - calls_before
    sent = (
        out.created + out.updated + out.rejected
    )  # what the CRM answered: creates not sent are no rejection
    if sent and out.rejected / sent > settings.push_reject_threshold:
        raise PushRejectedError(
            f"{out.rejected} of {sent} owner Task creates were rejected ({out.rejected / sent:.0%} > "
            f"CRM_RISK_PUSH_REJECT_THRESHOLD={settings.push_reject_threshold:.0%}); errors: {out.errors}. "
            f"Each record's error is in sync.push_log (run_id '{run_id}', object 'Task')."
        )
    log.info(
        "owner tasks: %d new, %d resent, %d reconciled, %d created, %d updated, %d rejected, %d closed",
        out.pending,
        out.resent,
        out.reconciled,
        out.created,
        out.updated,
        out.rejected,
        out.closed,
    )
    return out
