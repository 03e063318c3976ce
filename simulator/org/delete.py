"""Org deletes: soft delete (cascading to dependants), hard delete, and undelete from the Recycle Bin.

A mixin of `simulator.org.store.Org`, like `simulator.org.write`: each call is one DuckDB transaction under the
org lock whose `Change`s are logged with it (simulator.org.changes). A cascade's dependants are DELETE (and on
undelete UNDELETE) changes of their own; only the record named is reported to `Org.listen` callbacks. Purging an
already soft-deleted record (hard delete from the Recycle Bin) publishes no change event, as in Salesforce.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import duckdb

from simulator.org.changes import Change
from simulator.org.errors import NOT_FOUND_MESSAGE, ApiError
from simulator.org.rules import to_utc_naive
from simulator.org.sql import quote

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from simulator.org.clock import Clock
    from simulator.org.schema import SObject

__all__ = ["DeleteMixin"]

# Soft-deleting a parent soft-deletes these children (object, reference column), one level further for opportunities.
_CASCADE: dict[str, tuple[tuple[str, str], ...]] = {
    "Account": (
        ("Contact", "AccountId"),
        ("Opportunity", "AccountId"),
        ("Case", "AccountId"),
        ("Task", "AccountId"),
        ("Event", "AccountId"),
    ),
    "Opportunity": (("OpportunityContactRole", "OpportunityId"),),
}
Events = list[Change]


class DeleteMixin:
    """Delete semantics of the org (soft delete with cascade, hard delete, undelete)."""

    if TYPE_CHECKING:  # provided by simulator.org.store.Org and simulator.org.write.WriteMixin
        clock: Clock
        integration_user_id: str | None
        _lock: threading.RLock

        def _object(self, name: str) -> SObject: ...
        def _record_id(self, obj: SObject, record_id: str) -> str: ...
        def _row(self, cur: duckdb.DuckDBPyConnection, name: str, rid: str) -> dict | None: ...
        def _live_row(self, cur: duckdb.DuckDBPyConnection, obj: SObject, rid: str) -> dict: ...
        def _notify(self, events: Events) -> None: ...
        def _transact(
            self, fn: Callable[[duckdb.DuckDBPyConnection], tuple[str, Events]]
        ) -> tuple[str, Events]: ...

    def _deletable(self, sobject: str) -> SObject:
        obj = self._object(sobject)
        if not obj.deletable or obj.field("IsDeleted") is None:
            raise ApiError(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be deleted: {obj.name}")
        return obj

    def delete(self, sobject: str, record_id: str, *, user_id: str | None = None) -> None:
        """Soft delete: IsDeleted = true (still in queryAll), listed by `deleted()`."""
        obj = self._deletable(sobject)
        rid = self._record_id(obj, record_id)

        def run(cur: duckdb.DuckDBPyConnection) -> tuple[str, Events]:
            row = self._live_row(cur, obj, rid)
            now = to_utc_naive(self.clock.now())
            user = user_id or self.integration_user_id
            self._soft_delete(cur, obj.name, '"Id" = ?', [rid], now, user)
            events = [Change(obj.name, rid, "deleted", now, user)]
            for child, column in _CASCADE.get(obj.name, ()):  # Salesforce deletes the dependants with it
                for child_id in self._soft_delete(cur, child, f'"{column}" = ?', [rid], now, user):
                    events.append(Change(child, child_id, "deleted", now, user, cascade=True))
                    for grandchild, gcol in _CASCADE.get(child, ()):
                        for gid in self._soft_delete(cur, grandchild, f'"{gcol}" = ?', [child_id], now, user):
                            events.append(Change(grandchild, gid, "deleted", now, user, cascade=True))
            return row["Id"], events

        with self._lock:
            _, events = self._transact(run)
        self._notify(events)

    def undelete(self, sobject: str, record_id: str, *, user_id: str | None = None) -> None:
        """Restore a soft-deleted record and the dependants its delete took along (400 UNDELETE_FAILED if live)."""
        obj = self._deletable(sobject)
        rid = self._record_id(obj, record_id)

        def run(cur: duckdb.DuckDBPyConnection) -> tuple[str, Events]:
            row = self._row(cur, obj.name, rid)
            if row is None:
                raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
            if not row.get("IsDeleted"):
                raise ApiError(400, "UNDELETE_FAILED", "Entity is not in the recycle bin", [])
            stamp = row["SystemModstamp"]  # the dependants deleted with it carry the same stamp
            now = to_utc_naive(self.clock.now())
            user = user_id or self.integration_user_id
            restored = [
                (obj.name, i, False)
                for i in self._restore(cur, obj.name, '"Id" = ?', [rid], stamp, now, user)
            ]
            for child, column in _CASCADE.get(obj.name, ()):
                for child_id in self._restore(cur, child, f'"{column}" = ?', [rid], stamp, now, user):
                    restored.append((child, child_id, True))
                    for grandchild, gcol in _CASCADE.get(child, ()):
                        for gid in self._restore(
                            cur, grandchild, f'"{gcol}" = ?', [child_id], stamp, now, user
                        ):
                            restored.append((grandchild, gid, True))
            events = [
                Change(n, i, "undeleted", now, user, new=self._row(cur, n, i), cascade=c)
                for n, i, c in restored
            ]
            return rid, events

        with self._lock:
            _, events = self._transact(run)
        self._notify(events)

    def hard_delete(self, sobject: str, record_id: str) -> None:
        """Remove a record for good: gone from queryAll, still listed by `deleted()`."""
        obj = self._object(sobject)
        if not obj.deletable:
            raise ApiError(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be deleted: {obj.name}")
        rid = self._record_id(obj, record_id)

        def run(cur: duckdb.DuckDBPyConnection) -> tuple[str, Events]:
            row = self._row(cur, obj.name, rid)
            if row is None:
                raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
            cur.execute(f'DELETE FROM {quote(obj.name)} WHERE "Id" = ?', [rid])
            if row.get("IsDeleted"):
                cur.execute(
                    "UPDATE _deleted_log SET hard = TRUE WHERE sobject = ? AND id = ?", [obj.name, rid]
                )
                return rid, []
            now = to_utc_naive(self.clock.now())
            cur.execute("INSERT INTO _deleted_log VALUES (?, ?, ?, TRUE)", [obj.name, rid, now])
            return rid, [Change(obj.name, rid, "deleted", now, self.integration_user_id)]

        with self._lock:
            _, events = self._transact(run)
        self._notify(events)

    def _soft_delete(
        self,
        cur: duckdb.DuckDBPyConnection,
        name: str,
        where: str,
        params: list,
        now: datetime,
        user: str | None,
    ) -> list[str]:
        """Mark live rows deleted, log them for getDeleted, and return their ids."""
        ids = [
            r[0]
            for r in cur.execute(
                f'UPDATE {quote(name)} SET "IsDeleted" = TRUE, "LastModifiedDate" = ?, '
                f'"LastModifiedById" = ?, "SystemModstamp" = ? WHERE {where} AND NOT "IsDeleted" '
                f'RETURNING "Id"',
                [now, user, now, *params],
            ).fetchall()
        ]
        if ids:
            cur.execute("INSERT INTO _deleted_log SELECT ?, unnest(?::VARCHAR[]), ?, FALSE", [name, ids, now])
        return ids

    def _restore(
        self,
        cur: duckdb.DuckDBPyConnection,
        name: str,
        where: str,
        params: list,
        stamp: datetime,
        now: datetime,
        user: str | None,
    ) -> list[str]:
        """Undelete the rows deleted at `stamp`, drop them from getDeleted's log, and return their ids."""
        ids = [
            r[0]
            for r in cur.execute(
                f'UPDATE {quote(name)} SET "IsDeleted" = FALSE, "LastModifiedDate" = ?, '
                f'"LastModifiedById" = ?, "SystemModstamp" = ? WHERE {where} AND "IsDeleted" '
                f'AND "SystemModstamp" = ? RETURNING "Id"',
                [now, user, now, *params, stamp],
            ).fetchall()
        ]
        if ids:
            cur.execute(
                "DELETE FROM _deleted_log WHERE sobject = ? AND NOT hard AND list_contains(?::VARCHAR[], id)",
                [name, ids],
            )
        return ids
