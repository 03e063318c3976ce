"""The Salesforce connector against the real simulator over HTTPS: auth modes, re-login, extract, push, faults.

No mocks: a tiny org is seeded through the simulator's own store (exact expected values), then served over TLS.
"""

from __future__ import annotations

import json
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.salesforce import registry
from connectors.salesforce.client import CrmClient, connect
from connectors.salesforce.extract import extract_object
from connectors.salesforce.push import PushInterrupted, create_tasks, push_updates
from connectors.salesforce.windows import count_changes
from crm_risk.config import Settings, load_settings
from crm_risk.errors import QuotaExceeded, TerminalError, TransientError
from simulator.org.clock import Clock
from simulator.org.ids import make_id
from simulator.org.store import Org
from simulator.server import Simulator

ACCOUNTS = 240
START = datetime(2000, 1, 1, tzinfo=UTC)


def _seed(state_dir: Path) -> dict[str, Any]:
    """A small org with one of everything the extract must handle; returns the ids the tests look at."""
    clock = Clock(state_dir)
    past = clock.now() - timedelta(days=30)
    users = [make_id("User", 1), make_id("User", 2)]
    system = {
        "CreatedDate": past,
        "LastModifiedDate": past,
        "SystemModstamp": past,
        "CreatedById": users[0],
        "LastModifiedById": users[0],
    }
    accounts = [make_id("Account", i + 1) for i in range(ACCOUNTS)]
    with Org(state_dir, clock, integration_user_id=users[0]) as org:
        org.load(
            {
                "User": [
                    {
                        "Id": users[0],
                        "Username": "integration@crm-risk.sim",
                        "FirstName": "Ivy",
                        "LastName": "Integration",
                        "Name": "Ivy Integration",
                        "Email": "ivy@example.com",
                        "IsActive": True,
                        **system,
                    },
                    {
                        "Id": users[1],
                        "Username": "rep@crm-risk.sim",
                        "FirstName": "Rob",
                        "LastName": "Rep",
                        "Name": "Rob Rep",
                        "Email": "rob@example.com",
                        "IsActive": True,
                        **system,
                    },
                ],
                "Account": [
                    {
                        "Id": accounts[i],
                        "IsDeleted": False,
                        "Name": f"Acme {i:03d}",
                        "OwnerId": users[0],
                        "Industry": "NA" if i % 7 == 0 else "Banking",
                        "AnnualRevenue": 1000.5 * i,
                        "NumberOfEmployees": i,
                        "Key_Account__c": i % 2 == 0,
                        **{**system, "SystemModstamp": past + timedelta(seconds=i % 50)},
                    }
                    for i in range(ACCOUNTS)
                ],
            }
        )
        uid = users[0]
        contacts = [
            org.create(
                "Contact", {"AccountId": accounts[i], "LastName": f"Lee {i}", "Title": "CFO"}, user_id=uid
            )
            for i in range(5)
        ]
        opp = org.create(
            "Opportunity",
            {
                "AccountId": accounts[0],
                "Name": "Renewal 2025",
                "StageName": "Prospecting",
                "CloseDate": "2025-01-31",
                "Amount": 5000,
                "Type": "Renewal",
            },
            user_id=uid,
        )
        org.update("Opportunity", opp, {"StageName": "Closed Won"}, user_id=uid)
        org.create(
            "Case",
            {"AccountId": accounts[1], "Subject": "Broken", "Status": "New", "CSAT__c": 2.0},
            user_id=uid,
        )
        org.create(
            "Task",
            {"WhatId": accounts[2], "Subject": "Call", "Status": "Completed", "ActivityDate": "2024-05-01"},
            user_id=uid,
        )
        org.create(
            "Event",
            {
                "WhatId": accounts[3],
                "Subject": "QBR",
                "Type": "Business Review",
                "StartDateTime": "2024-05-01T10:00:00Z",
                "EndDateTime": "2024-05-01T11:00:00Z",
                "DurationInMinutes": 60,
            },
            user_id=uid,
        )
        org.update("Account", accounts[4], {"OwnerId": users[1]}, user_id=uid)
        org.delete("Account", accounts[5], user_id=uid)
        org.hard_delete("Contact", contacts[4])
    clock.advance(5 / 1440)  # getDeleted covers whole minutes up to "now": let the deletes age five minutes
    return {"accounts": accounts, "contacts": contacts, "users": users, "opportunity": opp}


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A running simulator over the seeded org, plus the seeded ids."""
    state = tmp_path_factory.mktemp("sf-org")
    ids = _seed(state)
    with Simulator(state) as sim:
        yield sim, ids


@pytest.fixture()
def sim(org: Any) -> Any:
    """The simulator, with fault rules cleared after each test."""
    simulator, _ = org
    yield simulator
    simulator.faults.clear()
    simulator.auth.rotate_refresh = False


@pytest.fixture()
def ids(org: Any) -> dict[str, Any]:
    return org[1]


def _settings(sim: Simulator, tmp_path: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "sf_connection_file": str(sim.state_dir / "connection.json"),
        "sf_auth": "client_credentials",
        "sf_token_store": str(tmp_path / "token.json"),
        "landing_dir": str(tmp_path / "landing"),
        "sf_max_retries": 2,
    }
    return load_settings(**{**base, **overrides})


def _extract(
    client: CrmClient,
    settings: Settings,
    name: str,
    run_id: str,
    obj: registry.ObjectEntry | None = None,
    end: datetime | None = None,
) -> Any:
    entry = obj or registry.entry(name)
    end = end or datetime.now(UTC) + timedelta(minutes=3)
    return extract_object(client, entry, START, end, Path(settings.landing_dir), run_id, settings)


def _landed(settings: Settings, manifest: Any) -> pa.Table:
    out = Path(settings.landing_dir) / manifest.run_id / manifest.object
    return pa.concat_tables([pq.read_table(out / f) for f in manifest.files])


@pytest.mark.parametrize(
    "mode", ["client_credentials", "jwt", "refresh_token", "password", "soap", "session"]
)
def test_every_auth_mode_logs_in(sim: Simulator, tmp_path: Path, mode: str) -> None:
    with connect(_settings(sim, tmp_path, sf_auth=mode)) as client:
        page = next(client.query_pages("SELECT COUNT() FROM Account", include_deleted=False))
        assert page["totalSize"] == ACCOUNTS - 1
        assert client.api_calls == 1 and client.api_usage is not None


def test_refused_login_names_the_settings_and_hides_the_secret(sim: Simulator, tmp_path: Path) -> None:
    settings = _settings(sim, tmp_path, sf_client_secret="not-the-secret-0123")
    with pytest.raises(TerminalError) as err:
        connect(settings)
    assert "CRM_RISK_SF_CLIENT_SECRET" in str(err.value) and "not-the-secret-0123" not in str(err.value)
    with pytest.raises(TerminalError, match="soap"):
        connect(_settings(sim, tmp_path, sf_auth="soap", sf_password="wrong-password-99"))


def test_rotated_refresh_token_is_persisted_at_once(sim: Simulator, tmp_path: Path) -> None:
    sim.auth.rotate_refresh = True
    settings = _settings(sim, tmp_path, sf_auth="refresh_token")
    with connect(settings):
        pass
    store = Path(str(settings.sf_token_store))
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    rotated = json.loads(store.read_text())["refresh_token"]
    assert rotated == sim.auth.creds["refresh_token"]
    assert settings.sf_refresh_token is not None and rotated != settings.sf_refresh_token.get_secret_value()
    with connect(_settings(sim, tmp_path, sf_auth="refresh_token")) as again:  # uses the stored token
        assert again.api_calls == 0
    sim.refresh_credentials()


def test_expired_session_gets_one_relogin_and_keeps_headers(sim: Simulator, tmp_path: Path) -> None:
    client = connect(_settings(sim, tmp_path))
    sim.expire_sessions()
    sim.faults.add("expire:queryAll.more:count=1")
    pages = list(client.query_pages("SELECT Id FROM Account", include_deleted=True, batch_size=200))
    assert [len(p["records"]) for p in pages] == [200, ACCOUNTS - 200]  # batchSize survived the re-login
    assert client.relogins == 2


def test_session_is_refreshed_proactively(sim: Simulator, tmp_path: Path) -> None:
    client = connect(_settings(sim, tmp_path, sf_session_refresh_seconds=0))
    first = client.sf.session_id
    client.describe("Account")
    assert client.relogins == 1 and client.sf.session_id != first


def test_slow_response_times_out_and_is_retried(sim: Simulator, tmp_path: Path) -> None:
    client = connect(_settings(sim, tmp_path, sf_timeout_seconds=0.5, sf_max_retries=2))
    sim.faults.add("slow:1.5:describe:count=1")
    assert client.describe("Opportunity")["name"] == "Opportunity"
    sim.faults.add("slow:1.5:describe:count=3")
    with pytest.raises(TransientError):
        client.describe("Event")


def test_given_session_cannot_be_renewed(sim: Simulator, tmp_path: Path) -> None:
    client = connect(_settings(sim, tmp_path, sf_auth="session"))
    sim.auth.revoke(client.sf.session_id)
    with pytest.raises(TerminalError, match="CRM_RISK_SF_SESSION_ID"):
        client.describe("Account")


def test_rest_and_bulk_extracts_land_identical_parquet(sim: Simulator, tmp_path: Path) -> None:
    rest_settings = _settings(sim, tmp_path, extract_bulk_threshold=10**9, extract_chunk_rows=100)
    bulk_settings = _settings(sim, tmp_path, extract_bulk_threshold=0, extract_chunk_rows=100)
    client = connect(rest_settings)
    end = datetime.now(UTC) + timedelta(minutes=3)
    for name in ("Account", "Opportunity", "OpportunityHistory", "Event", "AccountHistory", "User"):
        rest = _extract(client, rest_settings, name, "rest", end=end)
        bulk = _extract(client, bulk_settings, name, "bulk", end=end)
        assert (rest.api, bulk.api) == ("rest", "bulk2")
        assert rest.fields == bulk.fields and rest.rows == bulk.rows == bulk.count_estimate > 0
        rest_table, bulk_table = _landed(rest_settings, rest), _landed(bulk_settings, bulk)
        assert rest_table.equals(bulk_table), name
    assert len(rest.files) >= 1
    accounts = _landed(rest_settings, _extract(client, rest_settings, "Account", "again", end=end))
    assert accounts.num_rows == ACCOUNTS
    assert accounts.schema.field("SystemModstamp").type == pa.timestamp("us", tz="UTC")
    assert accounts.schema.field("NumberOfEmployees").type == pa.int64()
    rows = {r["Name"]: r for r in accounts.to_pylist()}
    assert rows["Acme 007"]["Industry"] == "NA" and rows["Acme 007"]["Phone"] is None
    assert rows["Acme 005"]["IsDeleted"] is True  # soft delete arrives as a tombstone (queryAll)
    assert rows["Acme 003"]["AnnualRevenue"] == 3001.5 and rows["Acme 002"]["Key_Account__c"] is True


def test_manifest_hard_deletes_and_chunks(sim: Simulator, tmp_path: Path, ids: dict[str, Any]) -> None:
    settings = _settings(sim, tmp_path, extract_chunk_rows=100, extract_page_size=200)
    client = connect(settings)
    manifest = _extract(client, settings, "Contact", "run1")
    out = Path(settings.landing_dir) / "run1" / "Contact"
    saved = json.loads((out / "_manifest.json").read_text())
    assert saved["rows"] == 4 and saved["api"] == "rest" and saved["deleted_file"] == "deleted.parquet"
    assert saved["cursor_field"] == "SystemModstamp" and saved["missing_fields"] == []
    assert saved["fields"]["EmailBouncedDate"] == "datetime" and saved["api_calls"] == manifest.api_calls == 4
    deleted = pq.read_table(out / "deleted.parquet").to_pylist()
    assert [d["Id"] for d in deleted] == [ids["contacts"][4]]
    assert deleted[0]["deletedDate"].tzinfo is not None and saved["deleted_latest_covered"]
    accounts = _extract(client, settings, "Account", "run1")
    assert accounts.files == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert count_changes(client, registry.entry("Account"), START) == ACCOUNTS
    assert count_changes(client, registry.entry("Account"), datetime.now(UTC) + timedelta(hours=1)) == 0


def test_missing_optional_field_is_reported_required_is_fatal(sim: Simulator, tmp_path: Path) -> None:
    settings = _settings(sim, tmp_path)
    client = connect(settings)
    case = registry.entry("Case")
    wider = replace(case, fields=(*case.fields, "Churn_Reason__c"))
    manifest = _extract(client, settings, "Case", "m", obj=wider)
    assert manifest.missing_fields == ["Churn_Reason__c"] and manifest.rows == 1
    assert "Churn_Reason__c" not in manifest.fields
    stricter = replace(wider, required=(*case.required, "Churn_Reason__c"))
    with pytest.raises(TerminalError, match="Churn_Reason__c"):
        _extract(client, settings, "Case", "m2", obj=stricter)


def test_bulk_faults_retry_pages_and_fail_cleanly(sim: Simulator, tmp_path: Path) -> None:
    settings = _settings(sim, tmp_path, extract_bulk_threshold=0, extract_chunk_rows=100)
    client = connect(settings)
    sim.faults.add(
        "drop:bulk2.query.results:count=1;expire:bulk2.query.get:count=1;503:describe:count=1;"
        "503:bulk2.query.create:count=1"
    )
    manifest = _extract(client, settings, "Account", "faults")
    assert manifest.rows == ACCOUNTS and manifest.api == "bulk2" and client.relogins == 1
    sim.faults.add("bulkfail:bulk2.query.fail:count=1")
    calls = sim.calls["bulk2.query.create"]
    fell_back = _extract(client, settings, "Account", "failed")  # the job ended Failed: read through REST
    assert sim.calls["bulk2.query.create"] == calls + 1  # the failed job is not created again
    assert fell_back.api == "rest" and fell_back.rows == ACCOUNTS
    assert any(n.startswith("bulk2 failed, read through REST") for n in fell_back.notes), fell_back.notes
    assert _landed(settings, fell_back).sort_by("Id").equals(_landed(settings, manifest).sort_by("Id"))
    sim.faults.add("bulkfail:bulk2.query.fail;500:queryAll:object=Account")  # Bulk and REST both fail
    with pytest.raises(TransientError, match="still failing after 2 retries"):
        _extract(client, settings, "Account", "failed-twice")
    assert not (Path(settings.landing_dir) / "failed-twice" / "Account" / "_manifest.json").exists()


def test_object_refused_by_bulk_falls_back_to_rest(sim: Simulator, tmp_path: Path) -> None:
    bulk_settings = _settings(sim, tmp_path, extract_bulk_threshold=0, extract_chunk_rows=100)
    rest_settings = _settings(sim, tmp_path, extract_bulk_threshold=10**9, extract_chunk_rows=100)
    client = connect(bulk_settings)
    end = datetime.now(UTC) + timedelta(minutes=3)
    sim.faults.add("nobulk:Account:count=1")
    calls = sim.calls["bulk2.query.create"]
    fell_back = _extract(client, bulk_settings, "Account", "nobulk", end=end)
    assert sim.calls["bulk2.query.create"] == calls + 1  # Bulk 2.0 was asked, and refused the object
    assert fell_back.api == "rest" and fell_back.rows == ACCOUNTS
    saved = json.loads(
        (Path(bulk_settings.landing_dir) / "nobulk" / "Account" / "_manifest.json").read_text()
    )
    assert any("bulk2 unsupported" in n and "INVALIDENTITY" in n for n in saved["notes"]), saved["notes"]
    rest = _extract(client, rest_settings, "Account", "rest", end=end)
    assert _landed(bulk_settings, fell_back).equals(_landed(rest_settings, rest))


def test_query_timeout_splits_the_window_in_halves(sim: Simulator, tmp_path: Path) -> None:
    settings = _settings(sim, tmp_path, extract_bulk_threshold=10**9, extract_chunk_rows=100)
    client = connect(settings)
    end = datetime.now(UTC) + timedelta(minutes=3)
    plain = _extract(client, settings, "Account", "plain", end=end)
    # after the COUNT(): the whole window, then its first half, time out
    sim.faults.add("timeout:queryAll:after=1:count=2")
    calls = sim.calls["queryAll"]
    split = _extract(client, settings, "Account", "split", end=end)
    assert sim.calls["queryAll"] == calls + 6  # COUNT(), whole, first half, its two quarters, second half
    assert split.rows == plain.rows == ACCOUNTS
    assert _landed(settings, split).equals(_landed(settings, plain))  # same rows, same cursor order
    notes = json.loads((Path(settings.landing_dir) / "split" / "Account" / "_manifest.json").read_text())[
        "notes"
    ]
    assert len(notes) == 2 and all(n.startswith("QUERY_TIMEOUT on [") for n in notes)
    sim.faults.clear()
    sim.faults.add(
        "timeout:queryAll:after=1"
    )  # times out however narrow: gives up at the minimum window, loudly
    with pytest.raises(TransientError, match="QUERY_TIMEOUT"):
        _extract(client, settings, "Account", "never", end=end)


def test_query_timeout_on_the_count_probe_counts_in_halves(sim: Simulator, tmp_path: Path) -> None:
    settings = _settings(sim, tmp_path, extract_bulk_threshold=10**9, extract_chunk_rows=100)
    client = connect(settings)
    end = datetime.now(UTC) + timedelta(minutes=3)
    plain = _extract(client, settings, "Account", "plain", end=end)
    sim.faults.add(
        "timeout:queryAll:count=2"
    )  # the COUNT() of the window, then the COUNT() of its first half
    probed = _extract(client, settings, "Account", "probed", end=end)
    assert probed.count_estimate == plain.count_estimate == probed.rows == ACCOUNTS
    assert _landed(settings, probed).equals(_landed(settings, plain))
    assert sum(n.startswith("QUERY_TIMEOUT on COUNT() [") for n in probed.notes) == 2, probed.notes
    assert count_changes(client, registry.entry("Account"), START) == ACCOUNTS  # an open window: ends at now
    sim.faults.add("timeout:queryAll:count=1")
    assert count_changes(client, registry.entry("Account"), START) == ACCOUNTS


def test_query_timeout_on_a_later_page_reads_the_window_again_in_halves(
    sim: Simulator, tmp_path: Path
) -> None:
    settings = _settings(
        sim, tmp_path, extract_bulk_threshold=10**9, extract_chunk_rows=100, extract_page_size=200
    )
    client = connect(settings)
    end = datetime.now(UTC) + timedelta(minutes=3)
    plain = _extract(client, settings, "Account", "plain", end=end)
    sim.faults.add("timeout:queryAll.more:count=1")  # the second page of 200 rows times out
    resumed = _extract(client, settings, "Account", "resumed", end=end)
    assert resumed.rows == plain.rows == ACCOUNTS
    assert _landed(settings, resumed).equals(_landed(settings, plain))  # no row twice, same cursor order
    assert any(n.startswith("QUERY_TIMEOUT after 200 rows") for n in resumed.notes), resumed.notes


def test_quota_stops_the_extract(sim: Simulator, tmp_path: Path) -> None:
    client = connect(_settings(sim, tmp_path))
    sim.faults.add("403:queryAll:count=1")
    with pytest.raises(QuotaExceeded, match="REQUEST_LIMIT_EXCEEDED"):
        _extract(client, client.settings, "Account", "q")
    budgeted = connect(_settings(sim, tmp_path, api_call_budget=2))
    with pytest.raises(QuotaExceeded, match="CRM_RISK_API_CALL_BUDGET"):
        _extract(budgeted, budgeted.settings, "Account", "b")
    assert budgeted.api_calls == 2


def _read(sim: Simulator, record_id: str, *fields: str) -> dict[str, Any]:
    return sim.org.get("Account", record_id, list(fields))


@pytest.mark.parametrize("threshold", [2000, 0], ids=["collections", "bulk2"])
def test_push_updates_classifies_every_row(
    sim: Simulator, tmp_path: Path, ids: dict[str, Any], threshold: int
) -> None:
    client = connect(_settings(sim, tmp_path, push_bulk_threshold=threshold))
    acc = ids["accounts"][10:16]
    count_before = sim.org.count("Account")
    sim.faults.add(f"lock:{acc[3]}:count=1")  # one transient lock: retried, then fine
    rows = [
        {
            "Id": acc[0],
            "Risk_Level__c": "Red",
            "Risk_Score__c": 87.5,
            "Risk_Reasons__c": f"late renewal {threshold}",
        },
        {"Id": acc[1], "Risk_Level__c": "Purple"},
        {"Id": make_id("Account", 999_999), "Risk_Level__c": "Red"},
        {"Id": acc[3], "Risk_Level__c": "Amber", "Risk_Trend__c": "Rising"},
        {"Risk_Level__c": "Red"},
        {"Id": acc[4], "Risk_Level__c": "Green", "Risk_Reasons__c": None},
    ]
    results = push_updates(client, "Account", rows, client.settings)
    assert [r.status for r in results] == [
        "updated",
        "rejected",
        "rejected",
        "updated",
        "rejected",
        "updated",
    ]
    assert results[1].error_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" and results[1].message
    assert results[4].error_code == "MISSING_ID" and results[0].record_id == acc[0]
    assert _read(sim, acc[0], "Risk_Level__c", "Risk_Score__c")["Risk_Score__c"] == 87.5
    assert _read(sim, acc[3], "Risk_Trend__c")["Risk_Trend__c"] == "Rising"
    assert sim.org.count("Account") == count_before  # update-only: nothing created


def test_persistent_lock_ends_as_retry_not_rejected(
    sim: Simulator, tmp_path: Path, ids: dict[str, Any]
) -> None:
    client = connect(_settings(sim, tmp_path))
    target = ids["accounts"][20]
    sim.faults.add(f"lock:{target}:count=10")
    [result] = push_updates(client, "Account", [{"Id": target, "Risk_Level__c": "Red"}], client.settings)
    assert (result.ok, result.status, result.error_code, result.attempts) == (
        False,
        "retry",
        "UNABLE_TO_LOCK_ROW",
        3,
    )


def test_failing_call_is_retried_then_split(sim: Simulator, tmp_path: Path, ids: dict[str, Any]) -> None:
    client = connect(_settings(sim, tmp_path))
    client.describe("Account")
    rows = [{"Id": i, "Risk_Model_Version__c": "split-test"} for i in ids["accounts"][50:54]]
    sim.faults.add("500:composite.update:count=3")
    before = sim.calls["composite.update"]
    results = push_updates(client, "Account", rows, client.settings)
    assert [r.status for r in results] == ["updated"] * 4
    assert sim.calls["composite.update"] - before == 5  # 3 failed tries of 4 rows, then two halves of 2


def test_failed_bulk_job_rows_are_sent_again(sim: Simulator, tmp_path: Path, ids: dict[str, Any]) -> None:
    client = connect(_settings(sim, tmp_path, push_bulk_threshold=0))
    rows = [{"Id": i, "Risk_Model_Version__c": "bulk-retry"} for i in ids["accounts"][60:63]]
    sim.faults.add("bulkfail:bulk2.ingest.fail:count=1")
    results = push_updates(client, "Account", rows, client.settings)
    assert [r.status for r in results] == ["updated"] * 3
    assert _read(sim, ids["accounts"][61], "Risk_Model_Version__c")["Risk_Model_Version__c"] == "bulk-retry"


def test_quota_during_push_returns_results_so_far(
    sim: Simulator, tmp_path: Path, ids: dict[str, Any]
) -> None:
    client = connect(_settings(sim, tmp_path))
    client.describe("Account")
    sim.faults.add("403:composite.update:after=1:count=1")
    rows = [{"Id": i, "Risk_Score__c": 1.0} for i in ids["accounts"][30:230]] + [
        {"Id": ids["accounts"][230], "Risk_Score__c": 2.0}
    ]
    with pytest.raises(PushInterrupted) as err:
        push_updates(client, "Account", rows, client.settings)
    statuses = [r.status for r in err.value.results]
    assert isinstance(err.value, QuotaExceeded) and len(statuses) == 201
    assert (
        statuses[:200] == ["updated"] * 200 and err.value.results[200].error_code == "REQUEST_LIMIT_EXCEEDED"
    )


def test_create_tasks_is_idempotent_on_the_key(sim: Simulator, tmp_path: Path, ids: dict[str, Any]) -> None:
    client = connect(_settings(sim, tmp_path))
    task = {
        "WhatId": ids["accounts"][40],
        "OwnerId": ids["users"][1],
        "Subject": "Relationship risk: call them",
        "Status": "Not Started",
        "Priority": "High",
        "ActivityDate": "2030-01-31",
        "Risk_Task_Key__c": f"{ids['accounts'][40]}:champion_left",
    }
    first = create_tasks(client, [task])
    second = create_tasks(client, [{**task, "Subject": "Relationship risk: call them today"}])
    assert (first[0].status, second[0].status) == ("created", "updated")
    assert first[0].record_id == second[0].record_id and first[0].key == task["Risk_Task_Key__c"]
    found = sim.org.find_by("Task", "Risk_Task_Key__c", task["Risk_Task_Key__c"])
    assert found == [first[0].record_id]


class _Recorder:
    """A progress sink that keeps what it was told."""

    def __init__(self) -> None:
        self.lines: dict[int, dict[str, Any]] = {}

    def start(self, label: str, phase: str, total: int | None, unit: str) -> int:
        self.lines[len(self.lines)] = {
            "label": label,
            "phase": phase,
            "total": total,
            "advanced": 0,
            "done": None,
        }
        return len(self.lines) - 1

    def advance(self, handle: int, n: int) -> None:
        self.lines[handle]["advanced"] += n

    def finish(self, handle: int, done: int) -> None:
        self.lines[handle]["done"] = done


@pytest.mark.parametrize("threshold", [10**9, 0], ids=["rest", "bulk"])
def test_an_extract_reports_its_progress_against_the_count(
    sim: Simulator, tmp_path: Path, threshold: int
) -> None:
    from crm_risk import progress

    settings = _settings(sim, tmp_path, extract_bulk_threshold=threshold, extract_page_size=200)
    client = connect(settings)
    recorder = _Recorder()
    previous = progress.set_sink(recorder)
    try:
        manifest = _extract(client, settings, "Task", f"progress-{threshold}")
    finally:
        progress.set_sink(previous)
    (line,) = recorder.lines.values()
    assert (line["label"], line["phase"]) == ("Task", "extract")
    assert line["total"] == manifest.count_estimate == manifest.rows > 0
    assert line["advanced"] == line["done"] == manifest.rows
