"""The connector on the shared generated org (tests/conftest.py `simulator`): every registry object, both APIs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.salesforce import registry
from connectors.salesforce.client import connect
from connectors.salesforce.extract import extract_object
from crm_risk.config import Settings, load_settings

START = datetime(2000, 1, 1, tzinfo=UTC)


def _settings(simulator: Any, tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(
        sf_connection_file=str(simulator.state_dir / "connection.json"),
        sf_auth="client_credentials",
        landing_dir=str(tmp_path / "landing"),
        **overrides,
    )


def _table(settings: Settings, manifest: Any) -> pa.Table:
    out = Path(settings.landing_dir) / manifest.run_id / manifest.object
    return pa.concat_tables([pq.read_table(out / f) for f in manifest.files])


def test_every_object_lands_the_same_through_rest_and_bulk(simulator: Any, tmp_path: Path) -> None:
    rest_settings = _settings(simulator, tmp_path, extract_bulk_threshold=10**9)
    bulk_settings = _settings(simulator, tmp_path, extract_bulk_threshold=0)
    client = connect(rest_settings)
    end = simulator.org.clock.now() + timedelta(seconds=1)
    for entry in registry.REGISTRY:
        rest = extract_object(
            client, entry, START, end, Path(rest_settings.landing_dir), "rest", rest_settings
        )
        bulk = extract_object(
            client, entry, START, end, Path(bulk_settings.landing_dir), "bulk", bulk_settings
        )
        assert rest.missing_fields == [] and list(rest.fields) == list(entry.fields), entry.name
        assert rest.rows == bulk.rows and (rest.api, bulk.api) == ("rest", "bulk2" if bulk.rows else "rest")
        live = simulator.org.count(entry.name)
        assert rest.rows >= live, entry.name  # queryAll: live rows plus soft-deleted tombstones
        rest_table, bulk_table = _table(rest_settings, rest), _table(bulk_settings, bulk)
        assert rest_table.equals(bulk_table), entry.name
        assert (
            rest_table.column("Id").null_count == 0
            and len(set(rest_table.column("Id").to_pylist())) == rest.rows
        )


def test_no_change_window_costs_a_handful_of_calls(simulator: Any, tmp_path: Path) -> None:
    settings = _settings(simulator, tmp_path)
    client = connect(settings)
    start = simulator.org.clock.now() + timedelta(minutes=5)
    end = start + timedelta(minutes=10)
    for entry in registry.REGISTRY:
        manifest = extract_object(client, entry, start, end, Path(settings.landing_dir), "quiet", settings)
        assert manifest.rows == 0 and manifest.files == ["part-00000.parquet"]
        assert manifest.api_calls <= 3, (entry.name, manifest.api_calls)  # describe, COUNT(), getDeleted
