"""The gate on what leaves: `validate_payload(df)` checks the Account flags payload before any push.

Every rule is critical: one bad row stops the push (`result.raise_for_critical()`), because a wrong flag in
front of a salesperson costs more than a late one. Rules: Id present, well-formed and unique;
Risk_Level__c set and in {Red, Amber, Green}; Risk_Score__c set and in 0..100; Risk_Reasons__c at most 1000
characters; Risk_Trend__c in {Rising, Steady, Falling} when set; Risk_Model_Version__c at most 40 characters;
Risk_Computed_At__c a plausible date; only owned fields (Id + the Risk_* fields) present, with at least
Id, Risk_Level__c and Risk_Score__c. Bookkeeping columns (`payload_hash`) are ignored.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd

from expectations.model import BatchValidation, GateSettings
from expectations.suites import ID_REGEX, Rule, Severity, default_max_date
from expectations.validate import prepare_frame, run_rules

__all__ = ["LEVELS", "OWNED_FIELDS", "TRENDS", "payload_rules", "validate_payload"]

LEVELS = ("Red", "Amber", "Green")
TRENDS = ("Rising", "Steady", "Falling")
OWNED_FIELDS = (
    "Id",
    "Risk_Level__c",
    "Risk_Score__c",
    "Risk_Reasons__c",
    "Risk_Trend__c",
    "Risk_Computed_At__c",
    "Risk_Model_Version__c",
)
REQUIRED_FIELDS = ("Id", "Risk_Level__c", "Risk_Score__c")
IGNORED_COLUMNS = ("payload_hash",)


def payload_rules(
    columns: list[str], *, owned_fields: Iterable[str] = OWNED_FIELDS, min_date: datetime, max_date: datetime
) -> list[Rule]:
    """The critical rules of the Account flags payload, restricted to the columns it has."""
    owned, present = list(owned_fields), set(columns)
    c: Severity = "critical"
    out = [
        Rule(
            "payload_fields:required",
            "columns_present",
            (),
            c,
            {"column_set": list(REQUIRED_FIELDS)},
            "the payload carries Id, Risk_Level__c and Risk_Score__c",
        ),
        # exact match against the owned columns it has: fails on exactly the columns we do not own
        Rule(
            "payload_fields:owned_only",
            "columns_only",
            (),
            c,
            {"column_set": [col for col in columns if col in owned]},
            "only the pipeline's own fields",
        ),
    ]
    wanted = [
        Rule("required:Id", "not_null", ("Id",), c, description="every row names its Account"),
        Rule("id_format:Id", "regex", ("Id",), c, {"regex": ID_REGEX}, "15/18-character Account ids"),
        Rule("duplicate_ids:Id", "unique", ("Id",), c, description="one row per Account"),
        Rule(
            "required:Risk_Level__c", "not_null", ("Risk_Level__c",), c, description="every row has a level"
        ),
        Rule(
            "level_in_set:Risk_Level__c",
            "in_set",
            ("Risk_Level__c",),
            c,
            {"value_set": list(LEVELS)},
            "Red, Amber or Green",
        ),
        Rule(
            "required:Risk_Score__c", "not_null", ("Risk_Score__c",), c, description="every row has a score"
        ),
        Rule(
            "score_range:Risk_Score__c",
            "between",
            ("Risk_Score__c",),
            c,
            {"min_value": 0, "max_value": 100},
            "scores lie in 0..100",
        ),
        Rule(
            "text_length:Risk_Reasons__c",
            "max_length",
            ("Risk_Reasons__c",),
            c,
            {"max_value": 1000},
            "reasons fit the 1000-character field",
        ),
        Rule(
            "trend_in_set:Risk_Trend__c",
            "in_set",
            ("Risk_Trend__c",),
            c,
            {"value_set": list(TRENDS)},
            "Rising, Steady or Falling",
        ),
        Rule(
            "text_length:Risk_Model_Version__c",
            "max_length",
            ("Risk_Model_Version__c",),
            c,
            {"max_value": 40},
            "model version fits the 40-character field",
        ),
        Rule(
            "date_range:Risk_Computed_At__c",
            "between",
            ("Risk_Computed_At__c",),
            c,
            {"min_value": min_date, "max_value": max_date},
            "a plausible computation time",
        ),
    ]
    return out + [r for r in wanted if r.column in present]


def validate_payload(
    df: pd.DataFrame,
    *,
    owned_fields: Iterable[str] = OWNED_FIELDS,
    settings: Any = None,
    now: datetime | None = None,
    run_name: str | None = None,
) -> BatchValidation:
    """Validate the outgoing Account flags payload; any failure is critical (`result.critical`)."""
    started = time.perf_counter()
    gs = GateSettings.from_settings(settings)
    body = df.drop(columns=[c for c in IGNORED_COLUMNS if c in df.columns])
    columns = [str(col) for col in body.columns]
    dates = [col for col in ("Risk_Computed_At__c",) if col in columns]
    frame = prepare_frame(body, dates)
    rules = payload_rules(
        columns,
        owned_fields=owned_fields,
        min_date=gs.min_date,
        max_date=default_max_date(now, gs.future_years),
    )
    table = [r for r in rules if r.kind in ("columns_present", "columns_only", "unique")]
    rows = [r for r in rules if r not in table]
    result = run_rules(
        "Account",
        frame,
        body,
        row=rows,
        batch=table,
        gs=gs,
        run_name=run_name,
        suite_prefix="Account.payload",
        label="Account payload",
    )
    result.seconds = time.perf_counter() - started
    return result
