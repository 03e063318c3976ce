"""What was pushed: sync.push_log (append-only, one row per CRM write result), sync.account_push_state and the
Account push intents (sync.account_push_intents: written before a send, removed with its logged result)."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from connectors.warehouse.rows import append

__all__ = ["HASHED_FIELDS", "RejectRetry", "payload_hash", "record_push_results"]

# Fields whose values make up the pushed payload's hash. Risk_Computed_At__c is left out on purpose:
# an unchanged risk must not be re-pushed every night just because it was recomputed.
HASHED_FIELDS = (
    "Risk_Level__c",
    "Risk_Score__c",
    "Risk_Reasons__c",
    "Risk_Trend__c",
    "Risk_Model_Version__c",
)


@dataclass(frozen=True)
class RejectRetry:
    """When an Account value the CRM rejected goes again unchanged: after `after`, at most `max_attempts` sends."""

    after: timedelta = timedelta(hours=6)
    max_attempts: int = 3


def payload_hash(values: Mapping[str, Any]) -> str:
    """Hash of the pushed Account values, identical to the SQL macro `risk_payload_hash` in transforms/sync."""
    parts = []
    for name in HASHED_FIELDS:
        value = values.get(name)
        if value is None:
            parts.append("")
        elif name == "Risk_Score__c":
            parts.append(str(round(float(value))))
        else:
            parts.append(str(value))
    return hashlib.md5("|".join(parts).encode()).hexdigest()


def _hash_of(object_name: str, payload: Mapping[str, Any]) -> str:
    if object_name == "Account":
        return payload_hash(payload)
    return hashlib.md5(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _result_field(result: Any, name: str) -> Any:
    return result.get(name) if isinstance(result, Mapping) else getattr(result, name, None)


def record_push_results(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    object_name: str,
    results: Iterable[Any],
    payloads: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]],
    hashes: Mapping[str, str] | None = None,
    *,
    operation: str = "update",
    retry_rejected: RejectRetry | None = None,
) -> dict[str, int]:
    """Log push results to sync.push_log and, for Accounts, move sync.account_push_state; returns counts by status.

    `results` are PushResult objects or dicts (record_id, ok, status, error_code, message); `payloads` maps record
    id -> the row sent, or is the list of rows sent (matched on `Id`, or by position for creates), optionally
    carrying `payload_hash`; `hashes` (record id -> payload_hash, e.g. from sync.account_push_pending) wins over
    both. `operation` is what was done (`update`, `create`, `close`, `reconcile`). Successes become the
    last pushed values; rejections dead-letter their hash (sent again when the value or the Account changes, or
    per `retry_rejected`); `retry` (sent, failed transiently) and `not_sent` (the quota stopped the push first)
    results are only logged, so the record stays pending. For Accounts, the run's intents of the logged records
    (sync.account_push_intents) are removed in the same transaction.
    """
    results = list(results)
    if isinstance(payloads, Mapping):
        sent = [payloads.get(_result_field(r, "record_id")) or {} for r in results]
    else:
        rows_sent = list(payloads)
        if all("Id" in p for p in rows_sent):
            by_id = {p["Id"]: p for p in rows_sent}
            sent = [by_id.get(_result_field(r, "record_id")) or {} for r in results]
        else:  # created records (no Id yet): results come back in the order the rows were sent
            sent = rows_sent + [{}] * (len(results) - len(rows_sent))
    now = datetime.now(UTC)
    rows = []
    for res, row in zip(results, sent, strict=False):
        rid = _result_field(res, "record_id")
        payload = {k: v for k, v in row.items() if k != "payload_hash"}
        sent_hash = (
            (hashes or {}).get(rid)
            or row.get("payload_hash")
            or (_hash_of(object_name, payload) if payload else None)
        )
        ok = bool(_result_field(res, "ok"))
        status = _result_field(res, "status") or ("updated" if ok else "rejected")
        rows.append(
            {
                "run_id": run_id,
                "object": object_name,
                "record_id": rid,
                "operation": operation,
                "payload": json.dumps(payload, default=str),
                "payload_hash": sent_hash,
                "status": status,
                "error_code": _result_field(res, "error_code"),
                "message": _result_field(res, "message"),
                "at": now,
            }
        )
    if not rows:
        return {}
    con.execute("begin")
    try:
        append(con, "sync.push_log", rows)
        if object_name == "Account":
            _move_push_state(con, run_id, now, retry_rejected or RejectRetry())
            con.execute(
                "delete from sync.account_push_intents where run_id = $run_id and account_id in "
                "(select record_id from sync.push_log where run_id = $run_id and object = 'Account' and \"at\" = $now)",
                {"run_id": run_id, "now": now},
            )
        con.execute("commit")
    except Exception:
        with contextlib.suppress(duckdb.Error):  # a failed commit ended the transaction: keep its error
            con.execute("rollback")
        raise
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return counts


def _move_push_state(con: duckdb.DuckDBPyConnection, run_id: str, now: datetime, retry: RejectRetry) -> None:
    """Fold this run's Account push_log rows into sync.account_push_state (one bulk merge).

    A rejection counts its attempts (the same value rejected again adds one) and when it may go again
    (`dead_retry_at`: after `retry.after`, null once `retry.max_attempts` sends were rejected); the SystemModstamp
    the Account had (`dead_modstamp`) lets the pending view send it again once someone edits the Account.
    """
    has_accounts = con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'raw' and table_name = 'account' "
        "and database_name = current_database()"
    ).fetchall()[0][0]
    modstamp = (
        '(select max(a."SystemModstamp") from raw.account as a where a."Id" = l.record_id)'
        if has_accounts
        else "cast(null as timestamptz)"
    )
    con.execute(
        f"""
        merge into sync.account_push_state as s
        using (
            select l.*, {modstamp} as modstamp
            from sync.push_log as l
            where l.run_id = $run_id and l.object = 'Account' and l."at" = $now and l.status in ('updated', 'rejected')
            qualify row_number() over (partition by l.record_id order by l.status = 'updated' desc) = 1
        ) as l
        on s.account_id = l.record_id
        when matched and l.status = 'updated' then update set
            payload = l.payload, payload_hash = l.payload_hash, pushed_at = l."at", run_id = l.run_id,
            dead_hash = null, dead_error_code = null, dead_message = null, dead_at = null, dead_attempts = null,
            dead_retry_at = null, dead_modstamp = null
        when matched then update set
            dead_hash = l.payload_hash, dead_error_code = l.error_code, dead_message = l.message, dead_at = l."at",
            dead_attempts = case when s.dead_hash = l.payload_hash then coalesce(s.dead_attempts, 0) + 1 else 1 end,
            dead_retry_at = case
                when (case when s.dead_hash = l.payload_hash then coalesce(s.dead_attempts, 0) + 1 else 1 end)
                    < $max_attempts then l."at" + $after
            end,
            dead_modstamp = l.modstamp
        when not matched and l.status = 'updated' then insert
            (account_id, payload, payload_hash, pushed_at, run_id)
            values (l.record_id, l.payload, l.payload_hash, l."at", l.run_id)
        when not matched then insert
            (account_id, dead_hash, dead_error_code, dead_message, dead_at, dead_attempts, dead_retry_at,
                dead_modstamp)
            values (l.record_id, l.payload_hash, l.error_code, l.message, l."at", 1,
                case when 1 < $max_attempts then l."at" + $after end, l.modstamp)
        """,
        {"run_id": run_id, "now": now, "after": retry.after, "max_attempts": retry.max_attempts},
    )
