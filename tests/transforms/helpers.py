"""Helpers for the SQL transform tests: tiny CRM rows written straight to raw tables, run and read back."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb

from connectors.warehouse.load import SYSTEM_COLUMNS
from transforms.inputs import RAW_INPUTS
from transforms.runner import TransformResult, run_transforms

AS_OF = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
OWNER = "005000000000001AAA"


def ago(days: float, at: datetime = AS_OF) -> datetime:
    """An instant `days` days before `at` (the tests' as-of by default)."""
    return at - timedelta(days=days)


def day(days: float) -> date:
    """The date `days` days before the as-of date (negative: in the future)."""
    return (AS_OF - timedelta(days=days)).date()


class Crm:
    """Writes CRM rows (Salesforce field names) into the raw tables, with defaults for everything not given."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.serial = 0

    def _id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial:015d}"

    def add(self, table: str, **fields: Any) -> str:
        """Insert one row into raw.<table>; returns its Id."""
        columns = {**RAW_INPUTS[table], **SYSTEM_COLUMNS}
        fields.setdefault("Id", self._id(table[:3]))
        fields.setdefault("IsDeleted", False) if "IsDeleted" in columns else None
        fields.setdefault("CreatedDate", ago(1000)) if "CreatedDate" in columns else None
        names = ", ".join(f'"{k}"' for k in fields)
        marks = ", ".join(f"cast(? as {columns[k]})" for k in fields)
        self.con.execute(f'insert into raw."{table}" ({names}) values ({marks})', list(fields.values()))
        return str(fields["Id"])

    def user(self, uid: str = OWNER, first: str = "Alex", last: str = "Lee") -> str:
        """A CRM user."""
        return self.add("user", Id=uid, FirstName=first, LastName=last, Name=f"{first} {last}", IsActive=True)

    def account(self, aid: str, name: str = "Acme", type: str = "Customer - Direct", **kw: Any) -> str:
        """A customer account (override Type for a prospect)."""
        return self.add("account", Id=aid, Name=name, Type=type, OwnerId=kw.pop("OwnerId", OWNER), **kw)

    def contact(self, account: str, first: str = "Jane", last: str = "Smith", **kw: Any) -> str:
        """A contact on an account."""
        return self.add(
            "contact", AccountId=account, FirstName=first, LastName=last, Name=f"{first} {last}", **kw
        )

    def case(
        self, account: str, number: str, opened: datetime, closed: datetime | None = None, **kw: Any
    ) -> str:
        """A case; closed when `closed` is given."""
        kw.setdefault("Priority", "Medium")
        kw.setdefault("Type", "Mechanical")
        kw.setdefault("Reason", "Breakdown")
        kw.setdefault("IsEscalated", False)
        return self.add(
            "case",
            AccountId=account,
            CaseNumber=number,
            CreatedDate=opened,
            ClosedDate=closed,
            IsClosed=closed is not None,
            Status="Closed" if closed else "Working",
            OwnerId=OWNER,
            **kw,
        )

    def task(self, account: str, when: datetime, who: str | None = None, **kw: Any) -> str:
        """A completed task (a touch) by the account owner."""
        kw.setdefault("Status", "Completed")
        return self.add(
            "task",
            AccountId=account,
            WhatId=account,
            WhoId=who,
            CompletedDateTime=when,
            ActivityDate=when.date(),
            IsClosed=kw["Status"] == "Completed",
            OwnerId=kw.pop("OwnerId", OWNER),
            CreatedDate=kw.pop("CreatedDate", when),
            **kw,
        )

    def event(
        self, account: str, when: datetime, type: str = "Meeting", who: str | None = None, **kw: Any
    ) -> str:
        """An event (meeting, business review, service visit)."""
        return self.add(
            "event",
            AccountId=account,
            WhatId=account,
            WhoId=who,
            Type=type,
            StartDateTime=when,
            ActivityDate=when.date(),
            OwnerId=kw.pop("OwnerId", OWNER),
            CreatedDate=kw.pop("CreatedDate", when),
            **kw,
        )

    def opportunity(
        self,
        account: str,
        name: str,
        stage: str,
        close: date,
        type: str = "New Business",
        amount: float = 10000.0,
        **kw: Any,
    ) -> str:
        """An opportunity."""
        closed = stage in ("Closed Won", "Closed Lost")
        return self.add(
            "opportunity",
            AccountId=account,
            Name=name,
            StageName=stage,
            CloseDate=close,
            Type=type,
            Amount=amount,
            IsClosed=closed,
            IsWon=stage == "Closed Won",
            OwnerId=OWNER,
            **kw,
        )

    def history(
        self, opportunity: str, stage: str, at: datetime, amount: float = 10000.0, close: date | None = None
    ) -> str:
        """An OpportunityHistory row."""
        return self.add(
            "opportunity_history",
            OpportunityId=opportunity,
            StageName=stage,
            Amount=amount,
            CloseDate=close or at.date(),
            CreatedDate=at,
        )

    def role(self, opportunity: str, contact: str, primary: bool = True) -> str:
        """An OpportunityContactRole."""
        return self.add(
            "opportunity_contact_role",
            OpportunityId=opportunity,
            ContactId=contact,
            IsPrimary=primary,
            Role="Decision Maker",
        )

    def owner_change(self, account: str, old: str, new: str, at: datetime) -> str:
        """An AccountHistory owner change."""
        return self.add(
            "account_history", AccountId=account, Field="Owner", OldValue=old, NewValue=new, CreatedDate=at
        )


def run(con: duckdb.DuckDBPyConnection, as_of: datetime = AS_OF, run_id: str = "run-1") -> TransformResult:
    """Run every transform as of `as_of`."""
    return run_transforms(con, as_of=as_of, run_id=run_id)


def fired(con: duckdb.DuckDBPyConnection, signal_id: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """account_id -> (reason, evidence) for one signal in marts.account_signals."""
    rows = con.execute(
        "select account_id, reason, evidence from marts.account_signals where signal_id = ?", [signal_id]
    ).fetchall()
    return {a: (r, json.loads(e)) for a, r, e in rows}


def coverage(con: duckdb.DuckDBPyConnection, signal_id: str) -> tuple[str, str | None]:
    """(status, reason) of a signal in marts.signal_coverage."""
    return con.execute(
        "select status, reason from marts.signal_coverage where signal_id = ?", [signal_id]
    ).fetchall()[0]


def view_rows(con: duckdb.DuckDBPyConnection, view: str) -> list[dict[str, Any]]:
    """Every row of a table or view, as dicts."""
    cur = con.execute(f"select * from {view}")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
