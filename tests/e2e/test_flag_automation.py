"""The README's automation fires: a key account turning Red in a sync runs the notify-flag deployment.

A real Prefect server (started and stopped here); the README's commands deploy automations/red_flag_notify.yaml
(`prefect deploy --prefect-file ... --all`: the deployment and its trigger, as an automation) and a process worker of
the crm-risk pool runs it; syncs against the simulator over HTTPS; the notification's webhook is a real local HTTP
server whose URL sits in a Prefect Secret block.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests
from prefect.blocks.system import Secret
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, temporary_settings

from crm_risk.errors import PushRejectedError
from flows.nightly import nightly_sync
from flows.refresh import account_refresh
from shell.live import escalate, escalation_candidates
from shell.service import prefect_env, read_events, running_prefect_server, stop_process
from tests.e2e.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
AUTOMATION_FILE = ROOT / "automations" / "red_flag_notify.yaml"
SECRET_BLOCK = "crm-risk-test-webhook"


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prefect server for this module: its triggers service runs the automation."""
    with running_prefect_server(tmp_path_factory.mktemp("prefect")) as url:
        yield url


def _run_events(api: str, name: str, run_id: str) -> list[dict[str, Any]]:
    return [e for e in read_events(api, name) if e["payload"].get("run_id") == run_id]


def _sync(api: str, settings: dict[str, Any]) -> dict[str, Any]:
    """A nightly sync in this process, reporting to the module's server; waits until its events are stored."""
    with temporary_settings({PREFECT_API_URL: api}):
        result = nightly_sync(settings=settings)
        APILogWorker.drain_all()  # the run's logs go now, not at exit to a server stopped by then
    _wait(lambda: _run_events(api, "crm.sync.completed", result["run_id"]), 60, "the run's completion event")
    return result


class Webhook:
    """A chat webhook stand-in: a real HTTP server on 127.0.0.1 keeping every JSON body posted to it."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/B000"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _prefect(api: str, home: Path, *args: str) -> str:
    """The prefect CLI against the module's server, from the project root; its output (a failure fails the test)."""
    prefect = Path(sys.executable).with_name("prefect")
    done = subprocess.run(
        [str(prefect), "--no-prompt", *args],
        cwd=ROOT,
        env=prefect_env(api, home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def _notify_runs(api: str) -> list[dict[str, Any]]:
    body = {"flows": {"name": {"any_": ["notify-flag"]}}, "limit": 200}
    answer = requests.post(f"{api}/flow_runs/filter", json=body, timeout=30)
    answer.raise_for_status()
    return list(answer.json())


def _automation_names(api: str) -> set[str]:
    answer = requests.post(f"{api}/automations/filter", json={}, timeout=30)
    answer.raise_for_status()
    return {a["name"] for a in answer.json()}


def _key_account_to_turn_red(settings: dict[str, Any]) -> tuple[str, str, str, str, float]:
    """A key account not Red, with a won deal: (account id, name, level, opportunity id, amount)."""
    with duckdb.connect(settings["warehouse_path"], read_only=True) as con:
        row = con.execute(
            """
            select a.account_id, a.account_name, r.level, o.opportunity_id, o.amount
            from marts.account_risk r
            join staging.stg_accounts a using (account_id)
            join staging.stg_opportunities o on o.account_id = a.account_id
            where a.is_key_account and r.level = 'Green' and o.is_won and o.amount > 0
            order by a.account_id, o.opportunity_id
            limit 1
            """
        ).fetchone()
    assert row, "the seed-7 org has a Green key account with a won deal"
    return row


def test_a_key_account_turning_red_runs_the_notify_deployment(
    e2e_sim: Any, settings_for: dict[str, Any], prefect_api: str, tmp_path: Path
) -> None:
    first = _sync(prefect_api, settings_for)  # the org's flags as they are; no automation yet
    assert first["status"] == "success"
    assert first["push"]["raised"] > 0  # none -> Amber/Red: every flagged account, once
    raised = _wait(
        lambda: (
            (found := _run_events(prefect_api, "crm.risk.flag.raised", first["run_id"]))
            and len(found) == first["push"]["raised"]
            and found
        ),
        30,
        "one raised event per raised flag",
    )
    changed = _run_events(prefect_api, "crm.risk.flag.changed", first["run_id"])
    assert {e["resource"]["prefect.resource.id"] for e in changed} >= {
        e["resource"]["prefect.resource.id"] for e in raised
    }
    assert all(len(e["payload"]["account_id"]) == 18 for e in changed)
    time.sleep(3)  # let the triggers service see the first run's events before the automation exists

    webhook = Webhook()
    worker: subprocess.Popen[bytes] | None = None
    try:
        with temporary_settings({PREFECT_API_URL: prefect_api}):
            Secret(value=webhook.url).save(SECRET_BLOCK, overwrite=True)
        home = tmp_path / "prefect-home"
        _prefect(prefect_api, home, "work-pool", "create", "crm-risk", "--type", "process")
        _prefect(
            prefect_api, home, "deploy", "--prefect-file", str(AUTOMATION_FILE.relative_to(ROOT)), "--all"
        )
        assert "red-flag-on-key-account" in _automation_names(prefect_api)
        # the README's other step: the Secret block's name in webhook_secret
        deployment = requests.get(f"{prefect_api}/deployments/name/notify-flag/red-flag", timeout=30).json()
        parameters = {**deployment["parameters"], "webhook_secret": SECRET_BLOCK}
        requests.patch(
            f"{prefect_api}/deployments/{deployment['id']}", json={"parameters": parameters}, timeout=30
        ).raise_for_status()
        env = prefect_env(prefect_api, home)
        env.update(PREFECT_WORKER_QUERY_SECONDS="2")
        log_path = tmp_path / "worker.log"
        with log_path.open("w") as log:
            worker = subprocess.Popen(
                [str(Path(sys.executable).with_name("prefect")), "worker", "start", "--pool", "crm-risk"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        time.sleep(3)  # the triggers service loads a new automation shortly after it is created
        account, name, level, opportunity, amount = _key_account_to_turn_red(settings_for)
        e2e_sim.org.update("Opportunity", opportunity, {"Amount": round(amount / 2, 2)})  # a won deal reduced
        time.sleep(1.1)  # extract windows end on whole seconds: the change belongs to the next run
        second = _sync(prefect_api, settings_for)
        assert second["status"] == "success"
        [event] = [
            e
            for e in _run_events(prefect_api, "crm.risk.flag.raised", second["run_id"])
            if e["payload"]["account_id"] == account
        ]
        assert (event["payload"]["previous_level"], event["payload"]["level"]) == (level, "Red")
        assert any("was won on" in r for r in event["payload"]["reasons"]), event["payload"]["reasons"]

        def notified() -> list[dict[str, Any]]:
            runs = _notify_runs(prefect_api)
            done = [r for r in runs if r["parameters"].get("account_id") == account]
            if any(r["state_type"] in ("FAILED", "CRASHED") for r in done):
                return done  # fail fast, with the state in the assertion below
            return [r for r in done if r["state_type"] == "COMPLETED"]

        runs = _wait(notified, 120, "the notify-flag run for the account")
    finally:
        if worker is not None:
            stop_process(worker)
        webhook.close()
    [run] = runs
    assert run["state_type"] == "COMPLETED", log_path.read_text()[-3000:]
    assert run["parameters"]["account_name"] == name
    assert (run["parameters"]["level"], run["parameters"]["previous_level"]) == ("Red", level)
    assert run["parameters"]["run_id"] == second["run_id"]
    assert [m["text"] for m in webhook.received if account in m["text"]] == [
        f"{name} ({account}) is Red, was {level}: {' '.join(event['payload']['reasons'])}"
    ]
    # only key accounts turning Red run it: every notification is one of them
    red_keys = {
        e["payload"]["account_id"]
        for run_id in (first["run_id"], second["run_id"])
        for e in _run_events(prefect_api, "crm.risk.flag.raised", run_id)
        if e["resource"]["crm-risk.key-account"] == "true" and e["payload"]["level"] == "Red"
    }
    assert {r["parameters"]["account_id"] for r in _notify_runs(prefect_api)} <= red_keys


def test_rejected_updates_emit_push_failed_and_no_flag_event_for_them(
    e2e_sim: Any, settings_for: dict[str, Any], prefect_api: str
) -> None:
    org = e2e_sim.org
    for rec in org.query("SELECT Id FROM Account WHERE Risk_Level__c != null").records(0, 10_000):
        org.update(
            "Account", rec["Id"], {"Risk_Level__c": None, "Risk_Score__c": None, "Risk_Reasons__c": None}
        )
    time.sleep(1.1)
    e2e_sim.faults.add("reject:Account:count=5")
    try:
        with temporary_settings({PREFECT_API_URL: prefect_api}):
            with pytest.raises(PushRejectedError):
                nightly_sync(settings={**settings_for, "push_reject_threshold": 0.01})
            APILogWorker.drain_all()
    finally:
        e2e_sim.faults.clear()
    with duckdb.connect(settings_for["warehouse_path"], read_only=True) as con:
        run_id, status = con.execute("select run_id, status from meta.runs").fetchone()
        logged = dict(
            con.execute("select record_id, status from sync.push_log where object = 'Account'").fetchall()
        )
    assert status == "failed"
    [failed] = _wait(lambda: _run_events(prefect_api, "crm.push.failed", run_id), 60, "crm.push.failed")
    assert failed["payload"]["failed_step"] == "push" and failed["payload"]["error"] == "PushRejectedError"
    assert failed["payload"]["accounts"]["rejected"] == 5
    assert failed["payload"]["accounts"]["errors"] == {"FIELD_CUSTOM_VALIDATION_EXCEPTION": 5}
    [done] = _wait(lambda: _run_events(prefect_api, "crm.sync.completed", run_id), 60, "crm.sync.completed")
    assert done["payload"]["status"] == "failed" and done["resource"]["crm-risk.status"] == "failed"
    flagged = {e["payload"]["account_id"] for e in _run_events(prefect_api, "crm.risk.flag.changed", run_id)}
    rejected = {rid for rid, s in logged.items() if s == "rejected"}
    assert (
        len(rejected) == 5 and flagged and not flagged & rejected
    )  # the flag moved only where it was accepted
    assert flagged <= {rid for rid, s in logged.items() if s == "updated"}


def test_a_refresh_on_a_warehouse_of_the_last_version_pushes_its_flag_and_emits_it(
    e2e_sim: Any, settings_for: dict[str, Any], prefect_api: str
) -> None:
    _sync(prefect_api, settings_for)
    with duckdb.connect(settings_for["warehouse_path"]) as con:  # as the version before these events left it
        con.execute("drop view sync.account_flag_moves")
        con.execute("alter table marts.account_risk drop column reason_list")
        as_of = con.execute("select max(as_of) from marts.account_risk_history").fetchall()[0][0]
        [(account, case)] = escalation_candidates(con, as_of, 1)
    escalate(e2e_sim.org, case)
    with temporary_settings({PREFECT_API_URL: prefect_api}):
        result = account_refresh(
            account=f"salesforce.account.{account}", changed_object="Case", settings=settings_for
        )
        APILogWorker.drain_all()
    assert result["status"] == "success" and result["flags_pushed"] == 1
    [event] = _wait(
        lambda: [
            e
            for e in _run_events(prefect_api, "crm.risk.flag.raised", result["run_id"])
            if e["payload"]["account_id"] == account
        ],
        30,
        "the refresh's raised event",
    )
    assert (event["payload"]["previous_level"], event["payload"]["level"]) == ("Green", "Red")
    assert any("followed up" in r for r in event["payload"]["reasons"]), event["payload"]["reasons"]
    [done] = _run_events(prefect_api, "crm.sync.completed", result["run_id"])
    assert done["resource"]["crm-risk.flow"] == "account_refresh" and done["payload"]["push"]["raised"] == 1


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    return wait_for(predicate, timeout, what, every=0.5)
