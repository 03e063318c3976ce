"""The run summary says how the run ended first, and never shows zero counts for a run that scored nothing."""

from __future__ import annotations

from pipeline.extract import ExtractOutcome
from pipeline.push import PushOutcome
from pipeline.report import RunRecord, summary_markdown


def test_a_failed_run_shows_its_failure_not_zero_levels() -> None:
    md = summary_markdown(
        "r1", {"User": 3}, {}, {}, None, 12, status="failed", message="WarehouseError: the disk holding ..."
    )
    assert "**Status: failed**: WarehouseError: the disk holding ..." in md
    assert md.index("Status: failed") < md.index("## Records per object")
    assert "Not scored: the run stopped before scoring" in md
    assert "| Red |" not in md and "| Green |" not in md


def test_a_partial_run_names_the_object_and_the_cause() -> None:
    run = RunRecord(
        extracted=ExtractOutcome(
            rows={"Account": 80},
            failed={"Case": "query: HTTP 500 UNKNOWN_EXCEPTION (still failing after 8 retries)"},
        ),
        levels={"Red": 2, "Green": 78},
        push=PushOutcome(pending=3, updated=3, raised=2, cleared=1),
    )
    run.settle()
    assert run.status == "partial"
    assert run.message == (
        "not extracted (watermark kept, the next run reads it again): "
        "Case: query: HTTP 500 UNKNOWN_EXCEPTION (still failing after 8 retries)"
    )
    md = summary_markdown(
        "r2", run.extracted.rows, {}, run.levels, run.push, 40, status=run.status, message=run.message
    )
    assert f"**Status: partial**: {run.message}" in md
    assert "| Red | 2 |" in md and "| Amber | 0 |" in md
    assert "- flags raised (up to Amber or Red): 2, cleared (back to Green): 1" in md


def test_only_the_quota_stops_the_push() -> None:
    assert ExtractOutcome().pushable
    assert ExtractOutcome(failed={"Case": "x"}).pushable  # scored without it: held accounts are not pushed
    assert not ExtractOutcome(quota_stopped="Task: quota").pushable
