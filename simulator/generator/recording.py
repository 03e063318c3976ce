"""When the org learned of an activity: reps who log calls late, and an activity-capture tool's nightly batches.

In Salesforce the day a call happened is `Task.ActivityDate` (createable: whoever logs it picks the day), while
`CreatedDate`, `CompletedDateTime` (read-only, set when the Task is saved closed), `LastModifiedDate` and
`SystemModstamp` say when the record was saved. Real orgs are full of Tasks saved days or weeks after the call:

- **Late logging.** Every user has a share of their calls, emails and ad-hoc meetings that they log late (drawn
  once per user, 10-50%: some reps are diligent, some catch up on Fridays). A late log lands 1-6 days after the
  activity (60%), 1-4 weeks after (30%) or 1-4 months after (10%, the quarter-end clean-up). Scheduled business
  reviews and service visits are entered ahead, as before.
- **Activity capture.** A few reps use an email/call capture tool that writes their completed Call and Email Tasks
  through the integration user in a nightly batch: `CreatedById` the integration user, `OwnerId` the rep,
  `CreatedDate` = `CompletedDateTime` = the batch instant (02:00:00 UTC, the same second for every row of the
  night), `ActivityDate` the day of the call. A night whose sync failed (about one in twenty) leaves its work
  to the next one.
- **Not logged yet.** An activity whose log (or batch) would fall after the org's today is not in the org yet: it
  is left out, as a real org does not hold the call a rep will log next week.

Rows a planted scenario wrote itself (`pinned`) keep their stamps: a plant says exactly when its records were saved.
Every draw comes from the account's own `random.Random(f"{seed}:{index}:log")` and per-user / per-night streams,
so the business (who was called when) is the same as without late logging.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from simulator.generator.base import Builder, Rows

__all__ = ["CAPTURE_HOUR", "Recorder", "logged_late"]

CAPTURE_HOUR = 2  # the capture tool's nightly batch runs at 02:00:00 UTC
_NIGHT_FAILS = 0.05
_LATE_SHARE = (0.1, 0.5)
_CAPTURE_REPS = 4
_CAPTURED = ("Call", "Email")


@dataclass
class Recorder:
    """The org's recording habits: per-user lateness, the capture tool's reps and nights (deterministic per seed)."""

    b: Builder
    seed: int
    integration: str
    capture_reps: tuple[str, ...]
    capture_since: int  # day offset the capture tool was switched on
    _late: dict[str, float] = field(default_factory=dict)
    _nights: dict[int, int | None] = field(default_factory=dict)

    @classmethod
    def for_org(cls, b: Builder, seed: int, integration: str, reps: list[str]) -> Recorder:
        """Pick the capture tool's reps and roll-out day from the org's own stream (not the account streams)."""
        rng = random.Random(f"{seed}:capture")
        picked = tuple(reps[i] for i in sorted(rng.sample(range(len(reps)), min(_CAPTURE_REPS, len(reps)))))
        return cls(b, seed, integration, picked, -rng.randint(250, 500))

    def late_share(self, user: str) -> float:
        """The share of a user's activities that they log late."""
        share = self._late.get(user)
        if share is None:
            share = self._late[user] = random.Random(f"{self.seed}:late:{user}").uniform(*_LATE_SHARE)
        return share

    def batch_night(self, o: int) -> int | None:
        """The day (offset) of the first successful nightly batch after day `o`, None if it is not run by today."""
        if o in self._nights:
            return self._nights[o]
        n = o + 1
        while n <= -1 and random.Random(f"{self.seed}:night:{n}").random() < _NIGHT_FAILS:
            n += 1
        self._nights[o] = night = n if n <= -1 else None
        return night

    @staticmethod
    def lag(rng: random.Random) -> int:
        """Days between an activity and its late log: 1-6 (60%), 7-30 (30%) or 31-120 (10%)."""
        r = rng.random()
        if r < 0.6:
            return rng.randint(1, 6)
        if r < 0.9:
            return rng.randint(7, 30)
        return rng.randint(31, 120)

    def record(self, rows: Rows, rng: random.Random, pinned: set[str]) -> None:
        """Re-stamp one account's completed Tasks and ad-hoc meetings as they were saved (in place)."""
        b = self.b
        tasks: list[dict] = []
        for r in rows["Task"]:
            if r["Id"] in pinned or not r["IsClosed"] or r["ActivityDate"] is None:
                tasks.append(r)
                continue
            o = b.offset(r["ActivityDate"])
            if r["OwnerId"] in self.capture_reps and r["Type"] in _CAPTURED and o >= self.capture_since:
                night = self.batch_night(o)
                if night is not None:
                    self._stamp(r, b.midnight + timedelta(days=night, hours=CAPTURE_HOUR), self.integration)
                    tasks.append(r)
                continue
            if rng.random() < self.late_share(r["OwnerId"]):
                day = o + self.lag(rng)
                if day > -1:
                    continue  # the rep has not logged it yet
                self._stamp(r, b.at(day, rng.randint(480, 1140)), r["CreatedById"])
            tasks.append(r)
        rows["Task"] = tasks
        events: list[dict] = []
        for r in rows["Event"]:
            o = b.offset(r["ActivityDate"])
            late = r["Id"] not in pinned and r["Type"] == "Meeting" and o <= -1
            if late and rng.random() < self.late_share(r["OwnerId"]):
                day = o + self.lag(rng)
                if day > -1:
                    continue  # not entered yet
                t = b.at(day, rng.randint(480, 1140))
                r["CreatedDate"] = r["LastModifiedDate"] = r["SystemModstamp"] = t
            events.append(r)
        rows["Event"] = events

    @staticmethod
    def _stamp(r: dict, saved: datetime, by: str) -> None:
        """A completed Task inserted closed at `saved` by `by`: CompletedDateTime is the insert's instant."""
        r["CreatedDate"] = r["CompletedDateTime"] = r["LastModifiedDate"] = r["SystemModstamp"] = saved
        r["CreatedById"] = r["LastModifiedById"] = by


def logged_late(task: dict) -> int:
    """Days between a Task's ActivityDate and its CreatedDate (0 = saved on its day)."""
    created: date = task["CreatedDate"].date()
    return (created - task["ActivityDate"]).days
