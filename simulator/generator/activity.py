"""What happens around a customer's deals: touches, business reviews, service visits, cases, and the close-out
(open work, owner changes, churn). Each phase continues the account's random stream where the last one stopped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from simulator.generator.base import Builder
from simulator.generator.history import CustomerHistory, owner_at
from simulator.generator.profile import CLEAN_ISSUES, COMPLAINT_ISSUES, ISSUES

__all__ = ["cases", "close_out", "reviews_and_visits", "touches"]

_CALLS = (
    "Check-in call",
    "Call: how is the service going?",
    "Call about upcoming maintenance",
    "Quarterly check-in",
)
_CASE_SEASON = {1: 0.75, 2: 0.8, 8: 1.3, 12: 1.3}
_EMAILS = (
    "Email: service report",
    "Email: meeting notes",
    "Email: maintenance plan",
    "Email: invoice question",
)


def touches(hist: CustomerHistory) -> None:
    """Calls, emails and meetings by the owner (or the service agent) with the engaged contacts."""
    b, plan, rng, p = hist.b, hist.plan, hist.rng, hist.profile
    acct, contacts, fw, t_end = hist.acct, hist.contacts, plan.first_win, hist.t_end
    active, what = hist.active, hist.what
    o = hist.first_deal + rng.randint(2, 6)
    turn = 0
    while o < t_end:
        if o < fw:
            ci, gap = 0, float(rng.randint(6, 12))
        else:
            pool = active(o, hist.engaged) or active(o, list(range(len(contacts))))
            if not pool:
                break
            if p.steady:
                ci = pool[turn % len(pool)]
                turn += 1
                gap = rng.uniform(10.0, 16.0) * (0.7 if o < fw + 90 else 1.0)
            else:
                ch = hist.champion(o)
                ci = ch if ch in pool and rng.random() < 0.5 else rng.choice(pool)
                mean = p.touch_gap / (2.5 if o < fw + 90 else 1.0)
                if any(a - 60 <= o < a for a in hist.anniversaries):
                    mean /= p.renewal_burst
                gap = rng.expovariate(1.0 / mean)
            gap *= 1.25 if b.day(o).month in (7, 8, 12) else 1.0
        who = owner_at(plan, o) if o < fw or rng.random() < p.owner_share else plan.agent
        r = rng.random()
        if r < 0.5:
            b.task(
                acct["Id"],
                what(o),
                contacts[ci]["Id"],
                who,
                o,
                rng.randint(480, 1020),
                rng.choice(_CALLS),
                "Call",
            )
        elif r < 0.88:
            b.task(
                acct["Id"],
                what(o),
                contacts[ci]["Id"],
                who,
                o,
                rng.randint(480, 1020),
                rng.choice(_EMAILS),
                "Email",
            )
        else:
            b.event(
                acct["Id"],
                what(o),
                contacts[ci]["Id"],
                who,
                o,
                rng.randint(480, 960),
                45,
                "Meeting",
                f"Meeting with {contacts[ci]['FirstName']}",
            )
        o += max(1, int(gap + 0.5))


def reviews_and_visits(hist: CustomerHistory) -> list[int]:
    """Business reviews by the owner and on-site service visits by the agent; returns the visit days."""
    b, plan, rng, p = hist.b, hist.plan, hist.rng, hist.profile
    acct, contacts, fw, t_end = hist.acct, hist.contacts, plan.first_win, hist.t_end
    active, champion = hist.active, hist.champion
    if p.br_gap:
        o = fw + rng.randint(20, 40)
        while o < t_end:
            pool = active(o, [champion(o)]) or active(o, list(range(len(contacts))))
            if pool and (p.steady or rng.random() >= p.br_skip):
                b.event(
                    acct["Id"],
                    None,
                    contacts[pool[0]]["Id"],
                    owner_at(plan, o),
                    o,
                    rng.randint(540, 900),
                    60,
                    "Business Review",
                    rng.choice(("Quarterly Business Review", "Business review: results")),
                )
            o += int(rng.uniform(80, 100)) if p.steady else int(p.br_gap * rng.uniform(0.7, 1.3))
        if not hist.churned and o < 30 and rng.random() < 0.7:
            b.event(
                acct["Id"],
                None,
                contacts[0]["Id"],
                plan.owner,
                o,
                600,
                60,
                "Business Review",
                "Quarterly Business Review",
            )
    visits: list[int] = []
    if p.visit_gap:
        o = fw + rng.randint(30, 90)
        while o < t_end:
            pool = active(o, list(range(len(contacts))))
            if pool:
                b.event(
                    acct["Id"],
                    None,
                    contacts[rng.choice(pool)]["Id"],
                    plan.agent,
                    o,
                    rng.randint(480, 840),
                    120,
                    "Service Visit",
                    "On-site service visit",
                )
                visits.append(o)
            o += int(p.visit_gap * rng.uniform(0.7, 1.3))
    return visits


def cases(hist: CustomerHistory, visits: list[int]) -> None:
    """Cases: resolution against the customer's own yardstick, follow-ups, repeats, complaints after visits."""
    b, plan, rng, p, h = hist.b, hist.plan, hist.rng, hist.profile, hist.plan.health
    acct, contacts, fw, t_end = hist.acct, hist.contacts, plan.first_win, hist.t_end
    yard = plan.expected or 4.0
    base_res = yard * p.slowness

    def make_case(o: int, issue: tuple[str, str, str], high: bool, esc: bool) -> int | None:
        pool = hist.active(o, list(range(len(contacts))))
        contact = contacts[rng.choice(pool)] if pool else None
        created = b.at(o, rng.randint(480, 1020))
        if p.steady:
            res = base_res * rng.uniform(0.9, 1.1)
        else:
            drift = (
                1.0 + max(0.0, 0.7 - h) * max(0, o - fw - 90) / 365
            )  # weak relationships degrade over time
            res = yard * p.slowness * drift * rng.lognormvariate(0.0, 0.25) * (0.6 if high else 1.0)
        if rng.random() < p.stuck_prob:
            res = rng.uniform(15.0, 60.0)
        closed: datetime | None = created + timedelta(days=res)
        if closed is not None and closed >= b.latest:
            closed = None
        vals: dict = {
            "Priority": "High" if high else rng.choice(("Medium", "Medium", "Low")),
            "Origin": rng.choice(("Phone", "Email", "Web")),
            "Type": issue[0],
            "Reason": issue[1],
            "Subject": issue[2],
            "IsEscalated": esc,
        }
        if closed is None:
            vals["Status"] = "Escalated" if esc else rng.choice(("New", "Working", "On Hold"))
        elif rng.random() < 0.45:
            v = rng.choice((4, 5, 5)) if p.steady else round(1.5 + 3.5 * h + rng.gauss(0, 0.8) - (res > yard))
            vals["CSAT__c"] = float(min(5, max(1, v)))
        case = b.case(acct, contact, plan.agent, created, closed, vals)
        if closed is None:
            return None
        close_o = b.offset(closed.date())
        fu = close_o + (rng.randint(1, 3) if p.steady else rng.randint(1, 6))
        chance = p.followup_prob if (high or esc) else p.followup_prob * 0.6
        if fu <= -1 and fu < t_end and (p.steady or rng.random() < chance):
            b.task(
                acct["Id"],
                case["Id"],
                contact["Id"] if contact else None,
                owner_at(plan, fu) if rng.random() < 0.5 else plan.agent,
                fu,
                rng.randint(480, 1020),
                "Follow-up: did everything go as expected?",
                "Call",
            )
        return close_o

    o = fw + rng.randint(5, 20)
    while o < t_end:
        if p.steady:
            issue = CLEAN_ISSUES[(plan.index + o) % len(CLEAN_ISSUES)]
            make_case(o, issue, False, False)
            o += int(rng.uniform(25, 35) if o < fw + 90 else rng.uniform(40, 70))
            continue
        issue = (
            ISSUES[rng.randrange(len(CLEAN_ISSUES))] if rng.random() < 0.93 else rng.choice(COMPLAINT_ISSUES)
        )
        high = rng.random() < p.high_prob
        close_o = make_case(o, issue, high, rng.random() < p.escalate_prob)
        if close_o is not None and rng.random() < p.repeat_prob and close_o + 12 < t_end:
            make_case(close_o + rng.randint(2, 12), issue, high, rng.random() < p.escalate_prob)
        season = _CASE_SEASON.get(b.day(o).month, 1.0)  # winter breakdowns, quiet August and December
        o += max(1, int(rng.expovariate(1.0 / (p.case_gap / (2.0 if o < fw + 90 else 1.0))) * season))
    for v in visits:
        if rng.random() < p.complaint_prob and v + 25 < t_end:
            make_case(v + rng.randint(3, 25), rng.choice(COMPLAINT_ISSUES), False, False)


def close_out(hist: CustomerHistory, manager: str) -> None:
    """Open work, owner changes (logged by the manager), and the account turned 'Other' after churn."""
    b, plan, rng, p, h = hist.b, hist.plan, hist.rng, hist.profile, hist.plan.health
    acct, contacts, t_end, end = hist.acct, hist.contacts, hist.t_end, hist.end
    if not hist.churned and rng.random() < 0.5:
        b.task(
            acct["Id"],
            None,
            contacts[hist.champion(0)]["Id"],
            plan.owner,
            rng.randint(1, 14),
            600,
            "Call: plan next steps",
            "Call",
            status="Not Started",
        )
    if not p.steady and rng.random() < 0.25 * (1 - h) and t_end > -5:
        b.task(
            acct["Id"],
            None,
            contacts[0]["Id"],
            plan.owner,
            rng.randint(-40, -3) + min(t_end, 0),
            600,
            "Send the service report",
            "Email",
            status="Not Started",
            priority="High",
        )
    prev = hist.first_owner
    for until, _old in plan.owners:
        new = owner_at(plan, until)
        b.account_history(acct, until, 700, manager, "Owner", prev, new)
        Builder.touch(acct, until, manager, b)
        prev = new
    if hist.churned and end + 10 <= -1:
        d = end + rng.randint(1, 10)
        b.account_history(acct, d, 720, owner_at(plan, d), "Type", acct["Type"], "Other")
        acct["Type"] = "Other"
        Builder.touch(acct, d, owner_at(plan, d), b)
