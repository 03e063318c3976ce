"""How the generated org records its work: late logs, the capture tool's nightly batches, a migrated history.

docs/simulator-org.md ("How work is recorded"); simulator/generator/recording.py and migration.py.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta

import pytest

from shell.backtest import history_from, longest_window
from simulator.generator import GeneratedOrg, generate
from simulator.generator.recording import CAPTURE_HOUR, logged_late
from transforms.rules import load_rules

TODAY = date(2026, 11, 25)
MIDNIGHT = datetime(2026, 11, 25, tzinfo=UTC)
MIGRATED = date(2024, 11, 25)  # two years before TODAY
MIGRATION_DAY = datetime.combine(MIGRATED, time(0), UTC)
STAMPS = ("CreatedDate", "LastModifiedDate", "SystemModstamp", "CompletedDateTime", "ClosedDate")


@pytest.fixture(scope="module")
def org() -> GeneratedOrg:
    return generate(600, 11, TODAY)


@pytest.fixture(scope="module")
def migrated() -> GeneratedOrg:
    return generate(600, 11, TODAY, migrated_on=MIGRATED)


def _digest(o: GeneratedOrg) -> str:
    return hashlib.sha256(repr((o.data, o.ground_truth)).encode()).hexdigest()


def _human_tasks(o: GeneratedOrg) -> list[dict]:
    """Completed Tasks saved by people (not the capture tool)."""
    return [r for r in o.data["Task"] if r["IsClosed"] and r["CreatedById"] != o.integration_user_id]


def test_same_inputs_give_identical_orgs(org: GeneratedOrg, migrated: GeneratedOrg) -> None:
    assert _digest(generate(600, 11, TODAY)) == _digest(org)
    assert _digest(generate(600, 11, TODAY, migrated_on=MIGRATED)) == _digest(migrated)
    assert _digest(migrated) != _digest(org)


def test_nothing_is_stamped_after_the_orgs_today(org: GeneratedOrg, migrated: GeneratedOrg) -> None:
    for o in (org, migrated):
        for rows in o.data.values():
            for r in rows:
                for f in STAMPS:
                    if r.get(f) is not None:
                        assert r[f] < MIDNIGHT, (r["Id"], f, r[f])


def test_most_tasks_are_logged_on_their_day_with_a_tail_of_days_and_weeks(org: GeneratedOrg) -> None:
    planted = {a for ids in org.ground_truth["signals"].values() for a in ids}  # plants set their own stamps
    tasks = [r for r in _human_tasks(org) if r["AccountId"] not in planted]
    lags = [logged_late(r) for r in tasks]
    assert min(lags) == 0 and max(lags) <= 120
    n = len(lags)
    share = Counter("0" if x == 0 else "1-6" if x < 7 else "7-30" if x <= 30 else "31+" for x in lags)
    assert 0.65 <= share["0"] / n <= 0.8, share
    assert 0.1 <= share["1-6"] / n <= 0.25, share
    assert 0.03 <= share["7-30"] / n <= 0.12, share
    assert 0.003 <= share["31+"] / n <= 0.04, share
    for r in tasks:
        if logged_late(r) > 0:  # inserted closed on the day it was logged: CompletedDateTime is that save
            assert r["CreatedDate"] == r["CompletedDateTime"] == r["LastModifiedDate"] == r["SystemModstamp"]
    # ad-hoc meetings are sometimes entered after they took place; scheduled reviews and visits never
    late_events = [r for r in org.data["Event"] if r["CreatedDate"].date() > r["ActivityDate"]]
    assert late_events and {r["Type"] for r in late_events} == {"Meeting"}


def test_the_capture_tool_writes_nightly_batches_as_the_integration_user(org: GeneratedOrg) -> None:
    user = org.integration_user_id
    capture = org.ground_truth["activity_capture"]
    since = date.fromisoformat(capture["since"])
    batch = [r for r in org.data["Task"] if r["CreatedById"] == user]
    assert len(batch) > 500
    nights: dict[datetime, int] = Counter()
    for r in batch:
        t = r["CreatedDate"]
        assert t.time() == time(CAPTURE_HOUR) and t < MIDNIGHT
        assert r["CompletedDateTime"] == r["LastModifiedDate"] == r["SystemModstamp"] == t
        assert r["LastModifiedById"] == user and r["IsClosed"] and r["Type"] in ("Call", "Email")
        assert r["OwnerId"] in capture["reps"]  # the rep's call, saved by the tool
        assert since <= r["ActivityDate"] < t.date()
        nights[t] += 1
    assert max(nights.values()) >= 10  # one instant, many rows (across accounts)
    gaps = sorted((r["CreatedDate"].date() - r["ActivityDate"]).days for r in batch)
    assert gaps[len(gaps) // 2] == 1 and gaps[-1] >= 2  # usually the next night; a failed night waits
    # since the roll-out, no rep of the tool saves a call or email of their own (plants apart)
    planted = {a for ids in org.ground_truth["signals"].values() for a in ids}
    own = [
        r
        for r in _human_tasks(org)
        if r["OwnerId"] in capture["reps"]
        and r["Type"] in ("Call", "Email")
        and r["ActivityDate"] >= since
        and r["AccountId"] not in planted
        and r["AccountId"] not in org.ground_truth["controls"]
    ]
    assert own == []


def test_plants_carry_back_dated_logs_and_controls_a_recent_call_logged_that_day(org: GeneratedOrg) -> None:
    tasks: dict[str, list[dict]] = defaultdict(list)
    for r in org.data["Task"]:
        tasks[r["AccountId"]].append(r)
    truth = org.ground_truth

    def back_dated(acct: str) -> list[dict]:
        return [
            r
            for r in tasks[acct]
            if r["IsClosed"]
            and (TODAY - r["ActivityDate"]).days >= 100
            and (TODAY - r["CreatedDate"].date()).days <= 4
        ]

    for signal in ("renewal_only_contact", "champion_gone"):
        hits = [a for a in truth["signals"][signal] if back_dated(a)]
        assert hits, signal  # the last real call is months back, logged this week
    for acct in truth["controls"]:
        assert any(
            r["IsClosed"]
            and r["CreatedDate"].date() == r["ActivityDate"]
            and (TODAY - r["ActivityDate"]).days <= 9
            for r in tasks[acct]
        ), acct


def test_a_migrated_org_was_created_on_its_migration_day(org: GeneratedOrg, migrated: GeneratedOrg) -> None:
    user = migrated.integration_user_id
    day_after = MIGRATION_DAY + timedelta(days=1)
    # what the old system held: the same org generated without the migration, created before that day
    held = {r["Id"] for rows in org.data.values() for r in rows if r["CreatedDate"] < MIGRATION_DAY}
    moved = 0
    for obj, rows in migrated.data.items():
        for r in rows:
            assert r["CreatedDate"] >= MIGRATION_DAY, (obj, r["Id"])
            if r["Id"] in held:
                moved += 1
                assert r["CreatedDate"] < day_after, (obj, r["Id"])
                if obj != "User":
                    assert r["CreatedById"] == user
                for f in ("LastModifiedDate", "SystemModstamp", "CompletedDateTime", "ClosedDate"):
                    if r.get(f) is not None:
                        assert r[f] >= r["CreatedDate"], (obj, f)
    assert moved > 10_000
    # business dates keep the past: calls, meetings and closed deals from before the migration
    old = [r for r in migrated.data["Task"] if r["IsClosed"] and r["Id"] in held]
    assert len(old) > 1000 and all(r["ActivityDate"] < MIGRATED for r in old)
    assert all(r["CreatedDate"].date() == r["CompletedDateTime"].date() == MIGRATED for r in old)
    assert any(r["StartDateTime"] < MIGRATION_DAY for r in migrated.data["Event"])
    assert any(r["IsClosed"] and r["CloseDate"] < MIGRATED for r in migrated.data["Opportunity"])
    # no field history before the org existed; a deal's stage history starts with the state it was loaded in
    assert all(r["CreatedDate"] >= MIGRATION_DAY for r in migrated.data["AccountHistory"])
    first: dict[str, dict] = {}
    for r in migrated.data["OpportunityHistory"]:
        first.setdefault(r["OpportunityId"], r)
    opps = {r["Id"]: r for r in migrated.data["Opportunity"]}
    for oid, r in first.items():
        if opps[oid]["CreatedDate"] < day_after:
            assert r["CreatedDate"] == opps[oid]["CreatedDate"] and r["PrevAmount"] is None


def test_a_migration_changes_stamps_never_the_business(org: GeneratedOrg, migrated: GeneratedOrg) -> None:
    business = ("Id", "AccountId", "WhoId", "OwnerId", "Subject", "ActivityDate", "Status")
    for obj in ("Task", "Event"):
        assert [tuple(r.get(f) for f in business) for r in org.data[obj]] == [
            tuple(r.get(f) for f in business) for r in migrated.data[obj]
        ]
    keep = ("Id", "StageName", "Amount", "CloseDate", "IsWon")
    assert [tuple(r[f] for f in keep) for r in org.data["Opportunity"]] == [
        tuple(r[f] for f in keep) for r in migrated.data["Opportunity"]
    ]
    assert org.ground_truth["signals"] == migrated.ground_truth["signals"]
    assert migrated.ground_truth["migrated_on"] == MIGRATED.isoformat()
    assert org.ground_truth["migrated_on"] is None


def test_a_migration_day_must_be_in_the_past() -> None:
    with pytest.raises(ValueError, match="before the org's today"):
        generate(20, 1, TODAY, migrated_on=TODAY)


def test_the_backtest_of_a_migrated_org_starts_after_the_longest_window() -> None:
    rules = load_rules()
    assert longest_window(rules) == 365  # reneged_deal lookback, champion_gone engagement, ... (rules.toml)
    assert history_from({"migrated_on": "2024-11-25"}, rules) == date(2025, 11, 25)
    assert history_from({"migrated_on": None}, rules) is None
    assert history_from({}, rules) is None


def test_a_gone_champion_has_no_meeting_after_the_loss_not_even_one_booked_for_today() -> None:
    # 2026-05-10, seed 42: a Quarterly Business Review booked with the silent champion for today at 10:00 (held by
    # the noon as-of of a run) once kept a champion_gone plant from firing
    today = date(2026, 5, 10)
    o = generate(2000, 42, today)
    planted = set(o.ground_truth["signals"]["champion_gone"])
    won: dict[str, tuple[date, str]] = {}
    for opp in o.data["Opportunity"]:
        if opp["AccountId"] in planted and opp["IsWon"]:
            won[opp["Id"]] = (opp["CloseDate"], opp["AccountId"])
    latest: dict[str, tuple[date, str]] = {}
    for role in o.data["OpportunityContactRole"]:
        if role["IsPrimary"] and role["OpportunityId"] in won:
            day, account = won[role["OpportunityId"]]
            if account not in latest or latest[account][0] < day:
                latest[account] = (day, role["ContactId"])
    champions = {c for _, c in latest.values()}
    assert len(champions) == len(planted)
    late = [e for e in o.data["Event"] if e["WhoId"] in champions and (today - e["ActivityDate"]).days < 30]
    assert late == []
