"""Batch-level rules: each critical rule trips with a message naming the expectation, the object and the numbers."""

from __future__ import annotations

import pandas as pd
import pytest

from crm_risk.errors import DataQualityError
from expectations import GateSettings, validate_batch
from tests.expectations.helpers import case_kwargs


def _only(res_critical: list, name: str) -> str:
    assert [c.expectation for c in res_critical] == [name], [c.message for c in res_critical]
    return res_critical[0].message


def test_clean_batch_has_no_critical_failure(cases: pd.DataFrame) -> None:
    res = validate_batch("Case", cases, **case_kwargs(previous_count=40, full_snapshot=True))
    assert res.ok and res.critical == []
    res.raise_for_critical()


def test_duplicate_ids_stop_the_run(cases: pd.DataFrame) -> None:
    df = cases.copy()
    df.loc[7, "Id"] = df.loc[6, "Id"]
    res = validate_batch("Case", df, **case_kwargs())
    message = _only(res.critical, "duplicate_ids:Id")
    assert "failed on Case" in message
    assert "2 of 40 rows carry an Id that occurs more than once" in message
    assert df.loc[6, "Id"] in message
    assert res.critical[0].observed == {"rows": 40, "duplicate_rows": 2, "sample": [repr(df.loc[6, "Id"])]}


def test_row_count_drop_on_full_snapshot(cases: pd.DataFrame) -> None:
    res = validate_batch("Case", cases, **case_kwargs(previous_count=100, full_snapshot=True))
    message = _only(res.critical, "row_count_drop")
    assert (
        "failed on Case: 40 rows against 100 in the previous run, a 60.0% drop (at least 50 rows expected)"
        in (message)
    )
    assert res.good_mask.all()  # the rows themselves are fine; the batch is not


def test_row_count_drop_is_a_parameter(cases: pd.DataFrame) -> None:
    assert validate_batch("Case", cases, **case_kwargs(previous_count=100)).ok  # incremental: not checked
    loose = GateSettings(max_row_drop=0.7)
    assert validate_batch(
        "Case", cases, **case_kwargs(previous_count=100, full_snapshot=True, settings=loose)
    ).ok


def test_mostly_empty_reference_stops_the_run(cases: pd.DataFrame) -> None:
    df = cases.copy()
    df.loc[:24, "AccountId"] = None  # 25 of 40
    res = validate_batch("Case", df, **case_kwargs())
    message = _only(res.critical, "ref_mostly_empty:AccountId")
    assert "failed on Case: 25 of 40 rows (62.5%) have no AccountId, at most 50% may be empty" in message
    assert res.quarantined_count == 25  # the rows are also quarantined one by one


def test_half_empty_reference_is_tolerated_and_small_batches_are_exempt(cases: pd.DataFrame) -> None:
    df = cases.copy()
    df.loc[:19, "AccountId"] = None  # exactly 50%
    assert validate_batch("Case", df, **case_kwargs()).ok
    tiny = cases.head(5).copy()
    tiny["AccountId"] = None
    res = validate_batch("Case", tiny, **case_kwargs())
    assert res.ok and res.quarantined_count == 5


def test_vanished_field_is_a_schema_change(cases: pd.DataFrame) -> None:
    df = cases.drop(columns=["Status", "Priority"])
    res = validate_batch("Case", df, **case_kwargs())
    message = _only(res.critical, "schema:expected_fields")
    assert message.endswith("failed on Case: expected field(s) vanished: Priority, Status")
    assert res.critical[0].observed == {"missing": ["Priority", "Status"]}


def test_rule_gx_cannot_evaluate_is_critical(cases: pd.DataFrame) -> None:
    df = cases.copy()
    df["CreatedDate"] = "not a date"
    res = validate_batch("Case", df, **case_kwargs())
    names = {c.expectation for c in res.critical}
    assert "date_range:CreatedDate" in names
    assert all("could not be evaluated" in c.message for c in res.critical)


def test_raise_for_critical_names_expectation_object_and_numbers(cases: pd.DataFrame) -> None:
    df = cases.copy()
    df.loc[:29, "AccountId"] = None
    res = validate_batch("Case", df, **case_kwargs(previous_count=90, full_snapshot=True))
    with pytest.raises(DataQualityError) as caught:
        res.raise_for_critical()
    text = str(caught.value)
    assert "ref_mostly_empty:AccountId" in text and "30 of 40 rows (75.0%)" in text
    assert "row_count_drop" in text and "40 rows against 90" in text
    assert text.count("failed on Case") == 2


def test_gate_settings_read_dq_attributes_of_the_app_settings() -> None:
    from types import SimpleNamespace

    app = SimpleNamespace(dq_max_row_drop=0.2, dq_chunk_rows=1000, dq_future_years=None, warehouse_path="x")
    gs = GateSettings.from_settings(app)
    assert (gs.max_row_drop, gs.chunk_rows, gs.future_years) == (0.2, 1000, 5)
    assert GateSettings.from_settings(None) == GateSettings()
