"""Bulk API 1.0 (`/services/async/<version>/job`) through simple-salesforce's own handler (`sf.bulk`) and raw HTTPS.

The full-read tests run on a demo-size org (2,000 accounts, seed 42: `crm-risk demo`'s default) of their own, with
some Accounts and Cases deleted through the REST API, and compare what Bulk 1.0 returns with the org's own REST
`queryAll` ids: `query` returns every live record, `query_all` every record, deleted ones included.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import API_VERSION, make_http

DELETED_PER_OBJECT = 7


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A demo-size simulated org served on 127.0.0.1."""
    from simulator.server import Simulator

    with Simulator(tmp_path_factory.mktemp("bulk1-demo"), accounts=2000, seed=42) as sim:
        yield sim


@pytest.fixture(scope="module")
def demo_sf(demo: Any) -> Iterator[Any]:
    """A real simple-salesforce client on the demo org."""
    from simple_salesforce import Salesforce

    http = make_http(demo.connection["ca_bundle"])
    yield Salesforce(
        instance_url=demo.url, session_id=demo.connection["access_token"], session=http, version=API_VERSION
    )
    http.close()


@pytest.fixture(scope="module")
def truth(demo_sf: Any) -> dict[str, dict[str, set[str]]]:
    """Per object: the live and deleted ids after deleting a few records (read back over REST queryAll)."""
    out: dict[str, dict[str, set[str]]] = {}
    for obj in ("Account", "Case"):
        victims = demo_sf.query(f"SELECT Id FROM {obj} ORDER BY Id DESC LIMIT {DELETED_PER_OBJECT}")[
            "records"
        ]
        for rec in victims:
            getattr(demo_sf, obj).delete(rec["Id"])
        rows = demo_sf.query_all(f"SELECT Id, IsDeleted FROM {obj}", include_deleted=True)["records"]
        out[obj] = {
            "live": {r["Id"] for r in rows if not r["IsDeleted"]},
            "deleted": {r["Id"] for r in rows if r["IsDeleted"]},
        }
        # an Account's deletion cascades to its Cases: every victim is deleted, maybe more
        assert {r["Id"] for r in victims} <= out[obj]["deleted"] and out[obj]["live"]
    return out


@pytest.mark.parametrize("obj", ["Account", "Case"])
def test_query_returns_every_live_record(demo_sf: Any, truth: dict, obj: str) -> None:
    records = getattr(demo_sf.bulk, obj).query(f"SELECT Id, IsDeleted, CreatedDate FROM {obj}", wait=0)
    ids = [r["Id"] for r in records]
    assert len(ids) == len(set(ids)) and set(ids) == truth[obj]["live"]
    assert all(r["IsDeleted"] is False for r in records)
    first = records[0]
    assert first["attributes"]["type"] == obj
    assert first["attributes"]["url"] == f"/services/data/v{API_VERSION}/sobjects/{obj}/{first['Id']}"
    # Bulk 1.0 JSON writes datetimes as epoch milliseconds (dlt's Salesforce source divides them by 1000)
    assert isinstance(first["CreatedDate"], int)
    rest = demo_sf.query(f"SELECT CreatedDate FROM {obj} WHERE Id = '{first['Id']}'")["records"][0]
    stamp = datetime.strptime(rest["CreatedDate"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert datetime.fromtimestamp(first["CreatedDate"] / 1000, UTC) == stamp


@pytest.mark.parametrize("obj", ["Account", "Case"])
def test_query_all_includes_deleted_records(demo_sf: Any, truth: dict, obj: str) -> None:
    records = getattr(demo_sf.bulk, obj).query_all(f"SELECT Id, IsDeleted FROM {obj}", wait=0)
    by_id = {r["Id"]: r["IsDeleted"] for r in records}
    assert len(by_id) == len(records)
    assert set(by_id) == truth[obj]["live"] | truth[obj]["deleted"]
    assert {i for i, deleted in by_id.items() if deleted} == truth[obj]["deleted"]


def test_lazy_operation_pages_through_result_files(demo_sf: Any, truth: dict) -> None:
    """dlt's call: `query_all(..., lazy_operation=True)` yields one list per result file."""
    pages = list(
        demo_sf.bulk.Case.query_all("SELECT Id, Subject, Account.Name FROM Case", lazy_operation=True, wait=0)
    )
    ids = [r["Id"] for page in pages for r in page]
    assert len(ids) == len(set(ids)) == len(truth["Case"]["live"] | truth["Case"]["deleted"])
    assert len(pages) > 1  # more Cases than one result file holds
    with_account = next(r for page in pages for r in page if r["Account"] is not None)
    assert with_account["Account"]["attributes"]["type"] == "Account" and "Name" in with_account["Account"]


def _async(demo: Any) -> str:
    return f"{demo.url}/services/async/{API_VERSION}"


def _csv_job(demo: Any, http: Any, op: str, soql: str) -> list[dict[str, str]]:
    headers = {"X-SFDC-Session": demo.connection["access_token"], "Content-Type": "application/json"}
    job = http.post(
        f"{_async(demo)}/job",
        json={"operation": op, "object": "Account", "contentType": "CSV"},
        headers=headers,
    )
    assert job.status_code == 201 and job.json()["state"] == "Open" and job.json()["contentType"] == "CSV"
    job_id = job.json()["id"]
    batch = http.post(
        f"{_async(demo)}/job/{job_id}/batch", data=soql, headers={**headers, "Content-Type": "text/csv"}
    )
    assert batch.status_code == 201, batch.text
    batch_id = batch.json()["id"]  # infos answer in the format the job was created in (JSON here)
    closed = http.post(f"{_async(demo)}/job/{job_id}", json={"state": "Closed"}, headers=headers)
    assert closed.json()["state"] == "Closed"
    info = http.get(f"{_async(demo)}/job/{job_id}/batch/{batch_id}", headers=headers).json()
    assert info["state"] == "Completed", info
    result_ids = http.get(f"{_async(demo)}/job/{job_id}/batch/{batch_id}/result", headers=headers).json()
    rows: list[dict[str, str]] = []
    for rid in result_ids:
        text = http.get(f"{_async(demo)}/job/{job_id}/batch/{batch_id}/result/{rid}", headers=headers).text
        assert text.startswith('"Id","Name","IsDeleted","CreatedDate"\n')
        rows += list(csv.DictReader(io.StringIO(text)))
    return rows


def test_csv_query_and_query_all(demo: Any, truth: dict) -> None:
    http = make_http(demo.connection["ca_bundle"])
    try:
        soql = "SELECT Id, Name, IsDeleted, CreatedDate FROM Account"
        live = _csv_job(demo, http, "query", soql)
        every = _csv_job(demo, http, "queryAll", soql)
    finally:
        http.close()
    assert {r["Id"] for r in live} == truth["Account"]["live"] and len(live) == len(truth["Account"]["live"])
    assert {r["Id"] for r in every if r["IsDeleted"] == "true"} == truth["Account"]["deleted"]
    assert {r["Id"] for r in every} == truth["Account"]["live"] | truth["Account"]["deleted"]
    for r in live:
        datetime.strptime(r["CreatedDate"], "%Y-%m-%dT%H:%M:%S.%fZ")  # Bulk 1.0 CSV: `...000Z`


def test_compound_address_fails_the_batch(sf: Any) -> None:
    from simple_salesforce.exceptions import SalesforceGeneralError

    with pytest.raises(SalesforceGeneralError) as err:
        sf.bulk.Account.query("SELECT Id, BillingAddress FROM Account", wait=0)
    assert "FUNCTIONALITY_NOT_ENABLED: Selecting compound data not supported in Bulk Query" in str(err.value)


def test_invalid_field_fails_the_batch_with_salesforce_message(sf: Any) -> None:
    from simple_salesforce.exceptions import SalesforceGeneralError

    with pytest.raises(SalesforceGeneralError) as err:
        sf.bulk.Account.query("SELECT Id, Nope__c FROM Account", wait=0)
    assert "InvalidBatch : Failed to process query: INVALID_FIELD" in str(err.value)
    assert "No such column 'Nope__c' on entity 'Account'" in str(err.value)


def test_session_is_required(simulator: Any, sim_http: Any) -> None:
    resp = sim_http.post(
        f"{simulator.url}/services/async/{API_VERSION}/job",
        json={"operation": "query", "object": "Account", "contentType": "JSON"},
        headers={"X-SFDC-Session": "00Dnot-a-session", "Content-Type": "application/json"},
    )
    assert resp.status_code == 400
    assert resp.json() == {"exceptionCode": "InvalidSessionId", "exceptionMessage": "Invalid session id"}


def test_dml_jobs_are_refused_and_calls_are_counted(simulator: Any, sim_http: Any, connection: dict) -> None:
    headers = {"X-SFDC-Session": connection["access_token"], "Content-Type": "application/json"}
    before = simulator.usage.used
    resp = sim_http.post(
        f"{simulator.url}/services/async/{API_VERSION}/job",
        json={"operation": "insert", "object": "Account", "contentType": "JSON"},
        headers=headers,
    )
    assert resp.status_code == 400 and resp.json()["exceptionCode"] == "InvalidJob"
    assert simulator.usage.used == before + 1  # Bulk 1.0 requests spend the daily API budget


@pytest.mark.parametrize(
    "obj", ["Account", "Contact", "Opportunity", "OpportunityHistory", "Case", "Task", "Event", "User"]
)
def test_every_describe_field_but_compounds_reads_through_bulk1(sf: Any, obj: str) -> None:
    """dlt's Salesforce source: describe, drop the compound fields but Name, `query_all` with lazy_operation."""
    fields = getattr(sf, obj).describe()["fields"]
    compounds = {f["compoundFieldName"] for f in fields if f["compoundFieldName"]} - {"Name"}
    names = [f["name"] for f in fields if f["name"] not in compounds]
    assert compounds >= ({"BillingAddress", "ShippingAddress"} if obj == "Account" else set())
    pages = getattr(sf.bulk, obj).query_all(
        f"SELECT {', '.join(names)} FROM {obj} ", lazy_operation=True, wait=0
    )
    records = [r for page in pages for r in page]
    expected = sf.query(f"SELECT COUNT() FROM {obj}", include_deleted=True)["totalSize"]
    assert len(records) == expected and list(records[0])[1:] == names


def test_org_without_bulk_api_answers_feature_not_enabled(sf: Any, faults: Any) -> None:
    """What dlt's Salesforce source checks before falling back to REST."""
    from simple_salesforce.exceptions import SalesforceMalformedRequest

    faults.add("noasync:bulk1.*")
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.bulk.Account.query_all("SELECT Id FROM Account", lazy_operation=True, wait=0)
    assert "FeatureNotEnabled" in str(err.value) and "Async API not enabled" in str(err.value)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] > 0  # REST is unaffected


def test_bulkfail_fails_the_query_batch(sf: Any, faults: Any) -> None:
    from simple_salesforce.exceptions import SalesforceGeneralError

    faults.add("bulkfail:count=1")
    with pytest.raises(SalesforceGeneralError):
        sf.bulk.Case.query("SELECT Id FROM Case", wait=0)
    assert sf.bulk.Case.query("SELECT Id FROM Case LIMIT 3", wait=0)  # the rule fired once


def test_xml_job_creation_answers_in_xml(simulator: Any, sim_http: Any, connection: dict) -> None:
    """The classic client path (Data Loader): an XML jobInfo in, XML infos out, CSV results."""
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload">'
        "<operation>query</operation><object>Contact</object><contentType>CSV</contentType></jobInfo>"
    )
    headers = {"X-SFDC-Session": connection["access_token"], "Content-Type": "application/xml; charset=UTF-8"}
    base = f"{simulator.url}/services/async/{API_VERSION}/job"
    job = sim_http.post(base, data=xml, headers=headers)
    assert job.status_code == 201 and job.headers["Content-Type"].startswith("text/xml")
    assert "<state>Open</state>" in job.text and "<contentType>CSV</contentType>" in job.text
    job_id = job.text.split("<id>")[1].split("</id>")[0]
    batch = sim_http.post(
        f"{base}/{job_id}/batch",
        data="SELECT Id, Account.Name FROM Contact ORDER BY Id LIMIT 5",
        headers={**headers, "Content-Type": "text/csv"},
    )
    batch_id = batch.text.split("<id>")[1].split("</id>")[0]
    assert (
        "<state>Completed</state>" in sim_http.get(f"{base}/{job_id}/batch/{batch_id}", headers=headers).text
    )
    listing = sim_http.get(f"{base}/{job_id}/batch/{batch_id}/result", headers=headers).text
    assert listing.count("<result>") == 1
    rid = listing.split("<result>")[1].split("</result>")[0]
    rows = list(
        csv.reader(
            io.StringIO(sim_http.get(f"{base}/{job_id}/batch/{batch_id}/result/{rid}", headers=headers).text)
        )
    )
    assert rows[0] == ["Id", "Account.Name"] and len(rows) == 6
    missing = sim_http.get(f"{base}/750000000000000AAA", headers=headers)
    assert missing.status_code == 400 and "<exceptionCode>InvalidJob</exceptionCode>" in missing.text
