"""Data Docs: a run's validation results become a static GX site under the target folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from expectations import GateSettings, build_data_docs, validate_batch, validate_payload
from tests.expectations.helpers import NOW, case_kwargs


def test_data_docs_site_is_written(cases: pd.DataFrame, tmp_path: Path) -> None:
    df = cases.copy()
    df.loc[3, "Status"] = "Legacy"
    case = validate_batch("Case", df, **case_kwargs(), run_name="run-42")
    payload = validate_payload(
        pd.DataFrame({"Id": ["001000000000001AAA"], "Risk_Level__c": ["Red"], "Risk_Score__c": [90.0]}),
        now=NOW,
        run_name="run-42",
    )
    index = build_data_docs([case, payload], tmp_path / "data_docs")
    assert index == tmp_path / "data_docs/gx/uncommitted/data_docs/local_site/index.html"
    assert index.is_file()
    site = index.parent
    pages = sorted(p.relative_to(site).as_posix() for p in (site / "validations").rglob("*.html"))
    assert len(pages) == 2  # one suite per batch (batch- and row-level expectations): Case, payload
    assert all("/run-42/" in p for p in pages)
    page = (site / next(p for p in pages if p.startswith("validations/Case/gate/"))).read_text()
    assert "Legacy" in page
    assert df.loc[3, "Id"] in page  # failing rows are named by record Id
    assert "no Id twice in a batch" in page and "Case.AccountId is set" in page  # batch- and row-level
    assert (site / "expectations/Case/gate.html").is_file()
    # a second run adds to the same site
    build_data_docs([case], tmp_path / "data_docs", run_name="run-43")
    assert len(list((site / "validations").rglob("*.html"))) == 3


def test_data_docs_of_a_chunked_batch_show_the_batch_suite_and_each_chunk(
    cases: pd.DataFrame, tmp_path: Path
) -> None:
    res = validate_batch("Case", cases, **case_kwargs(settings=GateSettings(chunk_rows=25)), run_name="r")
    site = build_data_docs([res], tmp_path).parent
    pages = sorted(
        p.relative_to(site / "validations").parts[:2] for p in (site / "validations").rglob("*.html")
    )
    assert pages == [("Case", "batch"), ("Case", "rows"), ("Case", "rows")]


def test_data_docs_keep_only_the_newest_runs(cases: pd.DataFrame, tmp_path: Path) -> None:
    case = validate_batch("Case", cases, **case_kwargs())
    for n in range(4):
        index = build_data_docs([case], tmp_path, run_name=f"run-{n}", keep_runs=2)
    site = index.parent
    runs = {p.parent.parent.name for p in (site / "validations").rglob("*.html")}
    stored = {p.parent.parent.name for p in (tmp_path / "gx/uncommitted/validations").rglob("*.json")}
    assert runs == stored == {"run-2", "run-3"}
    html = index.read_text()
    assert "run-0" not in html and "run-2" in html and "run-3" in html  # earlier kept runs stay listed
