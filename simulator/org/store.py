"""The simulated org: DuckDB storage (DIR/org.duckdb), SOQL queries, reads, getUpdated/getDeleted, the
Salesforce write semantics of its `WriteMixin` and `DeleteMixin`, and the change log of its committed writes.

Thread-safe for the threaded HTTP server: one re-entrant lock serialises writes (each write is one transaction),
reads use a fresh cursor per call. Writes and their history rows live in `simulator.org.write`, deletes in
`simulator.org.delete`, write rules in `simulator.org.rules`, SOQL -> SQL in `simulator.org.sql`, result paging
in `simulator.org.result`, the tables in `simulator.org.tables`, the Change Data Capture log (`Org.changes`) in
`simulator.org.changes`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from simulator.org.changes import Change, ChangeLog
from simulator.org.clock import Clock, format_datetime
from simulator.org.delete import DeleteMixin
from simulator.org.errors import NOT_FOUND_MESSAGE, ApiError
from simulator.org.result import DEFAULT_API_VERSION, QueryResult
from simulator.org.rules import object_of, parse_id, to_utc_naive
from simulator.org.schema import SCHEMA, FieldAccess, SObject, sobject
from simulator.org.session import Direct
from simulator.org.sql import quote, translate
from simulator.org.tables import create_tables, scalar, to_arrow
from simulator.org.write import WriteMixin
from simulator.soql import Query, parse

__all__ = ["Org", "QueryResult"]

log = logging.getLogger(__name__)
Listener = Callable[[str, str, str], None]


def _minute(value: datetime) -> datetime:
    return to_utc_naive(value).replace(second=0, microsecond=0)


class Org(WriteMixin, DeleteMixin):
    """One simulated Salesforce org persisted in `state_dir/org.duckdb` (reopening the dir gives the same org)."""

    def __init__(self, state_dir: Path, clock: Clock, integration_user_id: str | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.api_version = DEFAULT_API_VERSION
        self._db = duckdb.connect(str(self.state_dir / "org.duckdb"))
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        with self._lock:
            create_tables(self._db)
            row = self._db.execute("SELECT value FROM _meta WHERE key = 'integration_user_id'").fetchone()
        self.changes = ChangeLog(self._db, self._lock, clock)
        self.access = (
            FieldAccess()
        )  # the integration user's field-level security (simulator.org.schema.access)
        self._integration_user_id: str | None = row[0] if row else None
        # users holding "Set Audit Fields upon Record Creation" (a server option, granted at start)
        self.audit_field_users: set[str] = set()
        if integration_user_id:
            self.integration_user_id = integration_user_id

    @property
    def integration_user_id(self) -> str | None:
        """The user that owns and stamps records written without an explicit user (persisted with the org)."""
        return self._integration_user_id

    @integration_user_id.setter
    def integration_user_id(self, user_id: str | None) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO _meta VALUES ('integration_user_id', ?)", [user_id])
        self._integration_user_id = user_id

    def close(self) -> None:
        """Close the database file (the org stays on disk)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Org:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self._db.cursor()
        try:
            yield cur
        finally:
            cur.close()

    # -- loading ------------------------------------------------------------------------------------------
    def load(self, data: dict[str, list[dict]]) -> None:
        """Bulk-load a generated org through Arrow, replacing every row (objects missing from data end empty)."""
        unknown = sorted(set(data) - set(SCHEMA))
        if unknown:
            raise ValueError(f"unknown objects in org data: {', '.join(unknown)}")
        with self._lock, self._cursor() as cur:
            cur.execute("BEGIN")
            try:
                for name, obj in SCHEMA.items():
                    cur.execute(f"DELETE FROM {quote(name)}")
                    rows = data.get(name) or []
                    if rows:
                        table = to_arrow(obj, rows)
                        cur.register("_load_rows", table)
                        cur.execute(f"INSERT INTO {quote(name)} BY NAME SELECT * FROM _load_rows")
                        cur.unregister("_load_rows")
                cur.execute("DELETE FROM _deleted_log")
                for name, obj in SCHEMA.items():
                    if obj.field("IsDeleted") is not None and obj.field("SystemModstamp") is not None:
                        cur.execute(
                            f'INSERT INTO _deleted_log SELECT ?, "Id", "SystemModstamp", FALSE '
                            f'FROM {quote(name)} WHERE "IsDeleted"',
                            [name],
                        )
                cur.execute(
                    "INSERT OR REPLACE INTO _counters SELECT 'CaseNumber', "
                    'coalesce(max(try_cast("CaseNumber" AS BIGINT)), 0) FROM "Case"'
                )
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        log.info("org loaded: %s", {k: len(v) for k, v in data.items()})

    # -- reads --------------------------------------------------------------------------------------------
    def is_empty(self) -> bool:
        """True when no object holds any row."""
        with self._cursor() as cur:
            total = sum(scalar(cur, f"SELECT count(*) FROM {quote(n)}") for n in SCHEMA)
        return total == 0

    def count(self, sobject: str) -> int:
        """Live (not deleted) records of an object."""
        obj = self._object(sobject)
        where = ' WHERE NOT "IsDeleted"' if obj.field("IsDeleted") else ""
        with self._cursor() as cur:
            return int(scalar(cur, f"SELECT count(*) FROM {quote(obj.name)}{where}"))

    def access_for(self, user_id: str | None) -> FieldAccess | None:
        """The field-level security a request of `user_id` is under: the integration user's; None (everything) for
        other users and for the org's own calls."""
        if user_id is not None and user_id == self.integration_user_id:
            return self.access
        return None

    def query(self, soql: str, *, include_deleted: bool = False, user_id: str | None = None) -> QueryResult:
        """Run a SOQL query once into an Arrow table (ApiError MALFORMED_QUERY / INVALID_FIELD / INVALID_TYPE), as
        `user_id` sees the org (field-level security)."""
        q = parse(soql, self.access_for(user_id))
        return self._run(q, include_deleted=include_deleted)

    def _run(
        self, q: Query, *, include_deleted: bool, extra_where: tuple[str, list] | None = None
    ) -> QueryResult:
        tr = translate(q, include_deleted=include_deleted, today=self.clock.today(), extra_where=extra_where)
        name = q.sobject.name
        try:
            with self._cursor() as cur:
                if q.is_count:
                    n = int(scalar(cur, tr.sql, tr.params))
                    return QueryResult(name, [], None, n, is_count=True, api_version=self.api_version)
                table = cur.sql(tr.sql, params=tr.params).to_arrow_table()
        except duckdb.Error as exc:  # a value the parser let through but the column cannot take
            log.warning("query failed in DuckDB: %s (%s)", q.text, exc)
            raise ApiError(
                400, "MALFORMED_QUERY", f"\n{q.text}\n^\nERROR at Row:1:Column:1\ninvalid query: {exc}"
            ) from None
        return QueryResult(name, tr.columns, table, table.num_rows, tr.parents, api_version=self.api_version)

    def get(
        self, sobject: str, record_id: str, fields: list[str] | None = None, *, api_version: str | None = None
    ) -> dict:
        """One record in REST JSON shape (all fields, or the listed ones); ApiError 404 NOT_FOUND."""
        obj = self._object(sobject)
        rid = self._record_id(obj, record_id)
        with self._cursor() as cur:
            row = self._row(cur, obj.name, rid)
        if row is None:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        if row.get("IsDeleted"):
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
        names = fields or [f.name for f in obj.all_fields]
        q = parse(f"SELECT {', '.join(names)} FROM {obj.name}")
        result = self._run(q, include_deleted=True, extra_where=('t."Id" = ?', [rid]))
        records = result.records(0, 1, api_version=api_version)
        return records[0]

    def find_by(self, sobject: str, field: str, value: object) -> list[str]:
        """Ids of live records whose field equals value (ids in 18-character form, text case-insensitively)."""
        obj = self._object(sobject)
        f = obj.field(field)
        if f is None:
            raise ApiError(
                400, "INVALID_FIELD", f"No such column '{field}' on sobject of type {obj.name}", [field]
            )
        with self._cursor() as cur:
            return Direct(cur).find(obj, f, value)

    def listen(self, callback: Listener) -> None:
        """Call `callback(sobject, record_id, "created"|"updated"|"deleted"|"undeleted")` after each committed
        write of the record it names (not for the dependants a delete cascades to)."""
        self._listeners.append(callback)

    # -- replication (getUpdated / getDeleted) --------------------------------------------------------------
    def _window(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        lo, hi = _minute(start), _minute(end)
        if lo >= hi:
            raise ApiError(
                400,
                "INVALID_REPLICATION_DATE",
                "startDate must chronologically precede endDate by more than one minute",
            )
        return lo, min(hi, _minute(self.clock.now()))

    def updated(self, sobject: str, start: datetime, end: datetime) -> dict:
        """getUpdated: live ids whose SystemModstamp is in [start, end) (seconds ignored), plus latestDateCovered."""
        obj = self._object(sobject)
        lo, hi = self._window(start, end)
        stamp = "SystemModstamp" if obj.field("SystemModstamp") else "CreatedDate"
        deleted = ' AND NOT "IsDeleted"' if obj.field("IsDeleted") else ""
        with self._cursor() as cur:
            ids = [
                r[0]
                for r in cur.execute(
                    f'SELECT "Id" FROM {quote(obj.name)} WHERE "{stamp}" >= ? AND "{stamp}" < ?{deleted} ORDER BY "Id"',
                    [lo, hi],
                ).fetchall()
            ]
        return {"ids": ids, "latestDateCovered": format_datetime(hi)}

    def deleted(self, sobject: str, start: datetime, end: datetime) -> dict:
        """getDeleted: soft and hard deletes in [start, end), at most 15 days back (earliestDateAvailable)."""
        obj = self._object(sobject)
        lo, hi = self._window(start, end)
        earliest = _minute(self.clock.now()) - timedelta(days=15)
        with self._cursor() as cur:
            rows = cur.execute(
                "SELECT id, deleted_at FROM _deleted_log WHERE sobject = ? AND deleted_at >= ? "
                "AND deleted_at < ? ORDER BY deleted_at, id",
                [obj.name, max(lo, earliest), hi],
            ).fetchall()
        return {
            "deletedRecords": [{"id": r[0], "deletedDate": format_datetime(r[1])} for r in rows],
            "earliestDateAvailable": format_datetime(earliest),
            "latestDateCovered": format_datetime(hi),
        }

    # -- helpers shared with the write mixin ----------------------------------------------------------------
    def _object(self, name: str) -> SObject:
        obj = sobject(name)
        if obj is None:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        return obj

    def _record_id(self, obj: SObject, record_id: str) -> str:
        """An id normalised to 18 characters; MALFORMED_ID for a bad shape, NOT_FOUND for another object's id."""
        rid = parse_id(record_id, obj.name)
        if object_of(rid) != obj.name:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        return rid

    def _row(self, cur: duckdb.DuckDBPyConnection, name: str, rid: str) -> dict | None:
        """One stored row as a dict (Python values, naive UTC datetimes), or None."""
        res = cur.execute(f'SELECT * FROM {quote(name)} WHERE "Id" = ?', [rid])
        row = res.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in res.description], row, strict=True))

    def _notify(self, events: list[Change]) -> None:
        for event in events:
            if event.cascade:
                continue
            for cb in list(self._listeners):
                try:
                    cb(event.sobject, event.record_id, event.kind)
                except Exception:  # a listener's failure must not fail the write that already committed
                    log.exception(
                        "org listener failed for %s %s %s", event.sobject, event.record_id, event.kind
                    )
