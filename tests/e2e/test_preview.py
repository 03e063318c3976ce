"""`sync --dry-run` end to end: the preview writes nothing to the CRM, and a real sync then writes exactly it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import duckdb
import pytest

from flows.nightly import nightly_sync
from shell.live import account_flags, escalate, escalation_candidates

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

# computed-at moves on every push: it is no change of the flag, and the preview leaves it out
COMPARED = ("Risk_Level__c", "Risk_Score__c", "Risk_Reasons__c", "Risk_Trend__c", "Risk_Model_Version__c")
SYNC_TABLES = ("sync.push_log", "sync.account_push_state", "sync.owner_tasks")


def _task_keys(org: Any) -> dict[str, str]:
    """Every keyed Task in the CRM: key -> status."""
    soql = "SELECT Risk_Task_Key__c, Status FROM Task WHERE Risk_Task_Key__c != null"
    return {r["Risk_Task_Key__c"]: r["Status"] for r in org.query(soql).records(0, 100_000)}


def _rows(path: str) -> dict[str, list[tuple]]:
    with duckdb.connect(path, read_only=True) as con:
        return {t: sorted(con.execute(f"select * from {t}").fetchall(), key=repr) for t in SYNC_TABLES}


def _written(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> set[tuple[str, str, Any]]:
    """(Account Id, field, new value) of every compared field whose value moved in the CRM."""
    return {
        (account, f, after[account][f])
        for account in after
        for f in COMPARED
        if after[account][f] != before.get(account, {}).get(f)
    }


def test_dry_run_writes_nothing_and_a_real_sync_then_writes_exactly_the_preview(
    e2e_sim: Any, settings_for: dict
) -> None:
    first = nightly_sync(settings=settings_for)
    assert first["status"] == "success"
    path = settings_for["warehouse_path"]
    with duckdb.connect(path, read_only=True) as con:
        as_of = con.execute("select max(as_of) from marts.account_risk_history").fetchone()[0]
        picks = escalation_candidates(con, as_of, 2)
    assert len(picks) == 2, "the simulated org has Green accounts with a closed case nobody followed up"
    for _, case in picks:
        escalate(e2e_sim.org, case)
    time.sleep(1.1)  # extract windows end on whole seconds: let the change's second pass

    crm_before, tasks_before, sync_before = account_flags(e2e_sim.org), _task_keys(e2e_sim.org), _rows(path)
    dry = nightly_sync(settings=settings_for, dry_run=True)
    assert dry["status"] == "success"
    assert dry["push"] is None and dry["tasks"] is None
    # nothing reached the CRM, nothing was marked as pushed
    assert account_flags(e2e_sim.org) == crm_before
    assert _task_keys(e2e_sim.org) == tasks_before
    assert _rows(path) == sync_before

    preview = dry["preview"]
    listed = {(c["account_id"], c["field"], c["new"]) for c in preview["changes"]}
    assert {a for a, _ in picks} <= {a for a, _, _ in listed}, "the escalated accounts turn Red"
    assert all((a, "Risk_Level__c", "Red") in listed for a, _ in picks)
    # the old values are the CRM's
    assert all(crm_before[c["account_id"]][c["field"]] == c["old"] for c in preview["changes"])
    creates = {t["task_key"] for t in preview["tasks"] if t["action"] == "create"}
    closes = {t["task_key"] for t in preview["tasks"] if t["action"] == "close"}
    assert creates, "a Red account's high-severity signal gets an owner Task"

    real = nightly_sync(settings=settings_for)
    assert real["status"] == "success"
    crm_after, tasks_after = account_flags(e2e_sim.org), _task_keys(e2e_sim.org)
    assert _written(crm_before, crm_after) == listed
    assert real["push"]["pending"] == preview["accounts"]
    assert set(tasks_after) - set(tasks_before) == creates
    assert {
        k for k, s in tasks_after.items() if s == "Completed" and tasks_before.get(k) != "Completed"
    } == closes
    # the estimate for this size: Collections, 200 a call
    calls = preview["api_calls"]
    assert calls["account_updates"] == -(-preview["accounts"] // 200)
    assert calls["task_creates"] == -(-len(creates) // 200)


def test_backfill_dry_run_writes_nothing_to_the_crm(e2e_sim: Any, settings_for: dict) -> None:
    from flows.backfill import backfill

    crm_before, tasks_before = account_flags(e2e_sim.org), _task_keys(e2e_sim.org)
    result = backfill(
        since=datetime(2020, 1, 1, tzinfo=UTC), objects=None, settings=settings_for, dry_run=True
    )
    assert result["status"] == "success" and result["push"] is None
    assert account_flags(e2e_sim.org) == crm_before
    assert _task_keys(e2e_sim.org) == tasks_before
    assert all(rows == [] for rows in _rows(settings_for["warehouse_path"]).values())
    with duckdb.connect(settings_for["warehouse_path"], read_only=True) as con:
        assert con.execute("select count(*) from marts.account_risk_history").fetchone()[0] == 0
    # the preview compares with what the CRM holds (whatever an earlier test pushed): old is the CRM's value
    for c in result["preview"]["changes"]:
        assert crm_before[c["account_id"]][c["field"]] == c["old"] != c["new"], c
