"""An org whose history was migrated into Salesforce on one day (`generate(..., migrated_on=day)`).

Everything the old system held before the migration day is inserted on that day by the migration user (the
integration user), without "Set Audit Fields upon Record Creation", as most migrations are run:

- `CreatedDate`, `LastModifiedDate` and `SystemModstamp` are system stamps: every migrated record gets the instant
  of its load on the migration day (one object after the other: users, accounts, contacts, opportunities and
  their contact roles, cases, tasks, events; 200 records a second), `CreatedById` the migration user. A record
  changed again after the migration keeps that later modification.
- Business dates are createable and keep the day things happened: `Task.ActivityDate`, Event start and end,
  `Opportunity.CloseDate`, `Contact.EmailBouncedDate`, the contacts' and cases' picklists and flags.
- Read-only stamps set by the save take the load's instant: `Task.CompletedDateTime` (a Task inserted closed),
  `Case.ClosedDate` (a Case inserted closed), `Opportunity.LastStageChangeDate`.
- History tables are written by Salesforce, never by an insert: an opportunity's stage and amount changes before
  the migration are lost (its `OpportunityHistory` starts with one row, the state it was loaded in), and the
  account field history (`AccountHistory`: owner changes, churn) starts on the migration day.

Records created after the migration day are the org's own, as before.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from simulator.generator.base import Builder

__all__ = ["LOAD_HOURS", "migrate"]

# Hour of the migration day at which each object's load starts (a parent before its children).
LOAD_HOURS = {
    "User": 0,
    "Account": 1,
    "Contact": 2,
    "Opportunity": 3,
    "OpportunityContactRole": 4,
    "Case": 5,
    "Task": 6,
    "Event": 8,
}
_PER_SECOND = 200
_READ_ONLY_STAMPS = {
    "Task": "CompletedDateTime",
    "Case": "ClosedDate",
    "Opportunity": "LastStageChangeDate",
}


def migrate(b: Builder, day: date, by: str) -> int:
    """Re-stamp every record created before `day` as loaded on `day` by user `by` (in place); returns the count."""
    if not day < b.today:
        raise ValueError(f"migrated_on {day} must be before the org's today {b.today}")
    cutoff = datetime(day.year, day.month, day.day, tzinfo=UTC)
    loaded_at: dict[str, datetime] = {}
    moved = 0
    for obj, hour in LOAD_HOURS.items():
        base = cutoff + timedelta(hours=hour)
        k = 0
        for r in b.data[obj]:
            if r["CreatedDate"] >= cutoff:
                continue
            at = base + timedelta(seconds=k // _PER_SECOND)
            k += 1
            _restamp(r, at, cutoff, by if obj != "User" else r["CreatedById"])
            stamp = _READ_ONLY_STAMPS.get(obj)
            if stamp and r[stamp] is not None and r[stamp] < cutoff:
                r[stamp] = at
            loaded_at[r["Id"]] = at
        moved += k
    b.data["OpportunityHistory"] = _history(b, cutoff, loaded_at, by)
    b.data["AccountHistory"] = [r for r in b.data["AccountHistory"] if r["CreatedDate"] >= cutoff]
    return moved


def _restamp(r: dict, at: datetime, cutoff: datetime, by: str) -> None:
    r["CreatedDate"] = at
    r["CreatedById"] = by
    if "LastModifiedDate" in r and r["LastModifiedDate"] < cutoff:
        r["LastModifiedDate"] = at
        r["LastModifiedById"] = by
    if "SystemModstamp" in r and r["SystemModstamp"] < cutoff:
        r["SystemModstamp"] = at


def _history(b: Builder, cutoff: datetime, loaded_at: dict[str, datetime], by: str) -> list[dict]:
    """OpportunityHistory: the rows before the migration collapse into one, the state each deal was loaded in."""
    rows = b.data["OpportunityHistory"]
    before: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["CreatedDate"] < cutoff:
            before[r["OpportunityId"]].append(r)
    out: list[dict] = []
    seen: set[str] = set()
    b.start()
    for r in rows:
        oid = r["OpportunityId"]
        if r["CreatedDate"] >= cutoff:
            out.append(r)
            continue
        if oid in seen:
            continue
        seen.add(oid)
        last, at = before[oid][-1], loaded_at[oid]
        keep = ("StageName", "Amount", "Probability", "CloseDate", "ForecastCategory")
        out.append(
            b.row("OpportunityHistory", at, at, by, {"OpportunityId": oid, **{k: last[k] for k in keep}})
        )
    b.start()
    return out
