"""Mitigated firings: a signal still shows, one severity down, when the data says the risk is already handled.

champion_gone is mitigated while the account team talks to enough other (reachable) contacts there, and clears once
a new contact added around the loss has been engaged; no_follow_up_after_fix is mitigated when the customer rated
every fix well. A mitigated high signal no longer makes the account Red nor opens an owner Task, and an open Task
stays open while its signal is only mitigated.
"""

from __future__ import annotations

from tests.transforms.helpers import ago, day, fired, run
from tests.transforms.helpers import view_rows as rows


def severity(con, signal_id: str) -> dict[str, str]:
    rows = con.execute(
        "select account_id, severity from marts.account_signals where signal_id = ?", [signal_id]
    ).fetchall()
    return dict(rows)


def levels(con) -> dict[str, str]:
    return dict(con.execute("select account_id, level from marts.account_risk").fetchall())


def _left_champion(crm, account: str, others: int) -> str:
    """A customer whose main contact left 5 days ago; `others` other contacts touched in the last 180 days."""
    crm.account(account)
    champion = crm.contact(account, Left_Company__c=True, SystemModstamp=ago(5))
    opp = crm.opportunity(account, f"Deal {account}", "Closed Won", day(200))
    crm.role(opp, champion)
    crm.task(account, ago(6), who=champion)
    for i in range(others):
        other = crm.contact(account, first=f"Other{i}", last="Person", CreatedDate=ago(900))
        crm.task(account, ago(20 + i), who=other)
    return champion


def test_champion_gone_is_mitigated_by_other_engaged_contacts(con, crm):
    _left_champion(crm, "A", others=2)  # below mitigating_contacts = 3: high
    _left_champion(crm, "B", others=3)  # exactly 3: mitigated
    _left_champion(crm, "C", others=4)
    run(con)
    got = fired(con, "champion_gone")
    assert set(got) == {"A", "B", "C"}
    assert severity(con, "champion_gone") == {"A": "high", "B": "medium", "C": "medium"}
    assert got["A"][0] == "Our main contact J. Smith has left the company."
    assert got["B"][0] == (
        "Our main contact J. Smith has left the company. We are still in touch with at least 3 other contacts there."
    )
    assert got["C"][0] == got["B"][0]  # the threshold, not the count: the text does not move with the window
    assert got["C"][1]["other_contacts_engaged"] == 4
    assert levels(con)["A"] == "Red"
    assert levels(con)["B"] != "Red"  # a medium signal: 35 points, Amber


def test_contacts_touched_long_ago_do_not_mitigate(con, crm):
    crm.account("A")
    champion = crm.contact("A", Left_Company__c=True, SystemModstamp=ago(5))
    crm.role(crm.opportunity("A", "Deal A", "Closed Won", day(200)), champion)
    for i in range(3):
        other = crm.contact("A", first=f"Other{i}", last="Person", CreatedDate=ago(900))
        crm.task("A", ago(181 + i), who=other)  # outside mitigation_window_days = 180
    run(con)
    assert severity(con, "champion_gone") == {"A": "high"}


def test_contacts_who_left_or_bounced_do_not_mitigate(con, crm):
    crm.account("A")
    champion = crm.contact("A", Left_Company__c=True, SystemModstamp=ago(5))
    crm.role(crm.opportunity("A", "Deal A", "Closed Won", day(200)), champion)
    gone = [
        crm.contact("A", first="Left", last="One", Left_Company__c=True, SystemModstamp=ago(2)),
        crm.contact("A", first="Bounced", last="Two", IsEmailBounced=True, EmailBouncedDate=ago(3)),
        crm.contact("A", first="Still", last="Three"),
    ]
    for i, c in enumerate(gone):
        crm.task("A", ago(20 + i), who=c)
    run(con)
    assert severity(con, "champion_gone") == {"A": "high"}
    assert fired(con, "champion_gone")["A"][1]["other_contacts_engaged"] == 1


def test_champion_gone_clears_once_a_new_contact_is_engaged(con, crm):
    for a in "ABC":
        crm.account(a)
        champion = crm.contact(a, IsEmailBounced=True, EmailBouncedDate=ago(40))
        crm.role(crm.opportunity(a, f"Deal {a}", "Closed Won", day(200)), champion)
        crm.task(a, ago(41), who=champion)
    new_a = crm.contact("A", first="Nina", last="New", CreatedDate=ago(20))
    crm.task(
        "A", ago(10), who=new_a
    )  # added after the bounce and engaged: the rep found the new decision maker
    crm.contact("B", first="Nina", last="New", CreatedDate=ago(20))  # added, never touched: still gone
    old_c = crm.contact("C", first="Olga", last="Old", CreatedDate=ago(300))
    crm.task("C", ago(10), who=old_c)  # an existing contact is not a replacement
    # D: the rep added the successor first (a handover), then marked the old contact as left
    crm.account("D")
    old_d = crm.contact("D", Left_Company__c=True, SystemModstamp=ago(5))
    crm.role(crm.opportunity("D", "Deal D", "Closed Won", day(200)), old_d)
    crm.task("D", ago(30), who=old_d)
    successor = crm.contact("D", first="Sam", last="Successor", CreatedDate=ago(30))
    crm.task("D", ago(25), who=successor)
    run(con)
    assert set(fired(con, "champion_gone")) == {"B", "C"}


def test_no_follow_up_is_mitigated_by_a_good_rating(con, crm):
    for a, csat in {"A": 4.0, "B": 3.0, "C": None, "D": 5.0, "E": 5.0, "F": 5.0}.items():
        crm.account(a)
        crm.case(a, f"0000009{ord(a) - 64}", ago(20), ago(10), Priority="High", CSAT__c=csat)
    crm.case("D", "00000099", ago(30), ago(12), IsEscalated=True, CSAT__c=2.0)  # a second, badly rated
    crm.case("E", "00000098", ago(30), ago(12), IsEscalated=True)  # a second, not rated: answers nothing
    crm.case("F", "00000097", ago(30), ago(12), IsEscalated=True, CSAT__c=4.0)  # a second, rated well
    run(con)
    got = fired(con, "no_follow_up_after_fix")
    assert set(got) == {"A", "B", "C", "D", "E", "F"}
    assert severity(con, "no_follow_up_after_fix") == {
        "A": "medium",
        "B": "high",
        "C": "high",
        "D": "high",
        "E": "high",
        "F": "medium",
    }
    assert got["F"][0].endswith("The customer rated each fix at least 4 of 5.")
    assert got["A"][0] == (
        "High-priority case 00000091 was closed on 20 Jun 2026; nobody from the account team followed up. "
        "The customer rated the fix 4 of 5."
    )
    assert got["B"][0].endswith("nobody from the account team followed up.")
    assert got["D"][1]["csat"] == [5.0, 2.0]


def test_an_open_task_stays_open_while_its_signal_is_only_mitigated(con, crm):
    _left_champion(crm, "A", others=2)
    run(con, run_id="run-1")
    assert [t["Risk_Task_Key__c"] for t in rows(con, "sync.owner_task_pending")] == ["A:champion_gone:1"]
    con.execute(
        "insert into sync.owner_tasks (task_key, account_id, signal_id, episode, state, task_id, payload) "
        "values ('A:champion_gone:1', 'A', 'champion_gone', 1, 'open', '00T000000000009AAA', '{}')"
    )
    crm.add(
        "task",
        Id="00T000000000009AAA",
        AccountId="A",
        WhatId="A",
        Status="Not Started",
        IsClosed=False,
        Description="Original text.",
        OwnerId="005000000000001AAA",
    )
    other = crm.contact("A", first="Third", last="Person", CreatedDate=ago(900))
    crm.task("A", ago(3), who=other)  # a third other contact engaged: the loss is mitigated, not gone
    run(con, run_id="run-2")
    assert severity(con, "champion_gone") == {"A": "medium"}
    assert rows(con, "sync.owner_task_close") == []  # still firing: the Task stays
    assert rows(con, "sync.owner_task_pending") == []
    # the rep finds the successor: the signal clears, and only then is the Task closed
    successor = crm.contact("A", first="Sam", last="Successor", CreatedDate=ago(2))
    crm.task("A", ago(1), who=successor)
    run(con, run_id="run-3")
    assert fired(con, "champion_gone") == {}
    close = rows(con, "sync.owner_task_close")
    assert [(c["Id"], c["Status"]) for c in close] == [("00T000000000009AAA", "Completed")]
    assert (
        "Signal cleared on 30 Jun 2026: our main contact is gone no longer applies" in close[0]["Description"]
    )
