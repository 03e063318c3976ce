"""Planted scenarios: one clean, steady account per plant with exactly one relationship defect added on top.

Each signal of shared/reference/risk-signals.md has a `configure` step (run before the account's history is
generated: renewal timing, key account, customer yardstick, owners) and an `apply` step (run on the generated
rows before they are flushed: add cases / deals / visits, remove or re-point touches). Dates keep wide margins
around the catalogue defaults (an aging case is 45 days old, not 31). Controls get the steady history only.
docs/simulator-org.md lists what each plant contains.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from simulator.generator.base import Builder
from simulator.generator.history import anniversary
from simulator.generator.profile import CLEAN_ISSUES, COMPLAINT_ISSUES, Plan, State, Team

__all__ = ["SIGNALS", "apply", "configure", "configure_control", "finish_control"]

SIGNALS: tuple[str, ...] = (
    "repeat_issue",
    "no_follow_up_after_fix",
    "missed_customer_yardstick",
    "escalation_load",
    "case_spike",
    "aging_open_cases",
    "broken_promise_after_sale",
    "reneged_deal",
    "oversell_complaint",
    "single_threaded",
    "champion_gone",
    "owner_changed",
    "renewal_only_contact",
    "no_business_review",
    "service_inconsistency",
    "existing_client_neglect",
    "expansion_ready",
)
_FOLLOW = "Follow-up: did everything go as expected?"


def _set_renewal(b: Builder, plan: Plan, days_ahead: int, years: int) -> None:
    """Place the first win so that the next contract anniversary is `days_ahead` days from today."""
    plan.first_win = b.offset(anniversary(b.day(days_ahead), -years))


def configure_control(b: Builder, plan: Plan) -> None:
    """Controls: current customers, anniversary 40-110 days out (so an open renewal exists), yardstick set."""
    rng = plan.rng
    _set_renewal(b, plan, rng.randint(40, 110), rng.choice((1, 2)))
    plan.expected = float(rng.randint(3, 7))
    plan.key = plan.index % 3 == 0
    plan.force_won = True


def configure(b: Builder, plan: Plan, team: Team) -> None:
    """Set the plan of a planted account for its signal (plan.signal) before its history is generated."""
    rng, sig = plan.rng, plan.signal
    plan.force_won = True
    plan.key = rng.random() < 0.15
    plan.expected = float(rng.randint(3, 7)) if rng.random() < 0.6 else None
    ahead = rng.randint(30, 330)
    if sig == "missed_customer_yardstick":
        plan.expected = 2.0
    elif sig == "owner_changed":
        ahead = rng.randint(85, 110)
        old = plan.owner
        plan.owner = (
            team.reps[(team.reps.index(old) + 1) % len(team.reps)] if old in team.reps else team.reps[0]
        )
        plan.owners = [(-60, old)]
    elif sig == "renewal_only_contact":
        ahead = 45 if plan.variant % 2 == 0 else 60
    elif sig == "no_business_review":
        plan.key = plan.variant % 2 == 0
    elif sig == "existing_client_neglect":
        plan.owner = team.hunters[plan.index % len(team.hunters)]
    elif sig == "expansion_ready":
        ahead = rng.randint(190, 300)
    _set_renewal(b, plan, ahead, 2)


def finish_control(b: Builder, st: State, plan: Plan) -> None:
    """Controls: a call with the champion a few days ago, logged that day (a recent log that is a recent call)."""
    o = -plan.rng.randint(3, 9)
    b.task(st.account["Id"], None, st.champion["Id"], plan.owner, o, 630, "Check-in call", "Call")


# -- helpers -------------------------------------------------------------------------------------------------
def _logged(b: Builder, st: State, plan: Plan, o: int, logged: int, subject: str) -> dict:
    """A call with the champion on day `o` that the owner logged only on day `logged` (a back-dated log)."""
    r = b.task(st.account["Id"], None, st.champion["Id"], plan.owner, o, 600, subject, "Call")
    saved = b.at(logged, 1000)
    r["CreatedDate"] = r["CompletedDateTime"] = r["LastModifiedDate"] = r["SystemModstamp"] = saved
    return r


def _touches(b: Builder, st: State) -> list[dict]:
    """Completed tasks and past events of the account (what the catalogue calls touches)."""
    return [r for r in st.rows["Task"] if r["IsClosed"]] + [
        r for r in st.rows["Event"] if r["ActivityDate"] < b.today
    ]


def _drop_touches(
    b: Builder, st: State, lo: int, hi: int, pred: Callable[[dict], bool] | None = None
) -> None:
    """Remove touches dated between day `lo` and day `hi` (inclusive) that match `pred`."""
    d_lo, d_hi = b.day(lo), b.day(hi)
    for obj in ("Task", "Event"):
        st.rows[obj] = [
            r
            for r in st.rows[obj]
            if not (
                (obj == "Event" or r["IsClosed"])
                and d_lo <= r["ActivityDate"] <= d_hi
                and (pred is None or pred(r))
            )
        ]


def _case(
    b: Builder,
    st: State,
    plan: Plan,
    o: int,
    res: float | None,
    issue: tuple[str, str, str],
    *,
    high: bool = False,
    esc: bool = False,
    follow: int | None = 1,
    csat: int | None = None,
    status: str | None = None,
) -> dict:
    """Add a case opened on day `o` at 10:00, closed `res` days later (None = still open), optionally followed up."""
    created = b.at(o, 600)
    closed = None if res is None else created + timedelta(days=res)
    vals: dict = {
        "Priority": "High" if high else "Medium",
        "Origin": "Phone",
        "Type": issue[0],
        "Reason": issue[1],
        "Subject": issue[2],
        "IsEscalated": esc,
    }
    if status:
        vals["Status"] = status
    if csat is not None:
        vals["CSAT__c"] = float(csat)
    case = b.case(st.account, st.champion, plan.agent, created, closed, vals)
    if closed is not None and follow is not None:
        fu = b.offset(closed.date()) + follow
        b.task(st.account["Id"], case["Id"], st.champion["Id"], plan.owner, fu, 660, _FOLLOW, "Call")
    return case


def _deal(b: Builder, st: State, plan: Plan, steps: list[tuple[int, int, str, float, int]]) -> dict:
    """Add an expansion opportunity with the champion as primary contact."""
    opp = b.opportunity(
        st.account, f"{st.account['Name']} - Fleet expansion", "Existing Business", plan.owner, steps
    )
    b.contact_role(opp, st.champion, "Economic Buyer", True)
    return opp


def _repoint(b: Builder, st: State, since: int, frm: dict, to: dict) -> None:
    """Move every touch with contact `frm` on or after day `since`, and every meeting booked with them, to `to`."""
    d = b.day(since)
    # scheduled events too: a review booked for today at 10:00 has been held by the as-of time of a run at noon
    for r in [r for r in st.rows["Task"] if r["IsClosed"]] + st.rows["Event"]:
        if r["WhoId"] == frm["Id"] and r["ActivityDate"] >= d:
            r["WhoId"] = to["Id"]


# -- plants --------------------------------------------------------------------------------------------------
def _repeat_issue(b: Builder, st: State, plan: Plan) -> None:
    issue = CLEAN_ISSUES[plan.variant % len(CLEAN_ISSUES)]
    for o, res in ((-80, 3.0), (-70, 4.0), (-58, 3.0)):  # each comes back 7-8 days after the previous fix
        _case(b, st, plan, o, res, (issue[0], issue[1], "Same problem again: " + issue[2]))


def _no_follow_up_after_fix(b: Builder, st: State, plan: Plan) -> None:
    _case(b, st, plan, -30, 10.0, CLEAN_ISSUES[0], high=True, esc=True, follow=None)  # closed day -20
    _drop_touches(b, st, -21, -10)


def _missed_customer_yardstick(b: Builder, st: State, plan: Plan) -> None:
    # The customer expects 2 days; 3 of 5 cases take 4.5-6 days (inside a 7-day internal target).
    for i, (o, res) in enumerate(((-88, 5.5), (-70, 1.0), (-52, 6.0), (-36, 4.5), (-20, 0.8))):
        _case(b, st, plan, o, res, CLEAN_ISSUES[(i + 1) % len(CLEAN_ISSUES)])


def _escalation_load(b: Builder, st: State, plan: Plan) -> None:
    for i, o in enumerate((-75, -42, -12)):
        _case(b, st, plan, o, 2.0, CLEAN_ISSUES[i + 2], high=True, esc=i != 1)


def _case_spike(b: Builder, st: State, plan: Plan) -> None:
    for i, o in enumerate((-27, -22, -17, -12, -8, -4)):
        _case(b, st, plan, o, 1.5, CLEAN_ISSUES[i % len(CLEAN_ISSUES)])


def _aging_open_cases(b: Builder, st: State, plan: Plan) -> None:
    o, high, status = ((-45, False, "Working"), (-25, True, "On Hold"), (-60, False, "New"))[plan.variant % 3]
    _case(b, st, plan, o, None, CLEAN_ISSUES[plan.variant % len(CLEAN_ISSUES)], high=high, status=status)


def _broken_promise_after_sale(b: Builder, st: State, plan: Plan) -> None:
    amt = 40_000.0
    _deal(
        b,
        st,
        plan,
        [
            (-100, 600, "Qualification", amt, -55),
            (-75, 600, "Proposal/Price Quote", amt, -55),
            (-55, 900, "Closed Won", amt, -55),
        ],
    )
    _case(b, st, plan, -45, 2.0, ("Electrical", "Installation", "New line not working as sold"), high=True)
    _case(
        b,
        st,
        plan,
        -28,
        3.0,
        ("Mechanical", "Performance", "Expansion units underperform"),
        high=True,
        esc=True,
    )


def _reneged_deal(b: Builder, st: State, plan: Plan) -> None:
    amt = 60_000.0
    steps = [
        (-160, 600, "Qualification", amt, -120),
        (-140, 600, "Proposal/Price Quote", amt, -120),
        (-120, 900, "Closed Won", amt, -120),
    ]
    v = plan.variant % 3
    if v == 0:
        steps.append((-95, 900, "Closed Won", 39_000.0, -120))  # cut by 35% after the win
    elif v == 1:
        steps += [(-100, 900, "Negotiation/Review", amt, -60), (-80, 900, "Closed Lost", amt, -80)]  # un-won
    else:
        steps.append((-90, 900, "Closed Won", amt, -30))  # close date moved after the win
    _deal(b, st, plan, steps)


def _oversell_complaint(b: Builder, st: State, plan: Plan) -> None:
    b.event(
        st.account["Id"],
        None,
        st.champion["Id"],
        plan.agent,
        -40,
        540,
        120,
        "Service Visit",
        "On-site service visit",
    )
    _case(b, st, plan, -33, 3.0, COMPLAINT_ISSUES[plan.variant % 2])


def _single_threaded(b: Builder, st: State, plan: Plan) -> None:
    d = b.day(-185)
    for obj in ("Task", "Event"):
        for r in st.rows[obj]:
            if r["ActivityDate"] >= d:
                r["WhoId"] = st.champion["Id"]


def _champion_gone(b: Builder, st: State, plan: Plan) -> None:
    ch, other = st.champion, st.contacts[1]
    v = plan.variant % 3
    if v == 0:
        ch["Left_Company__c"] = True
        Builder.touch(ch, -40, plan.owner, b)
        _repoint(b, st, -40, ch, other)
    elif v == 1:
        ch["IsEmailBounced"] = True
        ch["EmailBouncedDate"] = b.at(-30, 420)
        ch["EmailBouncedReason"] = "550 5.1.1 The email account that you tried to reach does not exist"
        Builder.touch(ch, -30, plan.owner, b)
        _repoint(b, st, -30, ch, other)
    else:
        _repoint(b, st, -150, ch, other)  # nobody has spoken to the champion for 150 days ...
        _logged(b, st, plan, -170, -4, "Call: plans for next year")  # ... the last call, logged this week


def _owner_changed(b: Builder, st: State, plan: Plan) -> None:
    # The new owner (since day -60) has not touched the account; the agent kept things going.
    for r in _touches(b, st):
        if r["OwnerId"] == plan.owner and r["ActivityDate"] >= b.day(-60):
            r["OwnerId"] = r["CreatedById"] = plan.agent
            if "LastModifiedById" in r:
                r["LastModifiedById"] = plan.agent


def _renewal_only_contact(b: Builder, st: State, plan: Plan) -> None:
    if plan.variant % 2 == 0:
        _drop_touches(b, st, -150, -1)  # renewal in 45 days, last touch 5 months ago ...
        _logged(b, st, plan, -160, -3, "Call: catch-up")  # ... and the rep logged that call only this week
        return
    last = max(b.offset(date.fromisoformat(r["close_date"])) for r in st.renewals if not r["is_open"])
    _drop_touches(b, st, last + 1, -1)
    for i in range(6):  # the burst before the last renewal
        o = last - 5 - 8 * i
        b.task(st.account["Id"], None, st.champion["Id"], plan.owner, o, 600, "Call: renewal", "Call")
    b.task(st.account["Id"], None, st.champion["Id"], plan.owner, -200, 600, "Check-in call", "Call")
    _logged(b, st, plan, -100, -2, "Check-in call")  # the last touch, logged three months late


def _no_business_review(b: Builder, st: State, plan: Plan) -> None:
    since = -250 if plan.key else -420
    st.rows["Event"] = [
        r
        for r in st.rows["Event"]
        if not (r["Type"] == "Business Review" and r["ActivityDate"] >= b.day(since))
    ]


def _service_inconsistency(b: Builder, st: State, plan: Plan) -> None:
    if plan.variant % 2 == 1:
        # the third and fifth 30-day months back, two days wider on each side: a call dated by the instant it was
        # saved (a capture batch at 02:00 the next night) stays out of the silent month
        _drop_touches(b, st, -92, -59)
        _drop_touches(b, st, -152, -119)
        return
    # Onboarding cases fixed in a day; later ones take 4.5 days.
    onboarding_end = b.at(plan.first_win + 90, 0)
    for r in st.rows["Case"]:
        if r["ClosedDate"] is None:
            continue
        res = 1.0 if r["CreatedDate"] < onboarding_end else 4.5
        closed = r["CreatedDate"] + timedelta(days=res)
        if closed < b.latest:
            r["ClosedDate"] = r["LastModifiedDate"] = r["SystemModstamp"] = closed


def _existing_client_neglect(b: Builder, st: State, plan: Plan) -> None:
    for r in _touches(b, st):
        if r["OwnerId"] == plan.owner and r["ActivityDate"] >= b.day(-100):
            r["OwnerId"] = r["CreatedById"] = plan.agent
            if "LastModifiedById" in r:
                r["LastModifiedById"] = plan.agent


def _expansion_ready(b: Builder, st: State, plan: Plan) -> None:
    recent = b.at(-12, 0)
    gone = {r["Id"] for r in st.rows["Case"] if r["CreatedDate"] >= recent or not r["IsClosed"]}
    st.rows["Case"] = [r for r in st.rows["Case"] if r["Id"] not in gone]
    st.rows["Task"] = [r for r in st.rows["Task"] if r["WhatId"] not in gone]
    _case(b, st, plan, -60, 1.5, CLEAN_ISSUES[1], csat=5)
    _case(b, st, plan, -25, 1.0, CLEAN_ISSUES[4], csat=5)


_PLANTS: dict[str, Callable[[Builder, State, Plan], None]] = {
    "repeat_issue": _repeat_issue,
    "no_follow_up_after_fix": _no_follow_up_after_fix,
    "missed_customer_yardstick": _missed_customer_yardstick,
    "escalation_load": _escalation_load,
    "case_spike": _case_spike,
    "aging_open_cases": _aging_open_cases,
    "broken_promise_after_sale": _broken_promise_after_sale,
    "reneged_deal": _reneged_deal,
    "oversell_complaint": _oversell_complaint,
    "single_threaded": _single_threaded,
    "champion_gone": _champion_gone,
    "owner_changed": _owner_changed,
    "renewal_only_contact": _renewal_only_contact,
    "no_business_review": _no_business_review,
    "service_inconsistency": _service_inconsistency,
    "existing_client_neglect": _existing_client_neglect,
    "expansion_ready": _expansion_ready,
}


def apply(b: Builder, st: State, plan: Plan) -> None:
    """Plant the defect of plan.signal into the account's generated rows (before they are flushed)."""
    _PLANTS[plan.signal or ""](b, st, plan)
