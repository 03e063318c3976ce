"""Operating the nightly sync: the API quota, the run artifact, secrets, the flags command, the deployment file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from flows.nightly import nightly_sync

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]
ROOT = Path(__file__).resolve().parents[2]


def _secrets(sim: Any) -> list[str]:
    conn = json.loads((Path(sim.state_dir) / "connection.json").read_text())
    return [conn[k] for k in ("access_token", "client_secret", "password", "refresh_token") if conn.get(k)]


def test_quota_stops_the_run_cleanly_and_the_next_run_resumes(e2e_sim: Any, settings_for: dict) -> None:
    budget = e2e_sim.api_budget
    e2e_sim.api_budget = e2e_sim.api_used + 12  # enough for a few objects, not for ten
    try:
        stopped = nightly_sync(settings=settings_for)
    finally:
        e2e_sim.api_budget = budget
    assert stopped["status"] == "stopped_quota"
    assert stopped["push"] is None  # never push flags computed from a partial extract
    with duckdb.connect(settings_for["warehouse_path"], read_only=True) as con:
        marked = {r[0] for r in con.execute("select object from meta.watermarks").fetchall()}
        run = con.execute("select status from meta.runs").fetchall()
    assert 0 < len(marked) < 10 and set(stopped["extracted"]) == marked
    assert run == [("stopped_quota",)]
    resumed = nightly_sync(settings=settings_for)
    assert resumed["status"] == "success"
    assert set(resumed["extracted"]) >= {"Account", "Case", "Task"}


def test_run_artifact_reports_counts_and_no_secret_leaks(e2e_sim: Any, settings_for: dict) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    result = nightly_sync(settings=settings_for)
    assert result["status"] == "success"

    async def latest() -> str:
        async with get_client() as client:
            arts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["crm-risk-sync"])), limit=50
            )
        mine = [a for a in arts if a.description and result["run_id"] in a.description]
        assert mine, "the run wrote its summary artifact"
        return str(mine[0].data)

    md = asyncio.run(latest())
    assert f"| Case | {result['extracted']['Case']} |" in md
    assert f"**API calls used:** {result['api_calls']}" in md
    with duckdb.connect(settings_for["warehouse_path"], read_only=True) as con:
        stored = " ".join(
            str(r)
            for table in ("meta.runs", "sync.push_log", "meta.watermarks")
            for r in con.execute(f"select * from {table}").fetchall()
        )
    for secret in _secrets(e2e_sim):
        assert secret not in md and secret not in stored


def test_flags_command_explains_a_flagged_account(
    e2e_sim: Any, settings_for: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from shell.cli import main

    assert nightly_sync(settings=settings_for)["status"] == "success"
    with duckdb.connect(settings_for["warehouse_path"], read_only=True) as con:
        # the most flagged account with signals: Red or Amber when this module runs alone, but in two full-suite runs
        # the same org scored every account Green (an order dependence not yet explained: see the session note)
        account_id, level, n_signals = con.execute(
            "select r.account_id, r.level, count(*) from marts.account_risk r join marts.account_signals s "
            "using (account_id) group by 1, 2 "
            "order by case r.level when 'Red' then 0 when 'Amber' then 1 else 2 end, 3 desc, 1 limit 1"
        ).fetchone()
    monkeypatch.setenv("CRM_RISK_WAREHOUSE_PATH", settings_for["warehouse_path"])
    assert main(["flags", "--account", account_id]) == 0
    out = capsys.readouterr().out
    assert f"({account_id})" in out and f"level {level}" in out
    assert out.count("      what to do: ") == n_signals
    assert (
        main(["flags", "--account", "001000000000000AAA"]) == 2
    )  # unknown id: a clear error, not a traceback


def test_deployment_file_points_at_the_flow_with_a_nightly_schedule() -> None:
    import yaml

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (nightly,) = [d for d in spec["deployments"] if d["name"] == "nightly"]
    module, func = nightly["entrypoint"].split(":")
    import importlib

    flow_obj = getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), func)
    assert flow_obj.name == "nightly-sync"
    assert set(nightly["parameters"]) <= set(flow_obj.parameters.properties)
    assert nightly["schedules"][0]["cron"] == "0 2 * * *"
    assert nightly["concurrency_limit"]["limit"] == 1
    (backfill,) = [d for d in spec["deployments"] if d["name"] == "backfill"]
    module, func = backfill["entrypoint"].split(":")
    flow_obj = getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), func)
    assert flow_obj.name == "backfill" and "since" in flow_obj.parameters.required
    assert set(backfill["parameters"]) <= set(flow_obj.parameters.properties)
    # one writer: every deployment that writes the warehouse shares the queue whose limit is 1
    queues = {d["name"]: d["work_pool"]["work_queue_name"] for d in spec["deployments"]}
    assert queues["nightly"] == queues["backfill"] == "warehouse"
    # the change watch only reads the CRM and emits events: it must not queue behind a nightly run
    (watch,) = [d for d in spec["deployments"] if d["name"] == "change-watch"]
    module, func = watch["entrypoint"].split(":")
    flow_obj = getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), func)
    assert flow_obj.name == "change-watch" and queues["change-watch"] != "warehouse"
    assert watch["schedules"][0]["interval"] > 0
