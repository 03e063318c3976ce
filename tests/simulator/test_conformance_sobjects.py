"""Conformance: SFType get/create/update/upsert/delete/describe/updated/deleted through simple-salesforce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)
from simple_salesforce.format import format_external_id

from simulator.org.ids import make_id

FIELD_PROPERTIES = {
    "aggregatable",
    "autoNumber",
    "byteLength",
    "calculated",
    "calculatedFormula",
    "cascadeDelete",
    "caseSensitive",
    "compoundFieldName",
    "controllerName",
    "createable",
    "custom",
    "defaultValue",
    "defaultValueFormula",
    "defaultedOnCreate",
    "dependentPicklist",
    "deprecatedAndHidden",
    "digits",
    "externalId",
    "extraTypeInfo",
    "filterable",
    "groupable",
    "htmlFormatted",
    "idLookup",
    "inlineHelpText",
    "label",
    "length",
    "name",
    "nameField",
    "namePointing",
    "nillable",
    "permissionable",
    "picklistValues",
    "precision",
    "referenceTo",
    "relationshipName",
    "relationshipOrder",
    "restrictedPicklist",
    "scale",
    "soapType",
    "sortable",
    "type",
    "unique",
    "updateable",
}


def _account_id(sf: Any) -> str:
    return str(sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 1")["records"][0]["Id"])


def test_describe_has_every_field_property(sf: Any) -> None:
    desc = sf.Account.describe()
    assert desc["name"] == "Account" and desc["keyPrefix"] == "001"
    by_name = {f["name"]: f for f in desc["fields"]}
    for f in desc["fields"]:
        assert set(f) >= FIELD_PROPERTIES, f["name"]
    assert (
        by_name["Id"]["type"] == "id"
        and by_name["Id"]["length"] == 18
        and by_name["Id"]["updateable"] is False
    )
    owner = by_name["OwnerId"]
    assert (
        owner["type"] == "reference"
        and owner["referenceTo"] == ["User"]
        and owner["relationshipName"] == "Owner"
    )
    level = by_name["Risk_Level__c"]
    assert (
        level["custom"] is True and level["restrictedPicklist"] is True and level["soapType"] == "xsd:string"
    )
    assert [p["value"] for p in level["picklistValues"]] == ["Red", "Amber", "Green"]
    assert set(level["picklistValues"][0]) == {"active", "defaultValue", "label", "validFor", "value"}
    assert by_name["LastActivityDate"]["createable"] is False


def test_describe_with_trailing_slash_and_metadata(sf: Any) -> None:
    assert sf.restful("sobjects/Case/describe/")["name"] == "Case"
    assert sf.Case.metadata()["objectDescribe"]["keyPrefix"] == "500"


def test_get_with_and_without_fields(sf: Any) -> None:
    aid = _account_id(sf)
    full = sf.Account.get(aid)
    assert full["Id"] == aid and full["attributes"]["url"] == f"/services/data/v59.0/sobjects/Account/{aid}"
    assert "SystemModstamp" in full
    some = sf.Account.get(aid, params={"fields": "Name,OwnerId"})
    assert set(some) - {"attributes", "Id"} <= {"Name", "OwnerId"} and "Name" in some


def test_get_missing_is_404_not_found(sf: Any) -> None:
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Account.get(make_id("Account", 999_999))
    assert err.value.content[0]["errorCode"] == "NOT_FOUND"


def test_create_update_delete_round_trip(sf: Any) -> None:
    aid = _account_id(sf)
    created = sf.Contact.create({"LastName": "Conformance", "FirstName": "Cora", "AccountId": aid})
    assert created["success"] is True and created["errors"] == [] and created["id"].startswith("003")
    cid = created["id"]
    before = sf.Contact.get(cid)
    assert before["Name"] == "Cora Conformance"
    assert sf.Contact.update(cid, {"Title": "VP"}) == 204
    after = sf.Contact.get(cid)
    assert after["Title"] == "VP" and after["SystemModstamp"] > before["SystemModstamp"]
    assert sf.Contact.delete(cid) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.get(cid)


def test_write_errors(sf: Any) -> None:
    with pytest.raises(SalesforceMalformedRequest) as missing:
        sf.Contact.create({"FirstName": "NoLast"})
    assert missing.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    aid = _account_id(sf)
    with pytest.raises(SalesforceMalformedRequest) as readonly:
        sf.Account.update(aid, {"LastActivityDate": "2024-01-01"})
    assert readonly.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as picklist:
        sf.Account.update(aid, {"Risk_Level__c": "Purple"})
    assert picklist.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    with pytest.raises(SalesforceMalformedRequest) as with_id:
        sf.Account.create({"Id": aid, "Name": "x"})
    assert with_id.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_upsert_by_external_id_201_200_300(sf: Any, simulator: Any) -> None:
    aid = _account_id(sf)
    key = "conf key/1 +x"
    body = {"Subject": "Risk follow-up", "WhatId": aid}
    assert (
        sf.Task.upsert(
            f"Risk_Task_Key__c/{format_external_id('Risk_Task_Key__c', key).split('/', 1)[1]}", body
        )
        == 201
    )
    raw = sf.Task.upsert(format_external_id("Risk_Task_Key__c", key), {"Priority": "High"}, raw_response=True)
    assert raw.status_code == 200 and raw.json()["created"] is False and raw.json()["success"] is True
    got = sf.Task.get_by_custom_id("Risk_Task_Key__c", key)  # quote_plus form
    assert got["Priority"] == "High" and got["Risk_Task_Key__c"] == key
    # Two records with one value: 300 with a list of URLs (seeded behind the API: the field is unique there).
    c1 = sf.Contact.create({"LastName": "Twin", "Email": "twin@example.com"})["id"]
    c2 = sf.Contact.create({"LastName": "Twin", "Email": "twin@example.com"})["id"]
    urls = sorted(f"/services/data/v59.0/sobjects/Contact/{c}" for c in (c1, c2))
    with pytest.raises(SalesforceMoreThanOneRecord) as many:
        sf.Contact.get_by_custom_id("Email", "twin@example.com")
    assert sorted(many.value.content) == urls
    with pytest.raises(SalesforceMoreThanOneRecord) as upsert_many:
        sf.Contact.upsert("Email/twin@example.com", {"Title": "Twin"})
    assert sorted(upsert_many.value.content) == urls


def test_derived_and_read_only_fields_are_refused(sf: Any) -> None:
    aid = _account_id(sf)
    with pytest.raises(SalesforceMalformedRequest) as task:
        sf.Task.create({"Subject": "x", "AccountId": aid})
    assert task.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    opp = sf.query("SELECT Id FROM Opportunity LIMIT 1")["records"][0]["Id"]
    with pytest.raises(SalesforceMalformedRequest) as won:
        sf.Opportunity.update(opp, {"IsWon": True})
    assert won.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    case = sf.query("SELECT Id FROM Case LIMIT 1")["records"][0]["Id"]
    with pytest.raises(SalesforceMalformedRequest) as closed:
        sf.Case.update(case, {"IsClosed": True})
    assert closed.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_datetime_literals_in_every_documented_form(sf: Any) -> None:
    from simple_salesforce.format import format_soql

    since = datetime(2000, 1, 1, tzinfo=UTC)
    total = sf.query("SELECT COUNT() FROM Account")["totalSize"]
    for literal in (format_soql("{}", since), "2000-01-01T00:00:00Z", "2000-01-01T00:00:00.000+0000"):
        assert sf.query(f"SELECT COUNT() FROM Account WHERE CreatedDate > {literal}")["totalSize"] == total


def test_upsert_unknown_external_field_is_404(sf: Any) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        sf.Task.upsert("NoSuch__c/1", {"Subject": "x"})


def test_updated_and_deleted(sf: Any, simulator: Any) -> None:
    now = simulator.org.clock.now()
    start = now - timedelta(days=1)
    kept = sf.Contact.create({"LastName": "Window"})["id"]
    cid = sf.Contact.create({"LastName": "Window gone"})["id"]
    sf.Contact.delete(cid)
    simulator.org.clock.advance(2 / 1440)  # getUpdated/getDeleted cover whole minutes up to "now"
    end = simulator.org.clock.now() + timedelta(minutes=2)
    updated = sf.Contact.updated(start.astimezone(UTC), end.astimezone(UTC))
    assert kept in updated["ids"] and "latestDateCovered" in updated
    deleted = sf.Contact.deleted(start.astimezone(UTC), end.astimezone(UTC))
    assert cid in [d["id"] for d in deleted["deletedRecords"]]
    assert set(deleted) >= {"deletedRecords", "earliestDateAvailable", "latestDateCovered"}
    row = next(d for d in deleted["deletedRecords"] if d["id"] == cid)
    assert row["deletedDate"].endswith("+0000")
    with pytest.raises(SalesforceMalformedRequest):
        sf.Contact.updated(datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC))
