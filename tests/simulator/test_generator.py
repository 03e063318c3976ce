"""The synthetic org generator: determinism, completeness, consistency, ratios, planted signals and controls.

The signal checks below are small, independent readings of shared/reference/risk-signals.md ("fires when"
defaults, as of `today`), written over the generated rows: planted accounts must fire their signal, controls none.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from statistics import mean, median

import pytest

from simulator.generator import SIGNALS, GeneratedOrg, allocation, generate
from simulator.generator.base import fast_id
from simulator.generator.dirty import PROBLEMS
from simulator.org.ids import KEY_PREFIXES, make_id, to18
from simulator.org.schema import CASE_STATUSES, OPPORTUNITY_STAGES, SCHEMA, TASK_STATUSES, fields_of

TODAY = date(2026, 11, 25)
MIDNIGHT = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.fixture(scope="module")
def small() -> GeneratedOrg:
    return generate(200, 7, TODAY)


@pytest.fixture(scope="module")
def index(small: GeneratedOrg) -> Index:
    return Index(small)


def _digest(org: GeneratedOrg) -> str:
    return hashlib.sha256(repr((org.data, org.ground_truth)).encode()).hexdigest()


class Index:
    """Rows grouped by account, plus the touches (completed tasks, past events by people)."""

    def __init__(self, org: GeneratedOrg) -> None:
        d = org.data
        self.accounts = {r["Id"]: r for r in d["Account"]}
        self.contacts = {r["Id"]: r for r in d["Contact"]}
        self.by: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
        for obj in ("Contact", "Opportunity", "Case", "Task", "Event", "AccountHistory"):
            for r in d[obj]:
                self.by[r["AccountId"]][obj].append(r)
        self.history: dict[str, list[dict]] = defaultdict(list)
        for r in d["OpportunityHistory"]:
            self.history[r["OpportunityId"]].append(r)
        self.roles: dict[str, list[dict]] = defaultdict(list)
        for r in d["OpportunityContactRole"]:
            self.roles[r["OpportunityId"]].append(r)
        self.touch: dict[str, list[tuple[date, str, str | None]]] = defaultdict(list)
        for r in d["Task"]:
            if r["IsClosed"] and r["OwnerId"] != org.integration_user_id:
                self.touch[r["AccountId"]].append((r["ActivityDate"], r["OwnerId"], r["WhoId"]))
        for r in d["Event"]:
            if r["ActivityDate"] < TODAY and r["OwnerId"] != org.integration_user_id:
                self.touch[r["AccountId"]].append((r["ActivityDate"], r["OwnerId"], r["WhoId"]))
        owner_n = {
            a: sum(1 for t in self.touch[a] if t[1] == r["OwnerId"] and age(t[0]) <= 90)
            for a, r in self.accounts.items()
        }
        self.median_customer = median(n for a, n in owner_n.items() if is_customer(self.accounts[a]))
        per_owner: dict[str, list[int]] = defaultdict(list)
        for a, r in self.accounts.items():
            if r["Type"] == "Prospect":
                per_owner[r["OwnerId"]].append(owner_n[a])
        self.prospect_rate = {o: mean(v) for o, v in per_owner.items()}
        self.median_prospect = median(self.prospect_rate.values())
        self.owner_n = owner_n


def age(x: date | datetime) -> int:
    return (TODAY - (x.date() if isinstance(x, datetime) else x)).days


def res_days(c: dict) -> float:
    return (c["ClosedDate"] - c["CreatedDate"]).total_seconds() / 86400


def is_customer(a: dict) -> bool:
    return (a["Type"] or "").startswith("Customer")


def urgent(c: dict) -> bool:
    return c["Priority"] == "High" or c["IsEscalated"]


# -- the catalogue, read independently --------------------------------------------------------------------------
def repeat_issue(ix: Index, a: str) -> bool:
    cases = ix.by[a]["Case"]
    n = sum(
        1
        for c2 in cases
        if age(c2["CreatedDate"]) <= 90
        and any(
            c1 is not c2
            and c1["IsClosed"]
            and (c1["Type"], c1["Reason"]) == (c2["Type"], c2["Reason"])
            and c1["ClosedDate"] <= c2["CreatedDate"] <= c1["ClosedDate"] + timedelta(days=14)
            for c1 in cases
        )
    )
    return n >= 2


def no_follow_up_after_fix(ix: Index, a: str) -> bool:
    for c in ix.by[a]["Case"]:
        if urgent(c) and c["IsClosed"] and 7 <= age(c["ClosedDate"]) <= 365:
            cd = c["ClosedDate"].date()
            if not any(cd <= t[0] <= cd + timedelta(days=7) for t in ix.touch[a]):
                return True
    return False


def missed_customer_yardstick(ix: Index, a: str) -> bool:
    expected = ix.accounts[a]["Expected_Resolution_Days__c"]
    closed = [c for c in ix.by[a]["Case"] if c["IsClosed"] and age(c["ClosedDate"]) <= 90]
    if expected is None or not closed:
        return False
    return sum(res_days(c) > expected for c in closed) / len(closed) > 0.2


def escalation_load(ix: Index, a: str) -> bool:
    hi = [age(c["CreatedDate"]) for c in ix.by[a]["Case"] if urgent(c)]
    cur, prev = sum(x < 90 for x in hi), sum(90 <= x < 180 for x in hi)
    return cur >= 2 or (prev >= 1 and cur >= 2 * prev)


def case_spike(ix: Index, a: str) -> bool:
    ages = [age(c["CreatedDate"]) for c in ix.by[a]["Case"]]
    last, before = sum(x < 30 for x in ages), sum(30 <= x < 210 for x in ages)
    return last >= 3 and last > 2 * before / 6


def aging_open_cases(ix: Index, a: str) -> bool:
    return any(
        not c["IsClosed"] and age(c["CreatedDate"]) > (14 if c["Priority"] == "High" else 30)
        for c in ix.by[a]["Case"]
    )


def broken_promise_after_sale(ix: Index, a: str) -> bool:
    wins = [o["CloseDate"] for o in ix.by[a]["Opportunity"] if o["IsWon"] and age(o["CloseDate"]) <= 365]
    return any(
        w < c["CreatedDate"].date() <= w + timedelta(days=60)
        for w in wins
        for c in ix.by[a]["Case"]
        if urgent(c)
    )


def reneged_deal(ix: Index, a: str) -> bool:
    for o in ix.by[a]["Opportunity"]:
        rows = sorted(ix.history[o["Id"]], key=lambda r: r["CreatedDate"])
        won = next((i for i, r in enumerate(rows) if r["StageName"] == "Closed Won"), None)
        if won is None:
            continue
        w = rows[won]
        if any(
            age(r["CreatedDate"]) <= 365
            and (
                r["StageName"] != "Closed Won"
                or r["Amount"] < w["Amount"]
                or r["CloseDate"] != w["CloseDate"]
            )
            for r in rows[won + 1 :]
        ):
            return True
    return False


def oversell_complaint(ix: Index, a: str) -> bool:
    visits = [
        e["ActivityDate"]
        for e in ix.by[a]["Event"]
        if e["Type"] == "Service Visit" and e["ActivityDate"] < TODAY and age(e["ActivityDate"]) <= 180
    ]
    complaints = [
        c["CreatedDate"].date()
        for c in ix.by[a]["Case"]
        if c["Type"] == "Billing" or c["Reason"] in ("Unexpected Charges", "Not What We Agreed")
    ]
    return any(v < c <= v + timedelta(days=30) for v in visits for c in complaints)


def single_threaded(ix: Index, a: str) -> bool:
    who = {t[2] for t in ix.touch[a] if t[2] and age(t[0]) <= 180}
    return is_customer(ix.accounts[a]) and len(who) < 2


def champion_gone(ix: Index, a: str) -> bool:
    won = sorted((o for o in ix.by[a]["Opportunity"] if o["IsWon"]), key=lambda o: o["CloseDate"])
    primary = [r["ContactId"] for o in won[-1:] for r in ix.roles[o["Id"]] if r["IsPrimary"]]
    if not primary:
        return False
    c = ix.contacts[primary[0]]
    if c["IsEmailBounced"] or c["EmailBouncedDate"] or c["Left_Company__c"]:
        return True
    last = [t[0] for t in ix.touch[a] if t[2] == c["Id"]]
    return not last or age(max(last)) > 120


def owner_changed(ix: Index, a: str) -> bool:
    changes = [
        h for h in ix.by[a]["AccountHistory"] if h["Field"] == "Owner" and age(h["CreatedDate"]) <= 180
    ]
    if not changes:
        return False
    since = max(h["CreatedDate"] for h in changes).date()
    due = any(
        o["Type"] == "Renewal" and not o["IsClosed"] and 0 <= (o["CloseDate"] - TODAY).days <= 180
        for o in ix.by[a]["Opportunity"]
    )
    owner = ix.accounts[a]["OwnerId"]
    return due or not any(t[1] == owner and t[0] >= since for t in ix.touch[a])


def renewal_only_contact(ix: Index, a: str) -> bool:
    opps = ix.by[a]["Opportunity"]
    if not any(
        o["Type"] == "Renewal" and not o["IsClosed"] and 0 <= (o["CloseDate"] - TODAY).days <= 90
        for o in opps
    ):
        return False
    days = [t[0] for t in ix.touch[a]]
    if not days or age(max(days)) > 120:
        return True
    closed = [o["CloseDate"] for o in opps if o["Type"] == "Renewal" and o["IsClosed"]]
    year = [d for d in days if age(d) <= 365]
    if not closed or not year:
        return False
    last = max(closed)
    return sum(last - timedelta(days=90) <= d <= last for d in year) / len(year) > 0.6


def no_business_review(ix: Index, a: str) -> bool:
    acct = ix.accounts[a]
    limit = 180 if acct["Key_Account__c"] else 365
    return is_customer(acct) and not any(
        (e["Type"] == "Business Review" or "business review" in (e["Subject"] or "").lower())
        and e["ActivityDate"] < TODAY
        and age(e["ActivityDate"]) <= limit
        for e in ix.by[a]["Event"]
    )


def service_inconsistency(ix: Index, a: str) -> bool:
    wins = [o["CloseDate"] for o in ix.by[a]["Opportunity"] if o["IsWon"]]
    if not is_customer(ix.accounts[a]) or not wins or age(min(wins)) < 90:
        return False
    end = min(wins) + timedelta(days=90)
    closed = [c for c in ix.by[a]["Case"] if c["IsClosed"]]
    onb = [res_days(c) for c in closed if min(wins) <= c["CreatedDate"].date() < end]
    post = [res_days(c) for c in closed if c["CreatedDate"].date() >= end and age(c["CreatedDate"]) <= 365]
    if len(onb) >= 2 and len(post) >= 2 and mean(post) > 1.5 * mean(onb):
        return True
    if age(end) < 180:
        return False
    touched = {(age(t[0]) - 1) // 30 for t in ix.touch[a] if 1 <= age(t[0]) <= 180}
    return 6 - len(touched) >= 2


def existing_client_neglect(ix: Index, a: str) -> bool:
    acct = ix.accounts[a]
    return (
        is_customer(acct)
        and ix.owner_n[a] < 0.25 * ix.median_customer
        and ix.prospect_rate.get(acct["OwnerId"], 0) > ix.median_prospect
    )


def expansion_ready(ix: Index, a: str) -> bool:
    if any(not o["IsClosed"] for o in ix.by[a]["Opportunity"]):
        return False
    cases = ix.by[a]["Case"]
    if any(not c["IsClosed"] and c["Priority"] == "High" for c in cases):
        return False
    recent = [c for c in cases if c["IsClosed"] and age(c["ClosedDate"]) <= 90]
    return bool(recent) and all(
        (c["CSAT__c"] is None or c["CSAT__c"] >= 4)
        and any(
            c["ClosedDate"].date() <= t[0] <= c["ClosedDate"].date() + timedelta(days=7) for t in ix.touch[a]
        )
        for c in recent
    )


CHECKS: dict[str, Callable[[Index, str], bool]] = {s: globals()[s] for s in SIGNALS}


# -- tests ------------------------------------------------------------------------------------------------------
def test_deterministic(small: GeneratedOrg) -> None:
    again = generate(200, 7, TODAY)
    assert _digest(again) == _digest(small)
    assert _digest(generate(200, 8, TODAY)) != _digest(small)


@pytest.mark.parametrize("signal", SIGNALS)
def test_planted_accounts_fire_their_signal(small: GeneratedOrg, index: Index, signal: str) -> None:
    planted = small.ground_truth["signals"][signal]
    assert len(planted) >= 3
    assert [a for a in planted if not CHECKS[signal](index, a)] == []


def test_controls_fire_nothing(small: GeneratedOrg, index: Index) -> None:
    controls = small.ground_truth["controls"]
    assert len(controls) >= 5
    fired = [(a, s) for a in controls for s in SIGNALS if CHECKS[s](index, a)]
    assert fired == []
    assert all(small.ground_truth["health"][a] >= 0.85 for a in controls)


def test_every_row_has_every_field_and_valid_system_fields(small: GeneratedOrg) -> None:
    for obj, rows in small.data.items():
        names = fields_of(obj)
        prefix = KEY_PREFIXES[obj]
        for r in rows:
            assert list(r) == names, obj
            assert r["Id"].startswith(prefix) and to18(r["Id"]) == r["Id"]
            assert r["CreatedDate"].tzinfo is not None and r["CreatedDate"] < MIDNIGHT
            if "SystemModstamp" in r:
                assert r["CreatedDate"] <= r["SystemModstamp"] < MIDNIGHT
            if "LastModifiedDate" in r:
                assert r["LastModifiedDate"] == r["SystemModstamp"] and r["LastModifiedById"]
            if "IsDeleted" in r:
                assert r["IsDeleted"] is False
    ids = [r["Id"] for rows in small.data.values() for r in rows]
    assert len(ids) == len(set(ids))


def test_references_point_to_existing_records(small: GeneratedOrg) -> None:
    ids = {obj: {r["Id"] for r in rows} for obj, rows in small.data.items()}
    for obj, rows in small.data.items():
        refs = [f for f in SCHEMA[obj].fields if f.type == "reference"]
        for r in rows:
            for f in refs:
                v = r[f.name]
                assert v is None or any(v in ids[t] for t in f.reference_to), (obj, f.name, v)
    users = ids["User"]
    for r in small.data["AccountHistory"]:
        if r["Field"] == "Owner":
            assert r["DataType"] == "EntityId" and r["OldValue"] in users and r["NewValue"] in users


def test_derived_fields(small: GeneratedOrg) -> None:
    d = small.data
    acct_of = {r["Id"]: r["AccountId"] for obj in ("Opportunity", "Case", "Contact") for r in d[obj]}
    for o in d["Opportunity"]:
        prob, closed, won, fc = OPPORTUNITY_STAGES[o["StageName"]]
        assert (o["Probability"], o["IsClosed"], o["IsWon"], o["ForecastCategoryName"]) == (
            prob,
            closed,
            won,
            fc,
        )
    for c in d["Case"]:
        assert c["IsClosed"] == CASE_STATUSES[c["Status"]] and (c["ClosedDate"] is not None) == c["IsClosed"]
        assert c["CSAT__c"] is None or (c["IsClosed"] and 1 <= c["CSAT__c"] <= 5)
    numbers = [c["CaseNumber"] for c in d["Case"]]
    assert len(set(numbers)) == len(numbers) and all(len(n) == 8 and n.isdigit() for n in numbers)
    for t in d["Task"]:
        assert (
            t["IsClosed"] == TASK_STATUSES[t["Status"]]
            and (t["CompletedDateTime"] is not None) == t["IsClosed"]
        )
        assert not t["IsClosed"] or (t["ActivityDate"] < TODAY and t["CompletedDateTime"] < MIDNIGHT)
    for t in d["Task"] + d["Event"]:
        expect = t["WhatId"] if t["WhatId"].startswith("001") else acct_of[t["WhatId"]]
        assert t["AccountId"] == expect
        assert t["WhoId"] is None or acct_of[t["WhoId"]] == t["AccountId"]
    for r in d["Contact"] + d["User"]:
        assert r["Name"] == f"{r['FirstName']} {r['LastName']}"


def test_opportunity_history_follows_each_deal(small: GeneratedOrg, index: Index) -> None:
    for o in small.data["Opportunity"]:
        rows = sorted(index.history[o["Id"]], key=lambda r: r["CreatedDate"])
        assert rows and (rows[-1]["StageName"], rows[-1]["Amount"], rows[-1]["CloseDate"]) == (
            o["StageName"],
            o["Amount"],
            o["CloseDate"],
        )
        assert rows[0]["PrevAmount"] is None
        for prev, cur in pairwise(rows):
            assert (cur["PrevAmount"], cur["PrevCloseDate"]) == (prev["Amount"], prev["CloseDate"])
            assert (cur["StageName"], cur["Amount"], cur["CloseDate"]) != (
                prev["StageName"],
                prev["Amount"],
                prev["CloseDate"],
            )
        if o["IsWon"]:
            assert sum(r["IsPrimary"] for r in index.roles[o["Id"]]) == 1
    for a, r in index.accounts.items():
        owners = sorted(
            (h for h in index.by[a]["AccountHistory"] if h["Field"] == "Owner"),
            key=lambda h: h["CreatedDate"],
        )
        if owners:
            assert owners[-1]["NewValue"] == r["OwnerId"]


def test_ground_truth_renewals_and_health(small: GeneratedOrg, index: Index) -> None:
    gt = small.ground_truth
    renewal_opps = {o["Id"]: o for o in small.data["Opportunity"] if o["Type"] == "Renewal"}
    assert {r["opportunity_id"] for r in gt["renewals"]} == set(renewal_opps)
    for r in gt["renewals"]:
        o = renewal_opps[r["opportunity_id"]]
        assert r["close_date"] == o["CloseDate"].isoformat() and r["account_id"] == o["AccountId"]
        if o["IsClosed"]:
            assert r["outcome"] == ("won" if o["IsWon"] else "lost") and not r["is_open"]
        else:
            assert r["is_open"] and o["CloseDate"] >= TODAY and r["outcome"] in ("won", "lost")
    assert set(gt["health"]) == set(index.accounts) and all(0 <= h <= 1 for h in gt["health"].values())
    assert any(r["is_open"] for r in gt["renewals"]) and any(not r["is_open"] for r in gt["renewals"])


def test_fast_ids_match_make_id() -> None:
    serials = [*range(4000), 3844, 3844 * 3844 - 1, 3844 * 3844, 62**5 - 1, 62**5, 10**9]
    for obj in KEY_PREFIXES:
        assert [fast_id(obj, s) for s in serials] == [make_id(obj, s) for s in serials]


def test_allocation_scales() -> None:
    assert allocation(200) == (3, 5)
    assert allocation(2000) == (10, 20)
    assert allocation(10_000) == (50, 100)
    per, ctrl = allocation(20)
    assert per * len(SIGNALS) + ctrl <= 12 or per == 1


@pytest.mark.slow
def test_ratios_and_signals_at_2000_accounts() -> None:
    org = generate(2000, 42, TODAY)
    d, gt = org.data, org.ground_truth
    total = sum(len(v) for v in d.values())
    assert 150_000 <= total <= 300_000
    assert 20 <= len(d["User"]) <= 30
    assert any(
        u["Username"] == "integration@crm-risk.sim" and u["Id"] == org.integration_user_id for u in d["User"]
    )
    customers = [a for a in d["Account"] if is_customer(a)]
    prospects = [a for a in d["Account"] if a["Type"] == "Prospect"]
    assert 0.12 <= len(prospects) / 2000 <= 0.18
    assert 0.10 <= sum(a["Key_Account__c"] for a in customers) / len(customers) <= 0.22
    share = sum(a["Expected_Resolution_Days__c"] is not None for a in customers) / len(customers)
    assert 0.5 <= share <= 0.75
    assert all(
        2 <= a["Expected_Resolution_Days__c"] <= 7 for a in customers if a["Expected_Resolution_Days__c"]
    )
    ix = Index(org)
    per_customer = mean(len(ix.by[a["Id"]]["Contact"]) for a in customers)
    assert 4 <= per_customer <= 6.5
    for s in SIGNALS:
        assert len(gt["signals"][s]) == 10
        assert [a for a in gt["signals"][s] if not CHECKS[s](ix, a)] == [], s
    assert [(a, s) for a in gt["controls"] for s in SIGNALS if CHECKS[s](ix, a)] == []
    # Renewal outcomes follow latent health: lost renewals come from less healthy accounts.
    lost = [gt["health"][r["account_id"]] for r in gt["renewals"] if r["outcome"] == "lost"]
    won = [gt["health"][r["account_id"]] for r in gt["renewals"] if r["outcome"] == "won"]
    assert lost and mean(lost) < mean(won) - 0.1


def test_dirty_switch_adds_listed_defects_outside_plants_and_controls(small: GeneratedOrg) -> None:
    dirty = generate(200, 7, TODAY, dirty=True)
    assert small.ground_truth["dirty"] == []
    defects = dirty.ground_truth["dirty"]
    assert {d["problem"] for d in defects} == set(PROBLEMS)
    rows = {r["Id"]: r for obj in dirty.data.values() for r in obj}
    protected = set(dirty.ground_truth["controls"]).union(*dirty.ground_truth["signals"].values())
    for d in defects:
        r = rows[d["record_id"]]
        assert list(r) == fields_of(d["object"])
        assert r.get("AccountId") not in protected and r["Id"] not in protected
    bad = {d["problem"]: rows[d["record_id"]] for d in defects}
    assert bad["contact_without_account"]["AccountId"] is None
    assert bad["closed_before_created"]["ClosedDate"] < bad["closed_before_created"]["CreatedDate"]
    assert bad["negative_amount"]["Amount"] < 0
    assert not 1 <= bad["csat_out_of_range"]["CSAT__c"] <= 5
    assert bad["negative_expected_days"]["Expected_Resolution_Days__c"] < 0
    dup = bad["duplicate_contact"]
    assert sum(c["Email"] == dup["Email"] for c in dirty.data["Contact"]) == 2
    ix = Index(dirty)
    for s in SIGNALS:
        assert all(CHECKS[s](ix, a) for a in dirty.ground_truth["signals"][s]), s
