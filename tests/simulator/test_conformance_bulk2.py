"""Conformance: Bulk API 2.0 query and ingest through `sf.bulk2`, plus the raw wire facts (wire §1.12, §3, §8.9-10)."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest


def _auth(connection: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {connection['access_token']}"}


def _jobs(simulator: Any) -> str:
    return f"{simulator.url}/services/data/v59.0/jobs"


def test_bulk2_query_pages_repeat_the_header(sf: Any, simulator: Any) -> None:
    total = sf.query("SELECT COUNT() FROM Account")["totalSize"]
    t0 = time.monotonic()
    pages = list(
        sf.bulk2.Account.query("SELECT Id, Name, Owner.Name FROM Account ORDER BY Id", max_records=60, wait=0)
    )
    assert time.monotonic() - t0 < 1.0
    assert len(pages) == -(-total // 60)
    rows = []
    for page in pages:
        assert page.startswith('"Id","Name","Owner.Name"\n')
        rows.extend(csv.DictReader(io.StringIO(page)))
    assert len(rows) == total and len({r["Id"] for r in rows}) == total


def test_bulk2_query_all_includes_deleted(sf: Any) -> None:
    cid = sf.Contact.create({"LastName": "Bulk gone"})["id"]
    sf.Contact.delete(cid)
    soql = f"SELECT Id, IsDeleted FROM Contact WHERE Id = '{cid}'"
    assert "".join(sf.bulk2.Contact.query(soql, wait=0)).count(cid) == 0
    rows = list(csv.DictReader(io.StringIO(next(iter(sf.bulk2.Contact.query_all(soql, wait=0))))))
    assert rows == [{"Id": cid, "IsDeleted": "true"}]


def test_bulk2_query_wire(simulator: Any, sim_http: Any, connection: dict) -> None:
    body = {
        "operation": "query",
        "query": "SELECT Id FROM Account",
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
    }
    created = sim_http.post(
        f"{_jobs(simulator)}/query",
        json=body,
        headers={**_auth(connection), "Accept": "text/csv; charset=UTF-8"},
    )
    job = created.json()
    assert (
        created.status_code == 200
        and job["state"] == "UploadComplete"
        and isinstance(job["apiVersion"], float)
    )
    assert job["id"].startswith("750") and job["createdDate"].endswith("+0000")
    early = sim_http.get(f"{_jobs(simulator)}/query/{job['id']}/results", headers=_auth(connection))
    assert early.status_code == 412 and early.json()[0]["errorCode"] == "JOB_NOT_COMPLETE"
    info = sim_http.get(f"{_jobs(simulator)}/query/{job['id']}", headers=_auth(connection)).json()
    assert info["state"] == "JobComplete" and info["jobType"] == "V2Query"
    first = sim_http.get(
        f"{_jobs(simulator)}/query/{job['id']}/results",
        params={"maxRecords": 100},
        headers={**_auth(connection), "Accept-Encoding": "gzip"},
    )
    assert first.headers["Content-Encoding"] == "gzip" and first.headers["Sforce-NumberOfRecords"] == "100"
    assert first.headers["Sforce-Locator"] not in ("", "null")
    last = sim_http.get(
        f"{_jobs(simulator)}/query/{job['id']}/results",
        params={"maxRecords": 100_000, "locator": first.headers["Sforce-Locator"]},
        headers=_auth(connection),
    )
    assert last.headers["Sforce-Locator"] == "null" and last.text.startswith('"Id"\n')
    gone = sim_http.delete(f"{_jobs(simulator)}/query/{job['id']}", headers=_auth(connection))
    assert gone.status_code == 204 and gone.content == b""
    assert sim_http.get(f"{_jobs(simulator)}/query/{job['id']}", headers=_auth(connection)).status_code == 404


@pytest.mark.parametrize("soql", ["SELECT COUNT() FROM Account", "SELECT Id FROM Account LIMIT 5 OFFSET 2"])
def test_bulk2_query_rejects_unsupported_soql(
    simulator: Any, sim_http: Any, connection: dict, soql: str
) -> None:
    resp = sim_http.post(
        f"{_jobs(simulator)}/query", json={"operation": "query", "query": soql}, headers=_auth(connection)
    )
    assert resp.status_code == 400 and isinstance(resp.json(), list)


def test_bulk2_update_with_failed_records(sf: Any) -> None:
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 4")["records"]]
    records = [
        {"Id": ids[0], "Risk_Level__c": "Red", "Risk_Score__c": "91.5"},
        {"Id": ids[1], "Risk_Level__c": "Purple", "Risk_Score__c": "10"},
        {"Id": ids[2], "Risk_Level__c": "Green", "Risk_Score__c": ""},
        {"Id": ids[3], "Risk_Level__c": "#N/A", "Risk_Score__c": "3"},
    ]
    sf.Account.update(ids[2], {"Risk_Score__c": 55.0})
    t0 = time.monotonic()
    result = sf.bulk2.Account.update(records=records, wait=0)
    assert time.monotonic() - t0 < 1.0
    assert result[0]["numberRecordsProcessed"] == 4 and result[0]["numberRecordsFailed"] == 1
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Account.get_failed_records(result[0]["job_id"]))))
    assert len(failed) == 1 and failed[0]["Id"] == ids[1]
    assert failed[0]["sf__Error"].startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:")
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Account.get_successful_records(result[0]["job_id"]))))
    assert {r["sf__Id"] for r in ok} == {ids[0], ids[2], ids[3]} and {r["sf__Created"] for r in ok} == {
        "false"
    }
    assert sf.Account.get(ids[0])["Risk_Score__c"] == 91.5
    assert sf.Account.get(ids[2])["Risk_Score__c"] == 55.0  # empty cell: left unchanged
    assert sf.Account.get(ids[3])["Risk_Level__c"] is None  # #N/A: set to null
    unprocessed = sf.bulk2.Account.get_unprocessed_records(result[0]["job_id"])
    assert unprocessed.splitlines()[0].count("Id") == 1 and len(unprocessed.splitlines()) == 1


def test_bulk2_insert_and_delete(sf: Any) -> None:
    result = sf.bulk2.Task.insert(records=[{"Subject": f"bulk {i}"} for i in range(3)], wait=0)
    assert result[0]["numberRecordsFailed"] == 0
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Task.get_successful_records(result[0]["job_id"]))))
    assert {r["sf__Created"] for r in ok} == {"true"} and all(r["sf__Id"].startswith("00T") for r in ok)
    deleted = sf.bulk2.Task.delete(records=[{"Id": r["sf__Id"]} for r in ok], wait=0)
    assert deleted[0]["numberRecordsProcessed"] == 3 and deleted[0]["numberRecordsFailed"] == 0


def test_bulk2_ingest_wire(simulator: Any, sim_http: Any, connection: dict) -> None:
    body = {"object": "Account", "operation": "update", "contentType": "CSV", "lineEnding": "LF"}
    job = sim_http.post(f"{_jobs(simulator)}/ingest", json=body, headers=_auth(connection)).json()
    assert (
        job["state"] == "Open" and job["contentUrl"] == f"services/data/v59.0/jobs/ingest/{job['id']}/batches"
    )
    put = sim_http.put(
        f"{_jobs(simulator)}/ingest/{job['id']}/batches",
        data=b"Id,Name\n001000000000000AAA,x\n",
        headers={**_auth(connection), "Content-Type": "text/csv"},
    )
    assert put.status_code == 201
    aborted = sim_http.patch(
        f"{_jobs(simulator)}/ingest/{job['id']}", json={"state": "Aborted"}, headers=_auth(connection)
    )
    assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
    for spelling in ("unprocessedrecords", "unprocessedRecords"):
        resp = sim_http.get(f"{_jobs(simulator)}/ingest/{job['id']}/{spelling}/", headers=_auth(connection))
        assert resp.status_code == 200 and resp.text.startswith("Id,Name")
    assert (
        sim_http.delete(f"{_jobs(simulator)}/ingest/{job['id']}", headers=_auth(connection)).status_code
        == 204
    )


def test_bulk2_job_failure_fault(sf: Any, faults: Any) -> None:
    from simple_salesforce.exceptions import SalesforceOperationError

    faults.add("bulkfail:count=1")
    with pytest.raises(SalesforceOperationError):
        list(sf.bulk2.Account.query("SELECT Id FROM Account", wait=0))


def test_bulk2_unknown_column_fails_the_whole_job(sf: Any) -> None:
    from simple_salesforce.exceptions import SalesforceOperationError

    aid = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    with pytest.raises(SalesforceOperationError, match="Field name not found : NoSuch__c"):
        sf.bulk2.Account.update(records=[{"Id": aid, "NoSuch__c": "1"}], wait=0)
