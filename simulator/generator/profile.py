"""Behaviour profiles of the synthetic org: how latent relationship health turns into touches, cases and renewals.

Every customer account has a latent health h in [0, 1]. Background accounts draw a `Profile` from h (with noise):
healthy accounts are touched often and by several people, get business reviews, quick fixes that are followed up;
unhealthy ones are touched rarely and mostly around renewals, see more and slower cases, repeats, escalations and
champion turnover. The renewal outcome is drawn from h alone (`p_lost`), never from the signal rules, so the
signals are predictive only because both depend on h. Planted and control accounts use the `STEADY` profile
(a clean, rule-abiding relationship) and then get one defect planted on top (simulator/generator/scenarios.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = [
    "CLEAN_ISSUES",
    "ISSUES",
    "STEADY",
    "Plan",
    "Profile",
    "State",
    "Team",
    "background_profile",
    "p_lost",
]

# (Type, Reason, Subject) of ordinary service issues; the billing / scope ones are complaint material.
CLEAN_ISSUES: tuple[tuple[str, str, str], ...] = (
    ("Mechanical", "Breakdown", "Unit stopped during the night shift"),
    ("Mechanical", "Performance", "Conveyor running slower than rated"),
    ("Electrical", "Breakdown", "Breaker trips when the line starts"),
    ("Electrical", "Installation", "New panel wiring not finished"),
    ("Electronic", "Equipment Complexity", "Operators cannot configure the controller"),
    ("Electronic", "Performance", "Sensor readings drift after warm-up"),
    ("Structural", "Equipment Design", "Mounting bracket cracked"),
    ("Other", "Feedback", "Question about the maintenance schedule"),
    ("Other", "Other", "Request for updated documentation"),
)
COMPLAINT_ISSUES: tuple[tuple[str, str, str], ...] = (
    ("Billing", "Unexpected Charges", "Invoice includes work we did not ask for"),
    ("Billing", "Not What We Agreed", "Upgrade recommended on the visit is not what we agreed"),
    ("Other", "Not What We Agreed", "Scope of the service contract differs from the offer"),
)
ISSUES = CLEAN_ISSUES + COMPLAINT_ISSUES


@dataclass(frozen=True)
class Profile:
    """How an account team and a customer behave; times in days, rates as probabilities."""

    steady: bool  # deterministic-ish cadence that satisfies every signal's "fine" side
    touch_gap: float  # mean days between account-team touches after onboarding
    engaged: int  # how many contacts the team talks to
    owner_share: float  # share of touches made by the owner (the rest by the service agent)
    renewal_burst: float  # touch-rate multiplier in the 60 days before an anniversary
    br_gap: float  # mean days between business reviews (0 = none)
    br_skip: float  # chance a due business review is skipped
    visit_gap: float  # mean days between service visits (0 = none)
    case_gap: float  # mean days between cases after onboarding
    high_prob: float  # chance a case is High priority
    escalate_prob: float  # chance a case is escalated
    repeat_prob: float  # chance a fix does not hold: same issue again within two weeks
    followup_prob: float  # chance a closed high-priority / escalated case is followed up within a week
    slowness: float  # typical resolution time as a multiple of the customer's expectation
    stuck_prob: float  # chance a case is left open for weeks (closed 15-60 days late)
    complaint_prob: float  # chance a service visit leads to a billing / scope complaint
    champion_leave: float  # chance the main contact leaves or bounces during the history
    expansion_rate: float  # expansion opportunities per year
    reneged_prob: float  # chance a won expansion is cut back afterwards


STEADY = Profile(
    steady=True,
    touch_gap=13.0,
    engaged=4,
    owner_share=0.8,
    renewal_burst=1.0,
    br_gap=90.0,
    br_skip=0.0,
    visit_gap=120.0,
    case_gap=55.0,
    high_prob=0.0,
    escalate_prob=0.0,
    repeat_prob=0.0,
    followup_prob=1.0,
    slowness=0.4,
    stuck_prob=0.0,
    complaint_prob=0.0,
    champion_leave=0.0,
    expansion_rate=0.0,
    reneged_prob=0.0,
)


def background_profile(h: float, rng: random.Random) -> Profile:
    """A noisy profile for latent health `h` (0 = broken relationship, 1 = excellent)."""
    u = 1.0 - h
    j = rng.uniform(0.8, 1.25)  # team-level noise, so health is not perfectly readable from behaviour
    return Profile(
        steady=False,
        touch_gap=(11.0 + 130.0 * u * u * u) * j,
        engaged=max(1, min(5, round(0.5 + 4.0 * h * h * j))),
        owner_share=0.55 + 0.3 * h,
        renewal_burst=1.0 + 10.0 * u * u,
        br_gap=90.0 + 200.0 * u,
        br_skip=0.6 * u,
        visit_gap=(90.0 + 120.0 * h) * j,
        case_gap=(30.0 + 55.0 * h) * j,
        high_prob=0.03 + 0.15 * u,
        escalate_prob=0.03 + 0.2 * u,
        repeat_prob=0.03 + 0.3 * u * u,
        followup_prob=0.35 + 0.6 * h,
        slowness=0.3 + 1.2 * u * u,
        stuck_prob=0.003 + 0.05 * u * u,
        complaint_prob=0.03 + 0.25 * u,
        champion_leave=0.1 + 0.5 * u,
        expansion_rate=0.1 + 0.5 * h,
        reneged_prob=0.02 + 0.2 * u,
    )


def p_lost(h: float) -> float:
    """Probability that a renewal is lost, from latent health alone."""
    return 0.02 + 0.75 * (1.0 - h) ** 2


@dataclass
class Plan:
    """What to generate for one account (filled by the generator, adjusted by scenario `configure`)."""

    index: int
    rng: random.Random
    name: str
    kind: str  # "customer" | "prospect"
    health: float
    owner: str  # current owner
    agent: str  # the account's service agent
    profile: Profile
    first_win: int = 0  # day offset of the first closed-won deal
    key: bool = False
    expected: float | None = None
    force_won: bool = False  # past renewals are won (planted and control accounts are current customers)
    owners: list[tuple[int, str]] = field(default_factory=list)  # earlier owners: (until day, owner)
    hunter: bool = False  # owned by a rep who woos prospects (prospects get many touches)
    signal: str | None = None
    variant: int = 0


@dataclass
class State:
    """What the customer builder produced for one account: its rows and the handles scenarios need."""

    rows: dict[str, list[dict]]
    account: dict
    contacts: list[dict]
    champion: dict
    end: int  # last active day (0 while still a customer)
    churned: bool
    renewals: list[dict] = field(default_factory=list)  # ground-truth renewal entries


@dataclass
class Team:
    """The org's users by role (ids)."""

    admin: str
    manager: str
    reps: list[str]  # active account executives (farmers)
    hunters: list[str]  # active reps who woo prospects and neglect existing clients
    agents: list[str]  # service agents
    integration: str
    departed: str  # a rep who left; their accounts were reassigned
    departed_day: int
