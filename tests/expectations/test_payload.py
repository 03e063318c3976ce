"""The outgoing Account flags payload: every rule is critical and names the failing values."""

from __future__ import annotations

import pandas as pd
import pytest

from expectations import validate_payload
from tests.expectations.helpers import NOW


@pytest.fixture()
def payload(gx_warm: None) -> pd.DataFrame:
    """A clean five-account payload as sync.account_push_pending hands it over."""
    return pd.DataFrame(
        {
            "Id": [f"0010000000000{i:02d}AAA" for i in range(5)],
            "Risk_Level__c": ["Red", "Amber", "Green", "Green", "Red"],
            "Risk_Score__c": [88.0, 55.5, 0.0, 12.0, 100.0],
            "Risk_Reasons__c": ["3 escalated cases in 30 days", "Champion left", None, "", "r" * 1000],
            "Risk_Trend__c": ["Rising", "Steady", "Falling", None, "Rising"],
            "Risk_Computed_At__c": pd.Timestamp("2026-11-25T03:00:00Z"),
            "Risk_Model_Version__c": "rules-2026.11",
            "payload_hash": ["a", "b", "c", "d", "e"],
        }
    )


def test_clean_payload_passes(payload: pd.DataFrame) -> None:
    res = validate_payload(payload, now=NOW)
    assert res.ok and res.good_mask.all() and res.row_failures == {}


BAD = [
    ("Risk_Level__c", "Purple", "level_in_set:Risk_Level__c", "'Purple' is not one of Red, Amber, Green"),
    ("Risk_Level__c", None, "required:Risk_Level__c", "Risk_Level__c is empty"),
    ("Risk_Score__c", 100.5, "score_range:Risk_Score__c", "100.5 is not in 0..100"),
    ("Risk_Score__c", -1.0, "score_range:Risk_Score__c", "-1 is not in 0..100"),
    ("Risk_Reasons__c", "x" * 1001, "text_length:Risk_Reasons__c", "1001 characters, more than 1000"),
    ("Risk_Trend__c", "Up", "trend_in_set:Risk_Trend__c", "'Up' is not one of Rising, Steady, Falling"),
    ("Id", "001bad", "id_format:Id", "'001bad' is not a 15/18-character"),
]


def test_each_bad_value_is_critical(payload: pd.DataFrame) -> None:
    df = pd.concat([payload] * 2, ignore_index=True)
    df["Id"] = [f"0010000000000{i:02d}AAA" for i in range(len(df))]
    for pos, (column, value, _rule, _reason) in enumerate(BAD):
        df.loc[pos, column] = value
    res = validate_payload(df, now=NOW)
    assert sorted(c.expectation for c in res.critical) == sorted({b[2] for b in BAD})
    by_name = {c.expectation: c.message for c in res.critical}
    assert "failed on Account payload: 2 of 10 rows fail" in by_name["score_range:Risk_Score__c"]
    assert (
        "failed on Account payload: 1 of 10 rows fail (e.g. 'Purple')"
        in by_name["level_in_set:Risk_Level__c"]
    )
    assert res.good_mask.tolist() == [False] * len(BAD) + [True] * (10 - len(BAD))
    for pos, (_column, _value, rule, reason) in enumerate(BAD):
        failures = res.failures_at[pos]
        assert [f.split(": ")[0] for f in failures] == [rule] and reason in failures[0], failures


def test_foreign_field_is_critical(payload: pd.DataFrame) -> None:
    df = payload.assign(Name="Acme", OwnerId="005000000000001AAA")
    res = validate_payload(df, now=NOW)
    assert [c.expectation for c in res.critical] == ["payload_fields:owned_only"]
    assert res.critical[0].message.endswith("fields the pipeline does not own: Name, OwnerId")


def test_missing_score_column_and_duplicate_account(payload: pd.DataFrame) -> None:
    df = payload.drop(columns=["Risk_Score__c"])
    df.loc[4, "Id"] = df.loc[0, "Id"]
    res = validate_payload(df, now=NOW)
    names = sorted(c.expectation for c in res.critical)
    assert names == ["duplicate_ids:Id", "payload_fields:required"]
    assert "expected field(s) vanished: Risk_Score__c" in " ".join(c.message for c in res.critical)
