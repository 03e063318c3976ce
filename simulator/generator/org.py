"""The deterministic synthetic org: users, accounts with three years of history, planted scenarios, ground truth.

`generate(accounts, seed, today)` returns every row of every simulated object (all schema fields, Python values)
and a ground truth: which accounts were planted for which risk signal, clean controls, every renewal with its
outcome (future ones as the latent health would decide them) and the latent health per account.
Same (accounts, seed, today) -> identical data: one `random.Random` per account seeded from (seed, index),
no wall clock, no iteration over unordered collections. See docs/simulator-org.md.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from simulator.generator.base import Builder
from simulator.generator.customer import build_customer
from simulator.generator.dirty import make_dirty
from simulator.generator.migration import migrate
from simulator.generator.names import CITIES, INDUSTRIES, company_name, person, slug
from simulator.generator.profile import STEADY, Plan, Team, background_profile
from simulator.generator.recording import Recorder
from simulator.generator.scenarios import SIGNALS, apply, configure, configure_control, finish_control

__all__ = ["SIGNALS", "GeneratedOrg", "allocation", "generate"]

INTEGRATION_USERNAME = "integration@crm-risk.sim"
PROSPECT_SHARE = 0.15


@dataclass
class GeneratedOrg:
    """A generated org: rows per object, the ground truth (ground_truth.json) and the integration user's id."""

    data: dict[str, list[dict]]
    ground_truth: dict
    integration_user_id: str


def allocation(accounts: int) -> tuple[int, int]:
    """(planted accounts per signal, control accounts) for an org size: ~0.5% / ~1%, at least 3 / 5."""
    per, ctrl = max(3, round(accounts * 0.005)), max(5, round(accounts * 0.01))
    while per * len(SIGNALS) + ctrl > accounts * 0.6 and (per > 1 or ctrl > 1):
        if per > 1:
            per -= 1
        else:
            ctrl -= 1
    return per, ctrl


def _users(b: Builder, rng: random.Random) -> Team:
    """About two dozen users: admin, sales VP and managers, reps, service team, the integration user."""
    b.start()
    k = 0

    def add(
        by: str | None,
        title: str,
        dept: str,
        manager: str | None,
        first: str | None = None,
        last: str | None = None,
        username: str | None = None,
    ) -> str:
        nonlocal k
        k += 1
        if first is None or last is None:
            first, last = person(rng)
        uname = username or f"{first.lower()}.{last.lower()}{k}@crm-risk.sim"
        r = b.user(
            by,
            b.at(-1400 + 3 * k, 540),
            {
                "Username": uname,
                "FirstName": first,
                "LastName": last,
                "Email": uname,
                "Title": title,
                "Department": dept,
                "IsActive": True,
                "ManagerId": manager,
            },
        )
        return r["Id"]

    admin = add(None, "System Administrator", "IT", None, "Ada", "Admin", "admin@crm-risk.sim")
    vp = add(admin, "VP Sales", "Sales", None)
    managers = [add(admin, "Sales Manager", "Sales", vp) for _ in range(2)]
    reps = [add(admin, "Account Executive", "Sales", managers[i % 2]) for i in range(14)]
    service_manager = add(admin, "Service Manager", "Service", vp)
    agents = [add(admin, "Service Agent", "Service", service_manager) for _ in range(5)]
    integration = add(admin, "Integration User", "IT", None, "Integration", "User", INTEGRATION_USERNAME)
    departed_day = -rng.randint(300, 500)
    departed = b.buf["User"][3 + 13]  # the last rep left the company
    departed["IsActive"] = False
    Builder.touch(departed, departed_day, admin, b)
    b.flush(b.buf)
    return Team(
        admin=admin,
        manager=managers[0],
        reps=reps[2:13],
        hunters=reps[:2],
        agents=agents,
        integration=integration,
        departed=reps[13],
        departed_day=departed_day,
    )


def _prospect(b: Builder, plan: Plan) -> None:
    """A prospect: contacts, outreach (constant and recent for hunters' prospects), maybe a lost or open deal."""
    rng = plan.rng
    b.start()
    c0 = -rng.randint(30, 900)
    city, country = rng.choice(CITIES)
    t = b.at(c0, rng.randint(480, 1000))
    acct = b.row(
        "Account",
        t,
        t,
        plan.owner,
        {
            "Name": plan.name,
            "Type": "Prospect",
            "Industry": rng.choice(INDUSTRIES),
            "AnnualRevenue": float(rng.randint(1, 40) * 1_000_000),
            "NumberOfEmployees": rng.randint(20, 2000),
            "Phone": f"+1 555 {rng.randint(1000000, 9999999)}",
            "Website": f"https://www.{slug(plan.name)}.example",
            "BillingCity": city,
            "BillingCountry": country,
            "OwnerId": plan.owner,
        },
    )
    contacts = []
    for i in range(rng.randint(1, 3)):
        first, last = person(rng)
        tc = b.at(c0, 560 + i)
        contacts.append(
            b.row(
                "Contact",
                tc,
                tc,
                plan.owner,
                {
                    "AccountId": acct["Id"],
                    "FirstName": first,
                    "LastName": last,
                    "Name": f"{first} {last}",
                    "Title": "Procurement Lead" if i else "Operations Director",
                    "Email": f"{first.lower()}.{last.lower()}@{slug(plan.name)}.example",
                    "OwnerId": plan.owner,
                },
            )["Id"]
        )
    o = max(c0 + 2, -150) if plan.hunter else c0 + 2
    keen = c0 + rng.randint(60, 400)
    while o <= -1:
        typ = "Call" if rng.random() < 0.6 else "Email"
        b.task(
            acct["Id"],
            None,
            rng.choice(contacts),
            plan.owner,
            o,
            rng.randint(480, 1020),
            "Intro call" if typ == "Call" else "Email: proposal",
            typ,
        )
        o += (
            rng.randint(4, 9)
            if plan.hunter
            else max(1, int(rng.expovariate(1 / (25.0 if o < keen else 70.0))))
        )
    if rng.random() < 0.6:
        oc = rng.randint(c0 + 5, -5)
        close = oc + rng.randint(30, 120)
        amt = float(round(rng.randint(10, 80) * 1000, -2))
        steps = [(oc, 600, "Prospecting", amt, close)]
        if (oc + close) // 2 <= -1:
            steps.append(
                ((oc + close) // 2, 610, rng.choice(("Qualification", "Needs Analysis")), amt, close)
            )
        if close <= -1:
            if rng.random() < 0.7:
                steps.append((close, 800, "Closed Lost", amt, close))
            else:
                steps.append((close, 620, steps[-1][2], amt, rng.randint(10, 90)))  # pushed out, still open
        opp = b.opportunity(acct, f"{plan.name} - New Business", "New Business", plan.owner, steps)
        b.contact_role(opp, {"Id": contacts[0]}, "Decision Maker", False)


def _roles(accounts: int, rng: random.Random) -> list[tuple[str, str | None, int]]:
    """Role of each account index: ("signal", id, variant), ("control", None, 0), ("prospect"|"customer", None, 0)."""
    per, ctrl = allocation(accounts)
    planted = [("signal", s, v) for v in range(per) for s in SIGNALS]
    controls: list[tuple[str, str | None, int]] = [("control", None, i) for i in range(ctrl)]
    cap = int(accounts * 0.6)
    if len(planted) + len(controls) > cap:  # a tiny org: keep a control or two, then as many plants as fit
        controls = controls[: max(1, cap // 6)] if cap else []
        planted = planted[: max(0, cap - len(controls))]
    special: list[tuple[str, str | None, int]] = [*planted, *controls]
    rest = accounts - len(special)
    n_prospects = round(accounts * PROSPECT_SHARE)
    roles = special + [("prospect", None, 0)] * min(n_prospects, rest)
    roles += [("customer", None, 0)] * (accounts - len(roles))
    order = list(range(accounts))
    rng.shuffle(order)
    out: list[tuple[str, str | None, int]] = [("customer", None, 0)] * accounts
    for role, pos in zip(roles, order, strict=True):
        out[pos] = role
    return out


def generate(
    accounts: int, seed: int, today: date, *, dirty: bool = False, migrated_on: date | None = None
) -> GeneratedOrg:
    """Generate the org: `accounts` accounts with three years of history ending yesterday, deterministically.

    Activities are recorded as orgs record them (simulator/generator/recording.py): some logged days or weeks late,
    some written in nightly batches by an activity-capture tool through the integration user.
    `dirty=True` adds row-level data defects to background accounts (simulator/generator/dirty.py), listed in
    ground_truth["dirty"]; planted and control accounts stay clean. `migrated_on` (a day before `today`) makes the
    history before that day a migration loaded on it (simulator/generator/migration.py).
    """
    rng = random.Random(seed)
    b = Builder(today)
    team = _users(b, rng)
    roles = _roles(accounts, rng)
    recorder = Recorder.for_org(b, seed, team.integration, team.reps)
    farmers = [*team.reps, team.departed]
    signals: dict[str, list[str]] = {s: [] for s in SIGNALS}
    controls: list[str] = []
    renewals: list[dict] = []
    health: dict[str, float] = {}
    for idx, (role, sig, variant) in enumerate(roles):
        arng = random.Random(f"{seed}:{idx}")
        name = company_name(idx, arng)
        agent = team.agents[arng.randrange(len(team.agents))]
        if role == "prospect":
            pool = team.hunters * 3 + team.reps  # hunters own about a third of the prospects
            owner = pool[arng.randrange(len(pool))]
            plan = Plan(
                idx,
                arng,
                name,
                "prospect",
                round(arng.betavariate(4, 2), 3),
                owner,
                agent,
                STEADY,
                hunter=owner in team.hunters,
            )
            _prospect(b, plan)
            recorder.record(b.buf, random.Random(f"{seed}:{idx}:log"), set())
            b.flush(b.buf)
            health[b.data["Account"][-1]["Id"]] = plan.health
            continue
        owner = team.reps[arng.randrange(len(team.reps))]
        if role == "customer":
            h = round(arng.betavariate(4, 2), 3)
            plan = Plan(idx, arng, name, "customer", h, owner, agent, background_profile(h, arng))
            plan.first_win = -(30 + int(1040 * arng.random() ** 0.5))
            plan.key = arng.random() < 0.15
            plan.expected = float(arng.randint(2, 7)) if arng.random() < 0.6 else None
            pick = arng.randrange(len(farmers) + len(team.hunters))
            if pick == len(farmers) - 1 and plan.first_win - 150 < team.departed_day:
                plan.owners = [(team.departed_day, team.departed)]
            elif pick >= len(farmers):
                plan.owner = team.hunters[pick - len(farmers)]
            if not plan.owners and arng.random() < 0.12 and plan.first_win + 30 < -10:
                plan.owners = [(arng.randint(plan.first_win + 30, -10), plan.owner)]
                plan.owner = (
                    team.reps[(team.reps.index(owner) + 1) % len(team.reps)]
                    if owner in team.reps
                    else team.reps[0]
                )
        else:
            h = round(arng.uniform(0.85, 0.97) if role == "control" else arng.uniform(0.15, 0.45), 3)
            plan = Plan(idx, arng, name, "customer", h, owner, agent, STEADY, signal=sig, variant=variant)
            if role == "control":
                configure_control(b, plan)
            else:
                configure(b, plan, team)
        st = build_customer(b, plan, team.manager)
        before = {r["Id"] for obj in ("Task", "Event") for r in st.rows[obj]}
        if sig is not None:
            apply(b, st, plan)
            signals[sig].append(st.account["Id"])
        elif role == "control":
            finish_control(b, st, plan)
            controls.append(st.account["Id"])
        # what a plant (or a control's last call) wrote keeps the stamps it was given
        pinned = {r["Id"] for obj in ("Task", "Event") for r in st.rows[obj]} - before
        recorder.record(st.rows, random.Random(f"{seed}:{idx}:log"), pinned)
        b.flush(st.rows)
        renewals.extend(st.renewals)
        health[st.account["Id"]] = plan.health
    if migrated_on is not None:
        migrate(b, migrated_on, team.integration)
    defects: list[dict] = []
    if dirty:
        protected = set(controls).union(*signals.values())
        defects = make_dirty(b, random.Random(f"{seed}:dirty"), protected, accounts)
    ground_truth = {
        "today": today.isoformat(),
        "seed": seed,
        "accounts": accounts,
        "signals": signals,
        "controls": controls,
        "renewals": renewals,
        "health": health,
        "integration_user_id": team.integration,
        "dirty": defects,
        "activity_capture": {
            "reps": list(recorder.capture_reps),
            "since": b.day(recorder.capture_since).isoformat(),
        },
        "migrated_on": migrated_on.isoformat() if migrated_on else None,
    }
    return GeneratedOrg(data=b.data, ground_truth=ground_truth, integration_user_id=team.integration)
