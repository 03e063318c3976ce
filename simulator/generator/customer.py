"""One customer account's history: contacts, deals and renewals, touches, reviews, visits and cases.

Driven by a `Plan` (who, when the first deal was won, which behaviour profile). Day offsets are relative to
today; nothing dated in the past is stamped at or after today's midnight. Renewals close on each contract
anniversary of the first win; a lost renewal ends the relationship (the account becomes Type 'Other').
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from simulator.generator.base import Builder
from simulator.generator.names import CHAMPION_TITLES, CITIES, INDUSTRIES, TITLES, person, slug
from simulator.generator.profile import CLEAN_ISSUES, COMPLAINT_ISSUES, ISSUES, Plan, State, p_lost

__all__ = ["anniversary", "build_customer", "owner_at"]

_ROLES = ("Decision Maker", "Economic Buyer", "Technical Buyer", "Influencer", "Business User")
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


def anniversary(start: date, years: int) -> date:
    """The date `years` after `start` (Feb 29 falls back to Feb 28)."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return start.replace(year=start.year + years, day=28)


def owner_at(plan: Plan, o: int) -> str:
    """The account owner on day `o` (plan.owners lists earlier owners with the day their tenure ended)."""
    for until, owner in plan.owners:
        if o < until:
            return owner
    return plan.owner


def build_customer(b: Builder, plan: Plan, manager: str) -> State:
    """Generate one customer account's full history into a fresh buffer and return its state."""
    rng, p, h = plan.rng, plan.profile, plan.health
    rows = b.start()
    fw = plan.first_win
    cycle = rng.randint(45, 110)
    c0 = fw - cycle - rng.randint(5, 25)
    first_owner = owner_at(plan, c0)
    size = rng.choice((1, 1, 2, 3, 5, 8))
    city, country = rng.choice(CITIES)
    t0 = b.at(c0, rng.randint(480, 1000))
    acct = b.row(
        "Account",
        t0,
        t0,
        first_owner,
        {
            "Name": plan.name,
            "Type": "Customer - Channel" if rng.random() < 0.15 else "Customer - Direct",
            "Industry": rng.choice(INDUSTRIES),
            "AnnualRevenue": float(size * rng.randint(2, 9) * 1_000_000),
            "NumberOfEmployees": size * rng.randint(40, 250),
            "Phone": f"+1 555 {rng.randint(1000000, 9999999)}",
            "Website": f"https://www.{slug(plan.name)}.example",
            "BillingCity": city,
            "BillingCountry": country,
            "OwnerId": plan.owner,
            "Expected_Resolution_Days__c": plan.expected,
            "Key_Account__c": plan.key,
        },
    )
    domain = f"{slug(plan.name)}.example"

    # Contacts: the champion first; `since` / `gone` days drive who can be touched when.
    contacts: list[dict] = []
    since: list[int] = []
    gone: list[int | None] = []
    for k in range(5 if p.steady else rng.randint(4, 6)):
        first, last = person(rng)
        co = c0 if k == 0 else c0 + rng.randint(1, 20)
        t = b.at(co, 540 + 11 * k)
        c = b.row(
            "Contact",
            t,
            t,
            first_owner,
            {
                "AccountId": acct["Id"],
                "FirstName": first,
                "LastName": last,
                "Name": f"{first} {last}",
                "Title": rng.choice(CHAMPION_TITLES if k == 0 else TITLES),
                "Email": f"{first.lower()}.{last.lower()}{k}@{domain}",
                "Phone": f"+1 555 {rng.randint(1000000, 9999999)}",
                "OwnerId": plan.owner,
            },
        )
        contacts.append(c)
        since.append(co)
        gone.append(None)
    engaged = list(range(min(p.engaged, len(contacts))))
    champ_until, new_champ = 10**6, 0
    if p.champion_leave and rng.random() < p.champion_leave and fw + 120 < -20:
        leave = rng.randint(fw + 120, -10)
        gone[0] = leave
        c = contacts[0]
        if rng.random() < 0.6:
            c["Left_Company__c"] = True
        else:
            c["IsEmailBounced"] = True
            c["EmailBouncedDate"] = b.at(leave, 300)
            c["EmailBouncedReason"] = "550 5.1.1 The email account that you tried to reach does not exist"
        Builder.touch(c, leave, plan.owner, b)
        if rng.random() < 0.35 + 0.6 * h and leave + 50 < -1:
            co = leave + rng.randint(10, 45)
            first, last = person(rng)
            t = b.at(co, 600)
            contacts.append(
                b.row(
                    "Contact",
                    t,
                    t,
                    owner_at(plan, co),
                    {
                        "AccountId": acct["Id"],
                        "FirstName": first,
                        "LastName": last,
                        "Name": f"{first} {last}",
                        "Title": rng.choice(CHAMPION_TITLES),
                        "Email": f"{first.lower()}.{last.lower()}@{domain}",
                        "Phone": f"+1 555 {rng.randint(1000000, 9999999)}",
                        "OwnerId": plan.owner,
                    },
                )
            )
            since.append(co)
            gone.append(None)
            champ_until, new_champ = co, len(contacts) - 1
            engaged.append(new_champ)

    def active(o: int, pool: list[int]) -> list[int]:
        return [i for i in pool if since[i] <= o and (gone[i] is None or gone[i] > o)]  # type: ignore[operator]

    def champion(o: int) -> int:
        return new_champ if o >= champ_until else 0

    def roles(opp: dict, o: int, primary: bool) -> None:
        ch = champion(o)
        b.contact_role(opp, contacts[ch], "Decision Maker", primary)
        for i in active(o, list(range(len(contacts))))[:3]:
            if i != ch and rng.random() < 0.5:
                b.contact_role(opp, contacts[i], rng.choice(_ROLES), False)

    # Deals: the first win, a renewal on every anniversary, expansions for background accounts.
    windows: list[tuple[int, int, str]] = []
    s = fw - cycle
    amount = float(round(size * rng.randint(8, 40) * 1000, -2))
    won_amount = float(round(amount * rng.uniform(0.9, 1.1), -2))
    planned = fw - rng.randint(5, 20) if rng.random() < 0.4 else fw
    steps = [
        (s + int(f * cycle), 600 + 7 * i, st, amount if i < 3 else won_amount, planned)
        for i, (st, f) in enumerate(
            (
                ("Prospecting", 0.0),
                ("Qualification", 0.15),
                ("Needs Analysis", 0.35),
                ("Proposal/Price Quote", 0.6),
                ("Negotiation/Review", 0.85),
            )
        )
    ]
    if planned != fw:
        steps.append((fw - 2, 650, "Negotiation/Review", won_amount, fw))  # the close date slipped to fw
    steps.append((fw, 900, "Closed Won", won_amount, fw))
    nb = b.opportunity(acct, f"{plan.name} - New Business", "New Business", owner_at(plan, s), steps)
    roles(nb, s, True)
    windows.append((s, fw, nb["Id"]))
    renewals: list[dict] = []
    anniversaries: list[int] = []
    end, churned, k = 0, False, 1
    start = b.day(fw)
    while True:
        ad = anniversary(start, k)
        a = b.offset(ad)
        created = a - 120 + rng.randint(0, 5)
        if created > -1:
            break
        anniversaries.append(a)
        amt = float(round(won_amount * rng.uniform(1.0, 1.08), -2))
        steps = [(created, 610, "Qualification", amt, a)]
        steps += [
            (a - off, 620, st, amt, a)
            for off, st in ((60, "Proposal/Price Quote"), (25, "Negotiation/Review"))
            if a - off <= -1
        ]
        won = plan.force_won or rng.random() >= p_lost(h)
        if a <= -1:
            steps.append((a, 840, "Closed Won" if won else "Closed Lost", amt, a))
        opp = b.opportunity(
            acct, f"{plan.name} - Renewal {ad.year}", "Renewal", owner_at(plan, created), steps
        )
        roles(opp, created, won or a > -1)
        windows.append((created, a, opp["Id"]))
        renewals.append(
            {
                "opportunity_id": opp["Id"],
                "account_id": acct["Id"],
                "close_date": ad.isoformat(),
                "outcome": "won" if won else "lost",
                "is_open": a > -1,
            }
        )
        if a <= -1 and not won:
            churned, end = True, a
            break
        k += 1
    t_end = end if churned else 0
    if p.expansion_rate:
        o = fw + 150
        while True:
            o += int(rng.expovariate(p.expansion_rate / 365.0))
            if o >= t_end - 10 or o > -1:
                break
            close = o + rng.randint(30, 90)
            amt = float(round(amount * rng.uniform(0.2, 0.6), -2))
            steps = [(o, 600, "Qualification", amt, close)]
            if (close + o) // 2 <= -1:
                steps.append(((close + o) // 2, 610, "Proposal/Price Quote", amt, close))
            won = rng.random() < 0.45 + 0.4 * h
            if close <= -1:
                steps.append((close, 800, "Closed Won" if won else "Closed Lost", amt, close))
                cut = close + rng.randint(10, 40)
                if won and cut <= -1 and rng.random() < p.reneged_prob:
                    steps.append(
                        (cut, 820, "Closed Won", float(round(amt * rng.uniform(0.6, 0.8), -2)), close)
                    )
            opp = b.opportunity(
                acct,
                f"{plan.name} - Expansion {b.day(o).year}",
                "Existing Business",
                owner_at(plan, o),
                steps,
            )
            roles(opp, o, won or close > -1)
            windows.append((o, close, opp["Id"]))

    def what(o: int) -> str | None:
        for lo, hi, oid in windows:
            if lo <= o < hi and rng.random() < 0.4:
                return oid
        return None

    # Touches: calls, emails and meetings by the owner (or the service agent) with the engaged contacts.
    o = s + rng.randint(2, 6)
    turn = 0
    while o < t_end:
        if o < fw:
            ci, gap = 0, float(rng.randint(6, 12))
        else:
            pool = active(o, engaged) or active(o, list(range(len(contacts))))
            if not pool:
                break
            if p.steady:
                ci = pool[turn % len(pool)]
                turn += 1
                gap = rng.uniform(10.0, 16.0) * (0.7 if o < fw + 90 else 1.0)
            else:
                ch = champion(o)
                ci = ch if ch in pool and rng.random() < 0.5 else rng.choice(pool)
                mean = p.touch_gap / (2.5 if o < fw + 90 else 1.0)
                if any(a - 60 <= o < a for a in anniversaries):
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

    # Business reviews and service visits.
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
        if not churned and o < 30 and rng.random() < 0.7:
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

    # Cases: resolution against the customer's own yardstick, follow-ups, repeats, complaints after visits.
    yard = plan.expected or 4.0
    base_res = yard * p.slowness

    def make_case(o: int, issue: tuple[str, str, str], high: bool, esc: bool) -> int | None:
        pool = active(o, list(range(len(contacts))))
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

    # Open work, owner changes, churn.
    if not churned and rng.random() < 0.5:
        b.task(
            acct["Id"],
            None,
            contacts[champion(0)]["Id"],
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
    prev = first_owner
    for until, _old in plan.owners:
        new = owner_at(plan, until)
        b.account_history(acct, until, 700, manager, "Owner", prev, new)
        Builder.touch(acct, until, manager, b)
        prev = new
    if churned and end + 10 <= -1:
        d = end + rng.randint(1, 10)
        b.account_history(acct, d, 720, owner_at(plan, d), "Type", acct["Type"], "Other")
        acct["Type"] = "Other"
        Builder.touch(acct, d, owner_at(plan, d), b)
    return State(rows, acct, contacts, contacts[champion(0)], end, churned, renewals)
