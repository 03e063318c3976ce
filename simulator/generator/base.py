"""Row building blocks for the synthetic org: ids, system stamps and one helper per object.

Days are integer offsets from `today` (negative = past). Every row is a shallow copy of a per-object template
holding every schema field (None where empty), so rows always carry the full field set in describe order.
Rows are written into a per-account buffer first, so scenario planting can still edit or drop them before
`flush` moves them into the org.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from simulator.org.ids import KEY_PREFIXES, make_id
from simulator.org.schema import CASE_STATUSES, OPPORTUNITY_STAGES, SCHEMA, TASK_STATUSES

__all__ = ["Builder", "Rows", "fast_id"]

Rows = dict[str, list[dict]]
# OpportunityHistory.ForecastCategory uses the API names of the forecast categories.
_HIST_FORECAST = {
    "Pipeline": "Pipeline",
    "Best Case": "BestCase",
    "Commit": "Forecast",
    "Closed": "Closed",
    "Omitted": "Omitted",
}


_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHK = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
# Two base-62 characters and their upper-case bit pattern, so ids are built without make_id's per-digit loop
# (make_id is 40% of generation time otherwise). tests/simulator/test_generator.py checks both agree.
_PAIRS = [(a + b, ("A" <= a <= "Z") | (("A" <= b <= "Z") << 1)) for a in _B62 for b in _B62]
_HEADS = {o: f"{p}8d" for o, p in KEY_PREFIXES.items()}  # key prefix + pod
_HEAD_CHK = {
    o: _CHK[sum(1 << i for i, ch in enumerate(f"{p}8d") if "A" <= ch <= "Z")] for o, p in KEY_PREFIXES.items()
}


def fast_id(sobject: str, serial: int) -> str:
    """The same id as simulator.org.ids.make_id(sobject, serial) for serials below 62**5, several times faster."""
    head = _HEADS[sobject]
    first, rest = divmod(serial, 3844 * 3844)
    if first >= 62:
        return make_id(sobject, serial)
    p1, p2 = _PAIRS[rest // 3844], _PAIRS[rest % 3844]
    c = _B62[first]
    bits = ("A" <= c <= "Z") | (p1[1] << 1) | (p2[1] << 3)
    return f"{head}00000{c}{p1[0]}{p2[0]}{_HEAD_CHK[sobject]}A{_CHK[bits]}"


def _template(name: str) -> dict:
    out: dict = {}
    for f in SCHEMA[name].fields:
        value = f.default
        if value is None and f.type == "boolean" and not f.nillable:
            value = False
        out[f.name] = value
    return out


class Builder:
    """Creates rows with ids, stamps and derived fields; keeps per-object serials and the org-wide row lists."""

    def __init__(self, today: date) -> None:
        self.today = today
        self.midnight = datetime(today.year, today.month, today.day, tzinfo=UTC)
        self.latest = self.midnight - timedelta(
            seconds=1
        )  # nothing in the generated past is stamped after this
        self.data: dict[str, list[dict]] = {name: [] for name in SCHEMA}
        self._serial = dict.fromkeys(SCHEMA, 0)
        self._tmpl = {name: _template(name) for name in SCHEMA}
        self._days: dict[int, datetime] = {}
        self._dates: dict[int, date] = {}
        self.buf: Rows = self.new_rows()

    # -- time -------------------------------------------------------------------------------------------------
    def day(self, o: int) -> date:
        """The date `o` days from today."""
        d = self._dates.get(o)
        if d is None:
            d = self._dates[o] = self.today + timedelta(days=o)
        return d

    def at(self, o: int, minute: int = 600) -> datetime:
        """A UTC datetime on day `o` at `minute` minutes past midnight (capped at the latest allowed stamp)."""
        base = self._days.get(o)
        if base is None:
            base = self._days[o] = self.midnight + timedelta(days=o)
        t = base + timedelta(minutes=minute)
        return t if t < self.latest else self.latest

    def offset(self, d: date) -> int:
        """Days from today to `d`."""
        return (d - self.today).days

    # -- buffers ----------------------------------------------------------------------------------------------
    @staticmethod
    def new_rows() -> Rows:
        """An empty per-object row buffer."""
        return {name: [] for name in SCHEMA}

    def start(self) -> Rows:
        """Start a fresh account buffer and return it."""
        self.buf = self.new_rows()
        return self.buf

    def flush(self, rows: Rows) -> None:
        """Fill the LastActivityDate roll-ups of one account's rows and move them into the org."""
        last: dict[str, date] = {}
        for r in rows["Task"]:
            if r["IsClosed"] and r["ActivityDate"] is not None:
                for key in (r["AccountId"], r["WhoId"], r["WhatId"]):
                    if key and (key not in last or last[key] < r["ActivityDate"]):
                        last[key] = r["ActivityDate"]
        for r in rows["Event"]:
            if r["ActivityDate"] is not None and r["ActivityDate"] < self.today:
                for key in (r["AccountId"], r["WhoId"], r["WhatId"]):
                    if key and (key not in last or last[key] < r["ActivityDate"]):
                        last[key] = r["ActivityDate"]
        for obj in ("Account", "Contact", "Opportunity"):
            for r in rows[obj]:
                r["LastActivityDate"] = last.get(r["Id"])
        for name, lst in rows.items():
            if lst:
                self.data[name].extend(lst)

    # -- generic row --------------------------------------------------------------------------------------------
    def row(self, obj: str, created: datetime, modified: datetime, by: str, values: dict) -> dict:
        """A full row of `obj` with a fresh id and system stamps, appended to the current buffer."""
        self._serial[obj] += 1
        r = dict(self._tmpl[obj])
        r["Id"] = fast_id(obj, self._serial[obj])
        r["CreatedById"] = by
        r["CreatedDate"] = created
        if "SystemModstamp" in r:
            if modified < created:
                modified = created
            if "LastModifiedDate" in r:
                r["LastModifiedDate"] = modified
                r["LastModifiedById"] = by
            r["SystemModstamp"] = modified
        r.update(values)
        self.buf[obj].append(r)
        return r

    def user(self, serial_by: str | None, created: datetime, values: dict) -> dict:
        """A User row; the first user created is its own creator."""
        r = self.row("User", created, created, serial_by or "", values)
        if not serial_by:
            r["CreatedById"] = r["LastModifiedById"] = r["Id"]
        r["Name"] = f"{r['FirstName']} {r['LastName']}"
        return r

    # -- objects ----------------------------------------------------------------------------------------------
    def opportunity(
        self, account: dict, name: str, typ: str, owner: str, steps: list[tuple[int, int, str, float, int]]
    ) -> dict:
        """An opportunity and its history: steps are (day, minute, stage, amount, close day), the last is current."""
        o0, m0, stage, amount, close = steps[-1]
        prob, closed, won, forecast = OPPORTUNITY_STAGES[stage]
        created = self.at(steps[0][0], steps[0][1])
        modified = self.at(o0, m0)
        last_change = steps[0]
        for prev, step in pairwise(steps):
            if step[2] != prev[2]:
                last_change = step
        opp = self.row(
            "Opportunity",
            created,
            modified,
            owner,
            {
                "AccountId": account["Id"],
                "Name": name,
                "StageName": stage,
                "Amount": amount,
                "Probability": float(prob),
                "CloseDate": self.day(close),
                "Type": typ,
                "IsClosed": closed,
                "IsWon": won,
                "ForecastCategoryName": forecast,
                "OwnerId": owner,
                "LastStageChangeDate": self.at(last_change[0], last_change[1]),
            },
        )
        prev_amount: float | None = None
        prev_close: date | None = None
        for o, m, st, amt, cl in steps:
            p, _, _, fc = OPPORTUNITY_STAGES[st]
            t = self.at(o, m)
            self.row(
                "OpportunityHistory",
                t,
                t,
                owner,
                {
                    "OpportunityId": opp["Id"],
                    "StageName": st,
                    "Amount": amt,
                    "Probability": float(p),
                    "CloseDate": self.day(cl),
                    "ForecastCategory": _HIST_FORECAST[fc],
                    "PrevAmount": prev_amount,
                    "PrevCloseDate": prev_close,
                },
            )
            prev_amount, prev_close = amt, self.day(cl)
        return opp

    def contact_role(self, opp: dict, contact: dict, role: str, primary: bool) -> dict:
        """An OpportunityContactRole created with the opportunity."""
        return self.row(
            "OpportunityContactRole",
            opp["CreatedDate"],
            opp["CreatedDate"],
            opp["OwnerId"],
            {
                "OpportunityId": opp["Id"],
                "ContactId": contact["Id"],
                "Role": role,
                "IsPrimary": primary,
            },
        )

    def case(
        self,
        account: dict,
        contact: dict | None,
        owner: str,
        created: datetime,
        closed: datetime | None,
        values: dict,
    ) -> dict:
        """A Case; `closed` None leaves it open (Status from values, default 'New')."""
        serial = self._serial["Case"] + 1
        status = "Closed" if closed is not None else values.pop("Status", "New")
        modified = closed if closed is not None else created + timedelta(hours=3)
        r = self.row(
            "Case",
            created,
            min(modified, self.latest),
            owner,
            {
                "CaseNumber": f"{1000 + serial:08d}",
                "AccountId": account["Id"],
                "ContactId": contact["Id"] if contact else None,
                "Status": status,
                "IsClosed": CASE_STATUSES[status],
                "ClosedDate": closed,
                "OwnerId": owner,
                **values,
            },
        )
        return r

    def task(
        self,
        account_id: str,
        what_id: str | None,
        who_id: str | None,
        owner: str,
        o: int,
        minute: int,
        subject: str,
        typ: str,
        status: str = "Completed",
        priority: str = "Normal",
    ) -> dict:
        """A Task on day `o`; completed ones carry CompletedDateTime, open ones were created before today."""
        closed = TASK_STATUSES[status]
        when = self.at(o, minute)
        created = self.at(min(o, -1), minute - 30) if closed else self.at(min(o - 3, -1), 540)
        return self.row(
            "Task",
            created,
            when if closed else created,
            owner,
            {
                "WhatId": what_id or account_id,
                "WhoId": who_id,
                "AccountId": account_id,
                "Subject": subject,
                "ActivityDate": self.day(o),
                "OwnerId": owner,
                "Status": status,
                "Priority": priority,
                "Type": typ,
                "TaskSubtype": "Call" if typ == "Call" else ("Email" if typ == "Email" else "Task"),
                "IsClosed": closed,
                "CompletedDateTime": when if closed else None,
            },
        )

    def event(
        self,
        account_id: str,
        what_id: str | None,
        who_id: str | None,
        owner: str,
        o: int,
        minute: int,
        duration: int,
        typ: str,
        subject: str,
    ) -> dict:
        """An Event on day `o` (created a week before, or earlier today for past-dated ones)."""
        start = self.midnight + timedelta(days=o, minutes=minute)
        created = self.at(min(o - 7, -1), 480)
        return self.row(
            "Event",
            created,
            created,
            owner,
            {
                "WhatId": what_id or account_id,
                "WhoId": who_id,
                "AccountId": account_id,
                "Subject": subject,
                "ActivityDate": self.day(o),
                "OwnerId": owner,
                "Type": typ,
                "EventSubtype": "Event",
                "ActivityDateTime": start,
                "StartDateTime": start,
                "EndDateTime": start + timedelta(minutes=duration),
                "DurationInMinutes": duration,
            },
        )

    def account_history(
        self, account: dict, o: int, minute: int, by: str, fld: str, old: str, new: str
    ) -> dict:
        """An AccountHistory row (Owner changes: DataType EntityId; Type changes: Picklist)."""
        t = self.at(o, minute)
        return self.row(
            "AccountHistory",
            t,
            t,
            by,
            {
                "AccountId": account["Id"],
                "Field": fld,
                "DataType": "EntityId" if fld == "Owner" else "Picklist",
                "OldValue": old,
                "NewValue": new,
            },
        )

    @staticmethod
    def touch(row: dict, o: int, by: str, builder: Builder) -> None:
        """Record a modification of `row` on day `o` by `by` (LastModifiedDate / SystemModstamp move forward)."""
        t = builder.at(o, 700)
        if t > row["SystemModstamp"]:
            row["LastModifiedDate"] = row["SystemModstamp"] = t
            row["LastModifiedById"] = by
