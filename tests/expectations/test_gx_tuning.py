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


_IN_A_FRESH_PROCESS = r"""
import json, sys, tempfile
import pandas as pd
from expectations import validate_batch, validate_payload
from expectations.docs import build_data_docs
from tests.expectations.helpers import NOW, case_frame, case_kwargs

df = case_frame(40)
df.loc[3, "Status"] = "Legacy"
df.loc[4, "Id"] = df.loc[5, "Id"]
payload = pd.DataFrame({"Id": ["001000000000001AAA", None], "Risk_Level__c": ["Red", "Pink"]})
batch, pay = validate_batch("Case", df, **case_kwargs()), validate_payload(payload, now=NOW)
with tempfile.TemporaryDirectory() as tmp:
    build_data_docs(batch.docs_results + pay.docs_results, tmp, run_name="fresh")
results = [r.to_json_dict() for res in (batch, pay) for suite in res.docs_results for r in suite.results]
deferred = {n: type(sys.modules[n]).__name__ for n in ("scipy.stats", "altair")}
print(json.dumps({"deferred": deferred, "results": results}, default=str))
"""


def test_gx_runs_and_renders_without_importing_scipy_stats_or_altair_and_gets_the_same_results(
    cases: pd.DataFrame,
) -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", _IN_A_FRESH_PROCESS], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    fresh = json.loads(out.strip().splitlines()[-1])
    # validated, Data Docs built: neither module was needed, so neither was imported
    assert fresh["deferred"] == {"scipy.stats": "_Deferred", "altair": "_Deferred"}
    df = cases
    df.loc[3, "Status"] = "Legacy"
    df.loc[4, "Id"] = df.loc[5, "Id"]
    payload = pd.DataFrame({"Id": ["001000000000001AAA", None], "Risk_Level__c": ["Red", "Pink"]})
    here = validate_batch("Case", df, **case_kwargs()), validate_payload(payload, now=NOW)
    expected = json.loads(json.dumps([r for res in here for r in _results(res)], default=str))
    assert fresh["results"] == expected and any(not r["success"] for r in expected)


def test_a_deferred_module_is_imported_on_first_use() -> None:
    import sys
    import types

    from expectations.gx_tuning import defer_unused_imports

    name = "json.tool"  # a stdlib module nothing here imports
    sys.modules.pop(name, None)
    defer_unused_imports((name,))
    stand_in = sys.modules[name]
    assert type(stand_in).__name__ == "_Deferred"
    from json import tool  # the import statement alone does not import it

    assert tool is stand_in
    assert callable(tool.main)  # first attribute read: the real module
    assert isinstance(sys.modules[name], types.ModuleType) and type(sys.modules[name]) is types.ModuleType
    assert sys.modules[name].main is tool.main
