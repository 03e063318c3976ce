"""The org's write semantics, replication calls, persistence and Bulk/REST paging on real DuckDB files."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulator.org.clock import Clock
from simulator.org.errors import ApiError
from simulator.org.ids import make_id
from simulator.org.store import Org

U1, U2 = make_id("User", 1), make_id("User", 2)
A1 = make_id("Account", 1)
C1 = make_id("Contact", 1)
T0 = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
SEC = (
    "Please check the security settings of this field and verify that it is read/write for your profile "
    "or permission set."
)


def _sys() -> dict:
    return {
        "CreatedDate": T0,
        "LastModifiedDate": T0,
        "SystemModstamp": T0,
        "CreatedById": U1,
        "LastModifiedById": U1,
    }


def _data() -> dict[str, list[dict]]:
    return {
        "User": [
            {
                "Id": u,
                "Username": f"{n}@x.test",
                "LastName": n,
                "Name": n,
                "Email": f"{n}@x.test",
                "IsActive": True,
                **_sys(),
            }
            for u, n in ((U1, "Integration"), (U2, "Seller"))
        ],
        "Account": [
            {"Id": A1, "IsDeleted": False, "Name": "Acme", "OwnerId": U2, "Key_Account__c": False, **_sys()}
        ],
        "Contact": [
            {
                "Id": C1,
                "IsDeleted": False,
                "AccountId": A1,
                "LastName": "One",
                "Name": "One",
                "OwnerId": U2,
                **_sys(),
            }
        ],
        "Case": [
            {
                "Id": make_id("Case", 1),
                "IsDeleted": False,
                "CaseNumber": "00001041",
                "AccountId": A1,
                "Status": "New",
                "IsClosed": False,
                "OwnerId": U2,
                **_sys(),
            }
        ],
    }


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The planted org built once; each test works on its own copy of the DuckDB file."""
    d = tmp_path_factory.mktemp("template")
    o = Org(d, Clock(d), U1)
    o.load(_data())
    o.close()
    return d / "org.duckdb"


@pytest.fixture
def org(tmp_path: Path, template: Path) -> Iterator[Org]:
    """A fresh copy of the planted org in tmp_path (integration user U1)."""
    shutil.copy(template, tmp_path / "org.duckdb")
    o = Org(tmp_path, Clock(tmp_path))
    yield o
    o.close()


def api_error(fn: object, *args: object, **kw: object) -> ApiError:
    """The ApiError a call raises."""
    with pytest.raises(ApiError) as exc:
        fn(*args, **kw)  # type: ignore[operator]
    return exc.value


def row(org: Org, soql: str) -> dict:
    """The single record a query returns (queryAll)."""
    recs = org.query(soql, include_deleted=True).records(0, 10)
    assert len(recs) == 1
    return recs[0]


# -- create ---------------------------------------------------------------------------------------------
def test_create_stamps_defaults_and_get_shape(org: Org) -> None:
    org.api_version = "60.0"
    rid = org.create("Account", {"name": "Globex", "Type": "Prospect"})
    assert len(rid) == 18 and rid.startswith("001")
    rec = org.get("Account", rid)
    assert list(rec)[:3] == ["attributes", "Id", "IsDeleted"]
    assert rec["attributes"] == {"type": "Account", "url": f"/services/data/v60.0/sobjects/Account/{rid}"}
    assert (rec["Name"], rec["Type"], rec["OwnerId"], rec["CreatedById"], rec["LastModifiedById"]) == (
        "Globex",
        "Prospect",
        U1,
        U1,
        U1,
    )
    assert rec["IsDeleted"] is False and rec["Key_Account__c"] is False
    assert rec["CreatedDate"] == rec["LastModifiedDate"] == rec["SystemModstamp"]
    assert rec["CreatedDate"].endswith("+0000") and len(rec["CreatedDate"]) == 28
    assert org.get("Account", rid[:15], ["Name"]) == {"attributes": rec["attributes"], "Name": "Globex"}


def test_create_as_other_user(org: Org) -> None:
    rid = org.create("Account", {"Name": "Initech"}, user_id=U2)
    assert row(org, f"SELECT OwnerId, CreatedById FROM Account WHERE Id = '{rid}'")["CreatedById"] == U2


@pytest.mark.parametrize(
    ("sobject", "body", "status", "code", "message", "fields"),
    [
        (
            "Account",
            {"Name": "x", "Foo__c": 1},
            400,
            "INVALID_FIELD",
            "No such column 'Foo__c' on sobject of type Account",
            ["Foo__c"],
        ),
        (
            "Account",
            {"Id": A1, "Name": "x"},
            400,
            "INVALID_FIELD",
            "The Id field should not be specified in the sobject data.",
            ["Id"],
        ),
        (
            "Opportunity",
            {
                "Name": "o",
                "StageName": "Prospecting",
                "CloseDate": "2024-02-01",
                "IsClosed": True,
                "IsWon": True,
            },
            400,
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: IsClosed, IsWon. {SEC}",
            ["IsClosed", "IsWon"],
        ),
        (
            "Account",
            {"Name": "x", "Risk_Level__c": "Purple"},
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "bad value for restricted picklist field: Purple",
            ["Risk_Level__c"],
        ),
        (
            "Opportunity",
            {"Name": "o"},
            400,
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [StageName, CloseDate]",
            ["StageName", "CloseDate"],
        ),
        (
            "Account",
            {"Name": "x" * 256},
            400,
            "STRING_TOO_LONG",
            f"Name: data value too large: {'x' * 256} (max length=255)",
            ["Name"],
        ),
        (
            "Contact",
            {"LastName": "x", "AccountId": "001bad"},
            400,
            "MALFORMED_ID",
            "Account ID: id value of incorrect type: 001bad",
            ["AccountId"],
        ),
        (
            "Contact",
            {"LastName": "x", "AccountId": make_id("Account", 999)},
            400,
            "INVALID_CROSS_REFERENCE_KEY",
            "invalid cross reference id",
            ["AccountId"],
        ),
        (
            "Contact",
            {"LastName": "x", "AccountId": C1},
            400,
            "INVALID_CROSS_REFERENCE_KEY",
            "invalid cross reference id",
            ["AccountId"],
        ),
        (
            "Account",
            {"Name": "x", "Key_Account__c": "maybe"},
            400,
            "JSON_PARSER_ERROR",
            None,
            ["Key_Account__c"],
        ),
        (
            "Opportunity",
            {"Name": "o", "StageName": "Prospecting", "CloseDate": "Feb 1"},
            400,
            "JSON_PARSER_ERROR",
            None,
            ["CloseDate"],
        ),
        ("Nope", {"Name": "x"}, 404, "NOT_FOUND", "The requested resource does not exist", []),
        (
            "OpportunityHistory",
            {},
            400,
            "INVALID_TYPE_FOR_OPERATION",
            "entity type cannot be inserted: OpportunityHistory",
            [],
        ),
    ],
)
def test_create_refusals(
    org: Org, sobject: str, body: dict, status: int, code: str, message: str | None, fields: list[str]
) -> None:
    before = org.count("Account")
    e = api_error(org.create, sobject, body)
    assert (e.status, e.error_code, e.fields) == (status, code, fields)
    if message is not None:
        assert e.message == message
    assert e.rest_body() == [{"message": e.message, "errorCode": code, "fields": fields}]
    assert e.collection_item() == {"statusCode": code, "message": e.message, "fields": fields}
    assert org.count("Account") == before


def test_unrestricted_picklist_accepts_unknown_values(org: Org) -> None:
    rid = org.create("Account", {"Name": "x", "Industry": "Space Mining"})
    assert org.get("Account", rid, ["Industry"])["Industry"] == "Space Mining"


# -- update / delete --------------------------------------------------------------------------------------
def test_update_changes_fields_and_stamps(org: Org) -> None:
    before = org.get("Account", A1)
    org.update(
        "Account",
        A1[:15],
        {
            "Name": "Acme 2",
            "Risk_Level__c": "Red",
            "Risk_Score__c": "71.5",
            "Risk_Computed_At__c": "2024-03-04T05:06:07.000+0000",
        },
        user_id=U2,
    )
    after = org.get("Account", A1)
    assert (after["Name"], after["Risk_Level__c"], after["Risk_Score__c"], after["Risk_Computed_At__c"]) == (
        "Acme 2",
        "Red",
        71.5,
        "2024-03-04T05:06:07.000+0000",
    )
    assert after["LastModifiedById"] == U2 and after["CreatedDate"] == before["CreatedDate"]
    assert after["SystemModstamp"] > before["SystemModstamp"]
    org.update("Account", A1, {"Risk_Level__c": None})
    assert org.get("Account", A1, ["Risk_Level__c"])["Risk_Level__c"] is None


@pytest.mark.parametrize(
    ("record_id", "body", "status", "code"),
    [
        (make_id("Account", 77), {"Name": "x"}, 404, "NOT_FOUND"),
        (C1, {"Name": "x"}, 404, "NOT_FOUND"),  # another object's id
        ("bogus", {"Name": "x"}, 400, "MALFORMED_ID"),
        (A1, {"Name": None}, 400, "REQUIRED_FIELD_MISSING"),
        (A1, {"LastActivityDate": "2024-01-01"}, 400, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        (A1, {"Risk_Trend__c": "Sideways"}, 400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
    ],
)
def test_update_refusals(org: Org, record_id: str, body: dict, status: int, code: str) -> None:
    e = api_error(org.update, "Account", record_id, body)
    assert (e.status, e.error_code) == (status, code)
    assert org.get("Account", A1, ["Name"])["Name"] == "Acme"


def test_task_subtype_is_not_updateable(org: Org) -> None:
    tid = org.create("Task", {"Subject": "s", "TaskSubtype": "Call", "WhatId": A1})
    e = api_error(org.update, "Task", tid, {"TaskSubtype": "Email"})
    assert e.error_code == "INVALID_FIELD_FOR_INSERT_UPDATE" and e.fields == ["TaskSubtype"]


def test_soft_delete_then_hard_delete(org: Org) -> None:
    cid = org.create("Contact", {"LastName": "Tmp", "AccountId": A1})
    org.delete("Contact", cid)
    assert [r["Id"] for r in org.query("SELECT Id FROM Contact").records(0, 10)] == [C1]
    assert row(org, f"SELECT Id, IsDeleted FROM Contact WHERE Id = '{cid}'")["IsDeleted"] is True
    assert api_error(org.update, "Contact", cid, {"LastName": "x"}).error_code == "ENTITY_IS_DELETED"
    assert api_error(org.delete, "Contact", cid).error_code == "ENTITY_IS_DELETED"
    e = api_error(org.get, "Contact", cid)
    assert (e.status, e.error_code) == (404, "ENTITY_IS_DELETED")
    org.hard_delete("Contact", cid)
    assert org.query("SELECT COUNT() FROM Contact", include_deleted=True).total_size == 1
    assert api_error(org.hard_delete, "Contact", cid).error_code == "NOT_FOUND"
    assert org.count("Contact") == 1


def test_undelete_restores_the_record_and_what_its_delete_took_along(org: Org) -> None:
    earlier = org.create("Contact", {"LastName": "Deleted before", "AccountId": A1})
    org.delete("Contact", earlier)
    seen: list[tuple[str, str, str]] = []
    org.listen(lambda *event: seen.append(event))
    org.delete("Account", A1)
    assert row(org, f"SELECT IsDeleted FROM Contact WHERE Id = '{C1}'")["IsDeleted"] is True
    org.undelete("Account", A1)
    assert org.count("Account") == 1 and org.count("Contact") == 1  # C1 is back, `earlier` stays deleted
    assert row(org, f"SELECT IsDeleted FROM Contact WHERE Id = '{earlier}'")["IsDeleted"] is True
    org.clock.advance(2 / 1440)  # getDeleted covers whole minutes up to the current one
    window = org.deleted("Contact", org.clock.now() - timedelta(days=1), org.clock.now())
    assert [r["id"] for r in window["deletedRecords"]] == [earlier]
    assert seen == [("Account", A1, "deleted"), ("Account", A1, "undeleted")]  # cascades are not reported
    assert api_error(org.undelete, "Account", A1).error_code == "UNDELETE_FAILED"


def test_users_cannot_be_deleted(org: Org) -> None:
    assert api_error(org.delete, "User", U2).error_code == "INVALID_TYPE_FOR_OPERATION"


# -- derived fields and history ------------------------------------------------------------------------------
def test_opportunity_stage_derivation_and_history(org: Org) -> None:
    oid = org.create(
        "Opportunity",
        {
            "AccountId": A1,
            "Name": "Renewal",
            "StageName": "Prospecting",
            "CloseDate": "2024-06-30",
            "Amount": 1000,
        },
    )
    rec = org.get(
        "Opportunity",
        oid,
        ["IsClosed", "IsWon", "Probability", "ForecastCategoryName", "LastStageChangeDate"],
    )
    assert (
        rec["IsClosed"],
        rec["IsWon"],
        rec["Probability"],
        rec["ForecastCategoryName"],
        rec["LastStageChangeDate"],
    ) == (False, False, 10.0, "Pipeline", None)
    org.update("Opportunity", oid, {"Name": "Renamed"})  # untracked field: no history row
    org.update("Opportunity", oid, {"Amount": 1500, "CloseDate": "2024-07-31"})
    org.update("Opportunity", oid, {"StageName": "Closed Won"})
    rec = org.get(
        "Opportunity",
        oid,
        [
            "IsClosed",
            "IsWon",
            "Probability",
            "ForecastCategoryName",
            "LastStageChangeDate",
            "LastModifiedDate",
        ],
    )
    assert (rec["IsClosed"], rec["IsWon"], rec["Probability"], rec["ForecastCategoryName"]) == (
        True,
        True,
        100.0,
        "Closed",
    )
    assert rec["LastStageChangeDate"] == rec["LastModifiedDate"]
    hist = org.query(
        f"SELECT StageName, Amount, PrevAmount, CloseDate, PrevCloseDate, Probability, "
        f"ForecastCategory, Opportunity.Name FROM OpportunityHistory WHERE OpportunityId = '{oid}' "
        f"ORDER BY CreatedDate"
    ).records(0, 10)
    assert [
        (
            h["StageName"],
            h["Amount"],
            h["PrevAmount"],
            h["CloseDate"],
            h["PrevCloseDate"],
            h["Probability"],
            h["ForecastCategory"],
        )
        for h in hist
    ] == [
        ("Prospecting", 1000.0, None, "2024-06-30", None, 10.0, "Pipeline"),
        ("Prospecting", 1500.0, 1000.0, "2024-07-31", "2024-06-30", 10.0, "Pipeline"),
        ("Closed Won", 1500.0, 1500.0, "2024-07-31", "2024-07-31", 100.0, "Closed"),
    ]
    assert hist[0]["Opportunity"]["Name"] == "Renamed"


def test_explicit_probability_wins_over_stage_default(org: Org) -> None:
    oid = org.create(
        "Opportunity",
        {"Name": "o", "StageName": "Negotiation/Review", "CloseDate": "2024-06-30", "Probability": 55},
    )
    rec = org.get("Opportunity", oid, ["Probability", "ForecastCategoryName"])
    assert (rec["Probability"], rec["ForecastCategoryName"]) == (55.0, "Commit")


def test_case_number_and_closing(org: Org) -> None:
    c1 = org.create("Case", {"AccountId": A1, "Subject": "Broken"})
    c2 = org.create("Case", {"AccountId": A1, "Subject": "Again", "Status": "Closed"})
    r1 = org.get("Case", c1, ["CaseNumber", "Status", "Priority", "IsClosed", "ClosedDate", "IsEscalated"])
    assert r1 == {
        **r1,
        "CaseNumber": "00001042",
        "Status": "New",
        "Priority": "Medium",
        "IsClosed": False,
        "ClosedDate": None,
        "IsEscalated": False,
    }
    r2 = org.get("Case", c2, ["CaseNumber", "IsClosed", "ClosedDate", "CreatedDate"])
    assert (r2["CaseNumber"], r2["IsClosed"], r2["ClosedDate"]) == ("00001043", True, r2["CreatedDate"])
    org.update("Case", c1, {"Status": "Closed"})
    closed = org.get("Case", c1, ["IsClosed", "ClosedDate", "LastModifiedDate"])
    assert closed["IsClosed"] is True and closed["ClosedDate"] == closed["LastModifiedDate"]
    org.update("Case", c1, {"Status": "Working"})
    reopened = org.get("Case", c1, ["IsClosed", "ClosedDate"])
    assert (reopened["IsClosed"], reopened["ClosedDate"]) == (False, None)


def test_task_status_and_activity_account(org: Org) -> None:
    oid = org.create(
        "Opportunity", {"AccountId": A1, "Name": "o", "StageName": "Prospecting", "CloseDate": "2024-06-30"}
    )
    case_id = org.create("Case", {"AccountId": A1})
    on_account = org.create("Task", {"WhatId": A1, "Subject": "call"})
    on_opp = org.create("Task", {"WhatId": oid})
    on_case = org.create("Task", {"WhatId": case_id})
    on_contact = org.create("Task", {"WhoId": C1, "Status": "Completed"})
    on_nothing = org.create("Event", {"Subject": "lunch"})
    for tid in (on_account, on_opp, on_case, on_contact):
        assert org.get("Task", tid, ["AccountId"])["AccountId"] == A1
    assert org.get("Event", on_nothing, ["AccountId"])["AccountId"] is None
    t = org.get("Task", on_account, ["Status", "Priority", "IsClosed", "CompletedDateTime"])
    assert (t["Status"], t["Priority"], t["IsClosed"], t["CompletedDateTime"]) == (
        "Not Started",
        "Normal",
        False,
        None,
    )
    done = org.get("Task", on_contact, ["IsClosed", "CompletedDateTime", "CreatedDate"])
    assert done["IsClosed"] is True and done["CompletedDateTime"] == done["CreatedDate"]
    org.update("Task", on_account, {"Status": "Completed"})
    t = org.get("Task", on_account, ["IsClosed", "CompletedDateTime", "LastModifiedDate"])
    assert t["IsClosed"] is True and t["CompletedDateTime"] == t["LastModifiedDate"]
    org.update("Task", on_account, {"WhatId": None, "WhoId": None})
    assert org.get("Task", on_account, ["AccountId"])["AccountId"] is None


def test_names_from_first_and_last(org: Org) -> None:
    cid = org.create("Contact", {"FirstName": "Grace", "LastName": "Hopper"})
    assert org.get("Contact", cid, ["Name"])["Name"] == "Grace Hopper"
    org.update(
        "Contact", cid, {"FirstName": None, "EmailBouncedDate": datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)}
    )
    rec = org.get("Contact", cid, ["Name", "IsEmailBounced", "EmailBouncedDate"])
    assert (rec["Name"], rec["IsEmailBounced"], rec["EmailBouncedDate"]) == (
        "Hopper",
        True,
        "2024-05-06T07:08:09.000+0000",
    )
    uid = org.create(
        "User", {"FirstName": "Ada", "LastName": "L", "Email": "a@l.test", "Username": "a@l.test"}
    )
    rec = org.get("User", uid, ["Name", "IsActive"])
    assert (rec["Name"], rec["IsActive"]) == ("Ada L", True)


def test_account_owner_change_writes_account_history(org: Org) -> None:
    org.update("Account", A1, {"OwnerId": U1}, user_id=U2)
    org.update("Account", A1, {"Name": "No owner change"})
    hist = org.query(
        "SELECT AccountId, Field, DataType, OldValue, NewValue, CreatedById FROM AccountHistory"
    ).records(0, 10)
    assert [{k: v for k, v in h.items() if k != "attributes"} for h in hist] == [
        {
            "AccountId": A1,
            "Field": "Owner",
            "DataType": "EntityId",
            "OldValue": U2,
            "NewValue": U1,
            "CreatedById": U2,
        }
    ]


# -- upsert, find_by, listen ----------------------------------------------------------------------------------
def test_upsert_by_external_id(org: Org) -> None:
    tid, created = org.upsert(
        "Task", "risk_task_key__c", "acct1:no_contact", {"Subject": "Call them", "WhatId": A1}
    )
    assert created is True
    assert org.get("Task", tid, ["Risk_Task_Key__c", "Subject"])["Risk_Task_Key__c"] == "acct1:no_contact"
    again, created = org.upsert(
        "Task",
        "Risk_Task_Key__c",
        "acct1:no_contact",
        {"Subject": "Call them now", "Risk_Task_Key__c": "acct1:no_contact"},
    )
    assert (again, created) == (tid, False)
    assert org.get("Task", tid, ["Subject"])["Subject"] == "Call them now"
    assert org.find_by("Task", "Risk_Task_Key__c", "acct1:no_contact") == [tid]
    assert org.upsert("Task", "Risk_Task_Key__c", "ACCT1:No_Contact", {"Priority": "High"}) == (tid, False)
    assert org.find_by("Account", "OwnerId", U2[:15]) == [A1]
    e = api_error(org.upsert, "Task", "Subject", "x", {})
    assert (e.status, e.error_code) == (404, "NOT_FOUND")


def test_upsert_with_duplicates_is_300(tmp_path: Path) -> None:
    o = Org(tmp_path, Clock(tmp_path), U1)
    data = _data()
    t1, t2 = make_id("Task", 1), make_id("Task", 2)
    data["Task"] = [
        {
            "Id": t,
            "IsDeleted": False,
            "Status": "Not Started",
            "Priority": "Normal",
            "OwnerId": U1,
            "IsClosed": False,
            "IsArchived": False,
            "Risk_Task_Key__c": "dup",
            **_sys(),
        }
        for t in (t1, t2)
    ]
    o.load(data)
    o.api_version = "59.0"
    e = api_error(o.upsert, "Task", "Risk_Task_Key__c", "dup", {"Subject": "x"})
    assert (e.status, e.error_code) == (300, "MULTIPLE_CHOICES")
    assert e.rest_body() == [
        f"/services/data/v59.0/sobjects/Task/{t1}",
        f"/services/data/v59.0/sobjects/Task/{t2}",
    ]
    o.close()


def test_listeners_hear_committed_writes_only(org: Org) -> None:
    heard: list[tuple[str, str, str]] = []
    org.listen(lambda *event: heard.append(event))

    def failing(*event: str) -> None:
        raise RuntimeError("listener down")

    org.listen(failing)  # a failing listener does not break writes
    rid = org.create("Account", {"Name": "L"})
    org.update("Account", rid, {"Name": "L2"})
    api_error(org.update, "Account", rid, {"Risk_Level__c": "bad"})
    org.delete("Account", rid)
    org.hard_delete("Account", rid)  # already soft-deleted: no second event
    tid, _ = org.upsert("Task", "Risk_Task_Key__c", "k", {"WhatId": A1})
    assert heard == [
        ("Account", rid, "created"),
        ("Account", rid, "updated"),
        ("Account", rid, "deleted"),
        ("Task", tid, "created"),
    ]


# -- replication -------------------------------------------------------------------------------------------------
def test_updated_and_deleted_windows(org: Org) -> None:
    start = org.clock.now()
    a = org.create("Account", {"Name": "New"})
    org.update("Account", A1, {"Name": "Touched"})
    gone = org.create("Account", {"Name": "Gone"})
    org.delete("Account", gone)
    purged = org.create("Account", {"Name": "Purged"})
    org.hard_delete("Account", purged)
    org.clock.advance(2 / 1440)  # two minutes on: the current minute is not covered yet
    end = org.clock.now() + timedelta(hours=1)
    up = org.updated("Account", start - timedelta(minutes=1), end)
    assert up["ids"] == sorted([a, A1])
    now_minute = org.clock.now().replace(second=0, microsecond=0)
    assert up["latestDateCovered"] == now_minute.strftime("%Y-%m-%dT%H:%M:00.000+0000")
    dl = org.deleted("Account", start - timedelta(minutes=1), end)
    assert [d["id"] for d in dl["deletedRecords"]] == [gone, purged]
    assert all(d["deletedDate"].endswith("+0000") for d in dl["deletedRecords"])
    earliest = datetime.strptime(dl["earliestDateAvailable"], "%Y-%m-%dT%H:%M:%S.000+0000").replace(
        tzinfo=UTC
    )
    assert earliest == now_minute - timedelta(days=15)
    # a window before the changes sees none of them; seconds are ignored (a 30-second window is empty)
    assert org.updated("Account", start - timedelta(days=2), start - timedelta(days=1))["ids"] == []
    e = api_error(org.updated, "Account", end, end)
    assert (e.status, e.error_code) == (400, "INVALID_REPLICATION_DATE")
    assert api_error(org.deleted, "Account", end, start).error_code == "INVALID_REPLICATION_DATE"
    assert (
        api_error(org.updated, "Account", start.replace(second=10), start.replace(second=40)).error_code
        == "INVALID_REPLICATION_DATE"
    )


def test_deleted_limited_to_fifteen_days(org: Org) -> None:
    gone = org.create("Account", {"Name": "Old"})
    org.delete("Account", gone)
    org.clock.advance(16)
    now = org.clock.now()
    assert org.deleted("Account", now - timedelta(days=30), now)["deletedRecords"] == []
    org.clock.advance(-16)


# -- loading, persistence, paging ---------------------------------------------------------------------------------
def test_load_replaces_and_counts(org: Org) -> None:
    assert not org.is_empty()
    assert (org.count("Account"), org.count("Contact"), org.count("User")) == (1, 1, 2)
    org.create("Account", {"Name": "x"})
    org.load({"User": _data()["User"]})
    assert (org.count("Account"), org.count("User")) == (0, 2)
    org.load({})
    assert org.is_empty()
    with pytest.raises(ValueError, match="Nope"):
        org.load({"Nope": []})


def test_persisted_across_reopen(tmp_path: Path) -> None:
    o = Org(tmp_path, Clock(tmp_path), U1)
    o.load(_data())
    rid = o.create("Account", {"Name": "Kept"})
    case_id = o.create("Case", {"AccountId": A1})
    o.delete("Account", rid)
    o.clock.advance(2 / 1440)  # the deletion's minute is then covered by deleted()
    o.close()
    again = Org(tmp_path, Clock(tmp_path))
    assert again.integration_user_id == U1
    assert row(again, f"SELECT Name, IsDeleted FROM Account WHERE Id = '{rid}'")["Name"] == "Kept"
    assert again.get("Case", case_id, ["CaseNumber"])["CaseNumber"] == "00001042"
    new_case = again.create("Case", {"AccountId": A1})
    assert new_case != case_id and again.get("Case", new_case, ["CaseNumber"])["CaseNumber"] == "00001043"
    assert again.clock.offset == timedelta(minutes=2)
    start = again.clock.now() - timedelta(days=1)
    assert [
        d["id"] for d in again.deleted("Account", start, start + timedelta(days=2))["deletedRecords"]
    ] == [rid]
    again.close()


def test_rest_and_csv_paging_cover_every_row_once(tmp_path: Path) -> None:
    o = Org(tmp_path, Clock(tmp_path), U1)
    n = 5003
    accounts = [
        {
            "Id": make_id("Account", i),
            "IsDeleted": False,
            "Name": f'Acct, "{i}"',
            "OwnerId": U2,
            "NumberOfEmployees": i,
            "Key_Account__c": i % 2 == 0,
            **_sys(),
        }
        for i in range(1, n + 1)
    ]
    o.load({"User": _data()["User"], "Account": accounts})
    r = o.query("SELECT Id, Name, Owner.Name, NumberOfEmployees FROM Account ORDER BY NumberOfEmployees DESC")
    assert r.total_size == n
    seen = [rec["NumberOfEmployees"] for off in range(0, n, 2000) for rec in r.records(off, 2000)]
    assert seen == list(range(n, 0, -1))
    pages = [r.csv(off, 2000) for off in range(0, n, 2000)]
    assert all(p.startswith('"Id","Name","Owner.Name","NumberOfEmployees"\n') for p in pages)
    assert sum(p.count("\n") - 1 for p in pages) == n
    assert pages[0].splitlines()[1] == f'"{make_id("Account", n)}","Acct, ""{n}""","Seller","{n}"'
    o.close()


def test_concurrent_writers_and_readers(org: Org) -> None:
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(15):
                rid = org.create("Account", {"Name": f"T{k}-{i}"})
                org.update("Account", rid, {"NumberOfEmployees": i})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(15):
                r = org.query("SELECT Id, Name, Owner.Name FROM Account")
                assert len(r.records(0, 1000)) == r.total_size
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)] + [
        threading.Thread(target=reader) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert org.count("Account") == 1 + 45
    assert org.query("SELECT COUNT() FROM Account WHERE NumberOfEmployees = 14").total_size == 3


def test_last_activity_date_rolls_up_without_touching_stamps(org: Org) -> None:
    before = org.get("Account", A1, ["SystemModstamp"])["SystemModstamp"]
    today = org.clock.today()
    org.create(
        "Task", {"WhatId": A1, "WhoId": C1, "ActivityDate": str(today - timedelta(days=3))}
    )  # open: no
    assert org.get("Account", A1, ["LastActivityDate"])["LastActivityDate"] is None
    org.create(
        "Task",
        {"WhatId": A1, "WhoId": C1, "Status": "Completed", "ActivityDate": str(today - timedelta(days=5))},
    )
    org.create("Event", {"WhatId": A1, "ActivityDate": str(today - timedelta(days=2))})
    org.create("Event", {"WhatId": A1, "ActivityDate": str(today + timedelta(days=2))})  # future: no
    org.create("Task", {"WhatId": A1, "Status": "Completed", "ActivityDate": str(today - timedelta(days=9))})
    acct = org.get("Account", A1, ["LastActivityDate", "SystemModstamp"])
    assert acct == {**acct, "LastActivityDate": str(today - timedelta(days=2)), "SystemModstamp": before}
    assert org.get("Contact", C1, ["LastActivityDate"])["LastActivityDate"] == str(today - timedelta(days=5))


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("2024-03-04T05:06:07Z", "2024-03-04T05:06:07.000+0000"),
        ("2024-03-04T05:06:07.250+0000", "2024-03-04T05:06:07.250+0000"),
        ("2024-03-04T05:06:07-05:00", "2024-03-04T10:06:07.000+0000"),
        ("2024-03-04T05:06:07", "2024-03-04T05:06:07.000+0000"),
        ("2024-03-04", "2024-03-04T00:00:00.000+0000"),
        (datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC), "2024-03-04T05:06:07.000+0000"),
        ("", None),
    ],
)
def test_datetime_body_values(org: Org, value: object, stored: str | None) -> None:
    org.update("Account", A1, {"Risk_Computed_At__c": value, "Risk_Model_Version__c": ""})
    rec = org.get("Account", A1, ["Risk_Computed_At__c", "Risk_Model_Version__c"])
    assert (rec["Risk_Computed_At__c"], rec["Risk_Model_Version__c"]) == (stored, None)


def test_unique_fields_refuse_duplicates(org: Org) -> None:
    first = org.create("Task", {"WhatId": A1, "Risk_Task_Key__c": "acct1:silence"})
    e = api_error(org.create, "Task", {"WhatId": A1, "Risk_Task_Key__c": "ACCT1:silence"})
    assert (e.status, e.error_code, e.fields) == (400, "DUPLICATE_VALUE", ["Risk_Task_Key__c"])
    assert e.message == f"duplicate value found: Risk_Task_Key__c duplicates value on record with id: {first}"
    other = org.create("Task", {"WhatId": A1, "Risk_Task_Key__c": "acct1:other"})
    assert (
        api_error(org.update, "Task", other, {"Risk_Task_Key__c": "acct1:silence"}).error_code
        == "DUPLICATE_VALUE"
    )
    org.update("Task", first, {"Risk_Task_Key__c": "acct1:silence", "Subject": "same key, same record"})
    org.delete("Task", first)
    assert (
        org.create("Task", {"WhatId": A1, "Risk_Task_Key__c": "acct1:silence"}) != first
    )  # deleted: key free


def test_event_times_are_kept_consistent(org: Org) -> None:
    eid = org.create(
        "Event", {"WhatId": A1, "StartDateTime": "2024-05-06T14:00:00Z", "DurationInMinutes": 45}
    )
    rec = org.get("Event", eid, ["ActivityDateTime", "ActivityDate", "EndDateTime", "DurationInMinutes"])
    assert (rec["ActivityDateTime"], rec["ActivityDate"], rec["EndDateTime"], rec["DurationInMinutes"]) == (
        "2024-05-06T14:00:00.000+0000",
        "2024-05-06",
        "2024-05-06T14:45:00.000+0000",
        45,
    )
    org.update("Event", eid, {"EndDateTime": "2024-05-06T15:30:00Z"})
    assert org.get("Event", eid, ["DurationInMinutes"])["DurationInMinutes"] == 90


def test_deleting_an_account_cascades_to_its_records(org: Org) -> None:
    oid = org.create(
        "Opportunity", {"AccountId": A1, "Name": "o", "StageName": "Prospecting", "CloseDate": "2024-06-30"}
    )
    role = org.create("OpportunityContactRole", {"OpportunityId": oid, "ContactId": C1})
    tid = org.create("Task", {"WhatId": A1})
    other = org.create("Account", {"Name": "Other"})
    keep = org.create("Task", {"WhatId": other})
    heard: list[tuple[str, str, str]] = []
    org.listen(lambda *event: heard.append(event))
    org.delete("Account", A1)
    assert heard == [("Account", A1, "deleted")]
    for name, rid in (
        ("Contact", C1),
        ("Opportunity", oid),
        ("OpportunityContactRole", role),
        ("Task", tid),
        ("Case", make_id("Case", 1)),
    ):
        assert row(org, f"SELECT IsDeleted FROM {name} WHERE Id = '{rid}'")["IsDeleted"] is True, name
    assert org.get("Task", keep, ["IsDeleted"])["IsDeleted"] is False
    org.clock.advance(2 / 1440)
    now = org.clock.now()
    gone = org.deleted("Opportunity", now - timedelta(hours=1), now)["deletedRecords"]
    assert [d["id"] for d in gone] == [oid]


def test_load_accepts_loosely_typed_values(tmp_path: Path) -> None:
    o = Org(tmp_path, Clock(tmp_path), U1)
    o.load(
        {
            "User": _data()["User"],
            "Account": [
                {
                    "Id": A1,
                    "IsDeleted": "false",
                    "Name": 42,
                    "AnnualRevenue": "12.5",
                    "NumberOfEmployees": "7",
                    "OwnerId": U1,
                    "Key_Account__c": True,
                    "CreatedDate": "2024-01-02T03:04:05.000+0000",
                    "LastModifiedDate": "2024-01-02T03:04:05Z",
                    "SystemModstamp": datetime(2024, 1, 2, 3, 4, 5),
                    "LastActivityDate": "2024-01-01",
                    "CreatedById": U1,
                    "LastModifiedById": U1,
                }
            ],
        }
    )
    rec = o.get(
        "Account",
        A1,
        [
            "Name",
            "AnnualRevenue",
            "NumberOfEmployees",
            "CreatedDate",
            "LastModifiedDate",
            "SystemModstamp",
            "LastActivityDate",
            "IsDeleted",
        ],
    )
    assert {k: v for k, v in rec.items() if k != "attributes"} == {
        "Name": "42",
        "AnnualRevenue": 12.5,
        "NumberOfEmployees": 7,
        "CreatedDate": "2024-01-02T03:04:05.000+0000",
        "LastModifiedDate": "2024-01-02T03:04:05.000+0000",
        "SystemModstamp": "2024-01-02T03:04:05.000+0000",
        "LastActivityDate": "2024-01-01",
        "IsDeleted": False,
    }
    o.close()
