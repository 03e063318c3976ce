"""A backfill in windows against the simulator: windows in parallel give the rows of one window; killed (-9) and
rerun, it resumes and ends as an uninterrupted one; beside a nightly sync on the same warehouse, both finish and
nothing is lost; on a Dask LocalCluster, the same rows again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from flows.backfill import PROGRESS_KEY, backfill
from flows.nightly import nightly_sync
from tests.e2e.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

# the e2e orgs' today is pinned to 2026-11-26 (orgclock.py): four 30-day windows per object before it
SINCE, UNTIL = datetime(2026, 7, 29, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC)
OBJECTS = ["Account", "Contact", "Opportunity", "Case", "Task"]
WINDOWS = 4 * len(OBJECTS)


def _with(settings: dict[str, Any], where: Path) -> dict[str, Any]:
    where.mkdir(parents=True, exist_ok=True)
    return {
        **settings,
        "warehouse_path": str(where / "warehouse.duckdb"),
        "landing_dir": str(where / "landing"),
    }


def _raw(settings: dict[str, Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Every raw table row for row (the load's own columns aside), ordered by Id."""
    with duckdb.connect(settings["warehouse_path"], read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
        ]
        return {
            t: con.execute(f'select * exclude (_run_id, _loaded_at) from raw."{t}" order by "Id"').fetchall()
            for t in sorted(tables)
        }


def _risk(settings: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    with duckdb.connect(settings["warehouse_path"], read_only=True) as con:
        return {
            a: (lvl, round(s, 6))
            for a, lvl, s in con.execute("select account_id, level, score from marts.account_risk").fetchall()
        }


def _windows(settings: dict[str, Any]) -> list[tuple[Any, ...]]:
    with duckdb.connect(settings["warehouse_path"], read_only=True) as con:
        return con.execute(
            "select object, window_start, window_end, rows, run_id from meta.backfill_windows order by 1, 2"
        ).fetchall()


def _run(settings: dict[str, Any], **kw: Any) -> dict[str, Any]:
    args = {"since": SINCE, "until": UNTIL, "objects": OBJECTS, "push": False, "window": "30d", **kw}
    result = backfill(settings=settings, **args)
    assert result["status"] == "success", result
    return result


def test_windows_in_parallel_give_exactly_the_rows_of_one_window(settings_for: dict, tmp_path: Path) -> None:
    one = _with(settings_for, tmp_path / "one")
    many = _with(settings_for, tmp_path / "many")
    single = _run(one, window="200d", concurrency=1)
    parallel = _run(many, concurrency=4)
    assert sum(single["extracted"].values()) > 100  # the window holds records of every object
    assert parallel["extracted"] == single["extracted"]
    ids = {t: [r[0] for r in rows] for t, rows in _raw(one).items()}
    assert ids == {t: [r[0] for r in rows] for t, rows in _raw(many).items()}
    assert _raw(many) == _raw(one)
    assert len(_windows(many)) == WINDOWS and len(_windows(one)) == len(OBJECTS)
    assert sum(r[3] for r in _windows(many)) == sum(single["extracted"].values())
    assert _progress_artifact(parallel["run_id"]) == 100.0  # every window loaded


def _progress_artifact(run_id: str) -> float:
    """The backfill's Prefect progress artifact (its latest value), found by the run id in its description."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def latest() -> float:
        async with get_client() as client:
            arts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[PROGRESS_KEY])), limit=50
            )
        mine = [a for a in arts if a.description and run_id in a.description]
        assert mine, "the backfill wrote its progress artifact"
        return float(mine[0].data)  # type: ignore[arg-type]

    return asyncio.run(latest())


def _cli(settings: dict[str, Any], home: Path, log: Path, *argv: str) -> subprocess.Popen[bytes]:
    """`crm-risk <argv>` in its own process (its own Prefect home and temporary server)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "CRM_RISK_"))}
    env.update({f"CRM_RISK_{k.upper()}": str(v) for k, v in settings.items()})
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ALLOW_EPHEMERAL_MODE="true")
    cli = Path(sys.executable).with_name("crm-risk")
    with log.open("w") as out:
        return subprocess.Popen(
            [str(cli), *argv], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _backfill_argv(concurrency: int = 2) -> list[str]:
    return [
        "backfill",
        "--since",
        SINCE.isoformat(),
        "--until",
        UNTIL.isoformat(),
        "--objects",
        *OBJECTS,
        "--window",
        "30d",
        "--concurrency",
        str(concurrency),
        "--no-push",
        "--json",
    ]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its temporary Prefect server (its own session)
    proc.wait(10)


def test_a_backfill_killed_halfway_and_rerun_equals_an_uninterrupted_one(
    e2e_sim: Any, settings_for: dict, tmp_path: Path
) -> None:
    whole = _with(settings_for, tmp_path / "whole")
    _run(whole, concurrency=2)
    killed = _with(settings_for, tmp_path / "killed")
    e2e_sim.faults.add("slow:0.5:queryAll")  # every window's queries wait: the kill lands mid-backfill
    proc = _cli(killed, tmp_path / "home", tmp_path / "backfill.log", *_backfill_argv())
    try:
        # the third window of every object has landed: the first ones are loaded, the last ones not yet
        wait_for(
            lambda: (
                proc.poll() is not None
                or len(list(Path(killed["landing_dir"]).glob("*/w00002/*/_manifest.json"))) >= 3
            ),
            300,
            "the backfill to be halfway",
        )
        assert proc.poll() is None, (tmp_path / "backfill.log").read_text()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        e2e_sim.faults.clear()
        _stop(proc)
    before = _windows(killed)
    assert 0 < len(before) < WINDOWS, before  # interrupted halfway: some windows loaded and recorded, not all
    rerun = _run(killed, concurrency=2)
    after = _windows(killed)
    assert len(after) == WINDOWS
    assert [
        r for r in after if r[4] != rerun["run_id"]
    ] == before  # the loaded windows were skipped, not redone
    assert _raw(killed) == _raw(whole)
    assert _risk(killed) == _risk(whole) and _risk(whole)
    with duckdb.connect(killed["warehouse_path"], read_only=True) as con:
        runs = dict(con.execute("select flow, status from meta.runs order by started_at").fetchall()[:1])
    assert runs == {"backfill": "died"}  # the killed run, closed by the rerun's start


def test_a_backfill_beside_the_nightly_sync_loses_nothing(settings_for: dict, tmp_path: Path) -> None:
    alone = _with(settings_for, tmp_path / "alone")
    assert nightly_sync(settings={**alone}, push=False)["status"] == "success"
    shared = _with(settings_for, tmp_path / "shared")
    proc = _cli(shared, tmp_path / "home", tmp_path / "backfill.log", *_backfill_argv())
    try:
        # the backfill holds the warehouse in short windows; the nightly waits for each and goes on
        night = nightly_sync(settings={**shared}, push=False)
        assert proc.wait(300) == 0, (tmp_path / "backfill.log").read_text()[-3000:]
    finally:
        _stop(proc)
    assert night["status"] == "success", night
    assert len(_windows(shared)) == WINDOWS  # every window of the backfill loaded and recorded
    # the newest version of every record wins whichever process loaded it: the nightly alone's rows
    assert _raw(shared) == _raw(alone)
    with duckdb.connect(shared["warehouse_path"], read_only=True) as con:
        statuses = sorted(con.execute("select flow, status from meta.runs").fetchall())
    assert statuses == [("backfill", "success"), ("nightly_sync", "success")]


def test_windows_fan_out_on_a_dask_cluster(settings_for: dict, tmp_path: Path, monkeypatch: Any) -> None:
    from distributed import LocalCluster
    from prefect.settings import PREFECT_API_URL

    threads = _with(settings_for, tmp_path / "threads")
    _run(threads, concurrency=4)
    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())  # the workers report their task runs there
    on_dask = _with(settings_for, tmp_path / "dask")
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        result = _run({**on_dask, "dask_address": cluster.scheduler_address}, concurrency=4)
        workers = {w.pid for w in cluster.scheduler.workers.values()}
    assert os.getpid() not in workers
    assert result["api_calls"] > WINDOWS  # the workers' calls are counted with the run's
    assert _raw(on_dask) == _raw(threads)
    assert len(_windows(on_dask)) == WINDOWS
