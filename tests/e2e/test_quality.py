"""The data-quality gate in the nightly flow, end to end against a dirty simulated org over HTTPS."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from crm_risk.errors import DataQualityError
from flows.nightly import nightly_sync
from tests.e2e.orgclock import pin_org_clock

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

PROBLEM_RULE = {
    "contact_without_account": "required_ref:AccountId",
    "closed_before_created": "date_order:ClosedDate>=CreatedDate",
    "negative_amount": "non_negative:Amount",
    "csat_out_of_range": "value_range:CSAT__c",
    "negative_expected_days": "non_negative:Expected_Resolution_Days__c",
    "duplicate_contact": "duplicate_record:Email+FirstName+LastName",
}
RISK_FIELDS = "Id, Risk_Level__c, Risk_Score__c, Risk_Reasons__c, Risk_Trend__c, Risk_Model_Version__c"
TABLES = {"Account": "account", "Contact": "contact", "Opportunity": "opportunity", "Case": "case"}


@pytest.fixture(scope="module")
def e2e_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """This module's org is dirty (overrides conftest's clean one, so `settings_for` points here)."""
    from simulator.server import Simulator

    org_dir = tmp_path_factory.mktemp("dirty-org")
    pin_org_clock(org_dir)  # the org's date is fixed, as in conftest's clean org
    with Simulator(org_dir, accounts=80, seed=7, dirty=True) as sim:
        yield sim


@pytest.fixture(scope="module")
def dirty(e2e_sim: Any) -> dict[tuple[str, str], str]:
    """(object, record id) -> the rule that must quarantine it, from the simulator's ground truth."""
    truth = json.loads((Path(e2e_sim.state_dir) / "ground_truth.json").read_text())
    planted = {(d["object"], d["record_id"]): PROBLEM_RULE[d["problem"]] for d in truth["dirty"]}
    assert set(planted.values()) == set(PROBLEM_RULE.values())
    return planted


def _wh(settings: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(settings["warehouse_path"], read_only=True)


def _open_quarantine(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], tuple[list[str], str]]:
    rows = con.execute("select object, record_id, failed, run_id from meta.quarantine_open").fetchall()
    return {(o, r): (sorted(json.loads(f)), run) for o, r, f, run in rows}


def _next_window(org: Any) -> None:
    """Let the org's clock pass the run's window end (windows end on whole seconds)."""
    org.clock.advance(2 / 1440)


def test_dirty_rows_are_quarantined_with_their_reason_and_clean_rows_load(
    e2e_sim: Any, settings_for: dict, dirty: dict
) -> None:
    result = nightly_sync(settings=settings_for)
    assert result["status"] == "success"
    with _wh(settings_for) as con:
        found = _open_quarantine(con)
        assert {k: v[0] for k, v in found.items()} == {k: [rule] for k, rule in dirty.items()}
        assert {v[1] for v in found.values()} == {result["run_id"]}
        for obj, table in TABLES.items():
            raw = {r[0] for r in con.execute(f"select Id from raw.{table} where not _deleted").fetchall()}
            crm = {r["Id"] for r in e2e_sim.org.query(f"SELECT Id FROM {obj}").records(0, 100_000)}
            assert raw == crm - {rid for o, rid in dirty if o == obj}, obj
        recon = con.execute(
            "select object, extracted, loaded, quarantined from meta.reconciliation where run_id = ?",
            [result["run_id"]],
        ).fetchall()
        record = con.execute("select record from meta.quarantine where object = 'Case' limit 1").fetchone()[0]
    assert {r[0] for r in recon} == set(result["extracted"])
    for obj, extracted, loaded, quarantined in recon:
        assert extracted == loaded + quarantined == result["extracted"][obj], obj
        assert quarantined == sum(1 for o, _ in dirty if o == obj), obj
    assert json.loads(record)["Id"].startswith("500")  # the raw record is kept
    docs = Path(result["data_docs"])
    assert docs.exists() and docs.is_relative_to(Path(settings_for["warehouse_path"]).parent / "data_docs")
    assert result["push"]["updated"] > 0  # a dirty org still gets its flags: the payload gate passed
    # one Data Docs build for the run, at its close: the objects' results and the payload's share its run time
    validations = docs.parents[2] / "validations"
    runs = [p for p in validations.rglob(result["run_id"]) if p.is_dir()]
    suites = {str(p.parent.relative_to(validations)) for p in runs}
    stamps = {t.name for p in runs for t in p.iterdir()}
    assert any(s.startswith("Case") for s in suites) and any("payload" in s.lower() for s in suites), suites
    assert len(stamps) == 1, stamps
    summary = _artifact(result["run_id"])
    assert f"(file://{docs})" in summary
    n, q = result["extracted"]["Case"], sum(1 for o, _ in dirty if o == "Case")
    assert f"| Case | {n} | {n - q} | {q} |" in summary


def _artifact(run_id: str) -> str:
    """The run's markdown summary as Prefect stored it."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["crm-risk-sync"]))
        )
    return next(str(a.data) for a in found if a.description == f"run {run_id}")


def test_fixed_row_loads_next_run_and_a_row_that_stays_bad_stays_quarantined(
    e2e_sim: Any, settings_for: dict, dirty: dict
) -> None:
    first = nightly_sync(settings=settings_for)
    assert first["status"] == "success"
    org = e2e_sim.org
    by_rule = {rule: rid for (_, rid), rule in dirty.items()}
    fixed, touched = by_rule["value_range:CSAT__c"], by_rule["date_order:ClosedDate>=CreatedDate"]
    untouched, deleted = by_rule["non_negative:Amount"], by_rule["duplicate_record:Email+FirstName+LastName"]
    org.update("Case", fixed, {"CSAT__c": 4})
    org.update("Case", touched, {"Subject": "Edited, still closed before it was opened"})
    org.hard_delete("Contact", deleted)
    _next_window(org)
    second = nightly_sync(settings=settings_for)
    assert second["status"] == "success"
    with _wh(settings_for) as con:
        assert con.execute("select CSAT__c from raw.case where Id = ?", [fixed]).fetchone() == (4.0,)
        assert con.execute("select count(*) from raw.case where Id = ?", [touched]).fetchone() == (0,)
        history = {
            rid: con.execute(
                "select run_id, resolved_run_id, resolution from meta.quarantine where record_id = ? order by "
                "quarantined_at",
                [rid],
            ).fetchall()
            for rid in (fixed, touched, untouched, deleted)
        }
        found = _open_quarantine(con)
        recon = con.execute(
            "select count(*) from meta.reconciliation where extracted <> loaded + quarantined"
        ).fetchone()
    one, two = first["run_id"], second["run_id"]
    assert history[fixed] == [(one, two, "loaded")]
    assert history[touched] == [(one, two, "requarantined"), (two, None, None)]
    assert history[untouched] == [(one, None, None)]  # not extracted again: still open, not lost
    assert history[deleted] == [(one, two, "deleted")]
    assert found[("Case", touched)][1] == two and ("Case", fixed) not in found
    assert set(found) == set(dirty) - {("Case", fixed), ("Contact", deleted)}
    assert recon == (0,)


def test_critical_failure_fails_the_run_and_leaves_the_crm_untouched(
    e2e_sim: Any, settings_for: dict, dirty: dict
) -> None:
    assert nightly_sync(settings=settings_for)["status"] == "success"
    org = e2e_sim.org
    flags_before = org.query(f"SELECT {RISK_FIELDS} FROM Account ORDER BY Id").records(0, 100_000)
    tasks_before = org.query("SELECT COUNT() FROM Task").total_size
    cases = [r for r in org.query("SELECT Id, AccountId FROM Case ORDER BY Id").records(0, 100_000)]
    emptied = cases[: int(len(cases) * 0.8)]
    with _wh(settings_for) as con:
        mark = con.execute("select watermark from meta.watermarks where object = 'Case'").fetchone()
    try:
        for c in emptied:
            org.update("Case", c["Id"], {"AccountId": None})
        _next_window(org)
        with pytest.raises(
            DataQualityError, match=r"ref_mostly_empty:AccountId.*failed on Case: \d+ of \d+ rows"
        ):
            nightly_sync(settings=settings_for)
        time.sleep(0.2)
        assert org.query(f"SELECT {RISK_FIELDS} FROM Account ORDER BY Id").records(0, 100_000) == flags_before
        assert org.query("SELECT COUNT() FROM Task").total_size == tasks_before
        with _wh(settings_for) as con:
            run = con.execute(
                "select run_id, status, message from meta.runs order by started_at desc limit 1"
            ).fetchone()
            assert run[1] == "failed" and "Case" in run[2]
            assert (
                con.execute("select watermark from meta.watermarks where object = 'Case'").fetchone() == mark
            )
            assert con.execute(
                "select count(*) from meta.reconciliation where run_id = ? and object = 'Case'", [run[0]]
            ).fetchone() == (0,)
            assert con.execute("select count(*) from raw.case where AccountId is null").fetchone() == (0,)
    finally:
        for c in emptied:
            org.update("Case", c["Id"], {"AccountId": c["AccountId"]})
