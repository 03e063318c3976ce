"""Row-level rules: each planted bad row is quarantined with the right reason, clean rows pass."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from expectations import GateSettings, rules_from_describe, validate_batch
from tests.expectations.helpers import NOW, case_frame, case_kwargs

BAD = 3  # the row position single-fault tests corrupt


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


PLANTED = [
    # (column, bad value, rule name, fragment of the reason)
    ("Id", "500-not-an-id", "id_format:Id", "'500-not-an-id' is not a 15/18-character alphanumeric id"),
    ("Id", None, "required:Id", "Id is empty"),
    ("AccountId", None, "required_ref:AccountId", "AccountId is empty"),
    ("AccountId", "001ABC", "id_format:AccountId", "'001ABC' is not a 15/18-character"),
    ("OwnerId", "005000000000001AAAX", "id_format:OwnerId", "is not a 15/18-character"),
    ("Status", "Legacy Status", "picklist:Status", "'Legacy Status' is not an active picklist value"),
    ("Priority", "P1", "picklist:Priority", "'P1' is not an active picklist value"),
    (
        "ClosedDate",
        _ts("2023-06-01"),
        "date_order:ClosedDate>=CreatedDate",
        "ClosedDate 2023-06-01 is before",
    ),
    (
        "SystemModstamp",
        _ts("2023-06-01"),
        "date_order:SystemModstamp>=CreatedDate",
        "SystemModstamp 2023-06-01",
    ),
    ("CSAT__c", 9.0, "value_range:CSAT__c", "9 is not in 1..5"),
    ("Subject", "x" * 256, "text_length:Subject", "256 characters, more than 255"),
    ("Description", "d" * 32001, "text_length:Description", "32001 characters, more than 32000"),
    (
        "CreatedDate",
        _ts("1901-01-01"),
        "date_range:CreatedDate",
        "1901-01-01 is not in 1970-01-01..2031-11-25",
    ),
    ("LastModifiedDate", _ts("2040-01-01"), "date_range:LastModifiedDate", "2040-01-01 is not in"),
]


def test_each_planted_bad_row_is_quarantined_with_its_reason(cases: pd.DataFrame) -> None:
    df = cases.copy()
    rows = {}
    for i, (column, value, rule, reason) in enumerate(PLANTED):
        pos = 2 * i + 1  # one fault per row, clean rows between them
        if column in ("ClosedDate", "SystemModstamp", "CreatedDate"):
            df.loc[pos, ["CreatedDate", "LastModifiedDate", "SystemModstamp"]] = _ts("2024-03-01")
            df.loc[pos, "ClosedDate"] = _ts("2024-03-02")
        df.loc[pos, column] = value
        rows[pos] = (rule, reason)
    res = validate_batch("Case", df, **case_kwargs())
    assert res.good_mask.tolist() == [i not in rows for i in range(len(df))]
    assert sorted(res.failures_at) == sorted(rows)
    for pos, (rule, reason) in rows.items():
        failures = res.failures_at[pos]
        assert [f.split(": ")[0] for f in failures] == [rule], failures
        assert reason in failures[0], failures
        key = df.loc[pos, "Id"] if isinstance(df.loc[pos, "Id"], str) else f"row#{pos}"
        assert res.row_failures[key] == failures
    assert not res.critical
    assert res.counts() == {"extracted": 40, "good": 40 - len(rows), "quarantined": len(rows), "critical": 0}


def test_clean_batch_passes_every_rule(cases: pd.DataFrame) -> None:
    res = validate_batch("Case", cases, **case_kwargs())
    assert res.good_mask.all() and res.row_failures == {} and res.critical == []
    rules = {r.expectation_config.meta["rule"] for r in res.docs_results[-1].results}
    assert {
        "id_format:Id",
        "required_ref:AccountId",
        "picklist:Status",
        "date_order:ClosedDate>=CreatedDate",
        "value_range:CSAT__c",
        "text_length:Subject",
        "date_range:CreatedDate",
    } <= rules


def test_one_row_with_several_faults_lists_each(cases: pd.DataFrame) -> None:
    df = cases.copy()
    df.loc[5, ["Status", "AccountId", "Subject"]] = ["Old", None, "s" * 300]
    res = validate_batch("Case", df, **case_kwargs())
    names = sorted(f.split(":")[0] + ":" + f.split(":")[1] for f in res.row_failures[df.loc[5, "Id"]])
    assert names == ["picklist:Status", "required_ref:AccountId", "text_length:Subject"]


def test_real_world_text_and_nulls_are_clean(cases: pd.DataFrame) -> None:
    df = cases.copy()
    df.loc[0, "Subject"] = "🔥 Ticket مرحبا بالعالم שלום " + "é" * 200
    df.loc[1, "Description"] = "d" * 32000
    df.loc[2, ["ClosedDate", "CSAT__c", "Origin", "ContactId"]] = [pd.NaT, np.nan, None, None]
    res = validate_batch("Case", df, **case_kwargs())
    assert res.good_mask.all(), res.row_failures


def test_good_mask_follows_the_frames_own_index(cases: pd.DataFrame) -> None:
    df = cases.copy()
    df.index = pd.Index(range(1000, 1040))
    df.loc[1007, "Status"] = "Bogus"
    res = validate_batch("Case", df, **case_kwargs())
    assert res.good_mask.index.equals(df.index)
    assert df[~res.good_mask].index.tolist() == [1007]
    assert list(res.failures_at) == [7]


def test_chunked_validation_matches_whole(cases: pd.DataFrame) -> None:
    df = cases.copy()
    for pos in (0, 6, 7, 13, 39):
        df.loc[pos, "Priority"] = "Urgent"
    whole = validate_batch("Case", df, **case_kwargs())
    chunked = validate_batch("Case", df, **case_kwargs(settings=GateSettings(chunk_rows=14)))
    assert chunked.row_failures == whole.row_failures
    assert chunked.good_mask.equals(whole.good_mask)
    assert len(chunked.docs_results) == 1 + 3  # the batch suite, then one result per 14-row chunk


def test_extracted_equals_good_plus_quarantined_under_random_dirt(gx_warm: None) -> None:
    rng = np.random.default_rng(11)
    df = case_frame(300, seed=3)
    dirty = sorted(rng.choice(300, 45, replace=False).tolist())
    faults = [
        ("Status", "Zombie"),
        ("AccountId", None),
        ("CSAT__c", -1.0),
        ("Id", "short"),
        ("Subject", "y" * 999),
    ]
    for i, pos in enumerate(dirty):
        column, value = faults[i % len(faults)]
        df.loc[pos, column] = value
    res = validate_batch("Case", df, **case_kwargs(settings=GateSettings(chunk_rows=150)))
    assert res.rows == res.good_count + res.quarantined_count == 300
    assert sorted(res.failures_at) == dirty
    assert len(df[res.good_mask]) + len(df[~res.good_mask]) == len(df)


def test_other_objects_amounts_and_plain_dates(gx_warm: None) -> None:
    opp = pd.DataFrame(
        {
            "Id": ["006000000000001AAA", "006000000000002AAA", "006000000000003AAA"],
            "AccountId": ["001000000000001AAA"] * 3,
            "Amount": [1000.0, -5.0, None],
            "CloseDate": [date(2025, 1, 1), date(2025, 2, 1), date(9999, 12, 31)],  # date32 -> Python dates
            "CreatedDate": pd.to_datetime(["2024-01-01"] * 3).astype("datetime64[us]"),  # DuckDB: naive UTC
        }
    )
    res = validate_batch(
        "Opportunity",
        opp,
        field_types={
            "Id": "id",
            "AccountId": "reference",
            "Amount": "currency",
            "CloseDate": "date",
            "CreatedDate": "datetime",
        },
        now=NOW,
    )
    assert res.good_mask.tolist() == [True, False, False]
    assert res.row_failures["006000000000002AAA"] == ["non_negative:Amount: -5 is not >= 0"]
    assert res.row_failures["006000000000003AAA"][0].startswith("date_range:CloseDate: 9999-12-31 is not in")
    acct = pd.DataFrame({"Id": ["001000000000001AAA", "001000000000002"], "AnnualRevenue": [-1.0, 2e6]})
    res = validate_batch("Account", acct)
    assert res.row_failures == {"001000000000001AAA": ["non_negative:AnnualRevenue: -1 is not >= 0"]}


def test_rules_from_describe_keeps_active_picklist_values_and_lengths() -> None:
    describe = {
        "fields": [
            {"name": "Id", "type": "id", "length": 18},
            {
                "name": "Status",
                "type": "picklist",
                "length": 255,
                "picklistValues": [{"value": "New", "active": True}, {"value": "Legacy", "active": False}],
            },
            {"name": "Subject", "type": "string", "length": 255},
            {"name": "ClosedDate", "type": "datetime", "length": 0},
        ]
    }
    got = rules_from_describe(describe)
    assert got["picklists"] == {"Status": {"New"}}
    assert got["lengths"] == {"Status": 255, "Subject": 255}
    assert got["field_types"]["ClosedDate"] == "datetime"


def test_now_moves_the_future_bound(cases: pd.DataFrame) -> None:
    df = cases.copy()
    df.loc[BAD, ["LastModifiedDate", "SystemModstamp"]] = _ts("2033-01-01")
    late = validate_batch("Case", df, **case_kwargs(now=datetime(2029, 1, 1, tzinfo=NOW.tzinfo)))
    assert late.good_mask.all()
    assert not validate_batch("Case", df, **case_kwargs()).good_mask[BAD]


def test_quarantine_rows_carry_id_reasons_and_the_raw_record(cases: pd.DataFrame) -> None:
    df = cases.copy()
    df.loc[4, "Status"] = "Legacy"
    df.loc[9, "Id"] = None
    res = validate_batch("Case", df, **case_kwargs())
    rows = res.quarantine_rows(df)
    assert [r["record_id"] for r in rows] == [df.loc[4, "Id"], None]
    assert rows[0]["failed"] == {"picklist:Status": "'Legacy' is not an active picklist value"}
    assert rows[0]["record"]["Status"] == "Legacy"
    assert rows[0]["record"]["CreatedDate"] == df.loc[4, "CreatedDate"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert rows[1]["failed"] == {"required:Id": "Id is empty"}
    assert len(df[res.good_mask]) + len(rows) == len(df)
