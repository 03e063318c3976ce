"""The nightly sync end to end: simulator over HTTPS, real simple-salesforce, real DuckDB file, Prefect harness."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import duckdb
import pytest

from crm_risk.config import load_settings
from crm_risk.errors import PushRejectedError
from flows.nightly import nightly_sync
from pipeline import context, extract

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]


def _wh(settings: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(settings["warehouse_path"], read_only=True)


def _clear_crm_flags(org: Any) -> None:
    """Blank the pipeline's fields in the CRM, so a fresh warehouse has every flag to push again."""
    for rec in org.query("SELECT Id FROM Account WHERE Risk_Level__c != null").records(0):
        org.update(
            "Account",
            rec["Id"],
            {
                "Risk_Level__c": None,
                "Risk_Score__c": None,
                "Risk_Reasons__c": None,
                "Risk_Trend__c": None,
                "Risk_Model_Version__c": None,
            },
        )
    # Extract windows end on whole seconds (SOQL literals have no fractions): changes made in the second the run
    # starts belong to the next run's window. Let that second pass.
    time.sleep(1.1)


def _crm_count(sim: Any, soql: str) -> int:
    return int(sim.org.query(soql).total_size)


def test_first_run_loads_everything_and_pushes_flags_that_read_back(e2e_sim: Any, settings_for: dict) -> None:
    result = nightly_sync(settings=settings_for)
    assert result["status"] == "success"
    with _wh(settings_for) as con:
        for obj, table in (
            ("Account", "account"),
            ("Case", "case"),
            ("Contact", "contact"),
            ("Task", "task"),
        ):
            # the run's own owner Tasks are created after its extract: they arrive with the next run
            own = obj == "Task"
            raw = con.execute(
                f"select count(*) from raw.{table} where not _deleted{' and Risk_Task_Key__c is null' * own}"
            ).fetchone()[0]
            crm = _crm_count(e2e_sim, f"SELECT COUNT() FROM {obj}{' WHERE Risk_Task_Key__c = null' * own}")
            assert raw == crm, obj
        red = {
            r[0]
            for r in con.execute("select account_id from marts.account_risk where level = 'Red'").fetchall()
        }
        ok = con.execute("select count(*) from sync.push_log where status = 'updated'").fetchone()[0]
    assert red, "the planted scenarios make some accounts Red"
    assert ok == result["push"]["updated"] > 0
    crm_red = {
        r["Id"]
        for r in e2e_sim.org.query("SELECT Id FROM Account WHERE Risk_Level__c = 'Red'").records(0, 10_000)
    }
    assert crm_red == red


def test_second_run_without_change_pushes_nothing_and_costs_few_calls(
    e2e_sim: Any, settings_for: dict
) -> None:
    first = nightly_sync(settings=settings_for)
    assert first["status"] == "success"
    second = nightly_sync(settings=settings_for)
    assert second["status"] == "success"
    # Nothing changed in the CRM, so only flags that moved because time passed (a case turning 30 days old, or
    # the as-of date crossing midnight between the runs) may be sent: exactly those, and nothing else.
    with _wh(settings_for) as con:
        per_run = con.execute(
            "select count(*) filter (where run_id = ?), count(*) filter (where run_id = ?) "
            "from marts.account_risk_history",
            [first["run_id"], second["run_id"]],
        ).fetchone()
        assert per_run[0] == per_run[1] > 0  # both runs scored the same accounts
        moved = {
            r[0]
            for r in con.execute(
                "select b.account_id from marts.account_risk_history a join marts.account_risk_history b "
                "using (account_id) where a.run_id = ? and b.run_id = ? and "
                "(a.level, round(a.score), a.reasons, a.trend) is distinct from "
                "(b.level, round(b.score), b.reasons, b.trend)",
                [first["run_id"], second["run_id"]],
            ).fetchall()
        }
        sent = {
            r[0]
            for r in con.execute(
                "select record_id from sync.push_log where run_id = ? and object = 'Account'",
                [second["run_id"]],
            ).fetchall()
        }
    assert sent == moved
    assert len(moved) <= 5, "two runs seconds apart barely move any flag"
    objects = len(first["extracted"])
    # COUNT() + deleted() per object, a describe, a token; the push pages pulled back once.
    assert second["api_calls"] <= 4 * objects + 4, second["api_calls"]
    assert second["api_calls"] < first["api_calls"]


def test_change_after_watermark_is_picked_up_and_deletes_become_tombstones(
    e2e_sim: Any, settings_for: dict
) -> None:
    assert nightly_sync(settings=settings_for)["status"] == "success"
    org = e2e_sim.org
    changed, soft, hard = (
        r["Id"] for r in org.query("SELECT Id FROM Case ORDER BY Id LIMIT 3").records(0, 3)
    )
    org.update("Case", changed, {"Subject": "Pump failed again after the fix"})
    org.delete("Case", soft)
    org.hard_delete("Case", hard)
    # Windows end on whole seconds and getDeleted covers whole minutes (as in Salesforce): let the org's
    # clock move two minutes on, as it would by the next nightly run.
    org.clock.advance(2 / 1440)
    assert nightly_sync(settings=settings_for)["status"] == "success"
    with _wh(settings_for) as con:
        row = con.execute("select Subject, _deleted from raw.case where Id = ?", [changed]).fetchone()
        assert row == ("Pump failed again after the fix", False)
        for rid in (soft, hard):
            assert con.execute("select _deleted from raw.case where Id = ?", [rid]).fetchone() == (True,), rid
        dupes = con.execute("select count(*) - count(distinct Id) from raw.case").fetchone()[0]
    assert dupes == 0


def test_crash_between_extract_and_load_keeps_watermark_and_rerun_loads_once(
    e2e_sim: Any, settings_for: dict
) -> None:
    from connectors import warehouse
    from connectors.salesforce.client import connect

    settings = load_settings(**settings_for)
    ctx = context.begin_run(settings, "nightly_sync")
    extracted = extract.extract_all(ctx, connect(settings))
    assert extracted.manifests  # landed on disk, then the process "dies" before loading
    with warehouse.connect(settings.warehouse_path) as con:
        assert warehouse.get_watermark(con, "Case") is None
        assert con.execute("select count(*) from meta.watermarks").fetchone()[0] == 0
    assert nightly_sync(settings=settings_for)["status"] == "success"
    with _wh(settings_for) as con:
        n, distinct = con.execute("select count(*), count(distinct Id) from raw.case").fetchone()
        raw_ids = {r[0] for r in con.execute("select Id from raw.case").fetchall()}
    org = e2e_sim.org
    live_and_soft = {r["Id"] for r in org.query("SELECT Id FROM Case", include_deleted=True).records(0)}
    now = org.clock.now()
    purged = {d["id"] for d in org.deleted("Case", now - timedelta(days=14), now)["deletedRecords"]}
    assert n == distinct
    assert raw_ids == live_and_soft | purged


def test_push_failure_is_logged_and_retried_next_run(e2e_sim: Any, settings_for: dict) -> None:
    _clear_crm_flags(e2e_sim.org)
    assert nightly_sync(settings=settings_for, push=False)["status"] == "success"
    with _wh(settings_for) as con:
        target = con.execute('select "Id" from sync.account_push_pending order by "Id" limit 1').fetchone()[0]
    e2e_sim.faults.add(f"lock:{target}:count=50")  # outlasts the run's retries: a transient failure left over
    try:
        result = nightly_sync(settings={**settings_for, "push_reject_threshold": 1.0})
    finally:
        e2e_sim.faults.clear()
    assert result["status"] == "success"
    # a transient failure past the retry policy is "not sent" (pending again), never "rejected" by the CRM
    assert result["push"]["not_sent"] == 1 and result["push"]["rejected"] == 0, result["push"]
    with _wh(settings_for) as con:
        logged = con.execute(
            'select status, error_code from sync.push_log where record_id = ? order by "at"', [target]
        ).fetchall()
        still_pending = con.execute(
            'select count(*) from sync.account_push_pending where "Id" = ?', [target]
        ).fetchone()
    assert logged and logged[-1][1] == "UNABLE_TO_LOCK_ROW"
    assert still_pending == (1,)
    second = nightly_sync(settings=settings_for)
    with _wh(settings_for) as con:
        last = con.execute(
            'select status from sync.push_log where record_id = ? order by "at" desc limit 1', [target]
        ).fetchone()
    assert second["status"] == "success" and last == ("updated",)
    assert e2e_sim.org.get("Account", target)["Risk_Level__c"] is not None


def test_run_with_every_push_rejected_fails(e2e_sim: Any, settings_for: dict) -> None:
    _clear_crm_flags(e2e_sim.org)
    e2e_sim.faults.add("reject:Account:FIELD_CUSTOM_VALIDATION_EXCEPTION")
    try:
        with pytest.raises(PushRejectedError, match="rejected"):
            nightly_sync(settings=settings_for)
    finally:
        e2e_sim.faults.clear()
    with _wh(settings_for) as con:
        statuses = {r[0] for r in con.execute("select status from sync.push_log").fetchall()}
        run = con.execute("select status from meta.runs order by started_at desc limit 1").fetchone()
    assert statuses == {"rejected"}
    assert run == ("failed",)
