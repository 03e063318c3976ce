"""Time moves: `advance(org, days, rng_seed)` plays N days of business through the org's public write API.

Each day the org clock moves one day, then customers open cases, agents work, escalate and close them (often
with a follow-up call), reps call and email contacts, hold a business review, complete due tasks, open renewals
120 days before an anniversary and move deals (renewals close won or lost on it), a contact bounces or leaves,
an account changes owner, a task is deleted.
Every change goes through `Org.create/update/delete` under the acting user, so system stamps, derived fields and
history rows come from the org itself. Rates scale with the number of customer accounts; the same seed on the
same org state gives the same changes.
"""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from typing import TYPE_CHECKING

from simulator.generator.history import anniversary
from simulator.generator.profile import CLEAN_ISSUES, COMPLAINT_ISSUES, p_lost
from simulator.generator.snapshot import Snapshot, load
from simulator.org.schema import OPPORTUNITY_STAGES

if TYPE_CHECKING:
    from simulator.org.store import Org

__all__ = ["KINDS", "advance"]

KINDS = (
    "days",
    "cases_created",
    "cases_escalated",
    "cases_closed",
    "tasks_created",
    "tasks_completed",
    "events_created",
    "opportunities_created",
    "opportunities_moved",
    "opportunities_won",
    "opportunities_lost",
    "opportunities_pushed",
    "contacts_bounced",
    "contacts_left",
    "owners_changed",
    "records_deleted",
)
_OPEN_STAGES = [s for s, (_, closed, _, _) in OPPORTUNITY_STAGES.items() if not closed]
_BOUNCE = "550 5.1.1 The email account that you tried to reach does not exist"


def _poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth; lam stays small here)."""
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def advance(org: Org, days: int, rng_seed: int) -> dict[str, int]:
    """Move the org `days` days forward, one day at a time, and return how many changes of each kind were made."""
    rng = random.Random(rng_seed)
    st = load(org)
    counts = dict.fromkeys(KINDS, 0)
    for _ in range(days):
        org.clock.advance(1)
        _day(org, st, rng, counts)
        counts["days"] += 1
    return counts


def _touch(
    org: Org,
    st: Snapshot,
    rng: random.Random,
    account: str,
    who: str | None,
    user: str,
    today: date,
    subject: str,
    what: str | None = None,
) -> None:
    typ = "Call" if rng.random() < 0.6 else "Email"
    tid = org.create(
        "Task",
        {
            "WhatId": what or account,
            "WhoId": who,
            "Subject": subject,
            "Type": typ,
            "Status": "Completed",
            "ActivityDate": today,
            "OwnerId": user,
        },
        user_id=user,
    )
    st.done.append(tid)


def _day(org: Org, st: Snapshot, rng: random.Random, counts: dict[str, int]) -> None:
    """One day of business."""
    today = org.clock.today()
    n = len(st.accounts)
    if not n:
        return
    for _ in range(_poisson(rng, n / 150)):
        account, _owner = st.accounts[rng.randrange(n)]
        people: list[str | None] = [*st.contacts.get(account, [])] or [None]
        contact = people[rng.randrange(len(people))]
        agent = st.agents[rng.randrange(len(st.agents))]
        issue = rng.choice(CLEAN_ISSUES) if rng.random() < 0.95 else rng.choice(COMPLAINT_ISSUES)
        high = rng.random() < 0.1
        cid = org.create(
            "Case",
            {
                "AccountId": account,
                "ContactId": contact,
                "Status": "New",
                "Priority": "High" if high else rng.choice(("Medium", "Low")),
                "Origin": rng.choice(("Phone", "Email", "Web")),
                "Type": issue[0],
                "Reason": issue[1],
                "Subject": issue[2],
                "OwnerId": agent,
            },
            user_id=agent,
        )
        st.cases.append(
            {
                "Id": cid,
                "AccountId": account,
                "ContactId": contact,
                "Priority": "High" if high else "",
                "IsEscalated": False,
                "created": today,
            }
        )
        counts["cases_created"] += 1
    for case in list(st.cases):
        age = (today - case["created"]).days
        agent = st.agents[rng.randrange(len(st.agents))]
        if not case["IsEscalated"] and rng.random() < 0.03:
            org.update("Case", case["Id"], {"IsEscalated": True, "Status": "Escalated"}, user_id=agent)
            case["IsEscalated"] = True
            counts["cases_escalated"] += 1
        elif age >= 1 and rng.random() < (0.35 if age < 20 else 0.02):  # old stuck cases stay stuck
            data: dict = {"Status": "Closed"}
            if rng.random() < 0.4:
                data["CSAT__c"] = float(rng.choice((2, 3, 4, 4, 5, 5)))
            org.update("Case", case["Id"], data, user_id=agent)
            st.cases.remove(case)
            counts["cases_closed"] += 1
            if rng.random() < 0.6:
                owner = st.owner.get(case["AccountId"], agent)
                _touch(
                    org,
                    st,
                    rng,
                    case["AccountId"],
                    case["ContactId"],
                    owner,
                    today,
                    "Follow-up: did everything go as expected?",
                    what=case["Id"],
                )
                counts["tasks_created"] += 1
    for _ in range(_poisson(rng, n / 80)):
        account, _ = st.accounts[rng.randrange(n)]
        people = [*st.contacts.get(account, [])] or [None]
        _touch(
            org,
            st,
            rng,
            account,
            people[rng.randrange(len(people))],
            st.owner[account],
            today,
            "Check-in call",
        )
        counts["tasks_created"] += 1
    if rng.random() < min(1.0, n / 1500):
        account, _ = st.accounts[rng.randrange(n)]
        people = [*st.contacts.get(account, [])] or [None]
        start = org.clock.now().replace(hour=14, minute=0, second=0, microsecond=0)
        org.create(
            "Event",
            {
                "WhatId": account,
                "WhoId": people[0],
                "Type": "Business Review",
                "Subject": "Quarterly Business Review",
                "ActivityDateTime": start,
                "StartDateTime": start,
                "EndDateTime": start + timedelta(hours=1),
                "DurationInMinutes": 60,
                "ActivityDate": today,
                "OwnerId": st.owner[account],
            },
            user_id=st.owner[account],
        )
        counts["events_created"] += 1
    for task in list(st.tasks):
        if task[1] <= today and rng.random() < 0.5:
            org.update("Task", task[0], {"Status": "Completed"})
            st.tasks.remove(task)
            st.done.append(task[0])
            counts["tasks_completed"] += 1
    _deals(org, st, rng, counts, today)
    _people(org, st, rng, counts)


def _deals(org: Org, st: Snapshot, rng: random.Random, counts: dict[str, int], today: date) -> None:
    """Renewals open 120 days before an anniversary and close on it (ground-truth outcome, else from health);
    other deals move a stage, close from the last stage or slip."""
    for account, (start, amount, name) in st.contract.items():
        if account in st.renewing:
            continue
        years = today.year - start.year + 1
        due = anniversary(start, years - 1)
        due = due if due > today else anniversary(start, years)
        if 0 < (due - today).days <= 120:
            oid = org.create(
                "Opportunity",
                {
                    "AccountId": account,
                    "Name": f"{name} - Renewal {due.year}",
                    "StageName": "Qualification",
                    "CloseDate": due,
                    "Type": "Renewal",
                    "Amount": amount,
                    "OwnerId": st.owner[account],
                },
                user_id=st.owner[account],
            )
            st.opps.append(
                {
                    "Id": oid,
                    "StageName": "Qualification",
                    "Type": "Renewal",
                    "AccountId": account,
                    "close": due,
                }
            )
            st.renewing.add(account)
            counts["opportunities_created"] += 1
    for opp in list(st.opps):
        i = _OPEN_STAGES.index(opp["StageName"]) if opp["StageName"] in _OPEN_STAGES else 0
        if opp["Type"] == "Renewal" and opp["close"] <= today:
            lost = p_lost(st.health[opp["AccountId"]]) if opp["AccountId"] in st.health else 0.15
            won = st.outcomes.get(opp["Id"], "won" if rng.random() >= lost else "lost") == "won"
            org.update("Opportunity", opp["Id"], {"StageName": "Closed Won" if won else "Closed Lost"})
            st.opps.remove(opp)
            st.renewing.discard(opp.get("AccountId", ""))
            counts["opportunities_won" if won else "opportunities_lost"] += 1
        elif rng.random() < 0.02 and i + 1 < len(_OPEN_STAGES):
            opp["StageName"] = _OPEN_STAGES[i + 1]
            org.update("Opportunity", opp["Id"], {"StageName": opp["StageName"]})
            counts["opportunities_moved"] += 1
        elif opp["Type"] != "Renewal" and i + 1 == len(_OPEN_STAGES) and rng.random() < 0.1:
            won = rng.random() < 0.7
            org.update(
                "Opportunity",
                opp["Id"],
                {"StageName": "Closed Won" if won else "Closed Lost", "CloseDate": today},
            )
            st.opps.remove(opp)
            counts["opportunities_won" if won else "opportunities_lost"] += 1
        elif opp["Type"] != "Renewal" and opp["close"] < today:
            opp["close"] = today + timedelta(days=30)
            org.update("Opportunity", opp["Id"], {"CloseDate": opp["close"]})
            counts["opportunities_pushed"] += 1


def _people(org: Org, st: Snapshot, rng: random.Random, counts: dict[str, int]) -> None:
    """Contacts bounce or leave, accounts change hands, a task gets deleted."""
    if rng.random() < 0.3:
        account, _ = st.accounts[rng.randrange(len(st.accounts))]
        people = st.contacts.get(account) or []
        if people:
            contact = people.pop(rng.randrange(len(people)))
            if rng.random() < 0.5:
                org.update(
                    "Contact", contact, {"EmailBouncedDate": org.clock.now(), "EmailBouncedReason": _BOUNCE}
                )
                counts["contacts_bounced"] += 1
            else:
                org.update("Contact", contact, {"Left_Company__c": True})
                counts["contacts_left"] += 1
    if rng.random() < 0.15 and len(st.reps) > 1:
        account, _ = st.accounts[rng.randrange(len(st.accounts))]
        new = rng.choice([r for r in st.reps if r != st.owner[account]])
        org.update("Account", account, {"OwnerId": new})
        st.owner[account] = new
        counts["owners_changed"] += 1
    if rng.random() < 0.2 and st.done:
        org.delete("Task", st.done.pop(rng.randrange(len(st.done))))
        counts["records_deleted"] += 1
