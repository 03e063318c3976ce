"""Push step: send the Accounts whose flag values changed, log every result, fail above the rejected share.

Three outcomes per update, each counted as such: sent and accepted (`updated`); rejected by the CRM (counts toward
CRM_RISK_PUSH_REJECT_THRESHOLD, sent again once its value or the Account changes, or after
CRM_RISK_PUSH_REJECTED_RETRY_HOURS up to CRM_RISK_PUSH_REJECTED_MAX_ATTEMPTS sends); not sent (the quota stopped the
push, or transient failures outlived the retries: pending for the next run, never a rejection). Every update is an
intent in the warehouse before it is sent (pipeline/push_intents.py), so a crash leaves nothing unaccounted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from connectors import warehouse
from connectors.salesforce.client import CrmClient
from connectors.salesforce.doctor import require_push_fields
from connectors.salesforce.push import push_updates
from connectors.salesforce.values import sf_datetime
from crm_risk.errors import PushRejectedError, QuotaExceeded
from expectations.gate import check_payload
from pipeline import push_intents
from pipeline.context import RunContext
from pipeline.moves import accepted_moves, move_kind, read_moves

__all__ = ["PushOutcome", "push_flags"]


@dataclass
class PushOutcome:
    """What the push sent and how the CRM answered: each pending update is one of three outcomes."""

    pending: int = 0
    updated: int = 0  # sent and accepted
    rejected: int = 0  # refused by the CRM: counts toward the threshold; sent again later
    not_sent: int = 0  # the quota stopped the push first, or transient errors outlived the retries: next run
    reconciled: int = 0  # updates of a run that died before logging them, found in the CRM (logged now)
    raised: int = 0
    cleared: int = 0
    api_calls: int = 0
    quota_stopped: str | None = None
    errors: dict[str, int] = field(default_factory=dict)
    # the level moves the CRM accepted (sync.account_flag_moves rows): the crm.risk.flag.* events
    moves: list[dict[str, Any]] = field(default_factory=list, repr=False)


def push_flags(ctx: RunContext, client: CrmClient, accounts: list[str] | None = None) -> PushOutcome:
    """Send changed flags to the CRM's Account fields, log every result, fail above the rejected share.

    `accounts`: only these accounts' flags (an account refresh touches no other account).
    """
    settings = ctx.settings
    out = PushOutcome()
    if settings.push_enabled:  # a dead run's updates first: what landed is not pending any more
        try:
            out.reconciled = push_intents.reconcile(settings, client, ctx.run_id)
        except QuotaExceeded as exc:
            # the intents wait for the next run: nothing is sent before they settle
            out.quota_stopped = str(exc)
            return out
    with warehouse.open_for(settings) as con:
        if accounts is None:
            pending = con.execute("select * from sync.account_push_pending").fetch_df()
        else:
            pending = con.execute(
                'select * from sync.account_push_pending where "Id" in (select unnest($ids::varchar[]))',
                {"ids": accounts},
            ).fetch_df()
        moving = read_moves(con)
    out.pending = len(pending)
    if settings.dq_enabled and settings.push_enabled:
        # critical -> DataQualityError, nothing sent; a refresh's few accounts build Data Docs only on failure
        check_payload(pending, settings, ctx.run_id, docs=accounts is None, docs_into=ctx.docs_results)
    if pending.empty or not settings.push_enabled:
        return out
    require_push_fields(
        client, settings
    )  # doctor's check: a missing or read-only field fails before any write
    fields = ["Id", *settings.push_fields.values()]
    rows = [_jsonable({k: r[k] for k in fields if k in r}) for r in pending.to_dict("records")]
    hashes = dict(zip(pending["Id"], pending["payload_hash"], strict=True))
    with warehouse.open_for(settings) as con:  # committed before anything is sent
        push_intents.store(con, ctx.run_id, rows, hashes)
    calls_before = client.api_calls
    try:
        results = push_updates(client, "Account", rows, settings)
    except QuotaExceeded as exc:
        results = list(getattr(exc, "results", []))
        out.quota_stopped = str(exc)
    out.api_calls = client.api_calls - calls_before
    retry = warehouse.RejectRetry(
        timedelta(hours=settings.push_rejected_retry_hours), settings.push_rejected_max_attempts
    )
    with warehouse.open_for(settings) as con:
        warehouse.record_push_results(con, ctx.run_id, "Account", results, rows, hashes, retry_rejected=retry)
    for r in results:
        if r.ok:
            out.updated += 1
        elif r.status in ("retry", "not_sent"):
            out.not_sent += 1
        else:
            out.rejected += 1
            out.errors[r.error_code or "UNKNOWN"] = out.errors.get(r.error_code or "UNKNOWN", 0) + 1
    out.moves = accepted_moves(moving, results)
    kinds = [move_kind(m["previous_level"], m["level"]) for m in out.moves]
    out.raised, out.cleared = kinds.count("raised"), kinds.count("cleared")
    answered = out.updated + out.rejected  # what the CRM judged: updates not sent are no rejection
    if answered and out.rejected / answered > settings.push_reject_threshold:
        raise PushRejectedError(
            f"{out.rejected} of {answered} Account updates the CRM answered were rejected "
            f"({out.rejected / answered:.0%} > CRM_RISK_PUSH_REJECT_THRESHOLD={settings.push_reject_threshold:.0%}); "
            f"errors: {out.errors}. Each record's error is in sync.push_log (run_id '{ctx.run_id}').",
            outcome=out,  # the accepted updates did reach the CRM: their flag events are still emitted
        )
    return out


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """Values the JSON encoder and the CRM accept: datetimes in Salesforce's form, NaN as None."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if hasattr(v, "to_pydatetime"):
            v = v.to_pydatetime()
        if isinstance(v, datetime):
            v = sf_datetime(v)
        elif isinstance(v, float) and v != v:
            v = None
        out[k] = v
    json.dumps(out)  # fail here, not in the HTTP layer, if a value is not serialisable
    return out
