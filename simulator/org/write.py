"""Org writes: create / update / upsert, with their history rows and roll-ups (deletes: `simulator.org.delete`).

A mixin of `simulator.org.store.Org`: every write runs under the org lock in one DuckDB transaction (`_transact`)
that also logs its change events (simulator.org.changes), and the listeners are called after the lock is
released (outbound messages see committed data). `write_many` applies a list of writes (a Collections call, a
Bulk 2.0 chunk) the same way, one after the other, but reads and writes the tables set-based in one transaction
(simulator.org.session); a write the rules refuse is that write's error, the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

import duckdb

from simulator.org.changes import Change, ChangeLog
from simulator.org.errors import NOT_FOUND_MESSAGE, ApiError
from simulator.org.rules import (
    AUDIT_FIELDS,
    Lookup,
    apply_defaults,
    check_required,
    coerce,
    derive,
    forecast_category,
    normalize_body,
    object_of,
    to_utc_naive,
)
from simulator.org.schema import Field, FieldAccess, SObject
from simulator.org.session import Batch, Direct, Session, Write

if TYPE_CHECKING:
    import threading
    from contextlib import AbstractContextManager

    from simulator.org.clock import Clock

__all__ = ["Write", "WriteMixin"]

log = logging.getLogger(__name__)
_OPP_TRACKED = ("StageName", "Amount", "Probability", "CloseDate")
Events = list[Change]
_T = TypeVar("_T")


class WriteMixin:
    """Write semantics of the org (see contracts.md §1.1 and salesforce-wire.md §4)."""

    if TYPE_CHECKING:  # provided by simulator.org.store.Org
        clock: Clock
        api_version: str
        integration_user_id: str | None
        audit_field_users: set[str]
        _lock: threading.RLock
        changes: ChangeLog
        _cursor: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]

        def _object(self, name: str) -> SObject: ...
        def _record_id(self, obj: SObject, record_id: str) -> str: ...
        def _row(self, cur: duckdb.DuckDBPyConnection, name: str, rid: str) -> dict | None: ...
        def _notify(self, events: Events) -> None: ...
        def access_for(self, user_id: str | None) -> FieldAccess | None: ...

    # -- public writes ------------------------------------------------------------------------------------
    def create(self, sobject: str, data: dict, *, user_id: str | None = None) -> str:
        """Insert a record and return its new 18-character id."""
        return self._write_one(Write("create", sobject, data), user_id)[0]

    def update(self, sobject: str, record_id: str, data: dict, *, user_id: str | None = None) -> None:
        """Update fields of a live record (NOT_FOUND, ENTITY_IS_DELETED, field errors)."""
        self._write_one(Write("update", sobject, data, record_id=record_id), user_id)

    def upsert(
        self, sobject: str, ext_field: str, value: str, data: dict, *, user_id: str | None = None
    ) -> tuple[str, bool]:
        """Create or update by external id: (id, created); ApiError 300 MULTIPLE_CHOICES with the record urls."""
        return self._write_one(Write("upsert", sobject, data, ext_field=ext_field, ext_value=value), user_id)

    def write_many(
        self, writes: list[Write], *, user_id: str | None = None
    ) -> list[tuple[str, bool] | ApiError]:
        """Apply writes in order: per write (id, created), or the ApiError that refused it.

        Each write sees the ones before it, exactly as if they had been written one by one; together they are one
        DuckDB transaction and one change-log transaction (callers hold one anyway: a request, a Bulk chunk).
        Should the set-based statements fail as a whole (a value DuckDB or Arrow refuses), the writes are applied one
        by one instead, each guard giving the verdict it gave the first time (a fault counted once)."""
        if not writes:
            return []
        writes = [replace(w, guard=_once(w.guard)) if w.guard else w for w in writes]
        with self._lock:
            try:
                out, events = self._batched(writes, user_id)
            except Exception as exc:
                log.warning(
                    "set-based write of %d records failed (%r): writing them one by one", len(writes), exc
                )
                out, events = [], []
                for w in writes:
                    try:
                        result, changes = self._written(w, user_id)
                    except ApiError as err:
                        out.append(err)
                        continue
                    out.append(result)
                    events.extend(changes)
        self._notify(events)
        return out

    # -- internals ------------------------------------------------------------------------------------------
    def _written(self, w: Write, user_id: str | None) -> tuple[tuple[str, bool], Events]:
        """One write in a transaction of its own (org lock held by the caller)."""
        return self._transact_st(lambda st: self._apply(st, w, user_id))

    def _write_one(self, w: Write, user_id: str | None) -> tuple[str, bool]:
        with self._lock:
            result, events = self._written(w, user_id)
        self._notify(events)
        return result

    def _write_or_error(self, w: Write, user_id: str | None) -> tuple[str, bool] | ApiError:
        try:
            return self._write_one(w, user_id)
        except ApiError as exc:
            return exc

    def _batched(
        self, writes: list[Write], user_id: str | None
    ) -> tuple[list[tuple[str, bool] | ApiError], Events]:
        out: list[tuple[str, bool] | ApiError] = []
        events: Events = []
        with self._cursor() as cur:
            cur.execute("BEGIN")
            try:
                st = Batch(cur)
                st.prefetch(writes, self._ext_field)
                for w in writes:
                    try:
                        result, changes = self._apply(st, w, user_id)
                    except ApiError as exc:  # refused before it wrote anything (the rules check first)
                        out.append(exc)
                        continue
                    out.append(result)
                    events.extend(changes)
                st.flush()
                head = self.changes.record(cur, events)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        self.changes.published(head)
        return out, events

    def _transact(self, fn: Callable[[duckdb.DuckDBPyConnection], tuple[_T, Events]]) -> tuple[_T, Events]:
        """Run one write in a DuckDB transaction; its change events are logged in the same transaction."""
        with self._cursor() as cur:
            cur.execute("BEGIN")
            try:
                out = fn(cur)
                head = self.changes.record(cur, out[1])
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        self.changes.published(head)
        return out

    def _transact_st(self, fn: Callable[[Session], tuple[_T, Events]]) -> tuple[_T, Events]:
        return self._transact(lambda cur: fn(Direct(cur)))

    def _ext_field(self, w: Write) -> tuple[SObject, Field] | None:
        """The object and external id field an upsert matches on (None where the upsert is refused)."""
        obj = self._object(w.sobject)
        f = obj.field(w.ext_field or "")
        return (obj, f) if f is not None and (f.external_id or f.id_lookup) else None

    def _apply(self, st: Session, w: Write, user_id: str | None) -> tuple[tuple[str, bool], Events]:
        """One write through a session: ((id, created), its change events)."""
        obj = self._object(w.sobject)
        if w.op == "create":
            if w.guard:
                w.guard([])
            if not obj.createable:
                raise ApiError(
                    400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be inserted: {obj.name}"
                )
            rid, events = self._create_in(st, obj, w.data, user_id)
            return (rid, True), events
        if w.op == "update":
            if w.guard:
                w.guard([str(w.record_id)])
            if not obj.updateable:
                raise ApiError(
                    400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be updated: {obj.name}"
                )
            rid, events = self._update_in(st, obj, self._record_id(obj, str(w.record_id)), w.data, user_id)
            return (rid, False), events
        f = obj.field(w.ext_field or "")
        access = self.access_for(user_id)
        if f is not None and access is not None and access.hidden(obj.name, f.name):
            f = None
        if f is None or not (f.external_id or f.id_lookup):
            if w.guard:  # the caller's check came first before (a fault counted): it still does
                w.guard([])
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        body = {k: v for k, v in w.data.items() if k.lower() != f.name.lower()}
        ids = st.find(obj, f, w.ext_value)
        if w.guard:
            w.guard(ids)
        if len(ids) > 1:
            urls = [f"/services/data/v{self.api_version}/sobjects/{obj.name}/{i}" for i in ids]
            raise ApiError(
                300, "MULTIPLE_CHOICES", f"More than one record found for {f.name} = {w.ext_value}", urls=urls
            )
        if ids:
            if not obj.updateable:
                raise ApiError(
                    400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be updated: {obj.name}"
                )
            rid, events = self._update_in(st, obj, ids[0], body, user_id)
            return (rid, False), events
        if f.name == "Id" or not obj.createable:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        rid, events = self._create_in(st, obj, {**body, f.name: w.ext_value}, user_id)
        return (rid, True), events

    def _live_row(self, cur: duckdb.DuckDBPyConnection, obj: SObject, rid: str) -> dict:
        return _live(self._row(cur, obj.name, rid))

    def _create_in(self, st: Session, obj: SObject, data: dict, user_id: str | None) -> tuple[str, Events]:
        user = user_id or self.integration_user_id
        body = normalize_body(
            obj, data, creating=True, access=self.access_for(user_id), audit=user in self.audit_field_users
        )
        lookup: Lookup = st.row
        rec: dict[str, object] = {f.name: None for f in obj.fields}
        for key, value in body.items():
            rec[key] = coerce(obj.by_name[key.lower()], value, lookup)
        now = to_utc_naive(self.clock.now())
        apply_defaults(obj, rec, user)
        derive(obj, None, rec, set(body), now, lookup)
        check_required(obj, rec)
        self._check_unique(st, obj, rec, None)
        rid = st.next_id(obj.name)
        stamps = {
            "Id": rid,
            "IsDeleted": False,
            "CreatedDate": now,
            "CreatedById": user,
            "LastModifiedDate": now,
            "LastModifiedById": user,
            "SystemModstamp": now,
        }
        # audit fields the creator may set and did (SystemModstamp never: it is the insert's instant); a Task
        # inserted with a WhoId or WhatId keeps the insert's LastModified stamps (Salesforce Help 000386065)
        kept = {k for k in AUDIT_FIELDS if k in body}
        if obj.name == "Task" and (rec.get("WhoId") or rec.get("WhatId")):
            kept -= {"LastModifiedDate", "LastModifiedById"}
        rec.update({k: v for k, v in stamps.items() if k in rec and k not in kept})
        if obj.name == "Case":
            rec["CaseNumber"] = f"{st.counter('CaseNumber'):08d}"
        st.insert(obj.name, rec)
        if obj.name == "Opportunity":
            self._opportunity_history(st, rec, None, user, now)
        if obj.name in ("Task", "Event"):
            self._roll_up_activity(st, obj.name, rec, now)
        return rid, [Change(obj.name, rid, "created", now, user, new=rec)]

    def _update_in(
        self, st: Session, obj: SObject, rid: str, data: dict, user_id: str | None
    ) -> tuple[str, Events]:
        old = _live(st.row(obj.name, rid))
        body = normalize_body(obj, data, creating=False, access=self.access_for(user_id))
        lookup: Lookup = st.row
        rec = dict(old)
        for key, value in body.items():
            rec[key] = coerce(obj.by_name[key.lower()], value, lookup)
        user = user_id or self.integration_user_id
        now = to_utc_naive(self.clock.now())
        derive(obj, old, rec, set(body), now, lookup)
        check_required(obj, rec)
        for key, value in {"LastModifiedDate": now, "LastModifiedById": user, "SystemModstamp": now}.items():
            if key in rec:
                rec[key] = value
        changed = [k for k in rec if rec[k] != old.get(k)]
        self._check_unique(st, obj, {k: rec[k] for k in changed}, rid)
        if changed:
            st.update(obj.name, rid, {k: rec[k] for k in changed})
        if obj.name == "Opportunity" and any(rec.get(k) != old.get(k) for k in _OPP_TRACKED):
            self._opportunity_history(st, rec, old, user, now)
        if obj.name == "Account" and rec.get("OwnerId") != old.get("OwnerId"):
            st.insert(
                "AccountHistory",
                {
                    "Id": st.next_id("AccountHistory"),
                    "IsDeleted": False,
                    "AccountId": rid,
                    "Field": "Owner",
                    "DataType": "EntityId",
                    "OldValue": old.get("OwnerId"),
                    "NewValue": rec.get("OwnerId"),
                    "CreatedById": user,
                    "CreatedDate": now,
                },
            )
        if obj.name in ("Task", "Event"):
            self._roll_up_activity(st, obj.name, rec, now)
        return rid, [Change(obj.name, rid, "updated", now, user, new=rec, old=old)]

    def _check_unique(self, st: Session, obj: SObject, rec: dict, rid: str | None) -> None:
        """DUPLICATE_VALUE when a unique field (Risk_Task_Key__c, Username) repeats a live record's value."""
        for f in obj.fields:
            value = rec.get(f.name)
            if not f.unique or value is None:
                continue
            hit = next((i for i in st.find(obj, f, value) if i != rid), None)
            if hit:
                raise ApiError(
                    400,
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {f.name} duplicates value on record with id: {hit}",
                    [f.name],
                )

    def _opportunity_history(
        self, st: Session, rec: dict, old: dict | None, user: str | None, now: datetime
    ) -> None:
        st.insert(
            "OpportunityHistory",
            {
                "Id": st.next_id("OpportunityHistory"),
                "IsDeleted": False,
                "OpportunityId": rec["Id"],
                "StageName": rec.get("StageName"),
                "Amount": rec.get("Amount"),
                "Probability": rec.get("Probability"),
                "CloseDate": rec.get("CloseDate"),
                "ForecastCategory": forecast_category(rec.get("ForecastCategoryName")),
                "PrevAmount": old.get("Amount") if old else None,
                "PrevCloseDate": old.get("CloseDate") if old else None,
                "CreatedById": user,
                "CreatedDate": now,
                "SystemModstamp": now,
            },
        )

    def _roll_up_activity(self, st: Session, name: str, rec: dict, now: datetime) -> None:
        """LastActivityDate on the related Account / Contact / Opportunity: the latest closed task or past event.

        Like Salesforce's roll-up it moves only forward and leaves the parents' SystemModstamp alone.
        """
        day = rec.get("ActivityDate")
        if (
            day is None
            or (name == "Task" and not rec.get("IsClosed"))
            or (name == "Event" and day >= now.date())
        ):
            return
        for key in {rec.get("AccountId"), rec.get("WhoId"), rec.get("WhatId")} - {None}:
            target = object_of(str(key))
            if target in ("Account", "Contact", "Opportunity"):
                st.roll_up(target, str(key), day)


def _once(guard: Callable[[list[str]], None]) -> Callable[[list[str]], None]:
    """A guard that decides once: later calls repeat its first verdict (a fault's count is spent once)."""
    verdict: list[ApiError | None] = []

    def decided(ids: list[str]) -> None:
        if not verdict:
            try:
                guard(ids)
            except ApiError as exc:
                verdict.append(exc)
                raise
            verdict.append(None)
        elif verdict[0] is not None:
            raise verdict[0]

    return decided


def _live(row: dict | None) -> dict:
    if row is None:
        raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
    if row.get("IsDeleted"):
        raise ApiError(400, "ENTITY_IS_DELETED", "entity is deleted", [])
    return row
