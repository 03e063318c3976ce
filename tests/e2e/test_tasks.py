"""Owner Tasks end to end: one Task per (account, high signal) across reruns and crashes; closed when it clears."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.salesforce.client import connect
from crm_risk.config import load_settings
from flows.nightly import nightly_sync
from pipeline import context, extract, load, owner_tasks, score
from tests.e2e.orgclock import pin_org_clock

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

CASE_SIGNALS = (
    "repeat_issue",
    "no_follow_up_after_fix",
    "missed_customer_yardstick",
    "broken_promise_after_sale",
)


@pytest.fixture
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A fresh small org per test: these tests count the Tasks the pipeline created in it."""
    from simulator.server import Simulator

    org_dir = tmp_path_factory.mktemp("org")
    pin_org_clock(org_dir)  # the org's date is fixed: which accounts are Red does not move with the calendar
    with Simulator(org_dir, accounts=60, seed=11) as s:
        yield s


@pytest.fixture
def overrides(tmp_path: Path, sim: Any, pipeline_settings: Any) -> dict[str, Any]:
    """Settings pointing the pipeline at this test's org and a fresh warehouse."""
    return pipeline_settings(sim, tmp_path)


def _risk_tasks(sim: Any) -> list[dict[str, Any]]:
    soql = (
        "SELECT Id, Risk_Task_Key__c, WhatId, OwnerId, Subject, Description, Status, Priority, ActivityDate "
        "FROM Task WHERE Risk_Task_Key__c != null"
    )
    return list(sim.org.query(soql).records(0, 100_000))


def _ledger(settings: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    with duckdb.connect(settings["warehouse_path"], read_only=True) as con:
        return {
            k: (s, t)
            for k, s, t in con.execute("select task_key, state, task_id from sync.owner_tasks").fetchall()
        }


def _no_duplicates(sim: Any) -> list[dict[str, Any]]:
    found = _risk_tasks(sim)
    per_pair = Counter(
        ":".join(t["Risk_Task_Key__c"].split(":")[:2]) for t in found if t["Status"] != "Completed"
    )
    assert [p for p, n in per_pair.items() if n > 1] == []
    assert len({t["Risk_Task_Key__c"] for t in found}) == len(found)
    return found


def test_rerun_creates_no_duplicate_task_and_tasks_read_as_written(
    sim: Any, overrides: dict[str, Any]
) -> None:
    first = nightly_sync(settings=overrides)
    assert first["status"] == "success"
    created = _no_duplicates(sim)
    assert created and first["tasks"]["created"] == len(created)
    ledger = _ledger(overrides)
    assert {t["Risk_Task_Key__c"] for t in created} == set(ledger)
    assert {s for s, _ in ledger.values()} == {"open"}
    owners = {
        r["Id"]: r["OwnerId"] for r in sim.org.query("SELECT Id, OwnerId FROM Account").records(0, 10_000)
    }
    for t in created:
        account_id, _, episode = t["Risk_Task_Key__c"].split(":")
        assert (t["WhatId"], t["OwnerId"], t["Status"], t["Priority"]) == (
            account_id,
            owners[account_id],
            "Not Started",
            "High",
        )
        assert episode == "1" and t["ActivityDate"] and t["Subject"].startswith("Relationship risk at ")
        assert "_" not in t["Subject"], "the subject names the signal in plain words"
        assert "Suggested action: " in t["Description"] and t["Description"].rstrip().endswith(".")
    with duckdb.connect(overrides["warehouse_path"], read_only=True) as con:
        logged = con.execute(
            "select count(*) from sync.push_log where object = 'Task' and operation = 'create' "
            "and status = 'created'"
        ).fetchone()[0]
    assert logged == len(created)

    second = nightly_sync(settings=overrides)
    assert second["status"] == "success"
    assert second["tasks"]["pending"] == 0 and second["tasks"]["created"] == 0
    assert len(_no_duplicates(sim)) == len(created)

    from shell.flags import explain_account  # `crm-risk flags --account`: the Task and both runs are shown

    key = created[0]["Risk_Task_Key__c"]
    text = explain_account(load_settings(**overrides), key.split(":")[0])
    assert "level Red" in text and f"[high] {key.split(':')[1]}" in text and "evidence: {" in text
    assert f"{key}  open" in text and "Level history" in text and "Red   score" in text and "(2 runs)" in text


def test_cleared_signal_completes_its_task_with_a_note(sim: Any, overrides: dict[str, Any]) -> None:
    assert nightly_sync(settings=overrides)["status"] == "success"
    by_key = {t["Risk_Task_Key__c"]: t for t in _risk_tasks(sim)}
    target = next(k for k in sorted(by_key) if k.split(":")[1] in CASE_SIGNALS)
    account_id = target.split(":")[0]
    # the account's cases are withdrawn in the CRM: every case-based signal on it clears
    for case in sim.org.query(f"SELECT Id FROM Case WHERE AccountId = '{account_id}'").records(0, 10_000):
        sim.org.delete("Case", case["Id"])
    # the next run's extract window covers the change (deleted() works in whole minutes)
    sim.org.clock.advance(2 / 1440)
    result = nightly_sync(settings=overrides)
    assert result["status"] == "success" and result["tasks"]["closed"] >= 1
    after = {t["Risk_Task_Key__c"]: t for t in _risk_tasks(sim)}
    closed = after[target]
    assert closed["Status"] == "Completed"
    assert "Signal cleared on " in closed["Description"]
    assert closed["Description"].startswith(by_key[target]["Description"])
    assert _ledger(overrides)[target][0] == "closed"
    for key, t in after.items():  # the account's other, still live, signals keep their open Task
        if key.startswith(account_id) and key.split(":")[1] not in CASE_SIGNALS:
            assert t["Status"] == "Not Started", key
    with duckdb.connect(overrides["warehouse_path"], read_only=True) as con:
        logged = con.execute(
            "select status from sync.push_log where object = 'Task' and operation = 'close' "
            "and record_id = ?",
            [closed["Id"]],
        ).fetchall()
    assert logged == [("updated",)]
    assert nightly_sync(settings=overrides)["tasks"]["closed"] == 0  # closed once


def _run_until_transform(overrides: dict[str, Any]) -> tuple[context.RunContext, Any]:
    settings = load_settings(**overrides)
    ctx = context.begin_run(settings, "nightly_sync")
    client = connect(settings)
    extracted = extract.extract_all(ctx, client)
    load.load_all(ctx, extracted.manifests)
    score.transform(ctx, extracted.as_of)
    return ctx, client


def test_crash_after_create_before_result_does_not_duplicate(sim: Any, overrides: dict[str, Any]) -> None:
    ctx, client = _run_until_transform(overrides)
    with duckdb.connect(overrides["warehouse_path"]) as con:
        out = owner_tasks.TaskOutcome()
        assert owner_tasks.reconcile(con, client, ctx.run_id, out) == []
        rows = owner_tasks.store_intents(con, ctx.run_id)
    assert rows
    results, stopped = owner_tasks.send_creates(client, rows, ctx.settings)  # the CRM creates them ...
    assert stopped is None and all(r.ok for r in results)
    # ... and the run dies here: no result recorded, every ledger row still an 'intent'; its record is closed as a
    # failing run closes it (a kill: the next start closes it as 'died'), so its intents are no longer its own
    context.finish_run(ctx, "failed", {}, client.api_calls, "crashed after the create")
    assert {s for s, _ in _ledger(overrides).values()} == {"intent"}
    assert len(_no_duplicates(sim)) == len(rows)

    rerun = nightly_sync(settings=overrides)
    assert rerun["status"] == "success"
    assert rerun["tasks"]["reconciled"] == len(rows) and rerun["tasks"]["created"] == 0
    assert len(_no_duplicates(sim)) == len(rows)
    ledger = _ledger(overrides)
    assert {s for s, _ in ledger.values()} == {"open"}
    crm_ids = {t["Risk_Task_Key__c"]: t["Id"] for t in _risk_tasks(sim)}
    assert {k: t for k, (_, t) in ledger.items()} == crm_ids
    with duckdb.connect(overrides["warehouse_path"], read_only=True) as con:
        reconciled = con.execute(
            "select count(*) from sync.push_log where operation = 'reconcile'"
        ).fetchone()[0]
    assert reconciled == len(rows)


def test_crash_after_intent_before_create_sends_it_once(sim: Any, overrides: dict[str, Any]) -> None:
    ctx, client = _run_until_transform(overrides)
    with duckdb.connect(overrides["warehouse_path"]) as con:
        rows = owner_tasks.store_intents(con, ctx.run_id)
    assert rows and _risk_tasks(sim) == []  # the key is stored; the run dies before the create
    context.finish_run(ctx, "failed", {}, client.api_calls, "crashed before the create")
    rerun = nightly_sync(settings=overrides)
    assert rerun["tasks"]["resent"] == len(rows) and rerun["tasks"]["pending"] == 0
    assert rerun["tasks"]["created"] == len(rows)
    assert {t["Risk_Task_Key__c"] for t in _no_duplicates(sim)} == {r["Risk_Task_Key__c"] for r in rows}


def test_an_intent_whose_signal_no_longer_fires_is_dropped_and_never_sent(
    sim: Any, overrides: dict[str, Any]
) -> None:
    ctx, client = _run_until_transform(overrides)
    with duckdb.connect(overrides["warehouse_path"]) as con:
        rows = owner_tasks.store_intents(con, ctx.run_id)
        # one intent stands for a signal that has cleared since (its key names a signal that does not fire)
        account, _, *episode = rows[0]["Risk_Task_Key__c"].split(":")
        gone = ":".join([account, "cleared_meanwhile", *episode])
        con.execute(
            "update sync.owner_tasks set task_key = ? where task_key = ?", [gone, rows[0]["Risk_Task_Key__c"]]
        )
    context.finish_run(ctx, "failed", {}, client.api_calls, "crashed before the create")
    rerun = nightly_sync(settings=overrides)
    assert rerun["tasks"]["resent"] == len(rows) - 1  # the others are sent once; the signal still firing
    assert rerun["tasks"]["created"] == len(rows)  # ... gets an intent (and a Task) of its own again
    assert _ledger(overrides)[gone] == ("dropped", None)
    assert gone not in {t["Risk_Task_Key__c"] for t in _no_duplicates(sim)}


def test_summary_artifact_counts_tasks() -> None:
    from pipeline.report import summary_markdown

    out = owner_tasks.TaskOutcome(pending=3, created=2, rejected=1, errors={"INVALID_CROSS_REFERENCE_KEY": 1})
    md = summary_markdown("r1", {}, {}, {}, None, 5, tasks=out)
    assert "## Owner tasks" in md and "new: 3, created: 2" in md and "INVALID_CROSS_REFERENCE_KEY 1" in md
    assert json.dumps(out.__dict__)


def test_rejected_task_creates_fail_the_run_and_wait_as_dead_letters(
    sim: Any, overrides: dict[str, Any]
) -> None:
    from crm_risk.errors import PushRejectedError

    sim.faults.add("reject:Task:FIELD_CUSTOM_VALIDATION_EXCEPTION")
    try:
        with pytest.raises(PushRejectedError, match="owner Task creates were rejected"):
            nightly_sync(settings=overrides)
    finally:
        sim.faults.clear()
    assert _risk_tasks(sim) == []
    ledger = _ledger(overrides)
    assert ledger and {s for s, _ in ledger.values()} == {"rejected"}
    with duckdb.connect(overrides["warehouse_path"], read_only=True) as con:
        logged = con.execute(
            "select distinct status, error_code from sync.push_log where object = 'Task'"
        ).fetchall()
        accounts = con.execute(
            "select count(*) from sync.push_log where object = 'Account' and status = 'updated'"
        )
        assert accounts.fetchone()[0] > 0  # the Account flags went out before the Tasks
    assert logged == [("rejected", "FIELD_CUSTOM_VALIDATION_EXCEPTION")]
    again = nightly_sync(settings=overrides)  # nothing changed: the dead letters are not sent again
    assert again["status"] == "success" and again["tasks"]["pending"] == 0 and _risk_tasks(sim) == []
