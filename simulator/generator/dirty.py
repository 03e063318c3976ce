"""Dirty data for `generate(..., dirty=True)`: the row-level defects real orgs carry, on background accounts only.

Each defect touches about one record per 200 accounts (at least one) and is listed in ground_truth["dirty"] as
{"object", "record_id", "problem"}, so the pipeline's data-quality gates can be checked against it. Planted and
control accounts are never touched: their signals stay exact. The defects are row-level (a quarantine, not a
stopped run): a contact without an account, a case closed before it was opened, a negative amount, a CSAT
outside 1-5, a negative customer yardstick, and duplicate contacts (same name and email, another id).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

from simulator.generator.base import Builder

__all__ = ["PROBLEMS", "make_dirty"]

PROBLEMS = (
    "contact_without_account",
    "closed_before_created",
    "negative_amount",
    "csat_out_of_range",
    "negative_expected_days",
    "duplicate_contact",
)


def make_dirty(b: Builder, rng: random.Random, protected: set[str], accounts: int) -> list[dict]:
    """Apply the defects to rows of unprotected accounts (in place); returns the ground-truth entries."""
    d = b.data
    per = max(1, accounts // 200)
    out: list[dict] = []

    def pick(rows: list[dict], ok: Callable[[dict], object]) -> list[dict]:
        pool = [r for r in rows if r.get("AccountId") not in protected and ok(r)]
        return [pool[i] for i in sorted(rng.sample(range(len(pool)), min(per, len(pool))))]

    def note(obj: str, r: dict, problem: str) -> None:
        out.append({"object": obj, "record_id": r["Id"], "problem": problem})

    for r in pick(d["Contact"], lambda r: r["AccountId"] is not None):
        r["AccountId"] = None  # a "private" contact: its tasks still name the account through WhatId
        note("Contact", r, "contact_without_account")
    for r in pick(d["Case"], lambda r: r["IsClosed"]):
        r["ClosedDate"] = r["CreatedDate"] - timedelta(days=2)  # a migration artefact
        note("Case", r, "closed_before_created")
    for r in pick(d["Opportunity"], lambda r: (r["Amount"] or 0) > 0):
        r["Amount"] = -r["Amount"]
        note("Opportunity", r, "negative_amount")
    for r in pick(d["Case"], lambda r: r["CSAT__c"] is not None):
        r["CSAT__c"] = rng.choice((0.0, 7.0, 10.0))
        note("Case", r, "csat_out_of_range")
    accts = [
        a for a in d["Account"] if a["Id"] not in protected and a["Expected_Resolution_Days__c"] is not None
    ]
    for a in [accts[i] for i in sorted(rng.sample(range(len(accts)), min(per, len(accts))))]:
        a["Expected_Resolution_Days__c"] = -3.0
        note("Account", a, "negative_expected_days")
    b.start()
    for r in pick(d["Contact"], lambda r: r["AccountId"] is not None):
        t = min(r["CreatedDate"] + timedelta(days=rng.randint(30, 300)), b.latest)
        dup = b.row(
            "Contact",
            t,
            t,
            r["CreatedById"],
            {
                k: v
                for k, v in r.items()
                if k
                not in (
                    "Id",
                    "CreatedDate",
                    "CreatedById",
                    "LastModifiedDate",
                    "LastModifiedById",
                    "SystemModstamp",
                    "LastActivityDate",
                )
            },
        )
        note("Contact", dup, "duplicate_contact")
    b.flush(b.buf)
    return out
