"""Conformance: "Set Audit Fields upon Record Creation" over HTTPS with simple-salesforce (REST, Collections, Bulk 2.0).

A user holding the permission may set CreatedDate, CreatedById, LastModifiedDate and LastModifiedById on insert, as a
migration does; never on update, and never SystemModstamp. Without it those fields are not createable
(INVALID_FIELD_FOR_INSERT_UPDATE), which is what the session-wide simulator (no permission) shows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from simulator.server import Simulator
from tests.conftest import make_http

MIGRATED = "2024-01-05T10:00:00.000+0000"


@pytest.fixture(scope="module")
def migration(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Salesforce]]:
    """A small org whose API user holds "Set Audit Fields upon Record Creation"."""
    with Simulator(Path(tmp_path_factory.mktemp("audit")), accounts=8, seed=3, audit_fields=True) as sim:
        conn = sim.connection
        sf = Salesforce(
            instance_url=sim.url, session_id=conn["access_token"], session=make_http(conn["ca_bundle"])
        )
        yield sim, sf


def _fields(sf: Salesforce, sobject: str) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in getattr(sf, sobject).describe()["fields"]}


def _admin(sf: Salesforce) -> str:
    return str(sf.query("SELECT Id FROM User WHERE Username = 'admin@crm-risk.sim'")["records"][0]["Id"])


def test_without_the_permission_audit_fields_are_not_createable(sf: Any) -> None:
    fields = _fields(sf, "Task")
    assert not fields["CreatedDate"]["createable"] and not fields["CreatedById"]["createable"]
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Task.create({"Subject": "Old call", "CreatedDate": MIGRATED})
    assert refused.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert refused.value.content[0]["fields"] == ["CreatedDate"]


def test_a_migration_user_sets_audit_fields_on_insert(migration: tuple[Any, Salesforce]) -> None:
    sim, sf = migration
    fields = _fields(sf, "Task")
    for name in ("CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById"):
        assert fields[name]["createable"] and not fields[name]["updateable"], name
    assert not fields["SystemModstamp"]["createable"] and not fields["CompletedDateTime"]["createable"]
    admin = _admin(sf)
    new = sf.Task.create(
        {
            "Subject": "Call from the old CRM",
            "ActivityDate": "2024-01-05",
            "Status": "Completed",
            "CreatedDate": MIGRATED,
            "CreatedById": admin,
        }
    )["id"]
    got = sf.Task.get(new)
    today = sim.org.clock.today().isoformat()
    assert got["CreatedDate"].startswith("2024-01-05T10:00:00") and got["CreatedById"] == admin
    # what the creator did not set is stamped by the insert, as always: SystemModstamp cannot be set at all
    assert got["LastModifiedDate"].startswith(today) and got["SystemModstamp"].startswith(today)
    assert got["CompletedDateTime"].startswith(today)  # read-only: the save that closed it
    with pytest.raises(SalesforceMalformedRequest) as update:
        sf.Task.update(new, {"CreatedDate": "2023-01-01T00:00:00.000+0000"})
    assert update.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_collections_and_bulk_inserts_carry_audit_fields(migration: tuple[Any, Salesforce]) -> None:
    _, sf = migration
    records = [
        {
            "attributes": {"type": "Task"},
            "Subject": f"Collections {i}",
            "CreatedDate": MIGRATED,
            "LastModifiedDate": "2024-02-01T09:00:00.000+0000",
        }
        for i in range(2)
    ]
    out = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    assert all(r["success"] for r in out)
    ids = [r["id"] for r in out]
    for rid in ids:
        got = sf.Task.get(rid)
        assert got["CreatedDate"].startswith("2024-01-05T10:00") and got["LastModifiedDate"].startswith(
            "2024-02-01T09:00"
        )
    # a Task inserted with a WhoId or WhatId keeps the insert's LastModified stamps (Salesforce Help 000386065)
    account = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    linked = {k: v for k, v in records[0].items() if k != "attributes"} | {"WhatId": account}
    got = sf.Task.get(sf.Task.create(linked)["id"])
    assert (
        got["CreatedDate"].startswith("2024-01-05T10:00") and got["LastModifiedDate"] == got["SystemModstamp"]
    )
    job = sf.bulk2.Task.insert(
        records=[{"Subject": f"bulk {i}", "CreatedDate": "2024-01-05T10:00:00.000Z"} for i in range(3)],
        wait=0,
    )
    assert job[0]["numberRecordsFailed"] == 0
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Task.get_successful_records(job[0]["job_id"]))))
    assert len(ok) == 3
    for r in ok:
        assert sf.Task.get(r["sf__Id"])["CreatedDate"].startswith("2024-01-05T10:00")
