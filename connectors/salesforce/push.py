"""Write back to the CRM: update-only by Id (`push_updates`) and idempotent owner Tasks (`create_tasks`).

sObject Collections (200 records a call, allOrNone=false) below `push_bulk_threshold`, a Bulk 2.0 update job above.
Every row gets a `PushResult`, in input order:
    updated / created   the CRM accepted it
    rejected            a data error (restricted picklist, STRING_TOO_LONG, validation rule, deleted or unknown Id...):
                        dead-letter it with the reason, never retried until the value changes
    retry               transient (UNABLE_TO_LOCK_ROW, 5xx, timeouts, a Bulk job that could not run) and still
                        failing when the chunk's retries are spent: send it again next run
    not_sent            the API quota stopped the push before this row was sent: sent by the next run, no rejection
REQUEST_LIMIT_EXCEEDED raises `PushInterrupted` (a QuotaExceeded) whose `.results` holds every row's result so far
(rows not sent are `not_sent` with error_code REQUEST_LIMIT_EXCEEDED), so the caller records what was done and stops.

Retries follow the one policy (retry.py, which states the bounds): a chunk's retries of the whole call and re-sends of
its records that failed transiently in a 200 answer share one budget. Halving a chunk isolates a bad record, it is not
a retry: a 400 for the whole batch is halved down to single records, a 500 outliving its retries once; a busy server
(502/503/504, network) never. A create (POST) is never sent again after a failure whose outcome is unknown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connectors.salesforce import bulk
from connectors.salesforce.client import CrmClient
from connectors.salesforce.errors import classify_item
from connectors.salesforce.retry import IDEMPOTENT_METHODS, Budget
from connectors.salesforce.values import collection_record, json_value, to_csv
from crm_risk import fields
from crm_risk.config import Settings
from crm_risk.errors import ConnectorError, QuotaExceeded, TerminalError, TransientError
from crm_risk.secrets import mask

__all__ = ["PushInterrupted", "PushResult", "create_tasks", "push_updates"]

log = logging.getLogger(__name__)

BATCH = 200
BULK_JOB_ROWS = 50_000
TASK_KEY = fields.TASK_KEY.name


@dataclass(frozen=True)
class PushResult:
    """One row's outcome. status: 'updated' | 'created' | 'rejected' | 'retry' | 'not_sent'."""

    record_id: str | None
    ok: bool
    status: str
    error_code: str | None = None
    message: str | None = None
    key: str | None = None
    attempts: int = 1


class PushInterrupted(QuotaExceeded):
    """The API quota stopped the push; `.results` has one PushResult per input row (unsent rows: 'not_sent')."""

    def __init__(
        self, message: str, results: list[PushResult], *, status: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.results = results


class _Pusher:
    """Sends items through Collections, 200 a call, filling `results` by input index (see the module doc)."""

    def __init__(
        self,
        client: CrmClient,
        method: str,
        path: str,
        results: list[PushResult | None],
        ok_status: Callable[[dict[str, Any]], str],
    ) -> None:
        self.client, self.method, self.path, self.results = client, method, path, results
        self.ok_status = ok_status
        self.idempotent = method.upper() in IDEMPOTENT_METHODS  # a create's unknown outcome is never re-sent
        self.keys: dict[int, str | None] = {}
        self.ids: dict[int, str | None] = {}
        self.sends: dict[int, int] = {}  # how many times each record was sent

    def send(self, items: list[tuple[int, dict[str, Any]]], *, retries: int | None = None) -> None:
        """Push every item, 200 a call; each chunk gets a budget of `retries` (default: the policy's)."""
        for i in range(0, len(items), BATCH):
            self._chunk(items[i : i + BATCH], self.client.retry.budget(retries=retries), halved=False)

    def _set(
        self,
        idx: int,
        ok: bool,
        status: str,
        record_id: str | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        self.results[idx] = PushResult(
            self.ids.get(idx) or record_id,
            ok,
            status,
            code,
            mask(message) if message else None,
            self.keys.get(idx),
            self.sends.get(idx, 1),
        )

    def _chunk(self, chunk: list[tuple[int, dict[str, Any]]], budget: Budget, halved: bool) -> None:
        """One Collections call (retried by the client on `budget`); `halved`: a half of a 500-split chunk."""
        body = {"allOrNone": False, "records": [payload for _, payload in chunk]}
        spent = budget.spent
        try:
            answer = self.client.request(
                self.method, self.path, json=body, what=f"{self.method} {self.path}", budget=budget
            ).json()
            if not isinstance(answer, list) or len(answer) != len(chunk):
                # the outcome is unknown: the rows are sent again next run (never split, never rejected)
                raise TransientError(
                    f"{self.path}: {len(chunk)} records sent, unexpected answer {str(answer)[:200]}",
                    code="UNEXPECTED_ANSWER",
                )
        except QuotaExceeded:
            raise
        except ConnectorError as exc:
            self._sent(chunk, 1 + budget.spent - spent)
            self._failed(chunk, exc, halved)
            return
        self._sent(chunk, 1 + budget.spent - spent)
        self._items(chunk, answer, budget)

    def _sent(self, chunk: list[tuple[int, dict[str, Any]]], times: int) -> None:
        for idx, _ in chunk:
            self.sends[idx] = self.sends.get(idx, 0) + times

    def _failed(self, chunk: list[tuple[int, dict[str, Any]]], exc: ConnectorError, halved: bool) -> None:
        """The call failed as a whole after the policy's retries: split it if that may isolate a bad record."""
        policy = self.client.retry
        transient = isinstance(exc, TransientError)
        if len(chunk) > 1 and policy.splits(exc, idempotent=self.idempotent) and not (transient and halved):
            log.warning(
                "%s: a call of %d records failed (%s %s); sending each half on its own",
                self.path,
                len(chunk),
                exc.status or "",
                exc.code or "",
            )
            half = len(chunk) // 2
            for part in (chunk[:half], chunk[half:]):
                if transient:  # a 500 that outlived its retries: each half once, no deeper
                    self._chunk(part, policy.budget(retries=0), halved=True)
                else:  # refused as a whole: search down to the bad record
                    self._chunk(part, policy.budget(), halved=halved)
            return
        for idx, _ in chunk:
            self._set(
                idx,
                False,
                "retry" if transient else "rejected",
                code=exc.code or ("TRANSIENT" if transient else "REJECTED"),
                message=str(exc),
            )

    def _items(
        self, chunk: list[tuple[int, dict[str, Any]]], answer: list[dict[str, Any]], budget: Budget
    ) -> None:
        """Record per-item results; re-send items with transient codes while the chunk's budget lasts."""
        again: list[tuple[int, dict[str, Any], str | None, str, str]] = []
        for (idx, payload), item in zip(chunk, answer, strict=True):
            if item.get("success"):
                self._set(idx, True, self.ok_status(item), record_id=item.get("id"))
                continue
            errors = item.get("errors") or [{}]
            code = errors[0].get("statusCode") or errors[0].get("errorCode") or "UNKNOWN"
            message = "; ".join(str(e.get("message", "")) for e in errors)
            kind = classify_item(code)
            if kind == "quota":
                raise QuotaExceeded(f"{self.path}: {code} {message}", code=code)
            if kind == "transient":
                again.append((idx, payload, item.get("id"), code, message))
            else:
                self._set(idx, False, "rejected", record_id=item.get("id"), code=code, message=message)
        if not again:
            return
        if not budget.spend():  # the chunk's retries are spent: these records wait for the next run
            for idx, _, record_id, code, message in again:
                self._set(idx, False, "retry", record_id=record_id, code=code, message=message)
            return
        policy = self.client.retry
        log.info(
            "%s: %d records hit transient errors (%s); re-send %d/%d",
            self.path,
            len(again),
            again[0][3],
            budget.spent,
            budget.retries,
        )
        policy.sleep(policy.delay(budget.spent))
        self._chunk([(idx, payload) for idx, payload, *_ in again], budget, halved=True)


def _finish(
    results: list[PushResult | None],
    what: str,
    exc: QuotaExceeded | None,
    pushers: tuple[_Pusher, ...] = (),
) -> list[PushResult]:
    """Fill unsent rows (quota stop: 'not_sent', with their Id or key) and log the counts; raise PushInterrupted if
    the quota stopped us."""
    code = (exc.code if exc else None) or "REQUEST_LIMIT_EXCEEDED"
    ids = {i: v for p in pushers for i, v in p.ids.items()}
    keys = {i: v for p in pushers for i, v in p.keys.items()}
    done = [
        r
        if r is not None
        else PushResult(ids.get(i), False, "not_sent", code, "not sent: API quota reached", keys.get(i), 0)
        for i, r in enumerate(results)
    ]
    counts: dict[str, int] = {}
    for r in done:
        counts[r.status] = counts.get(r.status, 0) + 1
    log.info("%s: %d rows -> %s", what, len(done), counts)
    if exc is not None:
        raise PushInterrupted(
            f"{what}: stopped by the API quota ({exc}); {counts}", done, status=exc.status, code=code
        ) from None
    return done


def _check_fields(client: CrmClient, sobject: str, rows: list[dict[str, Any]], *, create: bool) -> None:
    """TerminalError if a pushed field is missing from the org or not writable by the integration user."""
    described = {str(f["name"]).lower(): f for f in client.describe(sobject).get("fields", [])}
    names = {k for row in rows for k in row if k.lower() not in ("id", "attributes")}
    flag = "createable" if create else "updateable"
    bad = sorted(n for n in names if n.lower() not in described or not described[n.lower()].get(flag, False))
    if bad:
        raise TerminalError(
            f"{sobject} fields {', '.join(bad)} are missing or not {flag} for the integration user: "
            "deploy the salesforce/ metadata and assign its permission set, or fix "
            "CRM_RISK_PUSH_FIELDS",
            code="INVALID_FIELD",
        )


def _bulk_update(
    client: CrmClient,
    sobject: str,
    items: list[tuple[int, dict[str, Any]]],
    results: list[PushResult | None],
    pusher: _Pusher,
) -> None:
    """Bulk 2.0 update jobs. Rows that failed transiently or were left unprocessed go once more through Collections,
    on a budget already charged with the job's send; rows of a job that could not run at all are left 'retry'."""
    policy = client.retry
    for start in range(0, len(items), BULK_JOB_ROWS):
        part = items[start : start + BULK_JOB_ROWS]
        by_id: dict[str, list[int]] = {}
        for idx, row in part:
            by_id.setdefault(str(row["Id"])[:15], []).append(idx)
        try:
            outcome = bulk.ingest(client, sobject, to_csv([row for _, row in part]), rows=len(part))
        except TransientError as exc:  # already retried call by call: the rows wait for the next run
            log.warning(
                "bulk update %s: the job could not run (%s); %d rows to retry", sobject, exc, len(part)
            )
            for idx, _ in part:
                results[idx] = PushResult(
                    pusher.ids[idx], False, "retry", exc.code or "TRANSIENT", mask(str(exc))
                )
            continue
        again: dict[int, tuple[str, str]] = {}
        for row in outcome.successful:
            for idx in by_id.pop(str(row.get("sf__Id") or row.get("Id") or "")[:15], []):
                results[idx] = PushResult(pusher.ids[idx], True, "updated")
        for row in outcome.failed:
            code, _, message = str(row.get("sf__Error", "UNKNOWN")).partition(":")
            kind = classify_item(code)
            for idx in by_id.pop(str(row.get("sf__Id") or row.get("Id") or "")[:15], []):
                if kind == "quota":
                    raise QuotaExceeded(f"bulk update {sobject}: {code}", code=code)
                if kind == "transient":
                    again[idx] = (code, message.strip())
                else:
                    results[idx] = PushResult(pusher.ids[idx], False, "rejected", code, mask(message.strip()))
        for idx in (i for idxs in by_id.values() for i in idxs):  # unprocessed or missing from the results
            again[idx] = ("UNPROCESSED", f"bulk job {outcome.job_id} ended {outcome.state} without it")
        if not again:
            continue
        if policy.max_retries == 0:
            for idx, (code, message) in again.items():
                results[idx] = PushResult(pusher.ids[idx], False, "retry", code, mask(message))
            continue
        log.info("bulk update %s: %d rows to send again through Collections", sobject, len(again))
        policy.sleep(policy.delay(1))
        payloads = dict(items)
        for idx in again:
            pusher.sends[idx] = 1  # the job sent each once: one retry of the budget is spent
        pusher.send(
            [(i, collection_record(sobject, payloads[i])) for i in sorted(again)],
            retries=policy.max_retries - 1,
        )


def push_updates(
    client: CrmClient, sobject: str, rows: list[dict[str, Any]], settings: Settings
) -> list[PushResult]:
    """Update existing records by Id (never creates); one PushResult per row, in input order."""
    results: list[PushResult | None] = [None] * len(rows)
    pusher = _Pusher(client, "PATCH", "composite/sobjects", results, lambda item: "updated")
    items: list[tuple[int, dict[str, Any]]] = []
    for idx, row in enumerate(rows):
        pusher.ids[idx] = row.get("Id")
        if not row.get("Id"):
            results[idx] = PushResult(
                None,
                False,
                "rejected",
                "MISSING_ID",
                "update-only: a row without Id is never sent (the pipeline does not create records)",
            )
        else:
            items.append((idx, row))
    exc: QuotaExceeded | None = None
    try:
        if items:
            _check_fields(client, sobject, [row for _, row in items], create=False)
        if len(items) > settings.push_bulk_threshold:
            _bulk_update(client, sobject, items, results, pusher)
        else:
            pusher.send([(idx, collection_record(sobject, row)) for idx, row in items])
    except QuotaExceeded as err:
        exc = err
    return _finish(results, f"push {sobject} updates", exc, (pusher,))


def create_tasks(
    client: CrmClient, rows: list[dict[str, Any]], settings: Settings | None = None
) -> list[PushResult]:
    """Create owner Tasks idempotently: upsert on Risk_Task_Key__c (a rerun updates, never duplicates).

    Rows without a key are plain Collections creates, never sent again after a call failed once sent (its outcome is
    unknown, and a blind retry could duplicate it); only a connect error, where nothing was sent, is retried.
    """
    results: list[PushResult | None] = [None] * len(rows)
    keyed = [(i, r) for i, r in enumerate(rows) if r.get(TASK_KEY)]
    plain = [(i, r) for i, r in enumerate(rows) if not r.get(TASK_KEY)]
    upsert = _Pusher(
        client,
        "PATCH",
        f"composite/sobjects/Task/{TASK_KEY}",
        results,
        lambda item: "created" if item.get("created") else "updated",
    )
    create = _Pusher(client, "POST", "composite/sobjects", results, lambda item: "created")
    for idx, row in keyed:
        upsert.keys[idx] = str(row[TASK_KEY])
    exc: QuotaExceeded | None = None
    try:
        if rows:
            _check_fields(client, "Task", rows, create=True)
        upsert.send(
            [
                (i, {"attributes": {"type": "Task"}, **{k: json_value(v) for k, v in r.items()}})
                for i, r in keyed
            ]
        )
        create.send(
            [
                (i, {"attributes": {"type": "Task"}, **{k: json_value(v) for k, v in r.items()}})
                for i, r in plain
            ]
        )
    except QuotaExceeded as err:
        exc = err
    return _finish(results, "create owner tasks", exc, (upsert, create))
