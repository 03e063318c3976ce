"""Service-side signals on tiny fixture rows: firing, not firing, exactly at the threshold, missing input."""

from __future__ import annotations

from datetime import timedelta

from tests.transforms.helpers import AS_OF, ago, coverage, day, fired, run


def test_repeat_issue(con, crm):
    for a in ("A", "B", "C"):
        crm.account(a)
    # A: two repeats (10 and 5 days after the previous close)
    crm.case("A", "00000001", ago(80), ago(70))
    crm.case("A", "00000002", ago(60), ago(55))
    crm.case("A", "00000003", ago(50), ago(45))
    crm.case(
        "A", "00000004", ago(48), Type="Billing", Reason="Unexpected Charges"
    )  # other type: not a repeat
    # B: one repeat only
    crm.case("B", "00000011", ago(80), ago(70))
    crm.case("B", "00000012", ago(60))
    # C: at the threshold: exactly 14 days after each close counts
    crm.case("C", "00000021", ago(80), ago(70))
    crm.case("C", "00000022", ago(56), ago(50))
    crm.case("C", "00000023", ago(36))
    run(con)
    got = fired(con, "repeat_issue")
    assert set(got) == {"A", "C"}
    assert got["A"][0] == "2 issues came back within 14 days of being closed (cases 00000002, 00000003)."
    assert got["A"][1]["case_numbers"] == ["00000002", "00000003"]
    assert got["A"][1]["previous_case_numbers"] == ["00000001", "00000002"]
    assert coverage(con, "repeat_issue") == ("scored", None)


def test_repeat_issue_just_past_the_threshold_does_not_fire(con, crm):
    crm.account("A")
    crm.case("A", "00000001", ago(80), ago(70))
    crm.case("A", "00000002", ago(56) + timedelta(minutes=1), ago(50))
    crm.case("A", "00000003", ago(36) + timedelta(minutes=1))
    run(con)
    assert fired(con, "repeat_issue") == {}


def test_no_follow_up_after_fix(con, crm):
    for a in "ABCDEF":
        crm.account(a)
    crm.case("A", "00000011", ago(20), ago(10), IsEscalated=True)  # no touch: fires
    crm.case("B", "00000012", ago(20), ago(10), Priority="High")
    crm.task("B", ago(5))  # followed up
    crm.case("C", "00000013", ago(20), ago(7), Priority="High")  # exactly 7 days ago: fires
    crm.case("D", "00000014", ago(20), ago(6.9), Priority="High")  # too recent to judge
    crm.case("E", "00000015", ago(30), ago(20), Priority="High")
    crm.task("E", ago(13))  # exactly 7 days after: counts
    crm.case("F", "00000016", ago(20), ago(10))  # medium, not escalated
    run(con)
    got = fired(con, "no_follow_up_after_fix")
    assert set(got) == {"A", "C"}
    assert got["A"][0] == (
        "Escalated case 00000011 was closed on 20 Jun 2026; nobody from the account team followed up."
    )
    assert got["C"][0].startswith("High-priority case 00000013 was closed on 23 Jun 2026")
    assert got["A"][1]["case_count"] == 1


def test_missed_customer_yardstick(con, crm):
    crm.account("A", Expected_Resolution_Days__c=3.0)
    crm.account("B", Expected_Resolution_Days__c=3.0)
    crm.account("C")  # no expectation: not scored
    for i, days in enumerate([5, 5, 2, 2, 2]):  # 2 of 5 late (40%)
        crm.case("A", f"0000010{i}", ago(40 + i), ago(40 + i - days))
    for i, days in enumerate([5, 2, 2, 2, 2]):  # 1 of 5 late: exactly 20%, not above
        crm.case("B", f"0000020{i}", ago(40 + i), ago(40 + i - days))
    for i in range(5):
        crm.case("C", f"0000030{i}", ago(40 + i), ago(30 + i))
    run(con)
    got = fired(con, "missed_customer_yardstick")
    assert set(got) == {"A"}
    assert got["A"][0] == (
        "2 of 5 cases in the last 90 days took longer than the 3 days this customer expects "
        "(our internal 7-day target was met)."
    )
    assert got["A"][1]["late_case_numbers"] == ["00000101", "00000100"]  # by opening date
    row = con.execute(
        "select status, accounts_evaluated, accounts_not_scored from marts.signal_coverage "
        "where signal_id = 'missed_customer_yardstick'"
    ).fetchall()
    assert row == [("scored", 3, 1)]


def test_missed_customer_yardstick_not_scored_without_input(con, crm):
    crm.account("A")
    for i in range(5):
        crm.case("A", f"0000010{i}", ago(40 + i), ago(20 + i))
    run(con)
    assert fired(con, "missed_customer_yardstick") == {}
    assert coverage(con, "missed_customer_yardstick") == (
        "not_scored",
        "no account has a value in Expected_Resolution_Days__c",
    )


def test_escalation_load(con, crm):
    for a in "ABC":
        crm.account(a)
    for i, d in enumerate([10, 20, 30]):
        crm.case("A", f"0000000{i}", ago(d), IsEscalated=True)
    crm.case("A", "00000009", ago(120), ago(110), Priority="High")
    crm.case("B", "00000010", ago(10), Priority="High")
    crm.case("B", "00000011", ago(10))  # medium: not counted
    crm.case("B", "00000012", ago(11), Priority="High")  # B: two urgent, below the minimum of 3
    crm.case("C", "00000020", ago(10), Priority="High")
    crm.case("C", "00000021", ago(11), IsEscalated=True)
    crm.case("C", "00000022", ago(89.9), Priority="High")  # three: exactly the minimum
    run(con)
    got = fired(con, "escalation_load")
    assert set(got) == {"A", "C"}
    assert got["A"][0] == "3 escalated or high-priority cases in the last 90 days, up from 1."
    assert got["A"][1]["previous_count"] == 1 and got["A"][1]["current_count"] == 3


def test_aging_open_cases(con, crm):
    for a in "ABCDE":
        crm.account(a)
    crm.case("A", "00000031", ago(41))  # medium, 41 days: fires
    crm.case("B", "00000032", ago(30))  # exactly 30 days: not older than
    crm.case("C", "00000033", ago(15), Priority="High")  # high, 15 > 14: fires
    crm.case("D", "00000034", ago(45), ago(1))  # closed
    crm.case("E", "00000035", ago(45), AS_OF + timedelta(days=5))  # closed after the as-of: open then
    run(con)
    got = fired(con, "aging_open_cases")
    assert set(got) == {"A", "C", "E"}
    assert got["A"][0] == "Case 00000031 has been open since 20 May 2026."
    assert got["A"][1]["oldest_age_days"] == 41


def test_case_spike(con, crm):
    for a in "ABC":
        crm.account(a)
    for i in range(4):
        crm.case("A", f"0000010{i}", ago(5 + i))
    for i in range(6):
        crm.case("A", f"0000011{i}", ago(40 + 30 * i), ago(39 + 30 * i))  # one a month before
    for i in range(3):
        crm.case("B", f"0000020{i}", ago(5 + i))
    for i in range(9):
        crm.case("B", f"0000021{i}", ago(40 + 15 * i), ago(39 + 15 * i))  # 1.5 a month: 3 is exactly 2x
    for i in range(2):
        crm.case("C", f"0000030{i}", ago(5 + i))
    run(con)
    got = fired(con, "case_spike")
    assert set(got) == {"A"}
    assert got["A"][0] == "4 cases in the last 30 days against a usual 1."


def test_onboarding_profile_tightens_thresholds(con, crm):
    from tests.transforms.helpers import day

    for a, won in (("NEW", day(30)), ("OLD", day(400))):
        crm.account(a)
        crm.opportunity(a, "First deal", "Closed Won", won)
        crm.case(a, f"{a}-1", ago(20))  # 20 days open: > 14, < 30
        crm.case(a, f"{a}-2", ago(10), Priority="High")
        crm.case(a, f"{a}-3", ago(9), IsEscalated=True)  # 2 urgent: onboarding minimum
    run(con)
    assert set(fired(con, "aging_open_cases")) == {"NEW"}
    assert set(fired(con, "escalation_load")) == {"NEW"}
    lifecycle = dict(
        con.execute("select account_id, lifecycle from marts.int_account_sales_history").fetchall()
    )
    assert lifecycle == {"NEW": "onboarding", "OLD": "steady"}


def test_case_spike_needs_a_history_to_compare_with(con, crm):
    for a, won in (("NEW", 20), ("YOUNG", 45), ("EDGE", 60), ("PARTIAL", 100)):  # customers since `won` days
        crm.account(a)
        opp = crm.opportunity(a, "First order", "Closed Won", day(won))
        crm.history(opp, "Closed Won", ago(won), close=day(won))
    crm.account("ADDED", CreatedDate=ago(20))  # a customer on record for 20 days, no win in the CRM
    for a in ("NEW", "YOUNG", "EDGE", "PARTIAL", "ADDED"):
        for i in range(3):
            crm.case(a, f"{a}-{i}", ago(5 + i))
    for i in range(2):  # two cases in the 70 days before the last 30, as a customer
        crm.case("PARTIAL", f"PARTIAL-b{i}", ago(50 + 20 * i), ago(49 + 20 * i))
    run(con)
    got = fired(con, "case_spike")
    # NEW, YOUNG and ADDED have less than 30 days of history before the last 30: no usual rate, no rise
    assert set(got) == {"EDGE", "PARTIAL"}
    assert got["EDGE"][0] == "3 cases in the last 30 days against a usual 0 since 1 May 2026."
    # the usual rate is over the 70 days it was a customer, not over the whole 180-day baseline
    assert got["PARTIAL"][0] == "3 cases in the last 30 days against a usual 0.9 since 22 Mar 2026."
    assert got["PARTIAL"][1]["baseline_days"] == 70.5  # from midnight of the win's CloseDate


def test_case_spike_on_a_customer_won_after_years_as_a_prospect(con, crm):
    crm.account("P", CreatedDate=ago(1000))  # a prospect for years (no cases then), won 20 days ago
    opp = crm.opportunity("P", "First order", "Closed Won", day(20))
    crm.history(opp, "Closed Won", ago(20), close=day(20))
    for i in range(3):
        crm.case("P", f"P-{i}", ago(5 + i))
    run(con)
    assert fired(con, "case_spike") == {}
