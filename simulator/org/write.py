"""Org writes: create / update / upsert, with their history rows and roll-ups (deletes: `simulator.org.delete`).

A mixin of `simulator.org.store.Org`: every write runs under the org lock in one DuckDB transaction (`_transact`)
that also logs its change events (simulator.org.changes), and the listeners are called after the lock is
released (outbound messages see committed data).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import duckdb

from simulator.org.changes import Change, ChangeLog
from simulator.org.errors import NOT_FOUND_MESSAGE, ApiError
from simulator.org.ids import make_id
from simulator.org.rules import (
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
from simulator.org.schema import FieldAccess, SObject
from simulator.org.sql import quote
from simulator.org.tables import scalar

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from simulator.org.clock import Clock

__all__ = ["WriteMixin"]

ID_POD = "9s"  # pod of ids minted by the simulator at run time (generated orgs use their own)
_OPP_TRACKED = ("StageName", "Amount", "Probability", "CloseDate")
Events = list[Change]


class WriteMixin:
    """Write semantics of the org (see contracts.md §1.1 and salesforce-wire.md §4)."""

    if TYPE_CHECKING:  # provided by simulator.org.store.Org
        clock: Clock
        api_version: str
        integration_user_id: str | None
        _lock: threading.RLock
        changes: ChangeLog
        _cursor: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]

        def _object(self, name: str) -> SObject: ...
        def _record_id(self, obj: SObject, record_id: str) -> str: ...
        def _row(self, cur: duckdb.DuckDBPyConnection, name: str, rid: str) -> dict | None: ...
        def _notify(self, events: Events) -> None: ...
        def find_by(self, sobject: str, field: str, value: object) -> list[str]: ...
        def access_for(self, user_id: str | None) -> FieldAccess | None: ...

    # -- public writes ------------------------------------------------------------------------------------
    def create(self, sobject: str, data: dict, *, user_id: str | None = None) -> str:
        """Insert a record and return its new 18-character id."""
        obj = self._object(sobject)
        if not obj.createable:
            raise ApiError(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be inserted: {obj.name}")
        with self._lock:
            rid, events = self._transact(lambda cur: self._create_in(cur, obj, data, user_id))
        self._notify(events)
        return rid

    def update(self, sobject: str, record_id: str, data: dict, *, user_id: str | None = None) -> None:
        """Update fields of a live record (NOT_FOUND, ENTITY_IS_DELETED, field errors)."""
        obj = self._object(sobject)
        if not obj.updateable:
            raise ApiError(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be updated: {obj.name}")
        rid = self._record_id(obj, record_id)
        with self._lock:
            _, events = self._transact(lambda cur: self._update_in(cur, obj, rid, data, user_id))
        self._notify(events)

    def upsert(
        self, sobject: str, ext_field: str, value: str, data: dict, *, user_id: str | None = None
    ) -> tuple[str, bool]:
        """Create or update by external id: (id, created); ApiError 300 MULTIPLE_CHOICES with the record urls."""
        obj = self._object(sobject)
        f = obj.field(ext_field)
        access = self.access_for(user_id)
        if f is not None and access is not None and access.hidden(obj.name, f.name):
            f = None
        if f is None or not (f.external_id or f.id_lookup):  # idLookup fields (Id, Email...) as REST allows
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        body = {k: v for k, v in data.items() if k.lower() != f.name.lower()}
        with self._lock:
            ids = self.find_by(obj.name, f.name, value)
            if len(ids) > 1:
                urls = [f"/services/data/v{self.api_version}/sobjects/{obj.name}/{i}" for i in ids]
                raise ApiError(
                    300, "MULTIPLE_CHOICES", f"More than one record found for {f.name} = {value}", urls=urls
                )
            if ids:
                if not obj.updateable:
                    raise ApiError(
                        400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be updated: {obj.name}"
                    )
                rid, events = self._transact(lambda cur: self._update_in(cur, obj, ids[0], body, user_id))
            elif f.name == "Id" or not obj.createable:
                raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
            else:
                rid, events = self._transact(
                    lambda cur: self._create_in(cur, obj, {**body, f.name: value}, user_id)
                )
        self._notify(events)
        return rid, not ids

    # -- internals ------------------------------------------------------------------------------------------
    def _transact(self, fn: Callable[[duckdb.DuckDBPyConnection], tuple[str, Events]]) -> tuple[str, Events]:
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

    def _live_row(self, cur: duckdb.DuckDBPyConnection, obj: SObject, rid: str) -> dict:
        row = self._row(cur, obj.name, rid)
        if row is None:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        if row.get("IsDeleted"):
            raise ApiError(400, "ENTITY_IS_DELETED", "entity is deleted", [])
        return row

    def _next_id(self, cur: duckdb.DuckDBPyConnection, name: str) -> str:
        while True:
            serial = scalar(
                cur,
                "INSERT INTO _counters VALUES (?, 1) ON CONFLICT (name) DO UPDATE "
                "SET value = _counters.value + 1 RETURNING value",
                [f"id:{name}"],
            )
            rid = make_id(name, int(serial), ID_POD)
            if cur.execute(f'SELECT 1 FROM {quote(name)} WHERE "Id" = ?', [rid]).fetchone() is None:
                return rid

    def _lookup(self, cur: duckdb.DuckDBPyConnection) -> Lookup:
        return lambda name, rid: self._row(cur, name, rid)

    def _create_in(
        self, cur: duckdb.DuckDBPyConnection, obj: SObject, data: dict, user_id: str | None
    ) -> tuple[str, Events]:
        body = normalize_body(obj, data, creating=True, access=self.access_for(user_id))
        lookup = self._lookup(cur)
        rec: dict[str, object] = {f.name: None for f in obj.fields}
        for key, value in body.items():
            rec[key] = coerce(obj.by_name[key.lower()], value, lookup)
        user = user_id or self.integration_user_id
        now = to_utc_naive(self.clock.now())
        apply_defaults(obj, rec, user)
        derive(obj, None, rec, set(body), now, lookup)
        check_required(obj, rec)
        self._check_unique(cur, obj, rec, None)
        rid = self._next_id(cur, obj.name)
        stamps = {
            "Id": rid,
            "IsDeleted": False,
            "CreatedDate": now,
            "CreatedById": user,
            "LastModifiedDate": now,
            "LastModifiedById": user,
            "SystemModstamp": now,
        }
        rec.update({k: v for k, v in stamps.items() if k in rec})
        if obj.name == "Case":
            number = scalar(
                cur,
                "INSERT INTO _counters VALUES ('CaseNumber', 1) ON CONFLICT (name) DO UPDATE "
                "SET value = _counters.value + 1 RETURNING value",
            )
            rec["CaseNumber"] = f"{int(number):08d}"
        self._insert(cur, obj.name, rec)
        if obj.name == "Opportunity":
            self._opportunity_history(cur, rec, None, user, now)
        if obj.name in ("Task", "Event"):
            self._roll_up_activity(cur, obj.name, rec, now)
        return rid, [Change(obj.name, rid, "created", now, user, new=rec)]

    def _update_in(
        self, cur: duckdb.DuckDBPyConnection, obj: SObject, rid: str, data: dict, user_id: str | None
    ) -> tuple[str, Events]:
        old = self._live_row(cur, obj, rid)
        body = normalize_body(obj, data, creating=False, access=self.access_for(user_id))
        lookup = self._lookup(cur)
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
        self._check_unique(cur, obj, {k: rec[k] for k in changed}, rid)
        if changed:
            sets = ", ".join(f"{quote(k)} = ?" for k in changed)
            cur.execute(
                f'UPDATE {quote(obj.name)} SET {sets} WHERE "Id" = ?', [rec[k] for k in changed] + [rid]
            )
        if obj.name == "Opportunity" and any(rec.get(k) != old.get(k) for k in _OPP_TRACKED):
            self._opportunity_history(cur, rec, old, user, now)
        if obj.name == "Account" and rec.get("OwnerId") != old.get("OwnerId"):
            self._insert(
                cur,
                "AccountHistory",
                {
                    "Id": self._next_id(cur, "AccountHistory"),
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
            self._roll_up_activity(cur, obj.name, rec, now)
        return rid, [Change(obj.name, rid, "updated", now, user, new=rec, old=old)]

    def _check_unique(self, cur: duckdb.DuckDBPyConnection, obj: SObject, rec: dict, rid: str | None) -> None:
        """DUPLICATE_VALUE when a unique field (Risk_Task_Key__c, Username) repeats a live record's value."""
        for f in obj.fields:
            value = rec.get(f.name)
            if not f.unique or value is None:
                continue
            deleted = ' AND NOT "IsDeleted"' if obj.field("IsDeleted") else ""
            hit = cur.execute(
                f'SELECT "Id" FROM {quote(obj.name)} WHERE lower({quote(f.name)}) = lower(?) '
                f'AND "Id" IS DISTINCT FROM ?{deleted} LIMIT 1',
                [value, rid],
            ).fetchone()
            if hit:
                raise ApiError(
                    400,
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {f.name} duplicates value on record with id: {hit[0]}",
                    [f.name],
                )

    def _insert(self, cur: duckdb.DuckDBPyConnection, name: str, rec: dict[str, object]) -> None:
        cols = list(rec)
        cur.execute(
            f"INSERT INTO {quote(name)} ({', '.join(quote(c) for c in cols)}) "
            f"VALUES ({', '.join('?' for _ in cols)})",
            [rec[c] for c in cols],
        )

    def _opportunity_history(
        self, cur: duckdb.DuckDBPyConnection, rec: dict, old: dict | None, user: str | None, now: datetime
    ) -> None:
        self._insert(
            cur,
            "OpportunityHistory",
            {
                "Id": self._next_id(cur, "OpportunityHistory"),
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

    def _roll_up_activity(self, cur: duckdb.DuckDBPyConnection, name: str, rec: dict, now: datetime) -> None:
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
                cur.execute(
                    f'UPDATE {quote(target)} SET "LastActivityDate" = ? WHERE "Id" = ? AND '
                    f'("LastActivityDate" IS NULL OR "LastActivityDate" < ?)',
                    [day, key, day],
                )
