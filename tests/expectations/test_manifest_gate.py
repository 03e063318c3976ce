"""The gate as the flow runs it: an extract's Parquet chunks validated one chunk at a time, and the payload gate."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors import warehouse
from crm_risk.config import load_settings
from crm_risk.errors import DataQualityError
from expectations import gate
from pipeline import load

FIELDS = {
    "Id": "id",
    "AccountId": "reference",
    "FirstName": "string",
    "LastName": "string",
    "Email": "email",
    "CreatedDate": "datetime",
    "SystemModstamp": "datetime",
}


def _contacts(ids: range, *, email: str | None = None) -> pa.Table:
    stamp = pd.Timestamp("2026-01-01", tz="UTC")
    return pa.Table.from_pylist(
        [
            {
                "Id": f"003{n:012d}AAA",
                "AccountId": f"001{n:012d}AAA" if n % 10 else None,  # every tenth contact has no account
                "FirstName": "Ana" if email else f"F{n}",
                "LastName": "Lima" if email else f"L{n}",
                "Email": email or f"c{n}@example.com",
                "CreatedDate": stamp + pd.Timedelta(days=n),
                "SystemModstamp": stamp + pd.Timedelta(days=n),
            }
            for n in ids
        ]
    )


def _extract(tmp_path: Path, parts: list[pa.Table]) -> Path:
    out = tmp_path / "landing" / "run1" / "Contact"
    out.mkdir(parents=True)
    files = []
    for i, part in enumerate(parts):
        pq.write_table(part, out / f"part-{i:05d}.parquet")
        files.append(f"part-{i:05d}.parquet")
    manifest = {
        "object": "Contact",
        "run_id": "run1",
        "fields": FIELDS,
        "rows": sum(p.num_rows for p in parts),
        "files": files,
        "deleted_file": None,
        "window_start": "1970-01-01T00:00:00+00:00",
        "window_end": "2026-11-25T00:00:00+00:00",
        "cursor_field": "SystemModstamp",
        "missing_fields": [],
    }
    (out / "_manifest.json").write_text(json.dumps(manifest))
    gate.save_rules(out, {"fields": [{"name": k, "type": v, "length": 80} for k, v in FIELDS.items()]})
    return out


@pytest.mark.parametrize(("chunk_rows", "suite_runs"), [(7, 6), (200_000, 1)])
def test_chunked_manifest_finds_what_a_whole_frame_would_and_loads_the_rest(
    tmp_path: Path, gx_warm: None, chunk_rows: int, suite_runs: int
) -> None:
    # three files read 7 rows at a time across them (the duplicate contact's original lives in another
    # chunk), or all in one frame: one GX run per chunk either way
    ana = "ana@example.com"
    parts = [
        _contacts(range(1, 31)),
        pa.concat_tables([_contacts(range(31, 41)), _contacts(range(41, 42), email=ana)]),
        _contacts(range(42, 43), email=ana),
    ]
    manifest_dir = _extract(tmp_path, parts)
    settings = load_settings(warehouse_path=str(tmp_path / "wh.duckdb"), dq_chunk_rows=chunk_rows)
    with warehouse.connect(settings.warehouse_path) as con:
        check = load.validate_manifest(con, manifest_dir, "run1", settings)
        assert check.ok, check.critical
        assert check.rows == 42 and len(check.results) == suite_runs
        failed = {r["record_id"]: sorted(r["failed"]) for r in check.quarantine}
        assert failed == {
            **{f"003{n:012d}AAA": ["required_ref:AccountId"] for n in (10, 20, 30, 40)},
            "003000000000042AAA": ["duplicate_record:Email+FirstName+LastName"],
        }
        result = warehouse.load_manifest(con, manifest_dir, "run1", quarantine=check.quarantine)
        recon = con.execute("select extracted, loaded, quarantined from meta.reconciliation").fetchall()
    assert recon == [(42, 37, 5)]
    assert result.rows_in_files == 42


@pytest.mark.parametrize("chunk_rows", [10, 200_000])  # files in two chunks (DuckDB) or one frame (GX)
def test_duplicate_ids_across_files_are_critical_and_nothing_loads(
    tmp_path: Path, gx_warm: None, chunk_rows: int
) -> None:
    manifest_dir = _extract(tmp_path, [_contacts(range(1, 11)), _contacts(range(5, 8))])
    settings = load_settings(
        warehouse_path=str(tmp_path / "wh.duckdb"),
        landing_dir=str(tmp_path / "landing"),
        dq_chunk_rows=chunk_rows,
    )
    message = (
        r"duplicate_ids:Id .* on Contact: 6 of 13 rows .*\(e\.g\. '003000000000005AAA', '003000000000006AAA'"
    )
    with pytest.raises(DataQualityError, match=message):
        load.load_gated(settings, "run1", [manifest_dir])
    with warehouse.connect(settings.warehouse_path, read_only=True) as con:
        assert con.execute("select count(*) from meta.watermarks").fetchone() == (0,)
        assert con.execute("select count(*) from meta.reconciliation").fetchone() == (0,)
    assert gate.docs_index(settings) is not None  # the failed run's results are in Data Docs


def test_payload_gate_stops_a_bad_payload(tmp_path: Path, gx_warm: None) -> None:
    settings = load_settings(warehouse_path=str(tmp_path / "wh.duckdb"))
    good = pd.DataFrame(
        {
            "Id": ["001000000000001AAA", "001000000000002AAA"],
            "Risk_Level__c": ["Red", "Green"],
            "Risk_Score__c": [81.0, 12.0],
            "Risk_Reasons__c": ["Champion left", ""],
            "payload_hash": ["a", "b"],
        }
    )
    gate.check_payload(good, settings, "run1")
    bad = good.assign(Risk_Score__c=[81.0, 150.0])
    with pytest.raises(DataQualityError, match=r"score_range:Risk_Score__c .*1 of 2 rows"):
        gate.check_payload(bad, settings, "run2")


def test_a_second_extract_of_an_object_is_checked_against_what_the_first_loaded(
    tmp_path: Path, gx_warm: None
) -> None:
    ana = "ana@example.com"
    first = _extract(
        tmp_path / "a", [pa.concat_tables([_contacts(range(1, 11)), _contacts(range(11, 12), email=ana)])]
    )
    second = _extract(tmp_path / "b", [_contacts(range(12, 13), email=ana)])
    manifest = json.loads((second / "_manifest.json").read_text())
    (second / "_manifest.json").write_text(
        json.dumps({**manifest, "window_start": "2026-11-24T00:00:00+00:00"})
    )
    settings = load_settings(warehouse_path=str(tmp_path / "wh.duckdb"), landing_dir=str(tmp_path))
    counts = load.load_gated(settings, "run1", [first, second])
    assert counts["Contact"]["quarantined"] == 1
    with warehouse.connect(settings.warehouse_path, read_only=True) as con:
        rows = con.execute("select record_id, failed from meta.quarantine order by record_id").fetchall()
    assert [(r, sorted(json.loads(f))) for r, f in rows][-1] == (
        "003000000000012AAA",
        ["duplicate_record:Email+FirstName+LastName"],
    )


ZERO_ROW_LOAD = r"""
import json, sys
from crm_risk.config import load_settings
from connectors import warehouse
from expectations import gate
from pipeline import load

settings = load_settings(warehouse_path=sys.argv[1], landing_dir=sys.argv[2])
counts = load.load_gated(settings, "run2", [sys.argv[3]])
with warehouse.connect(settings.warehouse_path, read_only=True) as con:
    recon = con.execute(
        "select object, extracted, loaded, quarantined from meta.reconciliation where run_id = 'run2'"
    ).fetchall()
print(json.dumps({"counts": counts, "recon": recon, "docs": str(gate.docs_index(settings)),
                  "gx_imported": "great_expectations" in sys.modules}))
"""


def test_an_empty_extract_loads_without_great_expectations_and_builds_no_data_docs(tmp_path: Path) -> None:
    # an incremental extract that found nothing (one empty Parquet file, as the extract writes it)
    manifest_dir = _extract(tmp_path, [_contacts(range(1, 2)).slice(0, 0)])
    manifest = json.loads((manifest_dir / "_manifest.json").read_text())
    manifest["window_start"] = "2026-11-24T00:00:00+00:00"
    (manifest_dir / "_manifest.json").write_text(json.dumps(manifest))
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            ZERO_ROW_LOAD,
            str(tmp_path / "wh.duckdb"),
            str(tmp_path / "landing"),
            str(manifest_dir),
        ],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["counts"]["Contact"]["extracted"] == 0 and out["counts"]["Contact"]["loaded"] == 0
    assert out["recon"] == [["Contact", 0, 0, 0]]  # reconciled all the same
    assert out["docs"] == "None"  # nothing validated: no Data Docs built
    assert out["gx_imported"] is False  # nothing to validate row-wise: Great Expectations not even imported
