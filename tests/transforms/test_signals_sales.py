"""Sales-side and relationship signals on tiny fixture rows: firing, not firing, at the threshold, missing input."""

from __future__ import annotations

from datetime import timedelta

from tests.transforms.helpers import ago, coverage, day, fired, run


def test_reneged_deal(con, crm):
    for a in "ABCD":
        crm.account(a)
    a = crm.opportunity("A", "Fleet expansion", "Closed Won", day(90))
    crm.history(a, "Negotiation/Review", ago(100), close=day(90))
    crm.history(a, "Closed Won", ago(90), close=day(90))
    crm.history(a, "Closed Won", ago(80), amount=7000.0, close=day(90))  # reduced by 30%
    b = crm.opportunity("B", "Depot refit", "Negotiation/Review", day(-30))
    crm.history(b, "Closed Won", ago(60), close=day(60))
    crm.history(b, "Negotiation/Review", ago(50), close=day(60))  # moved out of Closed Won
    c = crm.opportunity("C", "Upsell", "Closed Won", day(60), amount=12000.0)
    crm.history(c, "Closed Won", ago(60), close=day(60))
    crm.history(c, "Closed Won", ago(50), amount=12000.0, close=day(60))  # amount went up: fine
    d = crm.opportunity("D", "Old deal", "Closed Won", day(420), amount=5000.0)
    crm.history(d, "Closed Won", ago(420), close=day(420))
    crm.history(d, "Closed Won", ago(400), amount=5000.0, close=day(420))  # outside 12 months
    run(con)
    got = fired(con, "reneged_deal")
    assert set(got) == {"A", "B"}
    assert got["A"][0] == "'Fleet expansion' was won on 1 Apr 2026, then reduced by 30% on 11 Apr 2026."
    assert (
        got["B"][0]
        == "'Depot refit' was won on 1 May 2026, then moved back to Negotiation/Review on 11 May 2026."
    )
    assert got["A"][1]["opportunity_ids"] == [a]
    assert got["A"][1]["changes"][0]["kind"] == "reduced"


def test_reneged_deal_not_scored_without_history(con, crm):
    crm.account("A")
    crm.opportunity("A", "Fleet expansion", "Closed Won", day(90))
    run(con)
    assert fired(con, "reneged_deal") == {}
    assert coverage(con, "reneged_deal")[0] == "not_scored"


def test_champion_gone(con, crm):
    from datetime import timedelta

    contacts = {}
    for a, kw in {
        "A": {"IsEmailBounced": True, "EmailBouncedDate": ago(20)},
        "B": {"Left_Company__c": True, "SystemModstamp": ago(5)},
        "C": {},
        "D": {},
        "E": {},
        "F": {"Left_Company__c": True, "SystemModstamp": ago(-10)},  # left after the as-of date: not yet
    }.items():
        crm.account(a)
        contacts[a] = crm.contact(a, **kw)
        opp = crm.opportunity(a, f"Deal {a}", "Closed Won", day(200))
        crm.role(opp, contacts[a])
    for a in "ABF":
        crm.task(a, ago(5), who=contacts[a])
    crm.task("C", ago(121), who=contacts["C"])  # silent for more than 120 days
    crm.task("D", ago(120) + timedelta(minutes=1), who=contacts["D"])  # just inside 120 days
    crm.task("E", ago(10), who=contacts["E"])
    run(con)
    got = fired(con, "champion_gone")
    assert set(got) == {"A", "B", "C"}
    assert got["A"][0] == "Our main contact J. Smith's email bounced on 10 Jun 2026."
    assert got["B"][0] == "Our main contact J. Smith has left the company."
    assert got["C"][0] == "Our main contact J. Smith has not heard from us since 1 Mar 2026."
    assert got["A"][1]["contact_id"] == contacts["A"] and got["A"][1]["via_opportunity"] == "Deal A"


def test_renewal_only_contact(con, crm):
    for a in "ABCDE":
        crm.account(a)
        crm.opportunity(
            a, f"Renewal {a}", "Negotiation/Review", day(-60) if a != "C" else day(-200), type="Renewal"
        )
    crm.task("A", ago(150))  # stale: fires
    crm.task("B", ago(30))  # recent
    crm.task("D", ago(120))  # exactly 120 days: not older than
    crm.opportunity("E", "Renewal 2025", "Closed Won", day(100), type="Renewal")
    for d in (110, 120, 130, 140):  # 4 of 5 touches in the 90 days before the last renewal
        crm.task("E", ago(d))
    crm.task("E", ago(30))
    run(con)
    got = fired(con, "renewal_only_contact")
    assert set(got) == {"A", "E"}
    assert got["A"][0] == "Renewal on 29 Aug 2026; the last contact from the account team was on 31 Jan 2026."
    assert (
        got["E"][0]
        == "Renewal on 29 Aug 2026; 4 of 5 contacts this year came in the weeks before the last renewal."
    )
    assert got["E"][1]["pre_renewal_touches"] == 4


def test_owner_changed(con, crm):
    crm.user("005000000000002AAA", "Bea", "Chen")
    for a in "ABC":
        crm.account(a)
    crm.owner_change("A", "005000000000001AAA", "005000000000002AAA", ago(60))
    crm.owner_change("B", "005000000000001AAA", "005000000000002AAA", ago(60))
    crm.task("B", ago(10), OwnerId="005000000000002AAA")
    crm.owner_change("C", "005000000000001AAA", "005000000000002AAA", ago(200))
    run(con)
    got = fired(con, "owner_changed")
    assert set(got) == {"A"}
    assert (
        got["A"][0]
        == "Account moved from Alex Lee to Bea Chen on 1 May 2026; no contact from the new owner since."
    )


def test_owner_changed_not_scored_without_account_history(con, crm):
    crm.account("A")
    run(con)
    assert coverage(con, "owner_changed") == (
        "not_scored",
        "no AccountHistory rows (account field history not tracked or not loaded)",
    )


def test_single_threaded(con, crm):
    crm.account("A")
    crm.account("B")
    crm.account("P", type="Prospect")
    a1 = crm.contact("A")
    crm.task("A", ago(10), who=a1)
    b1, b2 = crm.contact("B"), crm.contact("B", "Tom", "Ray")
    crm.task("B", ago(10), who=b1)
    crm.task("B", ago(179), who=b2)
    run(con)
    got = fired(con, "single_threaded")
    assert set(got) == {"A"}
    assert got["A"][0] == "Only one contact (J. Smith) has heard from us in the last 180 days."


def test_broken_promise_after_sale(con, crm):
    for a in "AB":
        crm.account(a)
        crm.opportunity(a, "Fleet expansion", "Closed Won", day(50))
    crm.case("A", "00000041", ago(40), IsEscalated=True)
    crm.case("A", "00000042", ago(30), Priority="High")
    crm.case("B", "00000043", ago(40), Priority="High")  # one urgent case: below the minimum of 2
    crm.case("B", "00000044", ago(35))  # medium: not urgent
    run(con)
    got = fired(con, "broken_promise_after_sale")
    assert set(got) == {"A"}
    assert got["A"][0] == "2 urgent cases within 60 days of winning 'Fleet expansion' (closed 11 May 2026)."


def test_no_business_review(con, crm):
    crm.account("A", Key_Account__c=True)
    crm.account("B")
    crm.account("C", Key_Account__c=True)
    crm.event("A", ago(200), type="Business Review")
    crm.event("B", ago(200), type="Business Review")  # 365 days for non-key accounts
    crm.event("C", ago(180), type="Business Review")  # exactly 180 days: not yet
    run(con)
    got = fired(con, "no_business_review")
    assert set(got) == {"A"}
    assert got["A"][0] == "No business review since 12 Dec 2025."


def test_no_business_review_not_scored_without_review_events(con, crm):
    crm.account("A", Key_Account__c=True)
    crm.event("A", ago(20), type="Meeting")
    run(con)
    assert fired(con, "no_business_review") == {}
    assert coverage(con, "no_business_review") == (
        "not_scored",
        "no Event of type 'Business Review' in the org",
    )


def test_oversell_complaint(con, crm):
    for a in "AB":
        crm.account(a)
        crm.event(a, ago(40), type="Service Visit")
    crm.case("A", "00000051", ago(30), Reason="Unexpected Charges", Type="Billing")
    crm.case("B", "00000052", ago(30))
    run(con)
    got = fired(con, "oversell_complaint")
    assert set(got) == {"A"}
    assert got["A"][0] == (
        "A complaint ('Unexpected Charges', case 00000051) followed the 21 May 2026 service visit."
    )


def test_oversell_complaint_not_scored_without_service_visits(con, crm):
    crm.account("A")
    crm.case("A", "00000051", ago(30), Reason="Unexpected Charges")
    run(con)
    assert coverage(con, "oversell_complaint")[0] == "not_scored"


def test_expansion_ready(con, crm):
    for a, csat in (("A", 5.0), ("B", 2.0), ("C", None), ("D", 4.0), ("E", 5.0)):
        crm.account(a)
        for i in range(2):
            crm.case(a, f"000006{i}{a}", ago(25 + i), ago(20 + i), CSAT__c=csat)
        for first in ("Jane", "Tom"):
            crm.task(a, ago(15), who=crm.contact(a, first, "Smith"))
    crm.case("E", "00000070", ago(40), Priority="High")  # open urgent case, and aging: a real risk
    run(con)
    got = fired(con, "expansion_ready")
    assert set(got) == {"A", "D"}  # B unhappy, C no CSAT recorded, E at risk
    assert (
        got["A"][0] == "2 recent issues were resolved and followed up (satisfaction 5 of 5); no deal is open."
    )
    assert con.execute(
        "select distinct severity, points from marts.account_signals where signal_id = 'expansion_ready'"
    ).fetchall() == [("positive", 0.0)]


def test_service_inconsistency_slower_after_onboarding(con, crm):
    for a in "ABC":
        crm.account(a)
        crm.opportunity(a, "First deal", "Closed Won", day(400))
        for m in range(6):  # touched every month: no gaps
            crm.task(a, ago(15 + 30 * m))
    for i in range(3):
        crm.case("A", f"A-on-{i}", ago(390 - 10 * i), ago(389 - 10 * i))  # 1 day in onboarding
        crm.case("A", f"A-late-{i}", ago(100 - 10 * i), ago(96 - 10 * i))  # 4 days since
        crm.case("B", f"B-on-{i}", ago(390 - 10 * i), ago(389 - 10 * i))
        crm.case("B", f"B-late-{i}", ago(100 - 10 * i), ago(98.5 - 10 * i))  # 1.5 days: +50% only
        crm.case("C", f"C-on-{i}", ago(390 - 10 * i), ago(388 - 10 * i))  # 2 days
        crm.case("C", f"C-late-{i}", ago(100 - 10 * i), ago(96.5 - 10 * i))  # 3.5: +75% but < 2 days more
    run(con)
    got = fired(con, "service_inconsistency")
    assert set(got) == {"A"}
    assert got["A"][0] == "Cases took 1 day to fix in the first 3 months, 4 days since."


def test_service_inconsistency_gaps_in_contact(con, crm):
    for a in "AB":
        crm.account(a)
        crm.opportunity(a, "First deal", "Closed Won", day(400))
    for m in (0, 1, 3, 5):  # months 2 and 4 silent between touched months
        crm.task("A", ago(15 + 30 * m))
    for m in (0, 1, 3, 4, 5):  # one hole only
        crm.task("B", ago(15 + 30 * m))
    run(con)
    got = fired(con, "service_inconsistency")
    assert set(got) == {"A"}
    assert got["A"][0] == "No contact from the account team in 2 of the last 6 months."


def test_service_inconsistency_months_are_whole_days_back_from_the_as_of_date(con, crm):
    # AS_OF is at noon: a touch at 8 am sixty days ago is in month 1 (days 31-60), not month 2 (days 61-90)
    for a in "AB":
        crm.account(a)
        crm.opportunity(a, "First deal", "Closed Won", day(400))
        for m in (0, 1, 3, 5):
            crm.task(a, ago(15 + 30 * m))
    crm.task(
        "A", ago(60) - timedelta(hours=4)
    )  # day 60, before the as-of hour: month 1; months 2 and 4 stay silent
    crm.task("B", ago(61) + timedelta(hours=4))  # day 61 (whatever the hour): month 2 touched, one hole only
    run(con)
    assert set(fired(con, "service_inconsistency")) == {"A"}


def test_existing_client_neglect(con, crm):
    hunter, farmer = "005000000000002AAA", "005000000000003AAA"
    crm.user(hunter, "Hal", "Hunt")
    crm.user(farmer, "Fay", "Farm")
    crm.account("N", OwnerId=hunter)  # the hunter's customer: no touch from the owner
    crm.account("Q", type="Prospect", OwnerId=hunter)
    for i in range(6):
        crm.task("Q", ago(5 + i), OwnerId=hunter)  # ... while wooing a prospect
    for a in "ABC":
        crm.account(a, OwnerId=farmer)
        for i in range(4):
            crm.task(a, ago(5 + 10 * i), OwnerId=farmer)
    crm.account("F", OwnerId=farmer)  # the farmer's neglected customer: no prospect work
    run(con)
    got = fired(con, "existing_client_neglect")
    assert set(got) == {"N"}
    assert (
        got["N"][0]
        == "This account got 0 touches from its owner in the last 90 days; similar accounts got 4."
    )


def test_reneged_deal_dates_the_win_by_its_close_date(con, crm):
    crm.account("A")
    a = crm.opportunity("A", "Fleet expansion", "Closed Won", day(100))
    crm.history(a, "Closed Won", ago(75), close=day(100))  # the win was recorded 25 days after it closed
    crm.history(a, "Closed Won", ago(70), amount=7000.0, close=day(100))
    run(con)
    got = fired(con, "reneged_deal")
    assert got["A"][0] == "'Fleet expansion' was won on 22 Mar 2026, then reduced by 30% on 21 Apr 2026."


def test_oversell_complaint_quotes_the_case_subject(con, crm):
    crm.account("A")
    crm.event("A", ago(40), type="Service Visit")
    crm.case("A", "00000053", ago(30), Reason="Feedback", Subject="Charged for a module we never asked for")
    run(con)
    got = fired(con, "oversell_complaint")
    assert got["A"][0] == (
        "A complaint ('Charged for a module we never asked for', case 00000053) followed the 21 May 2026 "
        "service visit."
    )
