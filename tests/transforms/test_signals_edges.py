"""Edge cases of the 17 signals the other signal tests leave out: exactly at a threshold, and missing input.

"Missing input" is the optional input a signal depends on being absent from the org; the signal is then reported
"not scored" in marts.signal_coverage, never silently firing or silently green. For signals whose input is always
there (Case-, Task- or Opportunity-based), the nearest meaningful case is an org without those rows at all: the
signal is scored and fires on nobody.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.transforms.helpers import ago, coverage, day, fired, run

CASE_SIGNALS = (
    "repeat_issue",
    "no_follow_up_after_fix",
    "escalation_load",
    "case_spike",
    "aging_open_cases",
    "broken_promise_after_sale",
    "missed_customer_yardstick",
    "service_inconsistency",
)


def coverage_row(con, signal_id: str) -> tuple:
    """(status, reason, accounts_evaluated, accounts_not_scored, accounts_fired) of a signal."""
    return con.execute(
        "select status, reason, accounts_evaluated, accounts_not_scored, accounts_fired "
        "from marts.signal_coverage where signal_id = ?",
        [signal_id],
    ).fetchone()


# --- missing input -------------------------------------------------------------------------------------------


def test_org_without_cases_case_signals_scored_and_quiet_expansion_not_scored(con, crm):
    for a in "AB":
        crm.account(a, Expected_Resolution_Days__c=3.0)
        crm.opportunity(a, "First deal", "Closed Won", day(200))
        for first in ("Jane", "Tom"):
            crm.task(a, ago(10), who=crm.contact(a, first, "Smith"))
    run(con)
    for signal_id in CASE_SIGNALS:
        assert fired(con, signal_id) == {}, signal_id
        assert coverage_row(con, signal_id) == ("scored", None, 2, 0, 0), signal_id
    # expansion_ready needs a recorded satisfaction: no Case, no CSAT__c value, not scored (not "nobody is ready")
    assert fired(con, "expansion_ready") == {}
    assert coverage_row(con, "expansion_ready") == ("not_scored", "no Case has a value in CSAT__c", 2, 2, 0)


def test_expansion_ready_not_scored_without_csat_values(con, crm):
    crm.account("A")
    for i in range(2):
        crm.case(
            "A", f"0000006{i}", ago(25 + i), ago(20 + i)
        )  # closed, followed up, but CSAT__c never filled
    for first in ("Jane", "Tom"):
        crm.task("A", ago(15), who=crm.contact("A", first, "Smith"))
    run(con)
    assert fired(con, "expansion_ready") == {}
    assert coverage(con, "expansion_ready") == ("not_scored", "no Case has a value in CSAT__c")


def test_expansion_ready_scored_when_one_account_has_csat(con, crm):
    for a, csat in (("A", 5.0), ("B", None)):
        crm.account(a)
        for i in range(2):
            crm.case(a, f"000006{i}{a}", ago(25 + i), ago(20 + i), CSAT__c=csat)
        for first in ("Jane", "Tom"):
            crm.task(a, ago(15), who=crm.contact(a, first, "Smith"))
    run(con)
    assert set(fired(con, "expansion_ready")) == {"A"}
    assert coverage_row(con, "expansion_ready") == ("scored", None, 2, 0, 1)


def test_contact_signals_not_scored_in_an_org_without_contacts(con, crm):
    crm.account("A")
    crm.opportunity("A", "First deal", "Closed Won", day(200))
    crm.task("A", ago(10))  # the account team works the account, but no Contact is recorded anywhere
    run(con)
    # before: single_threaded fired on every customer ("No contact at this customer has heard from us ...")
    assert fired(con, "single_threaded") == {}
    assert coverage_row(con, "single_threaded") == ("not_scored", "no Contact rows in the org", 1, 1, 0)
    # before: champion_gone was silently green ("scored", nobody fired)
    assert fired(con, "champion_gone") == {}
    assert coverage_row(con, "champion_gone") == ("not_scored", "no Contact rows in the org", 1, 1, 0)


def test_renewal_only_contact_org_without_renewal_opportunities(con, crm):
    # the input is an open Opportunity of Type 'Renewal'; without one nothing is due, the signal fires on nobody
    crm.account("A")
    crm.opportunity("A", "Extension", "Negotiation/Review", day(-60))  # New Business, not a renewal
    crm.task("A", ago(150))
    run(con)
    assert fired(con, "renewal_only_contact") == {}
    assert coverage_row(con, "renewal_only_contact") == ("scored", None, 1, 0, 0)


def test_existing_client_neglect_org_without_activities(con, crm):
    crm.account("A")
    crm.account("B")
    crm.account("Q", type="Prospect")
    run(con)
    assert fired(con, "existing_client_neglect") == {}  # median 0: nothing is below a quarter of it
    assert coverage_row(con, "existing_client_neglect") == ("scored", None, 2, 0, 0)


def test_service_inconsistency_needs_a_first_win(con, crm):
    # the onboarding baseline is the first win: a customer by Type without any won Opportunity is not evaluated
    crm.account("A")
    for m in (0, 1, 3, 5):  # would be two silent months
        crm.task("A", ago(15 + 30 * m))
    run(con)
    assert fired(con, "service_inconsistency") == {}
    assert coverage(con, "service_inconsistency") == ("scored", None)


def test_reneged_and_owner_changed_not_scored_reasons(con, crm):
    crm.account("A")
    crm.opportunity("A", "Fleet expansion", "Closed Won", day(90))
    run(con)
    assert coverage_row(con, "reneged_deal") == (
        "not_scored",
        "no OpportunityHistory rows (field history not loaded)",
        1,
        1,
        0,
    )
    assert coverage_row(con, "owner_changed")[:2] == (
        "not_scored",
        "no AccountHistory rows (account field history not tracked or not loaded)",
    )


def test_oversell_complaint_not_scored_reason(con, crm):
    crm.account("A")
    crm.event("A", ago(40), type="Meeting")
    crm.case("A", "00000051", ago(30), Reason="Unexpected Charges")
    run(con)
    assert fired(con, "oversell_complaint") == {}
    assert coverage_row(con, "oversell_complaint") == (
        "not_scored",
        "no Event of type 'Service Visit' in the org",
        1,
        1,
        0,
    )


# --- exactly at the threshold --------------------------------------------------------------------------------


def test_case_spike_exactly_min_cases_and_recent_window_edge(con, crm):
    for a in "ABC":
        crm.account(a)
    for i in range(3):  # exactly min_cases, no baseline: fires
        crm.case("A", f"0000010{i}", ago(5 + i))
    for i in range(2):  # two recent ...
        crm.case("B", f"0000020{i}", ago(5 + i))
    crm.case("B", "00000209", ago(30))  # ... and one exactly 30 days ago: baseline, not recent
    for i in range(2):
        crm.case("C", f"0000030{i}", ago(5 + i))
    crm.case("C", "00000309", ago(30) + timedelta(minutes=1))  # just inside the recent window
    run(con)
    got = fired(con, "case_spike")
    assert set(got) == {"A", "C"}
    assert got["A"][0] == "3 cases in the last 30 days against a usual 0."
    assert got["A"][1]["recent_case_numbers"] == ["00000102", "00000101", "00000100"]
    assert coverage(con, "case_spike") == ("scored", None)


def test_broken_promise_after_win_window_edges(con, crm):
    # won on 22 Mar 2026 (100 days before the as-of date): cases from 22 Mar 00:00 up to, not including, 21 May
    midnight_won = datetime(2026, 3, 22, tzinfo=UTC)
    for a in "TU":
        crm.account(a)
        crm.opportunity(a, "Fleet expansion", "Closed Won", day(100))
        crm.case(a, f"{a}-1", midnight_won, Priority="High")  # exactly at the win: counts
    crm.case(
        "T", "T-2", midnight_won + timedelta(days=60, minutes=-1), IsEscalated=True
    )  # last minute inside
    crm.case("U", "U-2", midnight_won + timedelta(days=60), IsEscalated=True)  # exactly 60 days: outside
    run(con)
    got = fired(con, "broken_promise_after_sale")
    assert set(got) == {"T"}
    assert got["T"][0] == "2 urgent cases within 60 days of winning 'Fleet expansion' (closed 22 Mar 2026)."
    assert got["T"][1]["case_numbers"] == ["T-1", "T-2"]


def test_reneged_deal_lookback_edge_and_unchanged_amount(con, crm):
    for a in "EFG":
        crm.account(a)
    e = crm.opportunity("E", "Deal E", "Closed Won", day(400), amount=5000.0)
    crm.history(e, "Closed Won", ago(400), close=day(400))
    crm.history(e, "Closed Won", ago(365), amount=5000.0, close=day(400))  # exactly 365 days ago: outside
    f = crm.opportunity("F", "Deal F", "Closed Won", day(400), amount=5000.0)
    crm.history(f, "Closed Won", ago(400), close=day(400))
    crm.history(f, "Closed Won", ago(365) + timedelta(minutes=1), amount=5000.0, close=day(400))  # inside
    g = crm.opportunity("G", "Deal G", "Closed Won", day(60))
    crm.history(g, "Closed Won", ago(60), close=day(60))
    crm.history(g, "Closed Won", ago(50), amount=10000.0, close=day(60))  # exactly the won amount: no drop
    run(con)
    got = fired(con, "reneged_deal")
    assert set(got) == {"F"}
    assert got["F"][0] == "'Deal F' was won on 26 May 2025, then reduced by 50% on 30 Jun 2025."
    assert coverage(con, "reneged_deal") == ("scored", None)


def test_oversell_complaint_within_days_edge(con, crm):
    for a in "ABC":
        crm.account(a)
        crm.event(a, ago(60), type="Service Visit")
    crm.case("A", "00000051", ago(30), Reason="Unexpected Charges")  # exactly 30 days after the visit: counts
    crm.case("B", "00000052", ago(30) + timedelta(minutes=1), Reason="Unexpected Charges")  # 30 days + 1 min
    crm.event("C", ago(90), type="Service Visit")  # exactly 90 days ago: outside the lookback, so ...
    crm.case(
        "C", "00000053", ago(89), Subject="Technician was pushy"
    )  # ... the complaint a day later is not counted
    run(con)
    got = fired(con, "oversell_complaint")
    assert set(got) == {"A"}
    assert (
        got["A"][0]
        == "A complaint ('Unexpected Charges', case 00000051) followed the 1 May 2026 service visit."
    )
    assert coverage(con, "oversell_complaint") == ("scored", None)


def test_single_threaded_window_edge_and_no_contact_engaged(con, crm):
    for a in "ABC":
        crm.account(a)
    a1, a2 = crm.contact("A"), crm.contact("A", "Tom", "Ray")
    crm.task("A", ago(10), who=a1)
    crm.task("A", ago(180), who=a2)  # exactly 180 days ago: outside the window
    b1, b2 = crm.contact("B"), crm.contact("B", "Tom", "Ray")
    crm.task("B", ago(10), who=b1)
    crm.task("B", ago(180) + timedelta(minutes=1), who=b2)  # just inside
    crm.contact("C")
    crm.task("C", ago(10))  # a touch naming no contact
    run(con)
    got = fired(con, "single_threaded")
    assert set(got) == {"A", "C"}
    assert got["A"][0] == "Only one contact (J. Smith) has heard from us in the last 180 days."
    assert got["C"][0] == "No contact at this customer has heard from us in the last 180 days."
    assert got["C"][1]["engaged_contacts"] == 0
    assert coverage_row(con, "single_threaded") == ("scored", None, 3, 0, 2)


def test_champion_gone_exactly_silent_days_and_recent_loss_edge(con, crm):
    contacts = {}
    for a, kw in {
        "S": {},
        "X": {"IsEmailBounced": True, "EmailBouncedDate": ago(90)},  # bounced exactly 90 days ago: old news
        "Y": {"IsEmailBounced": True, "EmailBouncedDate": ago(90) + timedelta(minutes=1)},  # still recent
    }.items():
        crm.account(a)
        contacts[a] = crm.contact(a, **kw)
        opp = crm.opportunity(a, f"Deal {a}", "Closed Won", day(200))
        crm.role(opp, contacts[a])
    crm.task("S", ago(120), who=contacts["S"])  # exactly 120 days: not older than
    for a in "XY":
        crm.task(a, ago(100), who=contacts[a])
    run(con)
    got = fired(con, "champion_gone")
    assert set(got) == {"Y"}
    assert got["Y"][0] == "Our main contact J. Smith's email bounced on 1 Apr 2026."
    assert got["Y"][1]["why"] == "bounced"
    assert coverage_row(con, "champion_gone") == ("scored", None, 3, 0, 1)


def test_owner_changed_window_and_renewal_edges(con, crm):
    new = "005000000000002AAA"
    crm.user(new, "Bea", "Chen")
    for a in "RSWX":
        crm.account(a)
    for a, days in (("R", -180), ("S", -181)):  # renewal exactly 180 days out: due; 181: not
        crm.owner_change(a, "005000000000001AAA", new, ago(30))
        crm.task(a, ago(10), OwnerId=new)
        crm.opportunity(a, f"Renewal {a}", "Negotiation/Review", day(days), type="Renewal")
    crm.owner_change("W", "005000000000001AAA", new, ago(180))  # exactly 180 days ago: outside the window
    crm.owner_change("X", "005000000000001AAA", new, ago(180) + timedelta(minutes=1))
    run(con)
    got = fired(con, "owner_changed")
    assert set(got) == {"R", "X"}
    assert got["R"][0] == "Account moved from Alex Lee to Bea Chen on 31 May 2026; renewal on 27 Dec 2026."
    assert (
        got["X"][0]
        == "Account moved from Alex Lee to Bea Chen on 1 Jan 2026; no contact from the new owner since."
    )
    assert coverage(con, "owner_changed") == ("scored", None)


def test_renewal_only_contact_renewal_window_and_share_edges(con, crm):
    for a, days in (("A", -90), ("B", -91)):  # renewal exactly 90 days out: due; 91: not yet
        crm.account(a)
        crm.opportunity(a, f"Renewal {a}", "Negotiation/Review", day(days), type="Renewal")
        crm.task(a, ago(150))
    crm.account("F")
    crm.opportunity("F", "Renewal F", "Negotiation/Review", day(-60), type="Renewal")
    crm.opportunity("F", "Renewal 2025", "Closed Won", day(100), type="Renewal")
    for d in (110, 120, 130, 30, 20):  # 3 of 5 touches before the last renewal: exactly 60%, not above
        crm.task("F", ago(d))
    run(con)
    got = fired(con, "renewal_only_contact")
    assert set(got) == {"A"}
    assert got["A"][0] == "Renewal on 28 Sep 2026; the last contact from the account team was on 31 Jan 2026."
    assert coverage(con, "renewal_only_contact") == ("scored", None)


def test_service_inconsistency_exactly_min_extra_days_and_min_cases(con, crm):
    for a in "AB":
        crm.account(a)
        crm.opportunity(a, "First deal", "Closed Won", day(400))
        for m in range(6):
            crm.task(a, ago(15 + 30 * m))
        for i in range(2):  # exactly min_cases in onboarding, 1 day each
            crm.case(a, f"{a}-on-{i}", ago(390 - 10 * i), ago(389 - 10 * i))
    for i in range(2):  # A: two recent cases, 3 days each: exactly 2 days more (and +200%)
        crm.case("A", f"A-late-{i}", ago(100 - 10 * i), ago(97 - 10 * i))
    crm.case("B", "B-late-0", ago(100), ago(90))  # B: one recent case only, however slow
    run(con)
    got = fired(con, "service_inconsistency")
    assert set(got) == {"A"}
    assert got["A"][0] == "Cases took 1 day to fix in the first 3 months, 3 days since."
    assert got["A"][1]["recent_cases"] == 2 and got["A"][1]["onboarding_cases"] == 2
    assert coverage(con, "service_inconsistency") == ("scored", None)


def test_existing_client_neglect_exactly_a_quarter_of_the_median(con, crm):
    hunter, farmer = "005000000000002AAA", "005000000000003AAA"
    crm.user(hunter, "Hal", "Hunt")
    crm.user(farmer, "Fay", "Farm")
    crm.account("N", OwnerId=hunter)
    crm.task("N", ago(5), OwnerId=hunter)  # 1 touch: exactly 25% of the median 4, not below
    crm.account("M", OwnerId=hunter)  # 0 touches: below
    crm.account("Q", type="Prospect", OwnerId=hunter)
    for i in range(6):
        crm.task("Q", ago(5 + i), OwnerId=hunter)
    for a in "ABC":
        crm.account(a, OwnerId=farmer)
        for i in range(4):
            crm.task(a, ago(5 + 10 * i), OwnerId=farmer)
    run(con)
    got = fired(con, "existing_client_neglect")
    assert set(got) == {"M"}
    assert (
        got["M"][0]
        == "This account got 0 touches from its owner in the last 90 days; similar accounts got 4."
    )
    assert got["M"][1]["median_customer_touches"] == 4 and got["M"][1]["owner_prospect_touches"] == 6
    assert coverage(con, "existing_client_neglect") == ("scored", None)


def test_no_follow_up_lookback_edge(con, crm):
    for a in "AB":
        crm.account(a)
    crm.case("A", "00000011", ago(70), ago(60), IsEscalated=True)  # closed exactly 60 days ago: outside
    crm.case("B", "00000012", ago(70), ago(60) + timedelta(minutes=1), IsEscalated=True)  # just inside
    run(con)
    got = fired(con, "no_follow_up_after_fix")
    assert set(got) == {"B"}
    assert got["B"][0] == (
        "Escalated case 00000012 was closed on 1 May 2026; nobody from the account team followed up."
    )
    assert coverage(con, "no_follow_up_after_fix") == ("scored", None)


def test_aging_open_cases_exactly_the_high_priority_limit(con, crm):
    for a in "AB":
        crm.account(a)
    crm.case("A", "00000031", ago(14), Priority="High")  # exactly 14 days: not older than
    crm.case("B", "00000032", ago(14) - timedelta(minutes=1), Priority="High")
    run(con)
    got = fired(con, "aging_open_cases")
    assert set(got) == {"B"}
    assert got["B"][0] == "Case 00000032 has been open since 16 Jun 2026."
