"""Field-level security of the integration user, as real simple-salesforce sees it: a hidden field is absent from
describe and unknown to SOQL and writes; a read-only field is in describe, not updateable, and refused on update."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest


@pytest.fixture
def access(simulator: Any) -> Iterator[Any]:
    simulator.field_access.clear()
    yield simulator.field_access
    simulator.field_access.clear()


def _account(sf: Any) -> str:
    return str(sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"])


def _field(sf: Any, name: str) -> dict[str, Any] | None:
    return next((f for f in sf.Account.describe()["fields"] if f["name"] == name), None)


def test_a_hidden_field_is_absent_from_describe_and_unknown_to_soql_and_writes(sf, access, simulator):
    account = _account(sf)
    access.hide("Account.Risk_Score__c")
    assert _field(sf, "Risk_Score__c") is None
    assert _field(sf, "Risk_Level__c") is not None
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id FROM Account WHERE Risk_Score__c > 10")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Risk_Score__c' on entity 'Account'" in err.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Account.update(account, {"Risk_Score__c": 40})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    answer = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [{"attributes": {"type": "Account"}, "Id": account, "Risk_Score__c": 4}],
        },
    )
    assert answer[0]["success"] is False and answer[0]["errors"][0]["statusCode"] == "INVALID_FIELD"
    assert "Risk_Score__c" not in sf.Account.get(account) and "Risk_Level__c" in sf.Account.get(account)
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Account.get(account, params={"fields": "Name,Risk_Score__c"})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    # the org itself (not the integration user) still has the field
    assert simulator.org.query(f"SELECT Risk_Score__c FROM Account WHERE Id = '{account}'").total_size == 1


def test_a_read_only_field_is_not_updateable_and_refused_on_update(sf, access):
    account = _account(sf)
    access.read_only("Account.Risk_Level__c")
    described = _field(sf, "Risk_Level__c")
    assert described is not None and described["updateable"] is False and described["createable"] is False
    assert sf.query(f"SELECT Risk_Level__c FROM Account WHERE Id = '{account}'")["totalSize"] == 1
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Account.update(account, {"Risk_Level__c": "Red"})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert "read/write for your profile or permission set" in err.value.content[0]["message"]
    access.clear()
    assert _field(sf, "Risk_Level__c")["updateable"] is True


def test_a_hidden_external_id_cannot_key_an_upsert(sf, access):
    access.hide("Task.Risk_Task_Key__c")
    answer = sf.restful(
        "composite/sobjects/Task/Risk_Task_Key__c",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [{"attributes": {"type": "Task"}, "Risk_Task_Key__c": "k", "Subject": "x"}],
        },
    )
    assert answer[0]["success"] is False
