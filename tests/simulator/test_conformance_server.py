"""Conformance: the server's lifecycle (TLS, connection.json, persistence across restarts, clean stop), concurrency
and the `crm-risk simulate` entry point."""

from __future__ import annotations

import json
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce

from simulator.cli import main as simulate_main
from simulator.server import Simulator
from tests.conftest import make_http

CONNECTION_KEYS = {
    "instance_url",
    "login_url",
    "api_version",
    "access_token",
    "token_url",
    "client_id",
    "client_secret",
    "username",
    "password",
    "security_token",
    "refresh_token",
    "organization_id",
    "ca_bundle",
    "private_key_file",
    "certificate_file",
}


def test_connection_file_and_state_dir(simulator: Any) -> None:
    state = Path(simulator.state_dir)
    conn = json.loads((state / "connection.json").read_text())
    assert set(conn) >= CONNECTION_KEYS and conn == simulator.connection
    assert conn["instance_url"] == simulator.url == conn["login_url"]
    assert conn["organization_id"].startswith("00D") and len(conn["organization_id"]) == 18
    assert Path(conn["ca_bundle"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    truth = json.loads((state / "ground_truth.json").read_text())
    assert truth["accounts"] == 150 and truth["seed"] == 11


def test_tls_only_on_loopback(simulator: Any) -> None:
    host, port = simulator.url.removeprefix("https://").split(":")
    assert host == "127.0.0.1"
    ctx = ssl.create_default_context(cafile=simulator.connection["ca_bundle"])
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_concurrent_requests(simulator: Any, connection: dict) -> None:
    def one(i: int) -> int:
        http = make_http(connection["ca_bundle"])
        sf = Salesforce(instance_url=simulator.url, session_id=connection["access_token"], session=http)
        try:
            return sum(1 for _ in sf.query_all_iter("SELECT Id FROM Account"))
        finally:
            http.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        counts = list(pool.map(one, range(12)))
    assert len(set(counts)) == 1 and counts[0] >= 150


def test_restart_keeps_org_and_credentials(tmp_path: Path) -> None:
    with Simulator(tmp_path, accounts=12, seed=3) as first:
        conn1 = dict(first.connection)
        http = make_http(conn1["ca_bundle"])
        sf = Salesforce(instance_url=first.url, session_id=conn1["access_token"], session=http)
        new_id = sf.Account.create({"Name": "Survives restarts"})["id"]
        port = first.port
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with Simulator(tmp_path, accounts=999, seed=99) as second:  # an existing org is reused as is
        conn2 = second.connection
        for key in (
            "client_id",
            "client_secret",
            "username",
            "password",
            "security_token",
            "refresh_token",
            "access_token",
            "organization_id",
        ):
            assert conn2[key] == conn1[key], key
        http = make_http(conn2["ca_bundle"])
        sf = Salesforce(instance_url=second.url, session_id=conn2["access_token"], session=http)
        assert sf.Account.get(new_id)["Name"] == "Survives restarts"
        assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 13
        today = second.org.clock.today()
        moved = http.post(
            f"{second.url}/_simulator/advance",
            params={"days": 2},
            headers={"Authorization": f"Bearer {conn2['access_token']}"},
        )
        assert moved.status_code == 200 and isinstance(moved.json(), dict)
        assert (second.org.clock.today() - today).days == 2


def test_cli_advance_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        simulate_main(
            ["--state-dir", str(tmp_path), "--accounts", "10", "--seed", "5", "--advance-days", "1", "--once"]
        )
        == 0
    )
    assert "advanced 1 day(s)" in capsys.readouterr().out
    assert (tmp_path / "connection.json").exists() and (tmp_path / "ground_truth.json").exists()


def test_cli_migrated_history_and_the_served_org(tmp_path: Path) -> None:
    args = ["--state-dir", str(tmp_path), "--accounts", "20", "--seed", "5", "--migrated-history", "400"]
    assert simulate_main([*args, "--advance-days", "1", "--once"]) == 0
    truth = json.loads((tmp_path / "ground_truth.json").read_text())
    migrated_on = truth["migrated_on"]
    assert migrated_on is not None
    with Simulator(tmp_path) as sim:  # the org as a client reads it
        assert (sim.org.clock.today() - date.fromisoformat(migrated_on)).days == 401  # one day advanced since
        conn = sim.connection
        sf = Salesforce(
            instance_url=sim.url, session_id=conn["access_token"], session=make_http(conn["ca_bundle"])
        )
        first = sf.query("SELECT CreatedDate, CreatedById FROM Account ORDER BY CreatedDate LIMIT 1")[
            "records"
        ][0]
        assert (
            first["CreatedDate"].startswith(migrated_on)
            and first["CreatedById"] == truth["integration_user_id"]
        )
        old = sf.query(f"SELECT COUNT() FROM Task WHERE ActivityDate < {migrated_on} AND IsClosed = true")
        assert old["totalSize"] > 100  # the calls before the migration, dated by their own day


@pytest.mark.slow
def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    cmd = [
        sys.executable,
        "-c",
        "import sys; from simulator.cli import main; sys.exit(main(sys.argv[1:]))",
        "--port",
        "0",
        "--state-dir",
        str(tmp_path),
        "--accounts",
        "10",
        "--seed",
        "2",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        line = ""
        while time.monotonic() < deadline and not line.startswith("simulator serving"):
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        assert line.startswith("simulator serving https://127.0.0.1:")
        conn = json.loads((tmp_path / "connection.json").read_text())
        assert f"Pub/Sub API {conn['pubsub_url']} " in line and conn["pubsub_url"].startswith("127.0.0.1:")
        http = make_http(conn["ca_bundle"])
        resp = http.get(
            f"{conn['instance_url']}/services/data/v62.0/limits",
            headers={"Authorization": f"Bearer {conn['access_token']}"},
            timeout=30,
        )
        assert resp.status_code == 200
        http.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
