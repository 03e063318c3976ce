"""The standard objects carry Salesforce's standard fields, compound addresses included, with a real client.

The expected lists are written here from Salesforce's Object Reference (Account, Contact, Case, Opportunity,
Task), not imported from the simulator, so the two cannot agree by construction.
"""

from __future__ import annotations

from typing import Any

import pytest

# Account's standard fields in a standard org (Object Reference, API 59-62), features that need enabling left out.
ACCOUNT_REFERENCE = {
    # name: (type, length, nillable, createable, updateable)
    "Id": ("id", 18, False, False, False),
    "IsDeleted": ("boolean", 0, False, False, False),
    "MasterRecordId": ("reference", 18, True, False, False),
    "Name": ("string", 255, False, True, True),
    "Type": ("picklist", 255, True, True, True),
    "ParentId": ("reference", 18, True, True, True),
    "BillingStreet": ("textarea", 255, True, True, True),
    "BillingCity": ("string", 40, True, True, True),
    "BillingState": ("string", 80, True, True, True),
    "BillingPostalCode": ("string", 20, True, True, True),
    "BillingCountry": ("string", 80, True, True, True),
    "BillingLatitude": ("double", 0, True, True, True),
    "BillingLongitude": ("double", 0, True, True, True),
    "BillingGeocodeAccuracy": ("picklist", 40, True, True, True),
    "BillingAddress": ("address", 0, True, False, False),
    "ShippingStreet": ("textarea", 255, True, True, True),
    "ShippingCity": ("string", 40, True, True, True),
    "ShippingState": ("string", 80, True, True, True),
    "ShippingPostalCode": ("string", 20, True, True, True),
    "ShippingCountry": ("string", 80, True, True, True),
    "ShippingLatitude": ("double", 0, True, True, True),
    "ShippingLongitude": ("double", 0, True, True, True),
    "ShippingGeocodeAccuracy": ("picklist", 40, True, True, True),
    "ShippingAddress": ("address", 0, True, False, False),
    "Phone": ("phone", 40, True, True, True),
    "Fax": ("phone", 40, True, True, True),
    "AccountNumber": ("string", 40, True, True, True),
    "Website": ("url", 255, True, True, True),
    "PhotoUrl": ("url", 255, True, False, False),
    "Sic": ("string", 20, True, True, True),
    "Industry": ("picklist", 255, True, True, True),
    "AnnualRevenue": ("currency", 0, True, True, True),
    "NumberOfEmployees": ("int", 0, True, True, True),
    "Ownership": ("picklist", 255, True, True, True),
    "TickerSymbol": ("string", 20, True, True, True),
    "Description": ("textarea", 32000, True, True, True),
    "Rating": ("picklist", 255, True, True, True),
    "Site": ("string", 80, True, True, True),
    "OwnerId": ("reference", 18, False, True, True),
    "CreatedDate": ("datetime", 0, False, False, False),
    "CreatedById": ("reference", 18, False, False, False),
    "LastModifiedDate": ("datetime", 0, False, False, False),
    "LastModifiedById": ("reference", 18, False, False, False),
    "SystemModstamp": ("datetime", 0, False, False, False),
    "LastActivityDate": ("date", 0, True, False, False),
    "LastViewedDate": ("datetime", 0, True, False, False),
    "LastReferencedDate": ("datetime", 0, True, False, False),
    "Jigsaw": ("string", 20, True, True, True),
    "JigsawCompanyId": ("string", 20, True, False, False),
    "CleanStatus": ("picklist", 40, True, True, True),
    "AccountSource": ("picklist", 255, True, True, True),
    "DunsNumber": ("string", 9, True, True, True),
    "Tradestyle": ("string", 255, True, True, True),
    "NaicsCode": ("string", 8, True, True, True),
    "NaicsDesc": ("string", 120, True, True, True),
    "YearStarted": ("string", 4, True, True, True),
    "SicDesc": ("string", 80, True, True, True),
    "DandbCompanyId": ("reference", 18, True, True, True),
}
# A few standard fields of the other objects the product reads, each missing from the simulator before.
OTHER_REFERENCE = {
    "Contact": [
        "Salutation",
        "MailingStreet",
        "MailingAddress",
        "OtherAddress",
        "MobilePhone",
        "ReportsToId",
        "Department",
        "LeadSource",
        "Birthdate",
        "Description",
        "HasOptedOutOfEmail",
        "DoNotCall",
    ],
    "Opportunity": ["Description", "NextStep", "LeadSource", "IsPrivate", "ExpectedRevenue", "CampaignId"],
    "Case": ["ParentId", "SuppliedEmail", "SuppliedName", "ContactEmail", "Comments", "MasterRecordId"],
    "Task": ["CallDurationInSeconds", "CallType", "IsReminderSet", "ReminderDateTime", "WhoCount"],
    "Event": ["Location", "ShowAs", "IsPrivate", "EndDate", "IsReminderSet"],
    "User": ["Alias", "TimeZoneSidKey", "LocaleSidKey", "ProfileId", "Address", "CompanyName"],
}
ADDRESS_KEYS = {
    "city",
    "country",
    "geocodeAccuracy",
    "latitude",
    "longitude",
    "postalCode",
    "state",
    "street",
}


def test_account_describe_lists_the_reference_standard_fields(sf: Any) -> None:
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    missing = sorted(set(ACCOUNT_REFERENCE) - set(fields))
    assert not missing, f"standard Account fields missing from describe: {missing}"
    wrong = {
        name: (f["type"], f["length"], f["nillable"], f["createable"], f["updateable"])
        for name, f in fields.items()
        if name in ACCOUNT_REFERENCE
        and (f["type"], f["length"], f["nillable"], f["createable"], f["updateable"])
        != ACCOUNT_REFERENCE[name]
    }
    assert not wrong, wrong
    assert (fields["BillingLatitude"]["precision"], fields["BillingLatitude"]["scale"]) == (18, 15)
    assert fields["BillingAddress"]["soapType"] == "urn:address"


@pytest.mark.parametrize("obj", sorted(OTHER_REFERENCE))
def test_other_objects_carry_more_standard_fields(sf: Any, obj: str) -> None:
    names = {f["name"] for f in getattr(sf, obj).describe()["fields"]}
    assert set(OTHER_REFERENCE[obj]) <= names


def test_compound_components_name_their_compound(sf: Any) -> None:
    fields = sf.Contact.describe()["fields"]
    compound = {f["name"]: f["compoundFieldName"] for f in fields if f["compoundFieldName"]}
    assert {n for n, c in compound.items() if c == "MailingAddress"} == {
        "MailingStreet",
        "MailingCity",
        "MailingState",
        "MailingPostalCode",
        "MailingCountry",
        "MailingLatitude",
        "MailingLongitude",
        "MailingGeocodeAccuracy",
    }
    assert {n for n, c in compound.items() if c == "Name"} == {"FirstName", "LastName", "Salutation"}
    assert next(f for f in fields if f["name"] == "MailingAddress")["type"] == "address"


def test_account_description_updates_through_collections(sf: Any) -> None:
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 2")["records"]]
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Account"}, "id": rid, "Description": f"Key partner since 2019 ({i})"}
            for i, rid in enumerate(ids)
        ],
    }
    result = sf.restful("composite/sobjects", method="PATCH", json=body)
    assert [r["success"] for r in result] == [True, True], result
    assert sf.Account.get(ids[0])["Description"] == "Key partner since 2019 (0)"
    rows = sf.query(f"SELECT Id, Description FROM Account WHERE Id IN ('{ids[0]}', '{ids[1]}') ORDER BY Id")
    assert [r["Description"] for r in rows["records"]] == [
        "Key partner since 2019 (0)",
        "Key partner since 2019 (1)",
    ]


def test_billing_address_is_a_nested_object_over_rest(sf: Any) -> None:
    rid = sf.query("SELECT Id FROM Account ORDER BY Id DESC LIMIT 1")["records"][0]["Id"]
    sf.Account.update(
        rid, {"BillingStreet": "1 Market St", "BillingPostalCode": "94105", "ShippingCity": None}
    )
    rec = sf.query(f"SELECT BillingAddress, ShippingAddress, BillingCity FROM Account WHERE Id = '{rid}'")[
        "records"
    ][0]
    address = rec["BillingAddress"]
    assert set(address) == ADDRESS_KEYS
    assert address["street"] == "1 Market St" and address["postalCode"] == "94105"
    assert address["city"] == rec["BillingCity"] and address["latitude"] is None
    assert rec["ShippingAddress"] is None  # every component empty
    assert sf.Account.get(rid)["BillingAddress"]["street"] == "1 Market St"


def test_compound_address_is_read_only_and_not_filterable(sf: Any) -> None:
    from simple_salesforce.exceptions import SalesforceMalformedRequest

    rid = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Account.update(rid, {"BillingAddress": {"city": "Paris"}})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id FROM Account WHERE BillingAddress != null")
    assert "can not be filtered" in err.value.content[0]["message"]


def test_bulk2_refuses_compound_fields(sf: Any) -> None:
    from simple_salesforce.exceptions import SalesforceMalformedRequest

    with pytest.raises(SalesforceMalformedRequest) as err:
        list(sf.bulk2.Account.query("SELECT Id, BillingAddress FROM Account", wait=0))
    assert err.value.content == [
        {"message": "Selecting compound data not supported in Bulk Query", "errorCode": "API_ERROR"}
    ]
