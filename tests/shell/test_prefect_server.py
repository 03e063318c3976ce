"""The CLI's temporary Prefect server, begun in the background (shell/prefect_server.py): it answers, it is stopped
when the command ends, fails or is stopped while the server still starts; and the keeper thread that forked it
(Linux ties the parent-death signal to that thread) lives until then. Real server processes, on 127.0.0.1."""

from __future__ import annotations

import gc
import http.client
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from shell.cli import main
from shell.prefect_server import TiedServer, begin_tied_prefect_server
from shell.run_setup import prepared


def _servers_of_this_process() -> list[int]:
    """Pids of live `shell.prefect_child` processes whose parent is this (pytest) process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"shell.prefect_child" in argv and str(os.getpid()).encode() in argv and state != "Z":
            found.append(int(entry.name))
    return found


def _gone(timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _servers_of_this_process():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def temporary_server_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No configured Prefect server: the CLI starts its own (its Prefect home in tmp_path)."""
    from prefect.context import refresh_global_settings_context
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    refresh_global_settings_context()
    assert not _servers_of_this_process()
    # an e2e test before this one in the same worker leaves Prefect's session test harness (a settings context
    # naming its server) active: inside this, no server is configured, as for the CLI
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        yield tmp_path
    refresh_global_settings_context()


@pytest.mark.parametrize("prepared", [False, True], ids=["url-only", "prepared-while-starting"])
def test_a_server_begun_in_the_background_answers_then_stops(
    temporary_server_env: Path, prepared: bool
) -> None:
    server = begin_tied_prefect_server()
    assert isinstance(server, TiedServer)
    try:
        if prepared:  # as the CLI does: Prefect's settings for its URL built while it starts
            deadline = time.monotonic() + 30
            while server._candidate is None and time.monotonic() < deadline:
                time.sleep(0.05)
            server.prepare()
            assert server.ready() or server._prepared is not None
            assert "PREFECT_API_URL" not in os.environ  # named only once the server answers
        url = server.url()
        assert os.environ["PREFECT_API_URL"] == url and server.ready()
        # pointed at it: no flow-run heartbeats (the server dies with this process; nobody would read them)
        from prefect.context import GLOBAL_SETTINGS_CONTEXT

        assert GLOBAL_SETTINGS_CONTEXT.settings.api.url == url
        assert GLOBAL_SETTINGS_CONTEXT.settings.flows.heartbeat_frequency is None
        # nor a check of the server's API version: it runs this very install of Prefect
        assert not GLOBAL_SETTINGS_CONTEXT.settings.client.server_version_check_enabled
        port = int(url.split(":")[2].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/health")
        assert conn.getresponse().status == 200
        conn.close()
        assert _servers_of_this_process() == [server.pid]
        assert server._thread.is_alive()  # the forking thread outlives nothing it forked
    finally:
        server.stop()
        os.environ.pop("PREFECT_API_URL", None)
    assert _gone()
    assert not server._thread.is_alive()
    server.stop()  # idempotent


def test_a_server_stopped_while_it_starts_is_stopped_and_says_so(temporary_server_env: Path) -> None:
    server = begin_tied_prefect_server()
    assert server is not None
    server.stop()
    assert _gone()
    with pytest.raises(RuntimeError, match="stopped before it answered"):
        server.url()
    assert "PREFECT_API_URL" not in os.environ


def test_a_configured_server_starts_nothing(temporary_server_env: Path, monkeypatch) -> None:
    from prefect.context import refresh_global_settings_context

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    refresh_global_settings_context()
    assert begin_tied_prefect_server() is None
    assert not _servers_of_this_process()


def test_a_server_begun_before_prefects_settings_said_no_is_stopped(
    temporary_server_env: Path, monkeypatch
) -> None:
    from prefect.context import refresh_global_settings_context

    # no PREFECT_API_URL in the environment: the server is forked at once, then Prefect's settings turn
    # temporary servers off (as a profile may)
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_ENABLED, temporary_settings

    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_ENABLED", "false")
    refresh_global_settings_context()
    with temporary_settings(updates={PREFECT_SERVER_EPHEMERAL_ENABLED: False}):  # over the fixture's context
        assert begin_tied_prefect_server() is None
    assert _gone()


@pytest.fixture
def crm_env(temporary_server_env: Path, monkeypatch: pytest.MonkeyPatch, simulator: Any) -> Path:
    work = temporary_server_env / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for var in [v for v in os.environ if v.startswith("CRM_RISK_")]:
        monkeypatch.delenv(var)
    path = temporary_server_env / "connection.json"
    path.write_text(json.dumps(dict(simulator.connection)))
    monkeypatch.setenv("CRM_RISK_SF_CONNECTION_FILE", str(path))
    monkeypatch.setenv("CRM_RISK_SF_AUTH", "client_credentials")
    monkeypatch.setenv("CRM_RISK_DQ_ENABLED", "false")  # ready() need not build the gate's context here
    return path


def test_a_refused_login_stops_the_server_begun_meanwhile(crm_env: Path, capsys) -> None:
    conn = json.loads(crm_env.read_text())
    conn["client_secret"] = "not-the-secret-" + "x" * 20
    crm_env.write_text(json.dumps(conn))
    assert main(["sync"]) == 2
    assert "invalid_client" in capsys.readouterr().err
    assert gc.isenabled()  # off while the run's modules were imported; on again when the command failed
    assert _gone(), "the CLI's temporary Prefect server outlived its refused login"
    assert list(Path.cwd().iterdir()) == []  # no warehouse, no landing


def test_an_error_in_the_run_stops_the_server(crm_env: Path) -> None:
    with pytest.raises(RuntimeError, match="the run broke"), prepared(None) as ready:
        assert not gc.isenabled()  # while the run's modules are imported
        ready()
        assert gc.isenabled()  # imported (no GX warm-up here: CRM_RISK_DQ_ENABLED=false), frozen, on again
        assert len(_servers_of_this_process()) == 1
        raise RuntimeError("the run broke")
    assert _gone(), "the CLI's temporary Prefect server outlived the failed run"
    os.environ.pop("PREFECT_API_URL", None)


def test_a_prefect_home_under_missing_folders_is_made_and_the_server_starts(
    temporary_server_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prefect creates only the last folder of PREFECT_HOME: without the CLI making the rest, the server could not
    open its database and the command waited out the whole startup timeout (120 s) before failing."""
    from prefect.context import refresh_global_settings_context

    from shell.run_setup import prefect_env

    home = temporary_server_env / "not" / "made" / "yet" / "prefect"
    monkeypatch.setenv("PREFECT_HOME", str(home))
    prefect_env()
    refresh_global_settings_context()
    assert home.is_dir()
    server = begin_tied_prefect_server()
    assert isinstance(server, TiedServer)
    try:
        assert server.ready() or server.url()
        assert any(home.iterdir())  # its database lives there
    finally:
        server.stop()
        os.environ.pop("PREFECT_API_URL", None)
    assert _gone()
