"""A push against an org lacking the package's fields fails before sending anything, with doctor's message
(the simulator over HTTPS, real simple-salesforce and DuckDB; the pipeline's steps called as the flows call them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors import warehouse
from connectors.salesforce.client import connect
from connectors.salesforce.doctor import push_fields_check
from crm_risk.config import Settings, load_settings
from crm_risk.errors import TerminalError
from pipeline import context, extract, load, score
from pipeline.push import push_flags
from simulator.server import Simulator

pytestmark = pytest.mark.e2e

WRITES = ("composite.update", "sobject.update", "composite.upsert", "composite.create", "bulk2.ingest.create")


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Simulator, Settings]]:
    """A scored warehouse over a small simulated org, nothing pushed yet."""
    root = tmp_path_factory.mktemp("preflight")
    with Simulator(root / "org", accounts=40, seed=7) as sim:
        settings = load_settings(
            sf_connection_file=str(root / "org" / "connection.json"),
            warehouse_path=str(root / "warehouse.duckdb"),
            landing_dir=str(root / "landing"),
            dq_enabled=False,
        )
        ctx = context.begin_run(settings, "test")
        with connect(settings) as client:
            pulled = extract.extract_all(ctx, client)
            load.load_all(ctx, pulled.manifests)
            score.transform(ctx, pulled.as_of)
        yield sim, settings


def _pending(settings: Settings) -> int:
    with warehouse.open_for(settings, read_only=True) as con:
        row = con.execute("select count(*) from sync.account_push_pending").fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize(
    ("hide", "read_only", "expected"),
    [
        (("Account.Risk_Trend__c",), (), "Account.Risk_Trend__c missing"),
        ((), ("Account.Risk_Score__c",), "Account.Risk_Score__c read-only for the integration user"),
    ],
)
def test_a_push_without_the_fields_sends_nothing_and_says_what_doctor_says(scored, hide, read_only, expected):
    sim, settings = scored
    assert _pending(settings) > 0
    sim.field_access.hide(*hide)
    sim.field_access.read_only(*read_only)
    try:
        ctx = context.begin_run(settings, "test")
        with connect(settings) as client:
            before: dict[str, Any] = {k: sim.calls[k] for k in WRITES}
            with pytest.raises(TerminalError) as err:
                push_flags(ctx, client)
            assert {k: sim.calls[k] for k in WRITES} == before  # nothing was sent
            doctor = push_fields_check(client, settings)
    finally:
        sim.field_access.clear()
    assert not doctor.ok and expected in doctor.detail
    assert str(err.value) == f"push refused before sending anything: {doctor.detail}; fix: {doctor.fix}"
    assert _pending(settings) > 0  # still pending: the next run sends them


def test_with_the_fields_back_the_push_goes_through(scored):
    sim, settings = scored
    ctx = context.begin_run(settings, "test")
    with connect(settings) as client:
        out = push_flags(ctx, client)
    assert out.updated == out.pending > 0 and sim.calls["composite.update"] > 0
