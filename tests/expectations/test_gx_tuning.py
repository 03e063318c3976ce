"""The memoized GX `configuration`: validation results are the same with and without it."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import pandas as pd
import pytest

from expectations import engine, validate_batch, validate_payload
from tests.expectations.helpers import NOW, case_kwargs


def _results(res: Any) -> list[dict[str, Any]]:
    return [r.to_json_dict() for suite in res.docs_results for r in suite.results]


def test_memoized_configurations_change_no_result(
    cases: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    df = cases.copy()
    df.loc[3, "Status"] = "Legacy"
    df.loc[4, "Id"] = df.loc[5, "Id"]
    df.loc[6, "ClosedDate"] = df.loc[6, "CreatedDate"] - pd.Timedelta(days=1)
    payload = pd.DataFrame({"Id": ["001000000000001AAA", None], "Risk_Level__c": ["Red", "Pink"]})
    memo = validate_batch("Case", df, **case_kwargs()), validate_payload(payload, now=NOW)
    monkeypatch.setattr(engine, "memoized_configurations", nullcontext)
    plain = validate_batch("Case", df, **case_kwargs()), validate_payload(payload, now=NOW)
    for a, b in zip(memo, plain, strict=True):
        assert a.failures_at == b.failures_at and a.critical == b.critical
        assert _results(a) == _results(b)
    assert memo[0].failures_at and memo[0].critical and memo[1].critical
