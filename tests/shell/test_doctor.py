"""`crm-risk doctor` against the simulator over HTTPS (real simple-salesforce, real DuckDB, no mocks): a complete org
passes; a missing field, a read-only field, a spent or short API budget, a locked warehouse and wrong credentials each
fail with their message and fix; no secret of the connection file is ever printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from shell.cli import main
from simulator.org.schema import PACKAGE_FIELDS
from simulator.server import Simulator

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    with Simulator(tmp_path_factory.mktemp("doctor-org"), accounts=40, seed=5) as s:
        yield s


@pytest.fixture
def env(sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working folder whose settings point at the simulated org and a warehouse in it."""
    monkeypatch.chdir(tmp_path)
    for var in [v for v in os.environ if v.startswith("CRM_RISK_") or v == "PREFECT_API_URL"]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("CRM_RISK_SF_CONNECTION_FILE", str(sim.state_dir / "connection.json"))
    monkeypatch.setenv("CRM_RISK_WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("CRM_RISK_LANDING_DIR", str(tmp_path / "landing"))
    sim.field_access.clear()
    used, budget = sim.api_used, sim.api_budget
    yield tmp_path
    sim.field_access.clear()
    sim.api_used, sim.api_budget = used, budget


def _secrets(sim: Simulator) -> list[str]:
    conn = json.loads((sim.state_dir / "connection.json").read_text())
    return [conn[k] for k in ("client_secret", "password", "security_token", "refresh_token", "access_token")]


def _doctor(sim: Simulator, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["doctor", *args])
    out = capsys.readouterr()
    text = out.out + out.err
    for secret in _secrets(sim):
        assert secret not in text
    return code, out.out


def _line(out: str, name: str) -> str:
    found = [ln for ln in out.splitlines() if ln[6:].startswith(name)]
    assert found, f"no {name!r} line in:\n{out}"
    return found[0]


def test_a_complete_org_passes(sim, env, capsys):
    code, out = _doctor(sim, capsys)
    assert code == 0, out
    assert out.strip().endswith("crm-risk doctor: a nightly run can succeed")
    assert "FAIL" not in out
    for name in (
        "login",
        "API version",
        "API budget",
        "read Account",
        "read Task",
        "push fields",
        "owner tasks",
    ):
        assert _line(out, name).startswith("ok  "), out
    assert sim.url in _line(out, "login")
    assert "will be created by the first run" in _line(out, "warehouse")


def test_json_for_monitoring(sim, env, capsys):
    code, out = _doctor(sim, capsys, "--format", "json")
    body = json.loads(out)
    assert code == 0 and body["ok"] is True
    assert {c["status"] for c in body["checks"]} <= {"pass", "skip"}
    assert "push fields" in [c["name"] for c in body["checks"]]


def test_a_missing_field_fails_with_the_deploy_fix(sim, env, capsys):
    sim.field_access.hide("Account.Risk_Score__c")
    code, out = _doctor(sim, capsys)
    assert code == 1
    line = _line(out, "push fields")
    assert line.startswith("FAIL")
    assert "Account.Risk_Score__c missing (not deployed, or hidden from the integration user)" in line
    assert "-> fix: deploy the crm-risk package (from salesforce/: sf project deploy start" in line
    assert "not visible (optional" in _line(out, "read Account")  # the extract still works without it
    assert out.strip().endswith("1 check(s) failed: a nightly run would fail")


def test_an_org_without_the_package_fails_push_and_tasks(sim, env, capsys):
    sim.field_access.hide(*PACKAGE_FIELDS)
    code, out = _doctor(sim, capsys, "--format", "json")
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert code == 1
    assert checks["push fields"]["status"] == "fail"
    assert "Account.Risk_Level__c missing" in checks["push fields"]["detail"]
    assert checks["owner tasks"]["status"] == "fail"
    assert "Task.Risk_Task_Key__c missing" in checks["owner tasks"]["detail"]


def test_a_read_only_field_fails_with_the_permission_set_fix(sim, env, capsys):
    sim.field_access.read_only("Account.Risk_Level__c")
    code, out = _doctor(sim, capsys)
    assert code == 1
    line = _line(out, "push fields")
    assert "Account.Risk_Level__c read-only for the integration user (not updateable)" in line
    assert "-> fix: assign the CRM_Risk_Integration permission set to the integration user" in line


def test_a_spent_api_budget_fails_and_stops_the_crm_checks(sim, env, capsys):
    sim.api_used = sim.api_budget
    code, out = _doctor(sim, capsys)
    assert code == 1
    line = _line(out, "API budget")
    assert "FAIL" in line and "no daily API requests left: the org answered REQUEST_LIMIT_EXCEEDED" in line
    assert "-> fix: wait for the org's rolling 24-hour API window" in line
    assert _line(out, "push fields").startswith("skip") and "budget is spent" in _line(out, "push fields")
    assert _line(out, "login").startswith("ok  ")


def test_a_budget_short_of_a_nightly_run_fails(sim, env, capsys):
    sim.api_budget = sim.api_used + 30  # the doctor's own calls fit; a nightly run does not
    code, out = _doctor(sim, capsys)
    line = _line(out, "API budget")
    assert code == 1 and line.startswith("FAIL"), out
    assert "daily API requests left; a nightly run needs about" in line


def test_a_locked_warehouse_fails_with_the_holder(sim, env, capsys):
    path = env / "warehouse.duckdb"
    duckdb.connect(str(path)).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,sys,time; c=duckdb.connect({str(path)!r}); print('held', flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code, out = _doctor(sim, capsys)
    finally:
        holder.kill()
        holder.wait()
    assert code == 1
    line = _line(out, "warehouse")
    assert line.startswith("FAIL") and "is locked by another process" in line
    assert f"PID {holder.pid}" in line
    assert "-> fix: stop that process or let it finish" in line


def test_wrong_credentials_fail_the_login_without_echoing_them(sim, env, capsys, monkeypatch):
    monkeypatch.setenv("CRM_RISK_SF_CLIENT_SECRET", "not-the-secret-3f9a1c")
    code, out = _doctor(sim, capsys)
    assert code == 1
    line = _line(out, "login")
    assert line.startswith("FAIL") and sim.url in line
    assert "refused: HTTP 400 invalid_client" in line
    assert "-> fix: check the credentials of the auth mode and CRM_RISK_SF_LOGIN_URL" in line
    assert "not-the-secret-3f9a1c" not in out
    assert _line(out, "CRM").startswith("skip")


def test_after_the_demo_doctor_checks_the_demo_org(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for var in [v for v in os.environ if v.startswith("CRM_RISK_") or v == "PREFECT_API_URL"]:
        monkeypatch.delenv(var)
    Simulator(tmp_path / ".demo" / "org", accounts=10, seed=3).start().stop()  # what `make demo` leaves
    code = main(["doctor"])
    out = capsys.readouterr()
    assert "using the demo org in .demo/org" in out.err
    assert code == 0, out.out
    assert str((tmp_path / ".demo" / "warehouse.duckdb").resolve()) in _line(out.out, "warehouse")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prefect server (its own home) for the Prefect check."""
    import time

    import requests

    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path_factory.mktemp("prefect-home")),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    prefect = Path(sys.executable).with_name("prefect")
    server = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{api}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        else:
            pytest.fail("the Prefect server did not start in 120 s")
        yield api
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_prefect_reachable_and_its_deployments_present(sim, env, capsys, monkeypatch, prefect_api):
    import requests

    from shell.serve import deployment_specs

    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    code, out = _doctor(sim, capsys)
    line = _line(out, "prefect")
    names = list(deployment_specs())
    assert code == 1 and line.startswith("FAIL"), out
    assert f"deployments missing: {', '.join(names)}" in line and "-> fix: prefect deploy -n nightly" in line
    flow = requests.post(f"{prefect_api}/flows/", json={"name": "crm-risk-doctor-test"}, timeout=10).json()
    for name in names:  # registered as `prefect deploy` would, through the server's own API
        requests.post(
            f"{prefect_api}/deployments/", json={"name": name, "flow_id": flow["id"]}, timeout=10
        ).raise_for_status()
    code, out = _doctor(sim, capsys)
    assert code == 0, out
    assert _line(out, "prefect").startswith("ok  ") and "reachable; deployments" in _line(out, "prefect")


def test_an_unreachable_prefect_fails(sim, env, capsys, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{_free_port()}/api")
    code, out = _doctor(sim, capsys)
    line = _line(out, "prefect")
    assert code == 1 and "does not answer: ConnectionError" in line
    assert "-> fix: start it (prefect server start) or fix PREFECT_API_URL" in line


def test_change_events_with_events_and_a_receiver_without_secrets(sim, env, capsys, monkeypatch):
    code, out = _doctor(sim, capsys, "--events")
    line = _line(out, "change events")
    assert code == 0 and line.startswith("ok  ") and "/data/ChangeEvents subscribable" in line
    monkeypatch.setenv("CRM_RISK_LISTEN_RECEIVER", "true")
    code, out = _doctor(sim, capsys)
    line = _line(out, "change events")
    assert code == 1 and "with neither an Outbound Message token nor a webhook secret" in line
    assert "-> fix: set CRM_RISK_LISTEN_OUTBOUND_TOKEN" in line
