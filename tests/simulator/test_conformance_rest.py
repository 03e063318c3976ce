"""Conformance: REST query family, limits, headers and error shapes, through simple-salesforce's real methods."""

from __future__ import annotations

import re
from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from simulator.org.schema import SCHEMA

DATETIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")


def _largest(sf: Any) -> tuple[str, int]:
    counts = {
        name: sf.query(f"SELECT COUNT() FROM {name}")["totalSize"] for name in ("Contact", "Task", "Case")
    }
    name = max(counts, key=lambda k: counts[k])
    return name, counts[name]


def test_query_first_page_shape(sf: Any) -> None:
    result = sf.query("SELECT Id, Name, CreatedDate FROM Account ORDER BY Id")
    assert list(result)[:2] == ["totalSize", "done"]
    assert result["done"] is True and "nextRecordsUrl" not in result
    rec = result["records"][0]
    assert next(iter(rec)) == "attributes"
    assert rec["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v59.0/sobjects/Account/{rec['Id']}",
    }
    assert list(rec)[1:] == ["Id", "Name", "CreatedDate"]
    assert len(rec["Id"]) == 18 and rec["Id"].startswith("001")
    assert DATETIME_RE.match(rec["CreatedDate"])


def test_query_paging_is_relative_and_sized_by_header(sf: Any, simulator: Any) -> None:
    name, total = _largest(sf)
    assert total > 400, "the test org needs an object with more than two 200-record pages"
    first = sf.query(f"SELECT Id FROM {name}", headers={"Sforce-Query-Options": "batchSize=200"})
    assert first["totalSize"] == total and first["done"] is False and len(first["records"]) == 200
    assert re.fullmatch(r"/services/data/v59\.0/query/01g\w+-200", first["nextRecordsUrl"])
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert second["totalSize"] == total and len(second["records"]) == 200
    assert second["nextRecordsUrl"].endswith("-400")
    # query_more by bare locator id: GET query/<id>
    third = sf.query_more(second["nextRecordsUrl"].rsplit("/", 1)[1])
    assert third["records"][0]["Id"] not in {r["Id"] for r in second["records"]}


def test_query_all_iter_walks_every_page(sf: Any, simulator: Any) -> None:
    name, total = _largest(sf)
    before = simulator.calls["query.more"]
    ids = [r["Id"] for r in sf.query_all_iter(f"SELECT Id FROM {name}")]
    assert len(ids) == len(set(ids)) == total
    assert simulator.calls["query.more"] - before == (total - 1) // 2000


def test_query_all_returns_deleted_and_continuation_stays_query_all(sf: Any, simulator: Any) -> None:
    created = [sf.Contact.create({"LastName": f"Gone {i}"})["id"] for i in range(3)]
    for cid in created:
        assert sf.Contact.delete(cid) == 204
    soql = "SELECT Id, IsDeleted FROM Contact WHERE IsDeleted = true"
    assert sf.query(soql)["totalSize"] == 0
    deleted = sf.query(soql, include_deleted=True)
    assert set(created) <= {r["Id"] for r in deleted["records"]}
    paged = sf.query(
        "SELECT Id FROM Contact", include_deleted=True, headers={"Sforce-Query-Options": "batchSize=200"}
    )
    if not paged["done"]:
        assert "/queryAll/" in paged["nextRecordsUrl"]
        before = simulator.calls["queryAll.more"]
        rest = sf.query_more(paged["nextRecordsUrl"], identifier_is_url=True)
        assert simulator.calls["queryAll.more"] == before + 1 and rest["totalSize"] == paged["totalSize"]


def test_count_query(sf: Any) -> None:
    n = sf.query("SELECT COUNT() FROM Account")
    assert n["totalSize"] >= 150 and n["records"] == [] and n["done"] is True


def test_parent_fields_nested(sf: Any) -> None:
    rec = sf.query("SELECT Id, Account.Name, Owner.Name FROM Contact WHERE AccountId != null LIMIT 1")[
        "records"
    ][0]
    assert rec["Account"]["attributes"]["type"] == "Account" and "Name" in rec["Account"]
    assert rec["Owner"]["attributes"]["type"] == "User"


def test_query_errors_are_json_arrays(sf: Any) -> None:
    with pytest.raises(SalesforceMalformedRequest) as bad:
        sf.query("SELECT Id FROM Account WHERE")
    assert isinstance(bad.value.content, list) and bad.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as field:
        sf.query("SELECT NoSuchField FROM Account")
    assert field.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as obj:
        sf.query("SELECT Id FROM NoSuchObject")
    assert obj.value.content[0]["errorCode"] == "INVALID_TYPE"


def test_limit_info_header_first_and_parsed(sf: Any, sim_http: Any, simulator: Any, connection: dict) -> None:
    sf.query("SELECT Id FROM User LIMIT 1")
    usage = sf.api_usage["api-usage"]
    assert usage.total == simulator.api_budget and 0 < usage.used <= simulator.api_used
    resp = sim_http.get(
        f"{simulator.url}/services/data/v59.0/limits/",
        headers={"Authorization": f"Bearer {connection['access_token']}"},
    )
    assert next(iter(resp.headers)) == "Sforce-Limit-Info"
    assert re.fullmatch(r"api-usage=\d+/\d+", resp.headers["Sforce-Limit-Info"])
    assert resp.headers["Content-Type"] == "application/json;charset=UTF-8"


def test_limits(sf: Any, simulator: Any) -> None:
    limits = sf.limits()
    for key in (
        "DailyApiRequests",
        "DailyBulkV2QueryJobs",
        "DailyBulkV2QueryFileStorageMB",
        "DailyBulkApiBatches",
    ):
        assert set(limits[key]) >= {"Max", "Remaining"} and isinstance(limits[key]["Max"], int)
    assert limits["DailyApiRequests"]["Max"] == simulator.api_budget


@pytest.mark.parametrize("version", ["50.0", "52.0", "57.0", "59.0", "62.0"])
def test_every_version_answers_the_same(
    simulator: Any, connection: dict, sim_http: Any, version: str
) -> None:
    from simple_salesforce import Salesforce

    sf = Salesforce(
        instance_url=simulator.url, session_id=connection["access_token"], session=sim_http, version=version
    )
    result = sf.query("SELECT Id FROM Account LIMIT 2")
    assert result["records"][0]["attributes"]["url"].startswith(f"/services/data/v{version}/")


def test_unknown_resource_is_404_json_array(sf: Any) -> None:
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.restful("nosuch/resource")
    assert err.value.content == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]


def test_global_describe(sf: Any) -> None:
    desc = sf.describe()
    assert desc["encoding"] == "UTF-8" and desc["maxBatchSize"] == 200
    names = {o["name"] for o in desc["sobjects"]}
    assert set(SCHEMA) <= names
    account = next(o for o in desc["sobjects"] if o["name"] == "Account")
    assert account["keyPrefix"] == "001" and account["queryable"] is True


def test_version_bounds_and_versions_list(simulator: Any, sim_http: Any, connection: dict) -> None:
    auth = {"Authorization": f"Bearer {connection['access_token']}"}
    listed = sim_http.get(f"{simulator.url}/services/data/").json()
    assert {"50.0", "59.0", "62.0"} <= {v["version"] for v in listed}
    assert sim_http.get(f"{simulator.url}/services/data/v66.0/limits", headers=auth).status_code == 200
    too_new = sim_http.get(f"{simulator.url}/services/data/v99.0/limits", headers=auth)
    assert too_new.status_code == 404 and too_new.json()[0]["errorCode"] == "NOT_FOUND"


def test_describe_if_modified_since(simulator: Any, sim_http: Any, connection: dict) -> None:
    auth = {"Authorization": f"Bearer {connection['access_token']}"}
    url = f"{simulator.url}/services/data/v59.0/sobjects/Account/describe"
    assert (
        sim_http.get(url, headers={**auth, "If-Modified-Since": "Mon, 01 Jan 2035 00:00:00 GMT"}).status_code
        == 304
    )
    assert (
        sim_http.get(url, headers={**auth, "If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status_code
        == 200
    )
