"""One customer account's history: contacts, deals and renewals, touches, reviews, visits and cases.

Driven by a `Plan` (who, when the first deal was won, which behaviour profile). Day offsets are relative to
today; nothing dated in the past is stamped at or after today's midnight. Renewals close on each contract
anniversary of the first win; a lost renewal ends the relationship (the account becomes Type 'Other').
This module writes the account, its contacts and its deals; `activity` writes what happens around them. Every
random draw happens in a fixed order, so the phases run in the order `build_customer` lists them.
"""

from __future__ import annotations

from simulator.generator.activity import cases, close_out, reviews_and_visits, touches
from simulator.generator.base import Builder
from simulator.generator.history import CustomerHistory, anniversary, owner_at
from simulator.generator.names import CHAMPION_TITLES, CITIES, INDUSTRIES, TITLES, person, slug
from simulator.generator.profile import Plan, State, p_lost

__all__ = ["build_customer"]


def build_customer(b: Builder, plan: Plan, manager: str) -> State:
    """Generate one customer account's full history into a fresh buffer and return its state."""
    hist = _account(b, plan)
    _contacts(hist)
    _deals(hist)
    touches(hist)
    visits = reviews_and_visits(hist)
    cases(hist, visits)
    close_out(hist, manager)
    contacts = hist.contacts
    return State(
        hist.rows, hist.acct, contacts, contacts[hist.champion(0)], hist.end, hist.churned, hist.renewals
    )


def _account(b: Builder, plan: Plan) -> CustomerHistory:
    """The account row, created some weeks before its first deal opened."""
    rng = plan.rng
    rows = b.start()
    fw = plan.first_win
    cycle = rng.randint(45, 110)
    c0 = fw - cycle - rng.randint(5, 25)
    first_owner = owner_at(plan, c0)
    size = rng.choice((1, 1, 2, 3, 5, 8))
    city, country = rng.choice(CITIES)
    t0 = b.at(c0, rng.randint(480, 1000))
    hist = CustomerHistory(b, plan, rows, cycle, c0, first_owner, size)
    hist.acct = b.row(
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
    return hist


def _contacts(hist: CustomerHistory) -> None:
    """Four to six contacts, the champion first; the champion may leave, and a successor may take over."""
    b, plan, rng, p, h = hist.b, hist.plan, hist.rng, hist.profile, hist.plan.health
    acct, contacts, since, gone, c0 = hist.acct, hist.contacts, hist.since, hist.gone, hist.created
    fw = plan.first_win
    domain = f"{slug(plan.name)}.example"
    for k in range(5 if p.steady else rng.randint(4, 6)):
        first, last = person(rng)
        co = c0 if k == 0 else c0 + rng.randint(1, 20)
        t = b.at(co, 540 + 11 * k)
        c = b.row(
            "Contact",
            t,
            t,
            hist.first_owner,
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
    hist.engaged = list(range(min(p.engaged, len(contacts))))
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
            hist.champ_until, hist.new_champ = co, len(contacts) - 1
            hist.engaged.append(hist.new_champ)


def _deals(hist: CustomerHistory) -> None:
    """Deals: the first win, a renewal on every anniversary, expansions for background accounts."""
    b, plan, rng, p, h = hist.b, hist.plan, hist.rng, hist.profile, hist.plan.health
    acct, windows, renewals, anniversaries = hist.acct, hist.windows, hist.renewals, hist.anniversaries
    fw, cycle = plan.first_win, hist.cycle
    s = hist.first_deal
    amount = float(round(hist.size * rng.randint(8, 40) * 1000, -2))
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
    hist.roles(nb, s, True)
    windows.append((s, fw, nb["Id"]))
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
        hist.roles(opp, created, won or a > -1)
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
    hist.end, hist.churned = end, churned
    hist.t_end = t_end = end if churned else 0
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
            hist.roles(opp, o, won or close > -1)
            windows.append((o, close, opp["Id"]))
