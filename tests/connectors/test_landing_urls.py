"""The landing area behind a URL (fsspec's in-memory filesystem, a real backend, not a stand-in): the connector's
writer lands Parquet and a manifest there, the warehouse loads it through DuckDB's registered filesystem, and the
manifest checks refuse files outside their extract exactly as on a local folder. The S3 server case is
tests/e2e/test_object_storage.py."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors import warehouse as wh
from connectors.salesforce.extract import clear_landing, landing_dir
from connectors.salesforce.landing import ChunkWriter, write_json_atomic
from connectors.warehouse.manifest import read_manifest
from crm_risk import landing as storage
from crm_risk.config import load_settings
from crm_risk.errors import ManifestRefused
from pipeline.retention import prune_landing

FIELDS = {"Id": "id", "Name": "string", "SystemModstamp": "datetime"}


@pytest.fixture
def root() -> str:
    """A fresh landing root in the process's memory filesystem, configured as CRM_RISK_LANDING_DIR would be."""
    url = f"memory://landing-{uuid.uuid4().hex[:8]}"
    storage.landing(load_settings(landing_dir=url), verify=True)  # not created yet: still reachable
    return url


def _land(root: str, run_id: str, rows: list[list[Any]], files_named: list[str] | None = None) -> str | Path:
    out = landing_dir(root, run_id, "Account")
    clear_landing(out)
    writer = ChunkWriter(out, FIELDS, chunk_rows=2)
    writer.add(rows)
    files = writer.close()
    manifest = {
        "object": "Account",
        "run_id": run_id,
        "fields": FIELDS,
        "rows": writer.rows,
        "files": files_named or files,
        "deleted_file": None,
        "window_start": "1970-01-01T00:00:00+00:00",
        "window_end": "2026-01-20T00:00:00+00:00",
        "cursor_field": "SystemModstamp",
    }
    write_json_atomic(storage.join(out, "_manifest.json"), manifest)
    return out


def test_an_extract_landed_at_a_url_loads_into_the_warehouse(root: str, tmp_path: Path) -> None:
    ids = ["001A", "001B", "001C"]
    out = _land(root, "r1", [ids, ["a", "b", "c"], ["2026-01-02T00:00:00.000+0000"] * 3])
    assert isinstance(out, str) and out.startswith("memory://")
    assert [storage.name(f) for f in storage.glob(out, "part-*.parquet")] == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    con = wh.connect(tmp_path / "wh.duckdb")
    try:
        result = wh.load_manifest(con, out, "r1")
        assert (result.rows_in_files, result.inserted) == (3, 3)
        assert [r[0] for r in con.execute('select "Id" from raw.account order by 1').fetchall()] == ids
    finally:
        con.close()
    assert not Path("memory:").exists()  # nothing was written to a local folder named after the URL


def test_a_url_manifest_naming_a_file_outside_its_extract_is_refused(root: str) -> None:
    out = _land(root, "r1", [["001A"], ["a"], [None]], files_named=["../../other/part-00000.parquet"])
    with pytest.raises(ManifestRefused, match="outside its extract"):
        read_manifest(out, ["Account"], landing=root)
    good = _land(root, "r2", [["001A"], ["a"], [None]])
    with pytest.raises(ManifestRefused, match="outside the landing area"):
        read_manifest(good, ["Account"], landing=f"{root}-elsewhere")
    with pytest.raises(ManifestRefused, match="outside the landing area"):
        read_manifest(good, ["Account"], landing="landing")  # a local landing never admits a URL
    assert read_manifest(good, ["Account"], landing=root)["object"] == "Account"


def test_retention_on_a_url_keeps_the_newest_runs(root: str) -> None:
    for run in ("r1", "r2", "r3"):
        _land(root, run, [["001A"], ["a"], [None]])
    settings = load_settings(landing_dir=root, landing_keep_runs=1)
    # the memory filesystem stamps objects with their creation time: r3 is the newest
    deleted = prune_landing(settings, keep_also={"r1"})
    assert deleted == ["r2"]
    assert sorted(storage.name(p) for p, _ in storage.run_dirs(storage.landing(settings))) == ["r1", "r3"]


def test_duckdb_reads_a_url_through_its_registered_filesystem(root: str) -> None:
    out = _land(root, "r1", [["001A"], ["a"], [None]])
    part = str(storage.join(out, "part-00000.parquet"))
    with duckdb.connect() as con:
        storage.register_duckdb(con, [part, part])  # twice: registered once
        assert con.execute("select count(*) from read_parquet($f)", {"f": [part]}).fetchall() == [(1,)]
