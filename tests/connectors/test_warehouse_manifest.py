"""The loader trusts no manifest: registry objects only, data files inside their extract, extracts in the landing area."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors import warehouse as wh
from connectors.salesforce import registry
from connectors.warehouse.manifest import read_manifest
from crm_risk.errors import ManifestRefused
from tests.connectors.test_warehouse import T0, write_extract

ROWS = [
    {
        "Id": "001000000000001AAA",
        "IsDeleted": False,
        "Name": "Acme",
        "AnnualRevenue": 1.0,
        "SystemModstamp": T0,
    }
]


def _tamper(extract: Path, **changes: Any) -> None:
    manifest = json.loads((extract / "_manifest.json").read_text())
    (extract / "_manifest.json").write_text(json.dumps({**manifest, **changes}))


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    sql = "select table_name from information_schema.tables where table_schema = 'raw'"
    return {r[0] for r in con.execute(sql).fetchall()}


def test_the_warehouse_knows_exactly_the_registry_objects() -> None:
    assert set(wh.TABLES) == {e.name for e in registry.REGISTRY}


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"object": 'Account"; drop schema meta cascade; --'}, "is not one of the registry's objects"),
        ({"object": "Widget__c"}, "'Widget__c' is not one of the registry's objects"),
        ({"object": None}, "None is not one of the registry's objects"),
        ({"object": "Contact"}, "its manifest names Contact, its directory Account"),
        (
            {"files": ["../../../../etc/passwd"]},
            "file '../../../../etc/passwd' is outside its extract directory",
        ),
        (
            {"files": ["part-00000.parquet", "/etc/passwd"]},
            "file '/etc/passwd' is outside its extract directory",
        ),
        ({"deleted_file": "../other/deleted.parquet"}, "file '../other/deleted.parquet' is outside"),
    ],
)
def test_a_tampered_manifest_loads_nothing(tmp_path: Path, changes: dict[str, Any], refusal: str) -> None:
    extract = write_extract(tmp_path / "landing", "r1", [ROWS])
    _tamper(extract, **changes)
    with wh.connect(tmp_path / "wh.duckdb") as con:
        with pytest.raises(ManifestRefused, match=refusal.replace("(", r"\(").replace(".", r"\.")) as err:
            wh.load_manifest(con, extract, "r1")
        assert "\n" not in str(err.value)
        assert _tables(con) == set() and wh.get_watermark(con, "Account") is None


def test_an_absolute_path_inside_the_extract_is_fine(tmp_path: Path) -> None:
    extract = write_extract(tmp_path / "landing", "r1", [ROWS])
    _tamper(extract, files=[str(extract / "part-00000.parquet")])
    with wh.connect(tmp_path / "wh.duckdb") as con:
        assert wh.load_manifest(con, extract, "r1").inserted == 1


def test_an_extract_outside_the_landing_area_is_refused(tmp_path: Path) -> None:
    extract = write_extract(tmp_path / "elsewhere", "r1", [ROWS])
    known = [e.name for e in registry.REGISTRY]
    assert read_manifest(extract, known, landing=tmp_path / "elsewhere")["object"] == "Account"
    with pytest.raises(ManifestRefused, match="is outside the landing area"):
        read_manifest(extract, known, landing=tmp_path / "landing")
    with pytest.raises(ManifestRefused, match="is outside the landing area"):
        read_manifest(
            tmp_path / "landing" / ".." / "elsewhere" / "r1" / "Account", known, landing=tmp_path / "landing"
        )
