"""A batch pulled out of DuckDB (its own dtypes) goes through the gate and its bad rows into meta.quarantine."""

from __future__ import annotations

import json

import pandas as pd

from connectors.warehouse import connect, ensure_schemas, quarantine_rows
from expectations import validate_batch
from tests.expectations.helpers import case_kwargs


def test_duckdb_frame_is_validated_and_quarantined(cases: pd.DataFrame) -> None:
    con = connect(":memory:")
    ensure_schemas(con)
    src = cases.copy()
    src.loc[2, "Status"] = "Legacy"
    src.loc[5, "ClosedDate"] = src.loc[5, "CreatedDate"] - pd.Timedelta(days=2)
    src.loc[5, "IsClosed"] = True
    con.register("src", src)
    con.execute(
        "create table staged as select * exclude (CreatedDate), CreatedDate::date as CreatedDay, "
        "CreatedDate from src"
    )
    df = con.execute("select * from staged").df()  # TIMESTAMPTZ -> Etc/UTC, DATE -> naive datetime64
    kwargs = case_kwargs()
    kwargs["field_types"] = {**kwargs["field_types"], "CreatedDay": "date"}
    res = validate_batch("Case", df, **kwargs)
    assert res.critical == []
    assert sorted(res.failures_at) == [2, 5]
    assert quarantine_rows(con, "run-1", "Case", res.quarantine_rows(df)) == 2
    stored = con.execute(
        "select record_id, failed, record from meta.quarantine order by record_id"
    ).fetchall()
    assert [r[0] for r in stored] == [df.loc[2, "Id"], df.loc[5, "Id"]]
    assert json.loads(stored[0][1]) == {"picklist:Status": "'Legacy' is not an active picklist value"}
    assert list(json.loads(stored[1][1])) == ["date_order:ClosedDate>=CreatedDate"]
    assert json.loads(stored[0][2])["Status"] == "Legacy"
    loaded = df[res.good_mask]
    assert len(loaded) + len(stored) == len(df) == 40
