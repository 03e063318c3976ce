"""The push preview's API-call estimate and its text: pure functions on planted values."""

from __future__ import annotations

from pipeline.preview import FieldChange, Preview, TaskChange, estimate_calls, preview_markdown, preview_table
from pipeline.report import summary_markdown


def test_collections_200_a_call_below_the_bulk_threshold() -> None:
    assert estimate_calls(0, 0, 0, bulk_threshold=2000) == {
        "account_updates": 0,
        "task_creates": 0,
        "task_closes": 0,
        "total": 0,
    }
    assert estimate_calls(1, 200, 201, bulk_threshold=2000) == {
        "account_updates": 1,
        "task_creates": 1,
        "task_closes": 2,
        "total": 4,
    }
    # at the threshold still Collections: 2000 / 200
    assert estimate_calls(2000, 0, 0, bulk_threshold=2000)["account_updates"] == 10


def test_bulk_jobs_above_the_threshold_and_task_creates_always_collections() -> None:
    # one Bulk 2.0 job (create, upload, upload complete, a poll, two result downloads) per 50,000 rows
    calls = estimate_calls(2001, 2001, 0, bulk_threshold=2000)
    assert calls["account_updates"] == 6
    assert calls["task_creates"] == 11
    assert estimate_calls(120_000, 0, 0, bulk_threshold=2000)["account_updates"] == 18
    assert estimate_calls(0, 0, 60, bulk_threshold=50)["task_closes"] == 6


def test_table_and_markdown_list_every_change_task_and_the_calls() -> None:
    p = Preview(
        accounts=1,
        changes=[
            FieldChange("001000000000001AAA", "Acme", "Risk_Level__c", "Green", "Red"),
            FieldChange("001000000000001AAA", "Acme", "Risk_Score__c", 10, 60),
        ],
        reasons={"001000000000001AAA": "Escalated case 00001001 had no follow-up"},
        tasks=[TaskChange("create", "001000000000001AAA", "Acme", "Relationship risk at Acme: x", "k:1")],
        calls=estimate_calls(1, 1, 0, 2000),
    )
    assert Preview.from_dict(p.as_dict()) == p
    text = preview_table(p)
    assert "001000000000001AAA  Acme" in text and "Green -> Red" in text and "10 -> 60" in text
    assert "why: Escalated case 00001001 had no follow-up" in text
    assert "create  001000000000001AAA  Relationship risk at Acme: x" in text
    assert "Estimated API calls: 2 (Account updates 1, Task creates 1, Task closes 0)" in text
    md = preview_markdown(p)
    assert "| 001000000000001AAA | Acme | Risk_Level__c | Green | Red |" in md


def test_the_run_artifact_carries_the_preview_section_only_on_a_dry_run() -> None:
    p = Preview(1, [FieldChange("001000000000001AAA", "Acme", "Risk_Level__c", None, "Amber")], {}, [], {})
    dry = summary_markdown("r1", {}, {}, {"Amber": 1}, None, 5, preview=p)
    assert "## Push preview (dry run: nothing written to the CRM)" in dry
    assert "| 001000000000001AAA | Acme | Risk_Level__c | (blank) | Amber |" in dry
    assert "Push preview" not in summary_markdown("r2", {}, {}, {"Amber": 1}, None, 5)
