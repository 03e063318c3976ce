"""Account push intents: each update is logged as an intent before it is sent, and settled after a crash.

A push that dies between the send and the log (kill -9, an OOM kill, a power cut) would leave CRM writes the push
log never heard of. So `store` commits one row per update to `sync.account_push_intents` before anything is sent,
and the push log's transaction removes the intents it answers (connectors/warehouse/push_log.py). What is left
belongs to a run that died (meta.runs `died`, closed by the next start) or failed between the send and the log.
The next push `reconcile`s those with the CRM before it reads what is pending: one query of the Accounts' risk
fields (a bounded IN list per call); an Account holding the intent's values took the update -> logged `updated`
(operation `reconcile`, under the dead run's id) and recorded as pushed, so it is not sent again; any other ->
logged `not_sent` (INTERRUPTED), and the account is pending as before. Intents of a run still running are its own.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import duckdb
import pyarrow as pa

from connectors import warehouse
from connectors.salesforce.client import CrmClient
from connectors.salesforce.lookup import fetch_by_id
from connectors.salesforce.push import PushResult
from crm_risk.config import Settings
from transforms.statements import statement

__all__ = ["reconcile", "store"]

log = logging.getLogger(__name__)


def store(
    con: duckdb.DuckDBPyConnection, run_id: str, rows: list[dict[str, Any]], hashes: dict[str, str]
) -> None:
    """Commit an intent per Account update about to be sent (one bulk statement through Arrow); an Account our
    log has never seen gets the CRM's current value logged first (`observed`: the trend's reference)."""
    if not rows:
        return
    con.execute(
        statement("sync/account_push/observe_crm"), {"run_id": run_id, "ids": [r["Id"] for r in rows]}
    )
    table = pa.Table.from_pylist(
        [
            {"Id": r["Id"], "payload": json.dumps(r, default=str), "payload_hash": hashes[r["Id"]]}
            for r in rows
        ]
    )
    con.register("_intents", table)
    try:
        con.execute(statement("sync/account_push/store_intents"), {"run_id": run_id})
    finally:
        con.unregister("_intents")


def reconcile(settings: Settings, client: CrmClient, run_id: str) -> int:
    """Settle the intents of runs no longer running against the CRM's values; returns the updates found landed."""
    with warehouse.open_for(settings) as con:
        busy = sorted(warehouse.live_runs(con) - {run_id})
        orphans = con.execute(statement("sync/account_push/orphan_intents"), {"busy": busy}).fetchall()
    if not orphans:
        return 0
    crm = fetch_by_id(client, "Account", list(warehouse.HASHED_FIELDS), sorted({str(r[1]) for r in orphans}))
    by_run: dict[str, list[tuple[PushResult, dict[str, Any], str]]] = {}
    for dead_run, account_id, payload, sent_hash in orphans:
        values = crm.get(str(account_id))
        landed = values is not None and warehouse.payload_hash(values) == sent_hash
        result = (
            PushResult(str(account_id), True, "updated", message="reconciled: the CRM holds the value sent")
            if landed
            else PushResult(
                str(account_id),
                False,
                "not_sent",
                "INTERRUPTED",
                "reconciled: the run died before logging this update and the CRM does not hold its value",
            )
        )
        by_run.setdefault(str(dead_run), []).append((result, json.loads(payload), str(sent_hash)))
    found = 0
    with warehouse.open_for(settings) as con:
        for dead_run, items in sorted(by_run.items()):
            warehouse.record_push_results(
                con,
                dead_run,
                "Account",
                [r for r, _, _ in items],
                [p for _, p, _ in items],
                {r.record_id or "": h for r, _, h in items},
                operation="reconcile",
            )
            found += sum(r.ok for r, _, _ in items)
    log.warning(
        "Account push intents of %d runs that ended without logging them: %d of %d updates found in the CRM",
        len(by_run),
        found,
        len(orphans),
    )
    return found
