"""Changes with a known effect on the flags, made in a simulated org: for `crm-risk demo --live`, the event-path
tests and bench/events.py. The org is the simulator's store, passed in (only shell/demo.py imports the simulator).

    picks = escalation_candidates(con, as_of, 5)   # [(account id, case id)] on a scored warehouse
    escalate(sim.org, case_id)                       # the account turns Red: "no follow-up after an urgent fix"
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import duckdb

from crm_risk.fields import PUSH_FIELDS
from transforms.statements import statement

__all__ = [
    "RISK_FIELDS",
    "account_flags",
    "account_names",
    "escalate",
    "escalation_candidates",
    "watch_flags",
]

RISK_FIELDS = tuple(PUSH_FIELDS.values())


def escalation_candidates(
    con: duckdb.DuckDBPyConnection, as_of: datetime, limit: int
) -> list[tuple[str, str]]:
    """(account id, case id) pairs: a Green customer account and a closed case of it nobody followed up on, whose
    escalation makes the account Red (transforms/live/escalation_candidates.sql)."""
    rows = con.execute(statement("live/escalation_candidates"), {"as_of": as_of, "limit": limit}).fetchall()
    return [(str(a), str(c)) for a, c in rows]


def escalate(org: Any, case_id: str) -> None:
    """Mark the case escalated and high priority, as a rep does after an angry call (one Case update in the org)."""
    org.update("Case", case_id, {"IsEscalated": True, "Priority": "High"})


def account_flags(org: Any) -> dict[str, dict[str, Any]]:
    """Every Account's risk fields in the org, by id (read from the simulator's store: no API call)."""
    soql = f"SELECT Id, {', '.join(RISK_FIELDS)} FROM Account"
    return {r["Id"]: {k: r.get(k) for k in RISK_FIELDS} for r in org.query(soql).records(0)}


def account_names(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, str]:
    """Account id -> name, from the warehouse."""
    rows = con.execute(
        "select account_id, account_name from staging.stg_accounts where account_id in (select unnest(?))",
        [ids],
    ).fetchall()
    return {str(a): str(n) for a, n in rows}


def watch_flags(
    org: Any, changes: list[tuple[str, str, str]], timeout: float = 120.0, gap: float = 4.0
) -> list[float | None]:
    """Make each change (account, case, account name): escalate the case, then print the account's flag moving and
    the seconds it took (from the commit to the Account's new values in the CRM); None for one that did not move."""
    took: list[float | None] = []
    for i, (account, case, name) in enumerate(changes, 1):
        before = account_flags(org).get(account, {})
        print(
            f"\n  change {i}: case {case} of {name} escalated (the account is {before.get('Risk_Level__c')})"
        )
        start = time.monotonic()
        escalate(org, case)
        after = before
        while time.monotonic() - start < timeout:
            after = account_flags(org).get(account, {})
            if after.get("Risk_Level__c") != before.get("Risk_Level__c"):
                break
            time.sleep(0.1)
        seconds = time.monotonic() - start
        if after.get("Risk_Level__c") == before.get("Risk_Level__c"):
            print(f"    no flag change within {timeout:.0f}s")
            took.append(None)
            continue
        took.append(seconds)
        first = " (the refresh run had to start)" if i == 1 else ""
        print(f"    -> {after.get('Risk_Level__c')} in the CRM after {seconds:.1f}s{first}")
        for reason in str(after.get("Risk_Reasons__c") or "").split("\n"):
            print(f"       {reason}")
        soql = f"SELECT Subject FROM Task WHERE WhatId = '{account}' AND Risk_Task_Key__c != null AND IsClosed = false"
        tasks: list[dict[str, Any]] = []
        until = time.monotonic() + 10  # the Task is created right after the Account update
        while not tasks and time.monotonic() < until:
            tasks = org.query(soql).records(0)
            time.sleep(0.1)
        for t in tasks:
            print(f"       owner Task for the account's owner: {t['Subject']}")
        if i < len(changes):
            time.sleep(gap)
    return took
