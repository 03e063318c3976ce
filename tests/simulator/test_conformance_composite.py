"""Conformance: sObject Collections through `sf.restful("composite/sobjects", ...)` (wire §2.5, §8 item 6)."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest


def _accounts(sf: Any, n: int) -> list[str]:
    return [r["Id"] for r in sf.query(f"SELECT Id FROM Account ORDER BY Id LIMIT {n}")["records"]]


def test_create_in_order_with_per_item_status_code(sf: Any) -> None:
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Contact"}, "LastName": "Coll A"},
            {"attributes": {"type": "Contact"}, "FirstName": "no last name"},
            {"attributes": {"type": "Task"}, "Subject": "Coll task"},
        ],
    }
    result = sf.restful("composite/sobjects", method="POST", json=body)
    assert [r["success"] for r in result] == [True, False, True]
    assert (
        result[0]["id"].startswith("003") and result[2]["id"].startswith("00T") and result[0]["errors"] == []
    )
    err = result[1]["errors"][0]
    assert err["statusCode"] == "REQUIRED_FIELD_MISSING" and "errorCode" not in err and "fields" in err


def test_update_all_or_none_rolls_back(sf: Any) -> None:
    ids = _accounts(sf, 2)
    before = {i: sf.Account.get(i)["Risk_Score__c"] for i in ids}
    body = {
        "allOrNone": True,
        "records": [
            {"attributes": {"type": "Account"}, "id": ids[0], "Risk_Score__c": 77.5},
            {"attributes": {"type": "Account"}, "id": ids[1], "Risk_Level__c": "Purple"},
        ],
    }
    result = sf.restful("composite/sobjects", method="PATCH", json=body)
    assert result[0] == {
        "id": ids[0],
        "success": False,
        "errors": [
            {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the request was using AllOrNone "
                "header",
                "fields": [],
            }
        ],
    }
    assert result[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert {i: sf.Account.get(i)["Risk_Score__c"] for i in ids} == before


def test_update_partial_success_is_http_200(sf: Any, sim_http: Any, simulator: Any, connection: dict) -> None:
    ids = _accounts(sf, 2)
    body = {
        "allOrNone": False,
        "records": [
            {
                "attributes": {"type": "Account"},
                "id": ids[0],
                "Risk_Level__c": "Amber",
                "Risk_Score__c": 40.0,
            },
            {"attributes": {"type": "Account"}, "id": ids[1], "Risk_Level__c": "Purple"},
        ],
    }
    resp = sim_http.patch(
        f"{simulator.url}/services/data/v59.0/composite/sobjects",
        json=body,
        headers={"Authorization": f"Bearer {connection['access_token']}"},
    )
    assert resp.status_code == 200
    assert [r["success"] for r in resp.json()] == [True, False]
    assert sf.Account.get(ids[0])["Risk_Level__c"] == "Amber"


def test_more_than_200_records_is_400_exceeded_id_limit(sf: Any) -> None:
    body = {
        "allOrNone": False,
        "records": [{"attributes": {"type": "Task"}, "Subject": str(i)} for i in range(201)],
    }
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.restful("composite/sobjects", method="POST", json=body)
    assert err.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_upsert_by_external_id(sf: Any) -> None:
    aid = _accounts(sf, 1)[0]
    records = [
        {"attributes": {"type": "Task"}, "Risk_Task_Key__c": f"coll-{i}", "Subject": "s", "WhatId": aid}
        for i in range(2)
    ]
    first = sf.restful(
        "composite/sobjects/Task/Risk_Task_Key__c",
        method="PATCH",
        json={"allOrNone": False, "records": records},
    )
    assert [r["created"] for r in first] == [True, True]
    again = sf.restful(
        "composite/sobjects/Task/Risk_Task_Key__c",
        method="PATCH",
        json={"allOrNone": False, "records": records},
    )
    assert [r["created"] for r in again] == [False, False]
    assert [r["id"] for r in again] == [r["id"] for r in first]


def test_lock_fault_is_a_per_item_error(sf: Any, faults: Any) -> None:
    ids = _accounts(sf, 2)
    faults.add(f"lock:{ids[1]}")
    body = {
        "allOrNone": False,
        "records": [{"attributes": {"type": "Account"}, "id": i, "Risk_Score__c": 12.0} for i in ids],
    }
    result = sf.restful("composite/sobjects", method="PATCH", json=body)
    assert result[0]["success"] is True
    assert result[1]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    with pytest.raises(SalesforceMalformedRequest) as single:
        sf.Account.update(ids[1], {"Risk_Score__c": 1.0})
    assert single.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"


def test_reject_fault_with_count(sf: Any, faults: Any) -> None:
    ids = _accounts(sf, 3)
    faults.add("reject:Account:FIELD_CUSTOM_VALIDATION_EXCEPTION:count=1")
    body = {
        "allOrNone": False,
        "records": [{"attributes": {"type": "Account"}, "id": i, "Risk_Score__c": 5.0} for i in ids],
    }
    result = sf.restful("composite/sobjects", method="PATCH", json=body)
    assert [r["success"] for r in result] == [False, True, True]
    assert result[0]["errors"][0]["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
