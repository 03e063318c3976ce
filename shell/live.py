"""Changes with a known effect on the flags, made in a simulated org: for `crm-risk demo --live`, the event-path
tests and bench/events.py. The org is the simulator's store, passed in (only shell/demo.py imports the simulator).

    picks = escalation_candidates(con, as_of, 5)   # [(account id, case id)] on a scored warehouse
    escalate(sim.org, case_id)                       # the account turns Red: "no follow-up after an urgent fix"
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

from transforms.statements import statement

__all__ = ["RISK_FIELDS", "account_flags", "escalate", "escalation_candidates"]

RISK_FIELDS = (
    "Risk_Level__c",
    "Risk_Score__c",
    "Risk_Reasons__c",
    "Risk_Trend__c",
    "Risk_Computed_At__c",
    "Risk_Model_Version__c",
)


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
