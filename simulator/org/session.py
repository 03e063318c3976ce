"""How a write reaches the org's tables: straight through one cursor (`Direct`), or as one set of writes (`Batch`).

The write rules (`simulator.org.write`) read and write through a session, never through SQL of their own, so one
set of rules serves both:

- `Direct`: every read and write is its own statement, in the write's own DuckDB transaction. A REST call, a
  delete, anything written one record at a time.
- `Batch`: a list of writes applied one after the other as the Direct path would, against the org as it was plus
  what the earlier writes of the list did (an overlay kept in memory), with the reads the list needs fetched in a
  few set-based statements up front and every insert and update written at the end in one statement per table
  (Arrow). An sObject Collections call or a Bulk 2.0 chunk of 200 rows: Salesforce commits those as one database
  transaction too. Reading a record by Id costs a scan of its table in DuckDB (no index), so a chunk written row
  by row scanned the table about three times per row: 5 ms a row at 10,000 accounts, 8 ms at 50,000.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

import duckdb

from simulator.org.errors import ApiError
from simulator.org.ids import make_id
from simulator.org.rules import object_of, parse_id
from simulator.org.schema import Field, SObject, sobject
from simulator.org.sql import ID_TYPES, STRING_TYPES, quote
from simulator.org.tables import arrow_columns, to_arrow

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["ID_POD", "Batch", "Direct", "Session", "Write", "match_key"]

ID_POD = "9s"  # pod of ids minted by the simulator at run time (generated orgs use their own)
_ID_WINDOW = 256  # candidate ids checked for collisions per statement


@dataclass
class Write:
    """One record write of a batch: `create` (data), `update` (record_id, data) or `upsert` (ext_field, ext_value,
    data). `guard(ids)`: the caller's own check of the record(s) it would write (ids: [] to create, the id to
    update, the records the external id matches), called at the write's turn; it raises ApiError to refuse."""

    op: str
    sobject: str
    data: dict[str, Any]
    record_id: str | None = None
    ext_field: str | None = None
    ext_value: Any = None
    guard: Callable[[list[str]], None] | None = None


class Session(Protocol):
    def row(self, name: str, rid: str) -> dict | None: ...
    def find(self, obj: SObject, f: Field, value: object) -> list[str]: ...
    def insert(self, name: str, rec: dict[str, object]) -> None: ...
    def update(self, name: str, rid: str, values: dict[str, object]) -> None: ...
    def next_id(self, name: str) -> str: ...
    def counter(self, key: str) -> int: ...
    def roll_up(self, target: str, rid: str, day: date) -> None: ...


def match_key(f: Field, value: object, lower: Callable[[str], str]) -> object | None:
    """A value as `find` compares it: ids in 18-character form, text lower-cased by `lower` (DuckDB's `lower`, which
    differs from Python's for some letters: the stored values are compared in SQL); None when nothing can match."""
    if f.type in ID_TYPES and isinstance(value, str):
        try:
            return parse_id(value, sobject_label(f))
        except ApiError:
            return None
    if f.type in STRING_TYPES and isinstance(value, str):
        return lower(value)
    return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _duck_lower(cur: duckdb.DuckDBPyConnection, values: Iterable[str]) -> dict[str, str]:
    """DuckDB's lower() of each value, in one statement."""
    values = [
        v for v in set(values) if _encodable(v)
    ]  # a lone surrogate: refused by the rules later, never stored
    if not values:
        return {}
    return dict(cur.execute("SELECT v, lower(v) FROM (SELECT unnest(?) AS v)", [values]).fetchall())


def sobject_label(f: Field) -> str:
    return f.reference_to[0] if f.reference_to else "Record"


def _column_sql(f: Field) -> str:
    return f"lower({quote(f.name)})" if f.type in STRING_TYPES else quote(f.name)


def _live(obj: SObject) -> str:
    return ' AND NOT "IsDeleted"' if obj.field("IsDeleted") else ""


def _row_of(res: duckdb.DuckDBPyConnection, row: tuple) -> dict:
    return dict(zip([d[0] for d in res.description], row, strict=True))


class Direct:
    """Each read and write its own statement on `cur` (inside the caller's transaction)."""

    def __init__(self, cur: duckdb.DuckDBPyConnection) -> None:
        self.cur = cur

    def row(self, name: str, rid: str) -> dict | None:
        res = self.cur.execute(f'SELECT * FROM {quote(name)} WHERE "Id" = ?', [rid])
        rows = res.fetchall()  # read to the end: DuckDB refuses to register a table on a cursor mid-result
        return _row_of(res, rows[0]) if rows else None

    def find(self, obj: SObject, f: Field, value: object) -> list[str]:
        key = match_key(f, value, lambda v: v)  # text: lowered by DuckDB in the statement
        if key is None:
            return []
        arg = "lower(?)" if f.type in STRING_TYPES and isinstance(value, str) else "?"
        sql = f'SELECT "Id" FROM {quote(obj.name)} WHERE {_column_sql(f)} = {arg}{_live(obj)} ORDER BY "Id"'
        return [r[0] for r in self.cur.execute(sql, [key]).fetchall()]

    def insert(self, name: str, rec: dict[str, object]) -> None:
        cols = list(rec)
        self.cur.execute(
            f"INSERT INTO {quote(name)} ({', '.join(quote(c) for c in cols)}) "
            f"VALUES ({', '.join('?' for _ in cols)})",
            [rec[c] for c in cols],
        )

    def update(self, name: str, rid: str, values: dict[str, object]) -> None:
        sets = ", ".join(f"{quote(k)} = ?" for k in values)
        self.cur.execute(f'UPDATE {quote(name)} SET {sets} WHERE "Id" = ?', [*values.values(), rid])

    def counter(self, key: str) -> int:
        rows = self.cur.execute(
            "INSERT INTO _counters VALUES (?, 1) ON CONFLICT (name) DO UPDATE "
            "SET value = _counters.value + 1 RETURNING value",
            [key],
        ).fetchall()
        return int(rows[0][0])

    def next_id(self, name: str) -> str:
        while True:
            rid = make_id(name, self.counter(f"id:{name}"), ID_POD)
            if not self.cur.execute(f'SELECT 1 FROM {quote(name)} WHERE "Id" = ?', [rid]).fetchall():
                return rid

    def roll_up(self, target: str, rid: str, day: date) -> None:
        self.cur.execute(
            f'UPDATE {quote(target)} SET "LastActivityDate" = ? WHERE "Id" = ? AND '
            f'("LastActivityDate" IS NULL OR "LastActivityDate" < ?)',
            [day, rid, day],
        )


class Batch:
    """Writes of one list against an overlay: reads see the org plus the list's earlier writes; SQL at `flush`."""

    def __init__(self, cur: duckdb.DuckDBPyConnection) -> None:
        self.cur = cur
        self._rows: dict[tuple[str, str], dict | None] = {}  # (object, id) -> row as the batch sees it
        self._touched: dict[str, set[str]] = defaultdict(set)  # ids the batch inserted or updated, per object
        self._found: dict[
            tuple[str, str, object], list[str]
        ] = {}  # (object, field, key) -> ids before the batch
        self._inserts: dict[str, dict[str, dict[str, object]]] = defaultdict(dict)
        self._updates: dict[str, dict[str, dict[str, object]]] = defaultdict(dict)
        self._counters: dict[str, int] = {}
        self._taken: dict[str, tuple[int, set[str]]] = {}  # object -> (serial checked up to, ids taken)
        self._roll_ups: list[tuple[str, str, date]] = []
        self._lowered: dict[str, str] = {}  # text -> DuckDB's lower() of it

    def _lower(self, value: str) -> str:
        if value not in self._lowered:
            self._lowered.update(_duck_lower(self.cur, [value]))
        return self._lowered.get(value, value)  # not UTF-8: matches nothing stored

    def _warm_lower(self, values: Iterable[object]) -> None:
        self._lowered.update(
            _duck_lower(self.cur, (v for v in values if isinstance(v, str) and v not in self._lowered))
        )

    # -- reads ----------------------------------------------------------------------------------------------
    def prefetch(
        self, writes: Iterable[Write], find: Callable[[Write], tuple[SObject, Field] | None]
    ) -> None:
        """Fetch in a few statements what the writes will read: the rows they update or reference, the records
        their external ids or unique values match."""
        ids: dict[str, set[str]] = defaultdict(set)
        keys: dict[tuple[str, str], tuple[SObject, Field, set[object]]] = {}
        writes = list(writes)
        self._warm_lower(v for w in writes for v in (w.ext_value, *w.data.values()))

        def want_key(obj: SObject, f: Field, value: object) -> None:
            key = match_key(f, value, self._lower)
            if key is not None and f.type in STRING_TYPES | ID_TYPES:
                keys.setdefault((obj.name, f.name), (obj, f, set()))[2].add(key)

        for w in writes:
            obj = sobject(w.sobject)
            if obj is None:
                continue
            if w.op == "update" and w.record_id:
                _want_id(ids, w.record_id, obj.name)
            target = find(w) if w.op == "upsert" else None
            if target is not None:
                want_key(*target, w.ext_value)
            for k, v in w.data.items():
                f = obj.field(k)
                if f is None or not isinstance(v, str) or not v:
                    continue
                if f.type == "reference":
                    _want_id(ids, v, None)
                if f.unique:
                    want_key(obj, f, v)
        for (name, field_name), (obj, f, values) in keys.items():
            sql = (
                f'SELECT {_column_sql(f)} AS k, "Id" FROM {quote(name)} '
                f'WHERE {_column_sql(f)} IN (SELECT unnest(?)){_live(obj)} ORDER BY "Id"'
            )
            found: dict[object, list[str]] = {v: [] for v in values}
            for value, hit in self.cur.execute(sql, [list(values)]).fetchall():
                found.setdefault(value, []).append(hit)
                ids[name].add(hit)
            for value, matched in found.items():
                self._found[(name, field_name, value)] = matched
        for name, wanted in ids.items():
            wanted -= {rid for (n, rid) in self._rows if n == name}
            if not wanted:
                continue
            res = self.cur.execute(
                f'SELECT * FROM {quote(name)} WHERE "Id" IN (SELECT unnest(?))', [list(wanted)]
            )
            for row in res.fetchall():
                rec = _row_of(res, row)
                self._rows[(name, str(rec["Id"]))] = rec
            for rid in wanted:
                self._rows.setdefault((name, rid), None)

    def row(self, name: str, rid: str) -> dict | None:
        key = (name, rid)
        if key not in self._rows:
            self._rows[key] = Direct(self.cur).row(name, rid)
        return self._rows[key]

    def find(self, obj: SObject, f: Field, value: object) -> list[str]:
        key = match_key(f, value, self._lower)
        if key is None:
            return []
        cached = (obj.name, f.name, key)
        if cached not in self._found:
            self._found[cached] = Direct(self.cur).find(obj, f, value)
        live = obj.field("IsDeleted") is not None
        out = set()
        for rid in self._found[cached]:  # as they were, unless the batch moved them
            if rid not in self._touched[obj.name]:
                out.add(rid)
        touched = [self._rows.get((obj.name, rid)) for rid in self._touched[obj.name]]
        self._warm_lower(row.get(f.name) for row in touched if row is not None)
        for row in touched:
            if row is None or (live and row.get("IsDeleted")):
                continue
            if match_key(f, row.get(f.name), self._lower) == key:
                out.add(str(row["Id"]))
        return sorted(out)

    # -- writes (in memory until flush) -----------------------------------------------------------------------
    def insert(self, name: str, rec: dict[str, object]) -> None:
        rid = str(rec["Id"])
        self._inserts[name][rid] = dict(rec)
        self._rows[(name, rid)] = dict(rec)
        self._touched[name].add(rid)

    def update(self, name: str, rid: str, values: dict[str, object]) -> None:
        if rid in self._inserts[name]:
            self._inserts[name][rid].update(values)
        else:
            self._updates[name].setdefault(rid, {}).update(values)
        self._rows[(name, rid)] = {**(self.row(name, rid) or {}), **values}
        self._touched[name].add(rid)

    def counter(self, key: str) -> int:
        if key not in self._counters:
            rows = self.cur.execute("SELECT value FROM _counters WHERE name = ?", [key]).fetchall()
            self._counters[key] = int(rows[0][0]) if rows else 0
        self._counters[key] += 1
        return self._counters[key]

    def next_id(self, name: str) -> str:
        while True:
            serial = self.counter(f"id:{name}")
            upto, taken = self._taken.get(name, (0, set()))
            if serial > upto:  # which of the next candidates some record already holds, in one statement
                upto = serial + _ID_WINDOW - 1
                candidates = [make_id(name, s, ID_POD) for s in range(serial, upto + 1)]
                taken = taken | {
                    r[0]
                    for r in self.cur.execute(
                        f'SELECT "Id" FROM {quote(name)} WHERE "Id" IN (SELECT unnest(?))', [candidates]
                    ).fetchall()
                }
                self._taken[name] = (upto, taken)
            rid = make_id(name, serial, ID_POD)
            if rid not in taken and rid not in self._inserts[name]:
                return rid

    def roll_up(self, target: str, rid: str, day: date) -> None:
        row = self._rows.get((target, rid))
        if row is not None and (row.get("LastActivityDate") is None or row["LastActivityDate"] < day):
            self._rows[(target, rid)] = {**row, "LastActivityDate": day}
        self._roll_ups.append((target, rid, day))

    def flush(self) -> None:
        """Write what the batch did: one INSERT per table, one UPDATE per table and set of columns, the counters."""
        cur = self.cur
        for name, recs in self._inserts.items():
            if recs:
                obj = _schema(name)
                cur.register("_batch_rows", to_arrow(obj, list(recs.values())))
                cur.execute(f"INSERT INTO {quote(name)} BY NAME SELECT * FROM _batch_rows")
                cur.unregister("_batch_rows")  # (after a failure the cursor is rolled back and closed)
        for name, by_id in self._updates.items():
            obj = _schema(name)
            groups: dict[tuple[str, ...], list[dict[str, object]]] = defaultdict(list)
            for rid, values in by_id.items():
                groups[tuple(sorted(values))].append({"Id": rid, **values})
            for columns, changed in groups.items():
                cur.register("_batch_rows", arrow_columns(obj, ["Id", *columns], changed))
                sets = ", ".join(f"{quote(c)} = _batch_rows.{quote(c)}" for c in columns)
                cur.execute(
                    f'UPDATE {quote(name)} SET {sets} FROM _batch_rows WHERE {quote(name)}."Id" = _batch_rows."Id"'
                )
                cur.unregister("_batch_rows")
        direct = Direct(cur)
        for target, rid, day in self._roll_ups:
            direct.roll_up(target, rid, day)
        if self._counters:
            cur.execute(
                "INSERT INTO _counters SELECT * FROM (SELECT unnest(?) AS name, unnest(?) AS value) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                [list(self._counters), list(self._counters.values())],
            )


def _want_id(ids: dict[str, set[str]], value: str, name: str | None) -> None:
    try:
        rid = parse_id(value, name or "Record")
    except ApiError:
        return
    target = object_of(rid)
    if target is not None and (name is None or target == name):
        ids[target].add(rid)


def _schema(name: str) -> SObject:
    obj = sobject(name)
    if obj is None:
        raise KeyError(name)
    return obj
