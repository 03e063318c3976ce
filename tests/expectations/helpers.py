"""Test data for the data-quality gate: a Case-like frame generator and the describe facts that go with it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

CASE_TYPES = {
    "Id": "id",
    "IsDeleted": "boolean",
    "CaseNumber": "string",
    "AccountId": "reference",
    "ContactId": "reference",
    "Status": "picklist",
    "IsClosed": "boolean",
    "ClosedDate": "datetime",
    "Priority": "picklist",
    "Origin": "picklist",
    "Type": "picklist",
    "Reason": "picklist",
    "IsEscalated": "boolean",
    "Subject": "string",
    "Description": "textarea",
    "OwnerId": "reference",
    "CreatedById": "reference",
    "CreatedDate": "datetime",
    "LastModifiedById": "reference",
    "LastModifiedDate": "datetime",
    "SystemModstamp": "datetime",
    "CSAT__c": "double",
}
CASE_PICKLISTS = {
    "Status": {"New", "Working", "Escalated", "On Hold", "Closed"},
    "Priority": {"High", "Medium", "Low"},
    "Origin": {"Phone", "Email", "Web"},
    "Type": {"Mechanical", "Electrical", "Electronic", "Structural", "Billing", "Other"},
    "Reason": {"Installation", "Performance", "Breakdown", "Feedback", "Other"},
}
CASE_LENGTHS = {
    "CaseNumber": 30,
    "Status": 255,
    "Priority": 255,
    "Origin": 255,
    "Type": 255,
    "Reason": 255,
    "Subject": 255,
    "Description": 32000,
}


def sf_id(prefix: str, serial: np.ndarray) -> np.ndarray:
    """18-character id-shaped strings (the checksum is not computed: the gate checks shape only)."""
    return np.char.add(np.char.add(prefix, np.char.zfill(serial.astype(str), 12)), "AAA")


def case_frame(n: int, seed: int = 7) -> pd.DataFrame:
    """A clean Case-like batch of n rows with the extract's column types (UTC timestamps, str, bool, float)."""
    rng = np.random.default_rng(seed)
    serial = np.arange(n)
    created = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 60_000_000, n), unit="s")
    closed_flag = rng.random(n) < 0.7
    closed = (created + pd.to_timedelta(rng.integers(0, 3_000_000, n), unit="s")).where(closed_flag)
    modified = created + pd.to_timedelta(rng.integers(0, 4_000_000, n), unit="s")
    modified = modified.where(~closed_flag, np.maximum(modified, closed))
    users = sf_id("005", rng.integers(0, 50, n))
    return pd.DataFrame(
        {
            "Id": sf_id("500", serial),
            "IsDeleted": np.zeros(n, dtype=bool),
            "CaseNumber": np.char.zfill(serial.astype(str), 8),
            "AccountId": sf_id("001", rng.integers(0, 2000, n)),
            "ContactId": sf_id("003", rng.integers(0, 8000, n)),
            "Status": np.where(closed_flag, "Closed", rng.choice(["New", "Working", "Escalated"], n)),
            "IsClosed": closed_flag,
            "ClosedDate": closed,
            "Priority": rng.choice(["High", "Medium", "Low"], n),
            "Origin": rng.choice(["Phone", "Email", "Web"], n),
            "Type": rng.choice(["Mechanical", "Electrical", "Billing"], n),
            "Reason": rng.choice(["Installation", "Performance", "Breakdown"], n),
            "IsEscalated": rng.random(n) < 0.1,
            "Subject": rng.choice(["Printer on fire", "Invoice wrong", "Cannot log in ☕", "שלום עולם"], n),
            "Description": rng.choice(["", "Longer description " * 20], n),
            "OwnerId": users,
            "CreatedById": users,
            "CreatedDate": created,
            "LastModifiedById": users,
            "LastModifiedDate": modified,
            "SystemModstamp": modified,
            "CSAT__c": np.where(rng.random(n) < 0.5, rng.integers(1, 6, n).astype(float), np.nan),
        }
    )


def case_kwargs(**extra: Any) -> dict[str, Any]:
    """validate_batch keyword arguments for the Case frame (describe facts, expected fields, clock)."""
    base: dict[str, Any] = {
        "picklists": CASE_PICKLISTS,
        "lengths": CASE_LENGTHS,
        "field_types": CASE_TYPES,
        "expected_fields": list(CASE_TYPES),
        "now": NOW,
    }
    return {**base, **extra}
