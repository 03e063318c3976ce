"""The gate against the simulator's generated org in dirty-data mode: every planted defect, no false positive."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from expectations import validate_batch
from expectations.validate import duplicate_of
from simulator.generator import generate
from simulator.org.schema import SCHEMA

STRING_TYPES = {"string", "textarea", "email", "phone", "url", "picklist", "combobox"}
PROBLEM_RULE = {
    "contact_without_account": "required_ref:AccountId",
    "closed_before_created": "date_order:ClosedDate>=CreatedDate",
    "negative_amount": "non_negative:Amount",
    "csat_out_of_range": "value_range:CSAT__c",
    "negative_expected_days": "non_negative:Expected_Resolution_Days__c",
    "duplicate_contact": "duplicate_record:Email+FirstName+LastName",
}


def _describe_kwargs(name: str) -> dict:
    fields = SCHEMA[name].fields
    return {
        "field_types": {f.name: f.type for f in fields},
        "picklists": {f.name: set(f.picklist) for f in fields if f.type == "picklist"},
        "lengths": {f.name: f.length for f in fields if f.type in STRING_TYPES and f.length},
        "expected_fields": [f.name for f in fields],
        "now": datetime(2026, 11, 25, tzinfo=UTC),
    }


@pytest.fixture(scope="module")
def dirty_org() -> object:
    """A 200-account dirty org (about 20k rows over ten objects)."""
    return generate(200, 5, date(2026, 11, 25), dirty=True)


def test_every_planted_defect_is_quarantined_with_its_reason_and_nothing_else(
    dirty_org, gx_warm: None
) -> None:
    expected = {
        (d["object"], d["record_id"]): PROBLEM_RULE[d["problem"]] for d in dirty_org.ground_truth["dirty"]
    }
    assert set(expected.values()) == set(PROBLEM_RULE.values())
    found: dict[tuple[str, str], list[str]] = {}
    for name, so in SCHEMA.items():
        df = pd.DataFrame(dirty_org.data.get(name, []), columns=[f.name for f in so.fields])
        res = validate_batch(name, df, **_describe_kwargs(name))
        assert res.critical == [], name
        assert res.rows == res.good_count + res.quarantined_count == len(df)
        found.update({(name, rid): failures for rid, failures in res.row_failures.items()})
    assert set(found) == set(expected)
    for key, rule in expected.items():
        assert [f.split(": ")[0] for f in found[key]] == [rule], (key, found[key])


def test_duplicate_of_an_already_loaded_record(gx_warm: None) -> None:
    earlier = pd.DataFrame(
        {
            "Id": ["003000000000001AAA"],
            "Email": ["Ana@Example.com"],
            "FirstName": ["Ana"],
            "LastName": ["Lima"],
            "CreatedDate": pd.to_datetime(["2024-01-01"]).astype("datetime64[us]"),  # DuckDB: naive UTC
        }
    )
    batch = pd.DataFrame(
        {
            "Id": ["003000000000002AAA", "003000000000003AAA", "003000000000004AAA", "003000000000001AAA"],
            "Email": [" ana@example.com", None, "bo@example.com", "ana@example.com"],
            "FirstName": ["ANA", "Bo", "Bo", "Ana"],
            "LastName": ["Lima", "Silva", "Silva", "Lima"],
            "AccountId": ["001000000000001AAA"] * 4,
            "CreatedDate": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03", "2024-01-01"], utc=True),
        }
    )
    assert duplicate_of(batch, ("Email", "FirstName", "LastName"), earlier).tolist() == [
        "003000000000001AAA",
        None,
        None,
        None,  # the original itself, updated in this batch
    ]
    res = validate_batch("Contact", batch.head(3), known_records=earlier)
    assert res.row_failures == {
        "003000000000002AAA": [
            "duplicate_record:Email+FirstName+LastName: same Email, FirstName, LastName as 003000000000001AAA "
            "(an earlier record)"
        ]
    }
