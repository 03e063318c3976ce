"""The fault matrix (issue 14): each fault on the extract path, injected by the simulator over HTTPS, against a run
of the same org without it.

Every case runs on its own copy of one generated org (80 accounts), so each run is a first run of the same org as
the fault-free baseline: a transient fault must end in success with the same warehouse (`raw.*` Ids, cursors and
tombstones) and the same flags in the CRM; a hard fault must end "partial" (or failed, when nothing could be read)
in one line naming the object and the cause, and a clean rerun must converge on the baseline.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest

from crm_risk.errors import ConfigError, WarehouseBusy
from flows.nightly import nightly_sync
from pipeline.extract import ExtractFailed
from simulator.server import Simulator
from tests.connectors.test_warehouse import _hold_lock
from tests.e2e.orgclock import pin_org_clock
from tests.e2e.secrets_sweep import prefect_database, run_secrets, sweep

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

ACCOUNTS, SEED = 80, 7
Snapshot = dict[str, Any]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated org, stopped: every case serves a copy of it."""
    org = tmp_path_factory.mktemp("template-org")
    pin_org_clock(org)
    with Simulator(org, accounts=ACCOUNTS, seed=SEED):
        pass
    return org


SERVED: list[Simulator] = []  # the orgs a case served, for the secret sweep after it


@pytest.fixture(scope="module")
def serve(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Any]:
    """`serve(name)`: a context manager serving a fresh copy of the template org."""

    @contextmanager
    def _serve(name: str) -> Iterator[Simulator]:
        copy = tmp_path_factory.mktemp(name) / "org"
        shutil.copytree(template, copy)
        with Simulator(copy, accounts=ACCOUNTS, seed=SEED) as sim:
            SERVED.append(sim)
            yield sim

    return _serve


@pytest.fixture(autouse=True)
def no_secret_anywhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> Iterator[None]:
    """After every case: no secret of its orgs in its warehouse, landing files, Data Docs, Prefect's database
    (runs, parameters, logs, artifacts, events) or anything it logged or printed."""
    SERVED.clear()
    yield
    secrets = set().union(*(run_secrets(sim) for sim in SERVED))
    assert secrets or not SERVED
    db = prefect_database()
    assert db is not None, "the Prefect test harness keeps its database in a SQLite file: swept below"
    printed = capsys.readouterr()
    hits = sweep(secrets, [tmp_path, *([db.parent] if db else [])], [caplog.text, printed.out, printed.err])
    assert not hits, hits


def _snapshot(sim: Simulator, settings: dict[str, Any]) -> Snapshot:
    """What a run left: each raw table's (Id, cursor, tombstone) rows (the run's own owner Tasks aside), each
    Account's flag fields in the CRM and the owner Tasks' keys in the CRM (a duplicate would show twice)."""
    out: Snapshot = {}
    with duckdb.connect(settings["warehouse_path"], read_only=True) as con:
        cursors = dict(con.execute("select object, cursor_field from meta.watermarks").fetchall())
        for obj, cursor in sorted(cursors.items()):
            table = con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw' "
                "and lower(replace(table_name, '_', '')) = lower(?)",
                [obj],
            ).fetchone()
            assert table, obj
            ours = ' where "Risk_Task_Key__c" is null' if obj == "Task" else ""
            out[f"raw.{obj}"] = sorted(
                con.execute(f'select "Id", "{cursor}", _deleted from raw."{table[0]}"{ours}').fetchall()
            )
    crm = sim.org.query("SELECT Id, Risk_Level__c, Risk_Reasons__c FROM Account").records(0, 100_000)
    out["crm"] = sorted((r["Id"], r.get("Risk_Level__c"), r.get("Risk_Reasons__c")) for r in crm)
    tasks = sim.org.query("SELECT Risk_Task_Key__c FROM Task WHERE Risk_Task_Key__c != null").records(
        0, 100_000
    )
    out["tasks"] = sorted(r["Risk_Task_Key__c"] for r in tasks)
    return out


def _ours_aside(snap: Snapshot) -> Snapshot:
    """The snapshot without the cursors our own pushes move (an Account's SystemModstamp changes when we write
    its flags): for a rerun after a run that pushed, compared with a baseline that pushed once."""
    return {**snap, "raw.Account": [(i, d) for i, _, d in snap["raw.Account"]]}


def _watermarks(settings: dict[str, Any]) -> dict[str, Any]:
    with duckdb.connect(settings["warehouse_path"], read_only=True) as con:
        return dict(con.execute("select object, watermark from meta.watermarks").fetchall())


def _last_run(settings: dict[str, Any]) -> tuple[str, str]:
    with duckdb.connect(settings["warehouse_path"], read_only=True) as con:
        row = con.execute("select status, message from meta.runs order by started_at desc limit 1").fetchone()
    assert row is not None
    return row[0], row[1]


@pytest.fixture(scope="module")
def baseline(
    serve: Callable[[str], Any],
    pipeline_settings: Callable[[Any, Path], dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
    prefect_harness: None,
) -> Snapshot:
    """The fault-free run of the org, once for the module."""
    with serve("baseline") as sim:
        settings = pipeline_settings(sim, tmp_path_factory.mktemp("baseline-wh"))
        result = nightly_sync(settings=settings)
        assert result["status"] == "success"
        snap = _snapshot(sim, settings)
    assert len([k for k in snap if k.startswith("raw.")]) == 10
    assert any(level == "Red" for _, level, _ in snap["crm"]), "the planted scenarios make some accounts Red"
    return snap


# The transient matrix: (fault, how many times it fires, a note the object's manifest must carry). Each rule hits
# its own object (the simulator's object= option), so all of them run in one sync, and an object left out or a
# rule that never fired names the case that failed.
TRANSIENT = [
    # one HTTP 500 on a data query
    ("500:queryAll:object=Account:after=1:count=1", 1, None),
    # a REST answer cut off mid-body (ChunkedEncodingError)
    ("drop:queryAll:object=Contact:count=1", 1, None),
    # eight 503s in a row
    ("503:queryAll:object=Opportunity:count=8", 8, None),
    # QUERY_TIMEOUT on the COUNT() probe, then on a data query
    ("timeout:queryAll:object=Case:count=1", 1, "QUERY_TIMEOUT on COUNT()"),
    ("timeout:queryAll:object=Event:after=1:count=1", 1, "QUERY_TIMEOUT on ["),
    # a Bulk 2.0 query job ending Failed (the object big enough for Bulk)
    ("bulkfail:count=1", 1, "bulk2 failed, read through REST"),
]


def test_transient_faults_end_in_the_fault_free_result(
    serve: Callable[[str], Any],
    pipeline_settings: Callable[[Any, Path], dict[str, Any]],
    baseline: Snapshot,
    tmp_path: Path,
) -> None:
    with serve("transient") as sim:
        settings = pipeline_settings(sim, tmp_path)
        rules = [(sim.faults.add(fault)[0], fires, note) for fault, fires, note in TRANSIENT]
        result = nightly_sync(settings=settings)
        assert result["status"] == "success" and not result["failed_objects"], result["message"]
        assert _snapshot(sim, settings) == baseline
    landed = {
        manifest.parent.name: manifest.read_text()
        for manifest in (Path(settings["landing_dir"]) / result["run_id"]).glob("*/_manifest.json")
    }
    for rule, fires, note in rules:
        assert rule.fired == fires, rule  # the fault did happen
        if note is not None:
            noted = [obj.lower() for obj, text in landed.items() if note in text]
            assert len(noted) == 1 and rule.sobject_filter in (None, noted[0]), (rule, noted)


def test_hard_fault_on_one_object_is_partial_and_a_clean_rerun_converges(
    serve: Callable[[str], Any],
    pipeline_settings: Callable[[Any, Path], dict[str, Any]],
    baseline: Snapshot,
    tmp_path: Path,
) -> None:
    with serve("hard") as sim:
        settings = {**pipeline_settings(sim, tmp_path), "sf_max_retries": 2}  # fewer waits; the same logic
        sim.faults.add("500:queryAll:object=Case")  # every query of Case, however often it is retried
        first = nightly_sync(settings=settings)
        assert first["status"] == "partial" and list(first["failed_objects"]) == ["Case"]
        line = first["message"]
        assert (
            "\n" not in line and "Case" in line and "UNKNOWN_EXCEPTION" in line and "after 2 retries" in line
        )
        assert _last_run(settings) == ("partial", line)
        marks = _watermarks(settings)
        assert "Case" not in marks and len(marks) == 9  # the others went on
        # Case never loaded: its signals are not scored and an account whose level rests on them is held from the
        # push (issue 13); every level that did go out is the fault-free one
        assert "Case" in first["coverage"]["missing_objects"] and first["coverage"]["held_accounts"] > 0
        expected = {i: level for i, level, _ in baseline["crm"]}
        pushed = {i: level for i, level, _ in _snapshot(sim, settings)["crm"] if level is not None}
        assert pushed and all(level == expected[i] for i, level in pushed.items())

        sim.faults.clear()
        rerun = nightly_sync(settings=settings)
        assert rerun["status"] == "success"
        assert _ours_aside(_snapshot(sim, settings)) == _ours_aside(baseline)  # owner Tasks too: none twice
        # raised: the flagged accounts that had no level in the CRM yet (the rest went out with the partial run)
        flagged = {i for i, level in expected.items() if level in ("Red", "Amber")}
        assert (rerun["push"]["raised"], rerun["push"]["cleared"]) == (len(flagged - set(pushed)), 0)

        # Case loaded before: the next failure keeps its watermark and scores as of it, a whole picture
        loaded = _watermarks(settings)
        sim.faults.add("500:queryAll:object=Case")
        again = nightly_sync(settings=settings)
        assert again["status"] == "partial" and list(again["failed_objects"]) == ["Case"]
        assert _watermarks(settings)["Case"] == loaded["Case"]
        with duckdb.connect(settings["warehouse_path"], read_only=True) as con:
            (as_of,) = con.execute(
                "select distinct as_of from marts.account_risk_history where run_id = ?", [again["run_id"]]
            ).fetchone()
        assert as_of == loaded["Case"]
        assert again["push"] is not None and again["push"]["rejected"] == 0
        assert _snapshot(sim, settings)["crm"] == baseline["crm"]


def test_every_object_failing_fails_the_run_in_one_line(
    serve: Callable[[str], Any], pipeline_settings: Callable[[Any, Path], dict[str, Any]], tmp_path: Path
) -> None:
    with serve("all-fail") as sim:
        settings = {**pipeline_settings(sim, tmp_path), "sf_max_retries": 1}
        sim.faults.add("503:queryAll")
        with pytest.raises(ExtractFailed) as err:
            nightly_sync(settings=settings)
        line = str(err.value)
        assert "\n" not in line and line.startswith("no object extracted; User: ")
        assert "SERVER_UNAVAILABLE" in line and "(and 9 other objects: Account, " in line
        status, message = _last_run(settings)
        assert status == "failed" and line in message
        assert _watermarks(settings) == {}


def test_unknown_object_and_held_warehouse_fail_in_one_line(
    serve: Callable[[str], Any], pipeline_settings: Callable[[Any, Path], dict[str, Any]], tmp_path: Path
) -> None:
    with serve("refused") as sim:
        settings = {**pipeline_settings(sim, tmp_path), "warehouse_lock_wait_seconds": 0}
        with pytest.raises(ConfigError, match=r"unknown object\(s\) \['Widget'\]") as unknown:
            nightly_sync(objects=["Widget"], settings=settings)
        assert "\n" not in str(unknown.value) and _last_run(settings)[0] == "failed"
        holder = _hold_lock(Path(settings["warehouse_path"]), 120)
        try:
            with pytest.raises(WarehouseBusy) as busy:
                nightly_sync(settings=settings)
        finally:
            holder.kill()
            holder.wait()
        assert "\n" not in str(busy.value) and "CRM_RISK_WAREHOUSE_LOCK_WAIT_SECONDS" in str(busy.value)
        assert _last_run(settings)[0] == "failed"  # the held run never started; the earlier one is as it was


def test_objects_extracted_one_after_another_land_what_concurrent_ones_do(
    serve: Callable[[str], Any],
    pipeline_settings: Callable[[Any, Path], dict[str, Any]],
    baseline: Snapshot,
    tmp_path: Path,
) -> None:
    """The baseline extracts 3 objects at a time (the default); one at a time, the warehouse, the flags and the
    owner Tasks are the same."""
    with serve("sequential") as sim:
        settings = {**pipeline_settings(sim, tmp_path), "extract_object_concurrency": 1}
        result = nightly_sync(settings=settings)
        assert result["status"] == "success"
        assert _snapshot(sim, settings) == baseline


def test_the_quota_stops_concurrent_extracts_cleanly_and_a_rerun_converges(
    serve: Callable[[str], Any],
    pipeline_settings: Callable[[Any, Path], dict[str, Any]],
    baseline: Snapshot,
    tmp_path: Path,
) -> None:
    """The run's API budget spent while 4 objects are under way: those end (landed, or stopped by the quota),
    none begins after, nothing is pushed; every object either loaded with its watermark or kept none; a rerun
    without the budget ends where the fault-free run did."""
    with serve("quota") as sim:
        base = pipeline_settings(sim, tmp_path)
        # 10 objects of 3 calls or more each: the 7 that must end before the last one begins need 21
        settings = {**base, "extract_object_concurrency": 4, "api_call_budget": 16}
        first = nightly_sync(settings=settings)
        assert first["status"] == "stopped_quota", first["message"]
        assert first["push"] is None  # a half-extracted picture pushes nothing
        marks = _watermarks(settings)
        assert len(marks) < 10 and set(marks) == set(first["extracted"])
        assert all(first["loaded"][obj]["loaded"] == n for obj, n in first["extracted"].items())
        assert _snapshot(sim, settings)["crm"] == [(i, None, None) for i, _, _ in baseline["crm"]]
        # none began after the stop: at most the 4 under way then have a landing folder and no watermark
        begun = {p.name for p in (Path(settings["landing_dir"]) / first["run_id"]).iterdir() if p.is_dir()}
        assert set(marks) <= begun and len(begun - set(marks)) <= 4 and len(begun) < 10
        rerun = nightly_sync(settings=base)
        assert rerun["status"] == "success"
        assert _snapshot(sim, settings) == baseline
