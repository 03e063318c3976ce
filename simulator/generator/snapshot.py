"""What `business.advance` knows of the org: read once through SOQL, then kept current by the day loop as it
changes the org (open cases, deals and tasks, reachable contacts, owners, contract anniversaries)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.org.store import Org

__all__ = ["Snapshot", "load"]


@dataclass
class Snapshot:
    """What the day loop needs to know about the org, read once and kept current as changes are made."""

    accounts: list[tuple[str, str]]  # customer (id, owner)
    contacts: dict[str, list[str]]  # account -> reachable contact ids
    cases: list[dict]  # open cases
    opps: list[dict]  # open opportunities
    tasks: list[tuple[str, date]]  # open tasks (id, due date)
    done: list[str]  # completed tasks that may be deleted
    reps: list[str]
    agents: list[str]
    owner: dict[str, str] = field(default_factory=dict)  # account -> owner
    outcomes: dict[str, str] = field(
        default_factory=dict
    )  # renewal opportunity -> "won" | "lost" (ground truth)
    health: dict[str, float] = field(default_factory=dict)  # account -> latent health (ground truth)
    contract: dict[str, tuple[date, float, str]] = field(
        default_factory=dict
    )  # account -> (first win, amount, name)
    renewing: set[str] = field(default_factory=set)  # accounts with an open renewal


def _rows(org: Org, soql: str) -> list[dict]:
    return org.query(soql).records(0, None)


def load(org: Org) -> Snapshot:
    """Read the snapshot through SOQL (and the renewal outcomes and health from ground_truth.json, if any)."""
    users = _rows(org, "SELECT Id, Title FROM User WHERE IsActive = true ORDER BY Id")
    reps = [u["Id"] for u in users if u["Title"] == "Account Executive"]
    agents = [u["Id"] for u in users if u["Title"] == "Service Agent"] or reps
    accounts = [
        (r["Id"], r["OwnerId"])
        for r in _rows(org, "SELECT Id, OwnerId FROM Account WHERE Type LIKE 'Customer%' ORDER BY Id")
    ]
    contacts: dict[str, list[str]] = {}
    for r in _rows(
        org,
        "SELECT Id, AccountId FROM Contact WHERE Left_Company__c = false "
        "AND EmailBouncedDate = null ORDER BY Id",
    ):
        contacts.setdefault(r["AccountId"], []).append(r["Id"])
    cases = [
        {
            "Id": r["Id"],
            "AccountId": r["AccountId"],
            "ContactId": r["ContactId"],
            "Priority": r["Priority"],
            "IsEscalated": r["IsEscalated"],
            "created": date.fromisoformat(r["CreatedDate"][:10]),
        }
        for r in _rows(
            org,
            "SELECT Id, AccountId, ContactId, Priority, IsEscalated, CreatedDate FROM Case "
            "WHERE IsClosed = false ORDER BY Id",
        )
    ]
    opps = [
        {
            "Id": r["Id"],
            "StageName": r["StageName"],
            "Type": r["Type"],
            "AccountId": r["AccountId"],
            "close": date.fromisoformat(r["CloseDate"]),
        }
        for r in _rows(
            org,
            "SELECT Id, StageName, Type, AccountId, CloseDate FROM Opportunity "
            "WHERE IsClosed = false ORDER BY Id",
        )
    ]
    tasks = [
        (r["Id"], date.fromisoformat(r["ActivityDate"]))
        for r in _rows(
            org,
            "SELECT Id, ActivityDate FROM Task WHERE IsClosed = false AND ActivityDate != null ORDER BY Id",
        )
    ]
    done = [
        r["Id"] for r in _rows(org, "SELECT Id FROM Task WHERE IsClosed = true ORDER BY Id DESC LIMIT 500")
    ]
    st = Snapshot(accounts, contacts, cases, opps, tasks, done, reps or agents, agents, dict(accounts))
    truth = Path(org.state_dir) / "ground_truth.json"
    if truth.exists():  # renewals due later close the way the latent health decided at generation
        gt = json.loads(truth.read_text())
        st.outcomes = {r["opportunity_id"]: r["outcome"] for r in gt.get("renewals", [])}
        st.health = gt.get("health", {})
    for r in _rows(
        org,
        "SELECT AccountId, CloseDate, Amount, Account.Name FROM Opportunity "
        "WHERE IsWon = true AND Type = 'New Business' ORDER BY CloseDate, Id",
    ):
        if r["AccountId"] in st.owner and r["AccountId"] not in st.contract:
            st.contract[r["AccountId"]] = (
                date.fromisoformat(r["CloseDate"]),
                r["Amount"] or 0.0,
                (r["Account"] or {}).get("Name") or "",
            )
    st.renewing = {
        r["AccountId"]
        for r in _rows(
            org, "SELECT AccountId FROM Opportunity WHERE IsClosed = false AND Type = 'Renewal' ORDER BY Id"
        )
    }
    return st
