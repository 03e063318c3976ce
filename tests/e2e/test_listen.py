"""`crm-risk listen` against the simulator's Pub/Sub API over real gRPC, with a real Prefect server.

Every change made while the listener runs, is killed (SIGKILL) and restarts produces its Prefect event; a stored
replay id that aged out of the retention window and a gap event each lead to a resync; a bad token is refused.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.salesforce.events.listener import Listener
from connectors.salesforce.events.pubsub import Credentials, PubSubClient, SessionRefused
from connectors.salesforce.events.replay import ReplayStore
from shell.service import prefect_env, read_events, running_prefect_server, stop_process
from tests.e2e.orgclock import pin_org_clock
from tests.e2e.waiting import wait_for as _wait

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prefect server for this module (the listener reaches it by PREFECT_API_URL)."""
    with running_prefect_server(tmp_path_factory.mktemp("prefect")) as url:
        yield url


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A small org whose Pub/Sub API sends keepalives every half second."""
    from simulator.server import Simulator

    org_dir = tmp_path_factory.mktemp("org")
    pin_org_clock(org_dir)
    with Simulator(org_dir, accounts=40, seed=3, keepalive_seconds=0.5) as s:
        yield s


class ListenProcess:
    """`crm-risk listen` in its own process (and session), stopped or killed by PID."""

    def __init__(self, sim: Any, work: Path, prefect_url: str, **settings: str) -> None:
        self.replay_file = work / "listener-replay.json"
        env = prefect_env(prefect_url, work / "prefect-home")
        env.update(
            CRM_RISK_SF_CONNECTION_FILE=str(Path(sim.state_dir) / "connection.json"),
            CRM_RISK_SF_AUTH="client_credentials",
            CRM_RISK_WAREHOUSE_PATH=str(work / "warehouse.duckdb"),
            CRM_RISK_LISTEN_REPLAY_FILE=str(self.replay_file),
            **{f"CRM_RISK_{k.upper()}": v for k, v in settings.items()},
        )
        cli = Path(sys.executable).with_name("crm-risk")
        self.log = (work / "listen.log").open("a")
        self.proc = subprocess.Popen(
            [str(cli), "listen"], env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill(self) -> None:
        """SIGKILL: no chance to store anything more."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; the exit code."""
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(30)
        finally:
            stop_process(self.proc)
            self.log.close()


def _emitted_records(prefect_url: str) -> dict[str, int]:
    """Record id -> how many salesforce.account.changed events named it."""
    seen: dict[str, int] = {}
    for event in read_events(prefect_url, "salesforce.account.changed"):
        for rid in event["payload"]["record_ids"]:
            seen[rid] = seen.get(rid, 0) + 1
    return seen


def test_no_change_is_lost_when_the_listener_is_killed_and_restarted(
    sim: Any, prefect_api: str, tmp_path: Path
) -> None:
    listener = ListenProcess(sim, tmp_path, prefect_api)
    _wait(
        listener.replay_file.exists, 60, "the listener to subscribe (its first keepalive stores a replay id)"
    )
    rows = sim.org.query("SELECT Id, Priority FROM Case WHERE IsDeleted = false").records(0)[:60]
    cases = [r["Id"] for r in rows]
    flipped = {r["Id"]: "Low" if r["Priority"] == "High" else "High" for r in rows}  # a real change each time
    changed: list[str] = []

    def change(batch: list[str], started: threading.Event | None = None) -> None:
        for i, case_id in enumerate(batch):
            sim.org.update("Case", case_id, {"Priority": flipped[case_id]})
            changed.append(case_id)
            if started is not None and i == 4:
                started.set()
            time.sleep(0.02)

    change(cases[:20])  # handled by the first listener
    _wait(lambda: set(cases[:20]) <= set(_emitted_records(prefect_api)), 60, "the first changes' events")
    started = threading.Event()
    writer = threading.Thread(target=change, args=(cases[20:40], started))
    writer.start()
    started.wait(30)
    listener.kill()  # while changes keep arriving
    writer.join(60)
    change(cases[40:])  # made while no listener runs
    restarted = ListenProcess(sim, tmp_path, prefect_api)
    try:
        emitted = _wait(
            lambda: (seen := _emitted_records(prefect_api)) and set(changed) <= set(seen) and seen,
            90,
            "an event for every changed Case",
        )
    finally:
        assert restarted.stop() == 0
    assert len(changed) == len(cases) and set(changed) <= set(emitted)
    # at-least-once: a record is emitted again only if it was in the batch in flight when the listener died
    assert sum(n - 1 for rid, n in emitted.items() if rid in changed) <= 100


def _connect(sim: Any, token: str | None = None, tenant: str | None = None) -> PubSubClient:
    conn = sim.connection
    creds = Credentials(
        token or conn["access_token"], conn["instance_url"], tenant or conn["organization_id"]
    )
    return PubSubClient(conn["pubsub_url"], lambda: creds, ca_pem=Path(conn["ca_bundle"]).read_bytes())


def test_a_bad_token_or_tenant_is_refused(sim: Any) -> None:
    for client in (_connect(sim, token="00Dbad!token"), _connect(sim, tenant="00D000000000000AAA")):
        with client, pytest.raises(SessionRefused, match=r"auth\.error"):
            client.topic("/data/ChangeEvents")


def _collect(sim: Any, store: ReplayStore, start: str, want: int, expired: list[str]) -> list[Any]:
    """Run the listener in this process until it handed over `want` events; return them."""
    got: list[Any] = []
    listener: Listener

    def on_events(events: list[Any]) -> None:
        got.extend(events)
        if len(got) >= want:
            listener.stop()

    listener = Listener(
        lambda relogin: _connect(sim), store, "/data/CaseChangeEvent", on_events, expired.append, start=start
    )
    runner = threading.Thread(target=listener.run, daemon=True)
    runner.start()
    runner.join(30)
    listener.stop()
    runner.join(10)
    return got


def test_earliest_latest_and_a_stored_replay_id(sim: Any, tmp_path: Path) -> None:
    rows = sim.org.query("SELECT Id, Priority FROM Case WHERE IsDeleted = false").records(0)[-5:]

    def touch(row: dict[str, Any]) -> None:
        row["Priority"] = "Low" if row["Priority"] == "High" else "High"
        sim.org.update("Case", row["Id"], {"Priority": row["Priority"]})

    for row in rows[:3]:
        touch(row)
    expired: list[str] = []
    store = ReplayStore(tmp_path / "replay.json")
    earliest = _collect(sim, store, "EARLIEST", 3, expired)
    assert {r["Id"] for r in rows[:3]} <= {rid for e in earliest for rid in e.record_ids}
    assert [e.replay_id for e in earliest] == sorted(e.replay_id for e in earliest)
    stored = store.get("/data/CaseChangeEvent")
    assert stored == earliest[-1].replay_id
    touch(rows[3])
    resumed = _collect(sim, store, "EARLIEST", 1, expired)  # the stored replay id wins over the preset
    assert [e.record_ids for e in resumed] == [(rows[3]["Id"],)] and resumed[0].replay_id > stored
    fresh = ReplayStore(tmp_path / "latest.json")
    threading.Timer(2.0, touch, args=(rows[4],)).start()
    latest = _collect(sim, fresh, "LATEST", 1, expired)  # only what is committed after subscribing
    assert [e.record_ids for e in latest] == [(rows[4]["Id"],)] and expired == []


def test_an_aged_out_replay_id_and_a_gap_each_ask_for_a_resync(
    sim: Any, prefect_api: str, tmp_path: Path
) -> None:
    listener = ListenProcess(sim, tmp_path, prefect_api)
    _wait(listener.replay_file.exists, 60, "the listener to subscribe")
    assert listener.stop() == 0
    sim.advance_days(4)  # past the 72-hour retention: the stored replay id is no longer valid
    sim.faults.add("gap:Case:count=1")
    restarted = ListenProcess(sim, tmp_path, prefect_api)
    try:
        _wait(
            lambda: len(read_events(prefect_api, "crm.resync.needed")) >= 1, 60, "the expiry's resync event"
        )
        case_id = sim.org.query("SELECT Id FROM Case WHERE IsDeleted = false LIMIT 1").records(0)[0]["Id"]
        sim.org.update("Case", case_id, {"Priority": "High"})  # published as GAP_UPDATE by the fault
        events = _wait(
            lambda: (found := read_events(prefect_api, "crm.resync.needed")) and len(found) >= 2 and found,
            60,
            "the gap's resync event",
        )
    finally:
        assert restarted.stop() == 0
        sim.faults.clear()
    reasons = sorted(e["payload"]["reason"] for e in events)
    assert any("expired" in r for r in reasons) and any("gap" in r for r in reasons), reasons
    gap = next(e for e in events if "gap" in e["payload"]["reason"])
    assert gap["payload"]["objects"] == ["Case"]
    assert "no longer valid" in (tmp_path / "listen.log").read_text()


SERVE_RESYNC = """
import yaml
from prefect import serve
from prefect.events import DeploymentEventTrigger
from flows.nightly import nightly_sync

spec = next(d for d in yaml.safe_load(open("prefect.yaml"))["deployments"] if d["name"] == "resync")
trigger = spec["triggers"][0]
deployment = nightly_sync.to_deployment(
    name="resync",
    parameters=spec["parameters"],
    triggers=[
        DeploymentEventTrigger(
            match=trigger["match"], expect=set(trigger["expect"]), parameters=trigger["parameters"]
        )
    ],
)
serve(deployment)
"""


def test_a_gap_event_runs_the_resync_deployment_on_that_object(
    sim: Any, prefect_api: str, tmp_path: Path
) -> None:
    """prefect.yaml's `resync` deployment, served, runs the incremental extract of the object a gap named."""
    import duckdb

    root = Path(__file__).resolve().parents[2]
    warehouse = tmp_path / "resync" / "warehouse.duckdb"
    env = prefect_env(prefect_api, tmp_path / "serve-home")
    env.update(
        PYTHONPATH=str(root),
        CRM_RISK_SF_CONNECTION_FILE=str(Path(sim.state_dir) / "connection.json"),
        CRM_RISK_SF_AUTH="client_credentials",
        CRM_RISK_WAREHOUSE_PATH=str(warehouse),
        CRM_RISK_LANDING_DIR=str(tmp_path / "resync" / "landing"),
    )
    with (tmp_path / "serve.log").open("w") as log:
        served = subprocess.Popen(
            [sys.executable, "-c", SERVE_RESYNC],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    listener = ListenProcess(sim, tmp_path, prefect_api)
    try:
        _wait(listener.replay_file.exists, 60, "the listener to subscribe")
        _wait(
            lambda: "resync" in (tmp_path / "serve.log").read_text() or served.poll() is not None, 60, "serve"
        )
        time.sleep(3)  # the deployment's trigger is registered by the server after serve starts
        sim.faults.add("gap:Case:count=1")
        case = sim.org.query("SELECT Id, Priority FROM Case WHERE IsDeleted = false LIMIT 1").records(0)[0]
        sim.org.update("Case", case["Id"], {"Priority": "Low" if case["Priority"] == "High" else "High"})

        def resync_run() -> Any:
            if not warehouse.exists():
                return None
            try:
                with duckdb.connect(str(warehouse), read_only=True) as con:
                    return con.execute(
                        "select status, counts from meta.runs where flow = 'nightly_sync' and status <> 'running'"
                    ).fetchall()
            except duckdb.Error:  # the run holds the warehouse: look again
                return None

        runs = _wait(resync_run, 180, "the resync deployment's run")
    finally:
        sim.faults.clear()
        assert listener.stop() == 0
        stop_process(served)
    (status, counts), *_ = runs
    assert status == "success", (tmp_path / "serve.log").read_text()[-2000:]
    assert set(json.loads(counts)["extracted"]) == {"Case"}  # that object only
