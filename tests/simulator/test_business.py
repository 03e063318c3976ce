"""Time moves: `advance` changes a loaded org through its write API, deterministically, with counts that add up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from simulator.generator import GeneratedOrg, generate
from simulator.generator.business import KINDS, advance
from simulator.org.clock import Clock
from simulator.org.store import Org


@pytest.fixture(scope="module")
def generated() -> GeneratedOrg:
    return generate(200, 11, Clock().today())


def _org(path: Path, gen: GeneratedOrg) -> Org:
    org = Org(path, Clock(path), gen.integration_user_id)
    org.load(gen.data)
    (path / "ground_truth.json").write_text(json.dumps(gen.ground_truth))
    return org


def _state(org: Org) -> list[tuple]:
    out: list[tuple] = []
    for soql in (
        "SELECT Id, Status, IsEscalated FROM Case ORDER BY Id",
        "SELECT Id, StageName, CloseDate FROM Opportunity ORDER BY Id",
        "SELECT Id, OwnerId FROM Account ORDER BY Id",
        "SELECT Id, Status, WhatId FROM Task ORDER BY Id",
        "SELECT Id, Left_Company__c, EmailBouncedReason FROM Contact ORDER BY Id",
    ):
        out += [tuple(v for k, v in r.items() if k != "attributes") for r in org.query(soql).records(0, None)]
    return out


@pytest.fixture(scope="module")
def moved(
    tmp_path_factory: pytest.TempPathFactory, generated: GeneratedOrg
) -> Iterator[tuple[Org, dict, dict]]:
    org = _org(tmp_path_factory.mktemp("moved"), generated)
    before = {
        name: org.count(name) for name in ("Case", "Task", "Event", "AccountHistory", "OpportunityHistory")
    }
    start = org.clock.today()
    counts = advance(org, 30, rng_seed=3)
    assert (org.clock.today() - start).days == 30
    yield org, counts, before
    org.close()


def test_counts_cover_every_kind_and_match_the_org(moved: tuple[Org, dict, dict]) -> None:
    org, counts, before = moved
    assert list(counts) == list(KINDS) and counts["days"] == 30
    for kind in (
        "cases_created",
        "cases_closed",
        "tasks_created",
        "tasks_completed",
        "opportunities_created",
        "opportunities_moved",
    ):
        assert counts[kind] > 0, kind  # expected 10-90 each in 30 days at 200 accounts
    # rarer kinds (a few a month each): together they cannot all be zero
    assert (
        counts["contacts_bounced"]
        + counts["contacts_left"]
        + counts["owners_changed"]
        + counts["records_deleted"]
    )
    assert org.count("Case") - before["Case"] == counts["cases_created"]
    assert org.count("Task") - before["Task"] == counts["tasks_created"] - counts["records_deleted"]
    assert org.count("Event") - before["Event"] == counts["events_created"]
    assert org.count("AccountHistory") - before["AccountHistory"] >= counts["owners_changed"]
    assert org.count("OpportunityHistory") > before["OpportunityHistory"]
    deleted = org.query("SELECT Id FROM Task WHERE IsDeleted = true", include_deleted=True)
    assert deleted.total_size == counts["records_deleted"]


def test_renewals_close_as_the_ground_truth_said(
    moved: tuple[Org, dict, dict], generated: GeneratedOrg
) -> None:
    org, _, _ = moved
    today = org.clock.today()
    due = [
        r
        for r in generated.ground_truth["renewals"]
        if r["is_open"] and date.fromisoformat(r["close_date"]) <= today
    ]
    assert due
    for r in due:
        rec = org.get("Opportunity", r["opportunity_id"], ["StageName", "IsClosed"])
        assert rec["IsClosed"] and rec["StageName"] == (
            "Closed Won" if r["outcome"] == "won" else "Closed Lost"
        )


def test_changes_are_stamped_by_people_in_the_future_of_the_generated_data(
    moved: tuple[Org, dict, dict], generated: GeneratedOrg
) -> None:
    org, _, _ = moved
    new_cases = org.query("SELECT Id, CreatedById, CreatedDate FROM Case WHERE CreatedDate = LAST_N_DAYS:31")
    assert new_cases.total_size > 0
    users = {r["Id"] for r in generated.data["User"]}
    assert all(r["CreatedById"] in users for r in new_cases.records(0, None))


def test_same_seed_same_changes(tmp_path: Path, generated: GeneratedOrg) -> None:
    a, b = _org(tmp_path / "a", generated), _org(tmp_path / "b", generated)
    try:
        assert advance(a, 4, rng_seed=9) == advance(b, 4, rng_seed=9)
        assert _state(a) == _state(b)
    finally:
        a.close()
        b.close()
