"""The gate in SQL (expectations/sql_gate.py) against the GX path: same quarantine, same reasons, same criticals.

A dirty simulated org is extracted over HTTPS by the real connector; defects the generator does not plant are added
as one more Parquet chunk per object (a value outside the picklist, an over-long text, a malformed id, a date
before 1970, a duplicate Id, a row without an Id, a Contact matching an already-loaded one); then every extract is
validated twice, by GX on one frame and by DuckDB, and the findings are compared record by record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.salesforce import registry
from connectors.salesforce.client import connect
from connectors.salesforce.extract import extract_object
from crm_risk.config import load_settings
from expectations.gate import Prior, save_rules, validate_extract
from tests.e2e.orgclock import pin_org_clock

GX = SimpleNamespace(dq_sql_min_rows=10**9, dq_chunk_rows=10**9)  # one GX frame per extract
SQL = SimpleNamespace(dq_sql_min_rows=0)  # every extract in DuckDB


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    from simulator.server import Simulator

    org_dir = tmp_path_factory.mktemp("sql-gate-org")
    pin_org_clock(org_dir)
    landing = tmp_path_factory.mktemp("landing")
    with Simulator(org_dir, accounts=60, seed=11, dirty=True) as sim:
        settings = load_settings(
            sf_connection_file=str(sim.state_dir / "connection.json"),
            sf_auth="client_credentials",
            landing_dir=str(landing),
            extract_chunk_rows=700,  # several chunks per big object
        )
        client = connect(settings)
        client.describe("Account")
        end = client.server_now() + timedelta(minutes=3)
        start = datetime(1970, 1, 1, tzinfo=UTC)
        out = {}
        for entry in registry.REGISTRY:
            manifest = extract_object(client, entry, start, end, landing, "run1", settings)
            if manifest.rows:
                out[entry.name] = landing / "run1" / entry.name
                save_rules(out[entry.name], client.describe(entry.name))  # as the extract step does
        client.close()
    for name in ("Case", "Contact", "Opportunity", "Task"):
        _add_defects(out[name])
    yield out


def _add_defects(extract: Path) -> None:
    """One more chunk of rows copied from the first ones, each damaged in one way the gate must catch."""
    manifest = json.loads((extract / "_manifest.json").read_text())
    first = pq.read_table(extract / manifest["files"][0])
    rows = first.slice(0, 8).to_pylist()
    fields = manifest["fields"]
    picklist = next((f for f, t in fields.items() if t == "picklist"), None)
    text = next((f for f, t in fields.items() if t in ("string", "textarea") and f not in ("Id",)), None)
    ref = next((f for f, t in fields.items() if t == "reference"), None)
    bad: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        row = dict(row, Id=row["Id"][:-3] + f"Z{i:02d}")
        if i == 0 and picklist:
            row[picklist] = "Not A Value"
        if i == 1 and text:
            row[text] = "x" * 40_000
        if i == 2 and ref:
            row[ref] = "not-an-id"
        if i == 3:
            row["CreatedDate"] = datetime(1960, 5, 1, tzinfo=UTC)
        if i == 4:
            row["Id"] = rows[5]["Id"]  # a duplicate Id: critical
        if i == 6:
            row["Id"] = None  # the loader's to quarantine: neither path lists it
        if i == 7 and ref:
            row[ref] = None
        bad.append(row)
    pq.write_table(pa.Table.from_pylist(bad, schema=first.schema), extract / "part-99999.parquet")
    manifest["files"].append("part-99999.parquet")
    manifest["rows"] += len(bad)
    (extract / "_manifest.json").write_text(json.dumps(manifest))


def _known(extract: Path) -> pd.DataFrame:
    """An already-loaded Contact with the keys of the extract's first one, created a year earlier."""
    manifest = json.loads((extract / "_manifest.json").read_text())
    first = pq.read_table(extract / manifest["files"][0]).slice(0, 1).to_pylist()[0]
    return pd.DataFrame(
        [
            {
                "Id": "003000000000001AAA",
                "Email": (first["Email"] or "").upper() + "  ",
                "FirstName": first["FirstName"],
                "LastName": first["LastName"],
                "CreatedDate": first["CreatedDate"] - timedelta(days=365),
            }
        ]
    )


def _findings(check: Any) -> tuple[dict[str, Any], list[str]]:
    quarantine = {q["record_id"]: (q["failed"], q["record"]) for q in check.quarantine}
    assert len(quarantine) == len(check.quarantine)
    return quarantine, sorted(c.message for c in check.critical)


def test_sql_gate_finds_what_gx_finds(extracts: dict[str, Path], gx_warm: None) -> None:
    assert len(extracts) >= 8
    rules_seen: set[str] = set()
    for name, extract in extracts.items():
        known = _known(extract) if name == "Contact" else None
        prior = Prior(loaded_columns=[], known=known, previous=None)
        gx = validate_extract(extract, "run1", GX, prior)
        sql = validate_extract(extract, "run1", SQL, prior)
        assert gx.results and not sql.results  # GX ran for one, DuckDB for the other
        gx_q, gx_c = _findings(gx)
        sql_q, sql_c = _findings(sql)
        assert sql.rows == gx.rows > 0, name
        assert set(sql_q) == set(gx_q), name
        for rid in gx_q:
            assert sql_q[rid][0] == gx_q[rid][0], (name, rid)  # every rule, worded the same
            assert sql_q[rid][1] == gx_q[rid][1], (
                name,
                rid,
            )  # the raw record, as it lands in meta.quarantine
        assert sql_c == gx_c, name
        rules_seen |= {rule.split(":")[0] for failed, _ in gx_q.values() for rule in failed}
    # the comparison covered every kind of row rule the gate has
    assert rules_seen >= {
        "picklist",
        "text_length",
        "id_format",
        "date_range",
        "date_order",
        "non_negative",
        "value_range",
        "required_ref",
        "duplicate_record",
    }, rules_seen


def test_sql_gate_reports_critical_batch_failures(extracts: dict[str, Path]) -> None:
    check = validate_extract(extracts["Case"], "run1", SQL, Prior(previous=None))
    assert [c.expectation for c in check.critical] == ["duplicate_ids:Id"]
    assert "2 of" in check.critical[0].message and "occurs more than once" in check.critical[0].message
    # a full snapshot far smaller than what was loaded before
    rows = check.rows
    dropped = validate_extract(extracts["Case"], "run1", SQL, Prior(previous=rows * 3))
    assert "row_count_drop" in [c.expectation for c in dropped.critical]
