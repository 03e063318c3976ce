"""One customer's history while `customer.build_customer` writes it: who can be reached when, the champion, the
deal windows, and how the relationship ended."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date

from simulator.generator.base import Builder, Rows
from simulator.generator.profile import Plan, Profile

__all__ = ["CustomerHistory", "anniversary", "owner_at"]

_ROLES = ("Decision Maker", "Economic Buyer", "Technical Buyer", "Influencer", "Business User")


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


@dataclass
class CustomerHistory:
    """The working state passed from phase to phase of one customer's history (days are offsets from today)."""

    b: Builder
    plan: Plan
    rows: Rows
    cycle: int  # days from the first deal's creation to the first win
    created: int  # the day the account was created
    first_owner: str
    size: int  # company size factor (revenue, staff, deal amounts)
    acct: dict = field(default_factory=dict)
    # Contacts: the champion first; `since` / `gone` days drive who can be touched when.
    contacts: list[dict] = field(default_factory=list)
    since: list[int] = field(default_factory=list)
    gone: list[int | None] = field(default_factory=list)
    engaged: list[int] = field(default_factory=list)
    champ_until: int = 10**6  # from this day on `new_champ` replaces the first champion
    new_champ: int = 0
    windows: list[tuple[int, int, str]] = field(default_factory=list)  # (open, close, opportunity id)
    renewals: list[dict] = field(default_factory=list)
    anniversaries: list[int] = field(default_factory=list)
    end: int = 0  # the day a lost renewal ended the relationship
    churned: bool = False
    t_end: int = 0  # last day of activity: `end` when churned, else today

    @property
    def rng(self) -> random.Random:
        """The account's random stream (every draw in a fixed order keeps the org deterministic)."""
        return self.plan.rng

    @property
    def profile(self) -> Profile:
        """The account's behaviour profile."""
        return self.plan.profile

    @property
    def first_deal(self) -> int:
        """The day the first deal was opened."""
        return self.plan.first_win - self.cycle

    def active(self, o: int, pool: list[int]) -> list[int]:
        """The contacts of `pool` (indexes) who are with the company on day `o`."""
        since, gone = self.since, self.gone
        return [i for i in pool if since[i] <= o and ((left := gone[i]) is None or left > o)]

    def champion(self, o: int) -> int:
        """The champion's index on day `o`."""
        return self.new_champ if o >= self.champ_until else 0

    def roles(self, opp: dict, o: int, primary: bool) -> None:
        """Contact roles on a deal opened on day `o`: the champion decides, up to three others may join."""
        b, rng, contacts = self.b, self.rng, self.contacts
        ch = self.champion(o)
        b.contact_role(opp, contacts[ch], "Decision Maker", primary)
        for i in self.active(o, list(range(len(contacts))))[:3]:
            if i != ch and rng.random() < 0.5:
                b.contact_role(opp, contacts[i], rng.choice(_ROLES), False)

    def what(self, o: int) -> str | None:
        """The deal an activity on day `o` may relate to (40% per open deal window), or None."""
        for lo, hi, oid in self.windows:
            if lo <= o < hi and self.rng.random() < 0.4:
                return oid
        return None
