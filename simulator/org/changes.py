"""The org's change log: a Change Data Capture event for every committed write, kept in DIR/org.duckdb.

Capture. Every write of `simulator.org.write` hands its `Change`s to `ChangeLog.record` inside its own DuckDB
transaction, so a write that rolls back logs nothing and a committed one is logged atomically with it. Inside
`with org.changes.transaction(origin):` a thread's writes are one CDC transaction instead (a REST or Collections
request, a Bulk 2.0 chunk of 200 rows): their events are logged when the block ends, share a `transactionKey`
and are numbered 1..n; `discard()` drops what the block captured (Collections `allOrNone` undone by
compensation publishes nothing). The initial bulk load of a generated org (`Org.load`) publishes nothing.

Events, as Salesforce shapes them (`simulator.org.cdc` encodes them): one per changed record of the CDC objects
(CREATE: every non-null value; UPDATE: the changed values, `LastModifiedDate` always, nulled fields listed in
`nulledFields`; DELETE: the header only; UNDELETE: like CREATE). Salesforce merges identical changes of one
transaction: here the DELETEs (cascade deletes included) and the gap events of one object in one transaction are
one event listing every record id, while creates and updates stay one event per record. Several writes of one
record in one transaction are one event of the first change type with the final values (a later delete wins).

Faults (`ChangeFaults`, provided by the server's fault plan): `gap(object)` turns a change into `GAP_<TYPE>`
(header and record id only); `overflow(n)` lowers Salesforce's overflow threshold (100,000 changes, each create,
delete or undelete counting 1 and an update the number of its changed fields): the changes past the threshold
are not sent, one `GAP_OVERFLOW` event per object among them is (no record ids).

Storage and retention. `_cdc_log(replay, entity, committed_at, commit_number, schema_id, event_id, payload)`:
the Avro payload is encoded once, when logged; `replay` (the replay id, 8 bytes big-endian on the wire) counts
up from 1 across restarts. `_cdc_schemas` keeps every schema an event was written with. Events whose commit is
older than `retention` (72 hours by default) on the org's clock are no longer read; `purge()` deletes them.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import duckdb

from simulator.org.cdc import CDC_OBJECTS, epoch_ms, event_schema
from simulator.org.clock import Clock
from simulator.org.rules import to_utc_naive

__all__ = ["DEFAULT_RETENTION", "OVERFLOW_LIMIT", "Change", "ChangeFaults", "ChangeLog", "LoggedEvent"]

log = logging.getLogger(__name__)
DEFAULT_RETENTION = timedelta(hours=72)
OVERFLOW_LIMIT = 100_000
_FIRST_COMMIT = 40_000_000_000  # commit numbers look like a database's system change numbers
_TABLES = (
    "CREATE TABLE IF NOT EXISTS _cdc_log (replay BIGINT PRIMARY KEY, entity VARCHAR, committed_at TIMESTAMP, "
    "commit_number BIGINT, schema_id VARCHAR, event_id VARCHAR, payload BLOB)",
    "CREATE TABLE IF NOT EXISTS _cdc_schemas (schema_id VARCHAR PRIMARY KEY, entity VARCHAR, schema_json VARCHAR)",
)
_TYPES = {"created": "CREATE", "updated": "UPDATE", "deleted": "DELETE", "undeleted": "UNDELETE"}


@dataclass
class Change:
    """One committed write of one record, as the write layer saw it."""

    sobject: str
    record_id: str
    kind: str  # created | updated | deleted | undeleted
    at: datetime  # the write's stamp (naive UTC)
    user: str | None = None
    new: dict | None = None  # the row after the write (created, updated, undeleted)
    old: dict | None = None  # the row before it (updated)
    cascade: bool = False  # deleted with its parent: an event, but no `Org.listen` callback


@dataclass(frozen=True)
class LoggedEvent:
    """One stored event as the Subscribe stream sends it."""

    replay: int
    schema_id: str
    event_id: str
    payload: bytes


class ChangeFaults(Protocol):
    """The fault rules the change log consults (`simulator.server.faults.FaultPlan` provides them)."""

    def gap(self, sobject: str) -> bool:
        """Whether this change of `sobject` is published as a gap event (counts against the rule)."""
        ...

    def overflow(self, changes: int) -> int | None:
        """The overflow threshold a transaction of `changes` changes exceeds, or None."""
        ...


@dataclass
class _Transaction:
    origin: str
    changes: dict[tuple[str, str], Change] = field(default_factory=dict)

    def add(self, change: Change) -> None:
        key = (change.sobject, change.record_id)
        first = self.changes.get(key)
        if first is not None and change.kind not in ("deleted", "undeleted"):
            change = Change(
                first.sobject, first.record_id, first.kind, change.at, first.user, change.new, first.old
            )
        self.changes[key] = (
            change  # an existing key keeps its place: the event sits where the record first changed
        )


def _payload(change: Change) -> tuple[dict[str, object], list[str], list[str]]:
    """(values, changed fields, nulled fields) of one change, in simulated field names."""
    schema = event_schema(change.sobject)
    new, old = change.new or {}, change.old or {}
    if change.kind in ("created", "undeleted"):
        return {k: v for k, v in new.items() if k in schema.position and v is not None}, [], []
    if change.kind != "updated":
        return {}, [], []
    changed = [k for k in schema.position if k == "LastModifiedDate" or new.get(k) != old.get(k)]
    return (
        {k: new[k] for k in changed if new.get(k) is not None},
        changed,
        [k for k in changed if new.get(k) is None],
    )


class ChangeLog:
    """Captures the org's committed changes as CDC events and serves them in replay order."""

    def __init__(self, db: duckdb.DuckDBPyConnection, lock: threading.RLock, clock: Clock) -> None:
        self._db = db
        self._lock = lock  # the org's write lock: events are numbered in commit order
        self.clock = clock
        self.retention = DEFAULT_RETENTION
        self.faults: ChangeFaults | None = None
        self._local = threading.local()
        self._watchers: list[Callable[[], None]] = []
        self._watch_lock = threading.Lock()
        with lock, self._cursor() as cur:
            for sql in _TABLES:
                cur.execute(sql)
            head, commit = cur.execute(
                "SELECT coalesce(max(replay), 0), coalesce(max(commit_number), 0) FROM _cdc_log"
            ).fetchone() or (0, 0)
            self._saved = {r[0] for r in cur.execute("SELECT schema_id FROM _cdc_schemas").fetchall()}
        self._head = int(head)
        self._commit = max(int(commit), _FIRST_COMMIT)

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self._db.cursor()
        try:
            yield cur
        finally:
            cur.close()

    # -- capture ------------------------------------------------------------------------------------------
    @contextmanager
    def transaction(self, origin: str = "") -> Iterator[None]:
        """Group this thread's writes into one CDC transaction (`changeOrigin` = origin); nested blocks join it."""
        if getattr(self._local, "txn", None) is not None:
            yield
            return
        txn = self._local.txn = _Transaction(origin)
        try:
            yield
        finally:
            self._local.txn = None
            if txn.changes:
                with self._lock, self._cursor() as cur:
                    cur.execute("BEGIN")
                    try:
                        head = self._log(cur, list(txn.changes.values()), txn.origin)
                        cur.execute("COMMIT")
                    except BaseException:
                        cur.execute("ROLLBACK")
                        raise
                    self.published(head)

    def discard(self) -> None:
        """Forget what this thread's transaction captured so far (its writes were undone)."""
        txn = getattr(self._local, "txn", None)
        if txn is not None:
            txn.changes.clear()

    def record(self, cur: duckdb.DuckDBPyConnection, changes: list[Change]) -> int | None:
        """Log one write's changes in its DuckDB transaction (org lock held); the head to `published()` after commit.

        Inside `transaction()` the changes wait for the end of the block instead (returns None).
        """
        if not changes:
            return None
        txn = getattr(self._local, "txn", None)
        if txn is None:
            txn = _Transaction("")
            for c in changes:
                txn.add(c)
            return self._log(cur, list(txn.changes.values()), "")
        for c in changes:
            txn.add(c)
        return None

    def published(self, head: int | None) -> None:
        """After commit: move the head and wake the subscribers."""
        if head is None:
            return
        self._head = head
        with self._watch_lock:
            watchers = list(self._watchers)
        for wake in watchers:
            wake()

    def _events(self, changes: list[Change]) -> list[tuple[str, str, list[str], dict, list[str], list[str]]]:
        """(entity, change type, record ids, values, changed, nulled) per event, in transaction order."""
        items: list[tuple[Change, str, dict, list[str], list[str]]] = []
        for c in changes:
            if c.sobject not in CDC_OBJECTS:
                continue
            change_type = _TYPES[c.kind]
            if self.faults is not None and self.faults.gap(c.sobject):
                items.append((c, "GAP_" + change_type, {}, [], []))
            else:
                items.append((c, change_type, *_payload(c)))
        weights = [len(it[3]) if it[1] == "UPDATE" else 1 for it in items]
        limit = self.faults.overflow(sum(weights)) if self.faults is not None else None
        if limit is None and sum(weights) > OVERFLOW_LIMIT:
            limit = OVERFLOW_LIMIT
        overflowed: list[str] = []
        if limit is not None:
            kept, running = [], 0
            for it, weight in zip(items, weights, strict=True):
                running += weight
                if running <= limit:
                    kept.append(it)
                elif it[0].sobject not in overflowed:
                    overflowed.append(it[0].sobject)
            items = kept
        out: list[tuple[str, str, list[str], dict, list[str], list[str]]] = []
        merged: dict[tuple[str, str], int] = {}
        for c, change_type, values, changed, nulled in items:
            if change_type == "DELETE" or change_type.startswith("GAP_"):
                at = merged.setdefault((c.sobject, change_type), len(out))
                if at < len(out):
                    out[at][2].append(c.record_id)
                    continue
            out.append((c.sobject, change_type, [c.record_id], values, changed, nulled))
        return out + [(entity, "GAP_OVERFLOW", [], {}, [], []) for entity in overflowed]

    def _log(self, cur: duckdb.DuckDBPyConnection, changes: list[Change], origin: str) -> int | None:
        events = self._events(changes)
        if not events:
            return None
        self._commit += 1
        committed = max(to_utc_naive(c.at) for c in changes)
        user = next((c.user for c in changes if c.user), None) or ""
        key = str(uuid.uuid4())
        rows, replay = [], self._head
        for seq, (entity, change_type, ids, values, changed, nulled) in enumerate(events, start=1):
            schema = event_schema(entity)
            header = {
                "entityName": entity,
                "recordIds": ids,
                "changeType": change_type,
                "changeOrigin": origin,
                "transactionKey": key,
                "sequenceNumber": seq,
                "commitTimestamp": epoch_ms(committed),
                "commitNumber": self._commit,
                "commitUser": user,
                "nulledFields": schema.bitmaps(nulled),
                "diffFields": [],
                "changedFields": schema.bitmaps(changed),
            }
            replay += 1
            payload = schema.encode(header, values)
            rows.append(
                (replay, entity, committed, self._commit, schema.schema_id, str(uuid.uuid4()), payload)
            )
            if schema.schema_id not in self._saved:
                cur.execute(
                    "INSERT OR IGNORE INTO _cdc_schemas VALUES (?, ?, ?)",
                    [schema.schema_id, entity, schema.schema_json],
                )
                self._saved.add(schema.schema_id)
        values_sql = ", ".join(
            ["(?, ?, ?, ?, ?, ?, ?)"] * len(rows)
        )  # one statement (executemany: one per row)
        cur.execute(f"INSERT INTO _cdc_log VALUES {values_sql}", [v for row in rows for v in row])
        return replay

    # -- reading --------------------------------------------------------------------------------------------
    @property
    def head(self) -> int:
        """The replay number of the latest committed event (0 when none ever was)."""
        return self._head

    def cutoff(self) -> datetime:
        """Commits before this instant (naive UTC, org clock) are outside the retention window."""
        return to_utc_naive(self.clock.now()) - self.retention

    def first_retained(self) -> int:
        """The replay number of the oldest event still retained (head + 1 when none is)."""
        with self._cursor() as cur:
            row = cur.execute(
                "SELECT min(replay) FROM _cdc_log WHERE committed_at >= ?", [self.cutoff()]
            ).fetchone()
        return int(row[0]) if row and row[0] is not None else self._head + 1

    def read(self, after: int, upto: int, entity: str | None, limit: int) -> list[LoggedEvent]:
        """Retained events with after < replay <= upto (of one object, or all), in replay order, at most `limit`."""
        sql = "SELECT replay, schema_id, event_id, payload FROM _cdc_log WHERE replay > ? AND replay <= ? "
        params: list[object] = [after, upto]
        if entity is not None:
            sql += "AND entity = ? "
            params.append(entity)
        sql += "AND committed_at >= ? ORDER BY replay LIMIT ?"
        params += [self.cutoff(), limit]
        with self._cursor() as cur:
            rows = cur.execute(sql, params).fetchall()
        return [LoggedEvent(int(r[0]), r[1], r[2], bytes(r[3])) for r in rows]

    def schema(self, schema_id: str) -> str | None:
        """The Avro schema JSON an event was written with, or None."""
        for name in CDC_OBJECTS:
            if event_schema(name).schema_id == schema_id:
                return event_schema(name).schema_json
        with self._cursor() as cur:
            row = cur.execute(
                "SELECT schema_json FROM _cdc_schemas WHERE schema_id = ?", [schema_id]
            ).fetchone()
        return str(row[0]) if row else None

    def count(self) -> int:
        """Events stored (retained or not yet purged)."""
        with self._cursor() as cur:
            row = cur.execute("SELECT count(*) FROM _cdc_log").fetchone()
        return int(row[0]) if row else 0

    def purge(self) -> int:
        """Delete the events outside the retention window (the latest always stays: it holds the head)."""
        with self._lock, self._cursor() as cur:
            row = cur.execute(
                "DELETE FROM _cdc_log WHERE committed_at < ? AND replay < ? RETURNING replay",
                [self.cutoff(), self._head],
            ).fetchall()
        if row:
            log.info("purged %d change events older than %s", len(row), self.retention)
        return len(row)

    def watch(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call `wake()` after each commit that logged events; returns the function that stops it."""
        with self._watch_lock:
            self._watchers.append(wake)

        def unwatch() -> None:
            with self._watch_lock:
                if wake in self._watchers:
                    self._watchers.remove(wake)

        return unwatch
