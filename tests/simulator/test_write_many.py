"""`Org.write_many` (a Collections call, a Bulk 2.0 chunk: reads and writes set-based) leaves the org exactly as the
same writes applied one by one: every row of every table, the counters, each write's outcome, the change events
and the listener calls. The writes mix what the batch must get right: a write that sees an earlier one of the
same list (an upsert matching a record the list created, a unique value taken by an earlier write, a record
updated twice), derived values read from other records, history rows, activity roll-ups, refused writes."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import fastavro
import pytest

from simulator.org.cdc import CDC_OBJECTS
from simulator.org.clock import Clock
from simulator.org.errors import ApiError
from simulator.org.ids import make_id
from simulator.org.schema import SCHEMA
from simulator.org.session import Write
from simulator.org.sql import quote
from simulator.org.store import Org

U1, U2 = make_id("User", 1), make_id("User", 2)
A1, A2, A3 = (make_id("Account", n) for n in (1, 2, 3))
C1 = make_id("Contact", 1)
O1 = make_id("Opportunity", 1)
T0 = datetime(2026, 3, 2, 9, 0, 0)
KEY = "Risk_Task_Key__c"


class _Frozen(Clock):
    """The org's clock stopped at one instant, so two orgs written apart in time can be compared row for row."""

    def now(self) -> datetime:
        return datetime(2026, 3, 4, 10, 0, 0, tzinfo=UTC)


def _stamps() -> dict[str, Any]:
    return {
        "CreatedDate": T0,
        "LastModifiedDate": T0,
        "SystemModstamp": T0,
        "CreatedById": U1,
        "LastModifiedById": U1,
    }


def _data() -> dict[str, list[dict]]:
    users = [
        {
            "Id": u,
            "Username": f"{n}@x.test",
            "LastName": n,
            "Name": n,
            "Email": f"{n}@x.test",
            "IsActive": True,
        }
        for u, n in ((U1, "Integration"), (U2, "Seller"))
    ]
    accounts = [
        {"Id": a, "IsDeleted": a == A3, "Name": f"Acct {i}", "OwnerId": U2, "Key_Account__c": False}
        for i, a in enumerate((A1, A2, A3))
    ]
    return {
        "User": [{**u, **_stamps()} for u in users],
        "Account": [{**a, **_stamps()} for a in accounts],
        "Contact": [
            {"Id": C1, "IsDeleted": False, "AccountId": A2, "LastName": "One", "Name": "One", **_stamps()}
        ],
        "Opportunity": [
            {
                "Id": O1,
                "IsDeleted": False,
                "AccountId": A1,
                "Name": "Deal",
                "StageName": "Prospecting",
                "CloseDate": date(2026, 6, 30),
                "Amount": 1000.0,
                "OwnerId": U2,
                **_stamps(),
            }
        ],
        "Task": [
            {
                "Id": make_id("Task", 1),
                "IsDeleted": False,
                "Subject": "Existing",
                "Status": "Not Started",
                "IsClosed": False,
                "WhatId": A1,
                "AccountId": A1,
                KEY: "k-existing",
                "OwnerId": U2,
                **_stamps(),
            }
        ],
    }


def _writes() -> list[Write]:
    task = {"Subject": "Call back", "Status": "Not Started", "OwnerId": U2}
    return [
        Write(
            "update",
            "Account",
            {"Risk_Level__c": "Red", "Risk_Reasons__c": "two reopened cases"},
            record_id=A1,
        ),
        Write("update", "Account", {"OwnerId": U1}, record_id=A2[:15]),  # 15-character id; AccountHistory row
        Write("update", "Account", {"Risk_Level__c": "Amber"}, record_id=A2),  # the same record again
        Write("update", "Account", {"Risk_Level__c": "Red"}, record_id=A3),  # deleted: ENTITY_IS_DELETED
        Write("update", "Account", {"Risk_Level__c": "Red"}, record_id=make_id("Account", 99)),  # NOT_FOUND
        Write("update", "Account", {"Risk_Level__c": "Purple"}, record_id=A1),  # bad picklist value
        Write("update", "Opportunity", {"StageName": "Closed Won"}, record_id=O1),  # derived + history
        Write("upsert", "Task", {**task, "WhatId": O1}, ext_field=KEY, ext_value="k-new"),  # AccountId via O1
        Write(
            "upsert", "Task", {"Subject": "Call back, again"}, ext_field=KEY, ext_value="K-NEW"
        ),  # the one above
        Write("upsert", "Task", {"Subject": "Renamed"}, ext_field=KEY, ext_value="k-existing"),
        Write("create", "Task", {**task, "WhoId": C1, KEY: "k-existing"}),  # DUPLICATE_VALUE (stored record)
        Write("create", "Task", {**task, "WhoId": C1, KEY: "k-new"}),  # DUPLICATE_VALUE (created above)
        Write("create", "Task", {**task, "WhatId": make_id("Account", 98)}),  # INVALID_CROSS_REFERENCE_KEY
        Write(
            "create",
            "Task",
            {
                "Subject": "Done",
                "Status": "Completed",
                "ActivityDate": "2026-03-03",
                "WhoId": C1,
                "OwnerId": U2,
            },
        ),  # closed: rolls LastActivityDate up to C1 and its account A2
        Write(
            "create", "Case", {"AccountId": A1, "Status": "New", "Subject": "Broken"}
        ),  # CaseNumber counter
        Write(
            "create",
            "Opportunity",
            {"AccountId": A2, "Name": "New deal", "StageName": "Qualification", "CloseDate": "2026-09-30"},
        ),  # history row
        Write(
            "update",
            "Task",
            {"Status": "Completed", "ActivityDate": "2026-03-04"},
            record_id=make_id("Task", 1),
        ),
        # text keys compared as the database lowers them (DuckDB's lower() is not Python's for every letter)
        Write("upsert", "Task", {**task, "WhatId": A1}, ext_field=KEY, ext_value="ΟΔΟΣ-1"),
        Write("upsert", "Task", {"Subject": "Greek, again"}, ext_field=KEY, ext_value="ΟΔΟΣ-1"),
        Write("create", "Task", {**task, "WhatId": A1, KEY: "İstanbul-1"}),
        Write("create", "Task", {**task, "WhatId": A1, KEY: "İstanbul-1"}),
        Write("update", "Account", {"NumberOfEmployees": 1e20}, record_id=A1),  # NUMBER_OUTSIDE_VALID_RANGE
        Write(
            "update", "Account", {"Description": "lone \ud800"}, record_id=A1
        ),  # not text: JSON_PARSER_ERROR
        Write("create", "Case", {"AccountId": A2, "Status": "New", "Subject": "Last"}),  # a counter read last
    ]


def _org(path: Path) -> Org:
    org = Org(path, _Frozen(path), U1)
    org.load(_data())
    return org


def _tables(org: Org) -> dict[str, list[tuple]]:
    with org._cursor() as cur:
        out = {name: cur.execute(f'SELECT * FROM {quote(name)} ORDER BY "Id"').fetchall() for name in SCHEMA}
        out["_counters"] = cur.execute("SELECT * FROM _counters ORDER BY name").fetchall()
    return out


def _events(org: Org) -> list[dict[str, Any]]:
    out = []
    for e in org.changes.read(0, org.changes.head, None, 1000):
        raw = json.loads(org.changes.schema(e.schema_id) or "{}")
        record = fastavro.schemaless_reader(io.BytesIO(e.payload), fastavro.parse_schema(raw))
        assert isinstance(record, dict)
        record["ChangeEventHeader"].pop("transactionKey")
        out.append(record)
    return out


def _outcome(result: tuple[str, bool] | ApiError) -> tuple:
    if isinstance(result, ApiError):
        return ("error", result.status, result.error_code, result.message, tuple(result.fields))
    return ("ok", *result)


def _run(org: Org, batched: bool) -> tuple[list[tuple], list[tuple[str, str, str]]]:
    heard: list[tuple[str, str, str]] = []
    org.listen(lambda *call: heard.append(call))
    with org.changes.transaction("test"):
        if batched:
            results = org.write_many(_writes(), user_id=U1)
        else:
            results = [org._write_or_error(w, U1) for w in _writes()]
    return [_outcome(r) for r in results], heard


def test_write_many_equals_the_writes_one_by_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with _org(tmp_path / "one") as one, _org(tmp_path / "many") as many:
        expected, heard_one = _run(one, batched=False)
        got, heard_many = _run(many, batched=True)
        assert "one by one" not in caplog.text  # the set-based path ran (it falls back when it fails)
        assert got == expected
        # the list exercised what it meant to: refusals of each kind, and writes that saw earlier ones
        errors = [o[2] for o in expected if o[0] == "error"]
        assert errors == [
            "ENTITY_IS_DELETED",
            "NOT_FOUND",
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "DUPLICATE_VALUE",
            "DUPLICATE_VALUE",
            "INVALID_CROSS_REFERENCE_KEY",
            "DUPLICATE_VALUE",
            "NUMBER_OUTSIDE_VALID_RANGE",
            "JSON_PARSER_ERROR",
        ]
        created = {o[1] for o in expected if o[0] == "ok" and o[2]}
        assert expected[8] == ("ok", expected[7][1], False)  # K-NEW matched the task created one write before
        assert expected[18] == ("ok", expected[17][1], False)  # and the Greek key the one before it
        assert len(created) == 7
        assert heard_many == heard_one
        assert _tables(many) == _tables(one)
        events = _events(many)
        assert events == _events(one)
        # one event per record written (two writes of one record in one transaction are one event)
        assert len(events) == len({(n, i) for n, i, _ in heard_one if n in CDC_OBJECTS}) >= 7
        tables = _tables(many)
        a2 = next(r for r in tables["Account"] if r[0] == A2)
        assert date(2026, 3, 3) in a2  # LastActivityDate rolled up from the closed task on its contact
        assert any(r for r in tables["AccountHistory"])
        assert len(tables["OpportunityHistory"]) == 2


class _Refusing(Org):
    """An org whose set-based statements the database refuses at the end (as a value it cannot cast would be),
    after the writes were applied to the overlay and their checks ran."""

    def _batched(self, writes: list[Write], user_id: str | None) -> Any:
        for w in writes:
            if w.guard:
                with contextlib.suppress(ApiError):
                    w.guard([])
        raise duckdb.ConversionException("Conversion Error: could not convert the batch")


def test_a_failed_set_falls_back_one_by_one_and_a_fault_counts_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A set the database refuses as a whole is written one by one; each write's own check (here a fault refusing
    the next write only, as the server's `reject:Account:count=1`) gives the verdict it gave the first time, so the
    outcome is the one-by-one one: the first update refused, the second written."""
    left = [1]

    def reject_once(_: list[str]) -> None:
        if left[0]:
            left[0] -= 1
            raise ApiError(400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "rejected by a validation rule")

    with _Refusing(tmp_path, _Frozen(tmp_path), U1) as org:
        org.load(_data())
        writes = [
            Write("update", "Account", {"Risk_Level__c": "Red"}, record_id=A1, guard=reject_once),
            Write("update", "Account", {"Risk_Level__c": "Amber"}, record_id=A2, guard=reject_once),
        ]
        results = org.write_many(writes, user_id=U1)
        assert "writing them one by one" in caplog.text
        assert (
            isinstance(results[0], ApiError) and results[0].error_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
        )
        assert results[1] == (A2, False)
        levels = org.query("SELECT Id, Risk_Level__c FROM Account").records(0, 10)
        assert {r["Id"]: r.get("Risk_Level__c") for r in levels} == {A1: None, A2: "Amber"}


@pytest.mark.parametrize("batched", [False, True])
def test_a_chunk_of_updates_lands_every_row(tmp_path: Path, batched: bool) -> None:
    """Many rows of one chunk (the push's shape): every update lands with its own values."""
    data = _data()
    data["Account"] = [
        {"Id": make_id("Account", n), "IsDeleted": False, "Name": f"A{n}", "OwnerId": U2, **_stamps()}
        for n in range(1, 401)
    ]
    with Org(tmp_path, _Frozen(tmp_path), U1) as org:
        org.load({k: v for k, v in data.items() if k in ("User", "Account")})
        writes = [
            Write(
                "update",
                "Account",
                {"Risk_Level__c": "Red" if n % 3 else "Green", "Risk_Score__c": n},
                record_id=make_id("Account", n),
            )
            for n in range(400, 0, -1)
        ]
        results = org.write_many(writes) if batched else [org._write_or_error(w, None) for w in writes]
        assert all(not isinstance(r, ApiError) for r in results)
        rows = org.query("SELECT Id, Risk_Level__c, Risk_Score__c FROM Account").records(0, 1000)
        got = {r["Id"]: (r["Risk_Level__c"], r["Risk_Score__c"]) for r in rows}
        assert got == {make_id("Account", n): ("Red" if n % 3 else "Green", float(n)) for n in range(1, 401)}
