"""Prefect's temporary API server for one CLI command, tied to the command's process: it never outlives it.

With no `PREFECT_API_URL`, Prefect starts a temporary ("ephemeral") server as a subprocess on the first flow call
(`prefect.server.api.server.SubprocessASGIServer`) and stops it at exit (`atexit`). A `kill -9` of the CLI runs no
exit handler: the server, a uvicorn process, lived on (one still used CPU minutes later). Prefect may start it from
any thread, and it offers no hook into the subprocess, so the CLI starts that same server itself, before Prefect is
used, and points Prefect at it (`PREFECT_API_URL`, the global settings refreshed):

- the server process runs `shell.prefect_child`, which asks the kernel for SIGTERM when its parent dies
  (Linux `PR_SET_PDEATHSIG`; tied to the thread that forked it: a keeper thread that lives until the server is
  stopped, i.e. until the process ends) and also watches its parent pid (any POSIX system, and the window before
  the first check): either way it stops once the CLI is gone;
- the CLI stops it at its exit (terminate, then kill after 5 s), as Prefect's own server object does, and at once
  when the command fails before its flow (a refused login).

The server takes seconds to answer (uvicorn and Prefect's app import, its database migrated): the CLI begins it
(`begin_tied_prefect_server`) as soon as its settings are valid, and waits for it (`TiedServer.url()`) only before
the first flow, so the start overlaps the login and the run's imports.

Killing the process group instead would need whoever kills the CLI to kill the group; a `kill -9 <pid>` would still
orphan the server. With a configured server (PREFECT_API_URL) nothing is started.
"""

from __future__ import annotations

import atexit
import http.client
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

__all__ = ["TiedServer", "begin_tied_prefect_server", "start_tied_prefect_server"]

log = logging.getLogger(__name__)
# what Prefect's SubprocessASGIServer sets for its temporary server; and no block-type registration at its start
# (loading every collection and hashing the block registry to find it memoized: 0.3-0.5 s of the start, measured).
# Nothing a run does needs the catalogue: a block saved (Block.save) registers its own type and schema.
SERVER_ENV = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
    "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",
    "PREFECT_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",
}
PORT_IN_USE = 3  # uvicorn's exit code when its port is taken (Prefect retries on another port too)
TIMEOUT_VARIABLE = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
DEFAULT_TIMEOUT = 20.0  # Prefect's default for that setting


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    """Whether the server's API answers (plain HTTP on 127.0.0.1: no client or TLS context built per poll)."""
    parsed = urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=2)
    try:
        conn.request("GET", f"{parsed.path}/health")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _start(
    timeout: float | Callable[[], float],
    cancelled: threading.Event | None = None,
    forked: Callable[[str], None] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the server process and wait (at most `timeout` seconds, or what `timeout()` says as it waits)
    until its API answers; `forked(url)` is told each URL a server process was started for."""
    started = time.monotonic()
    limit = timeout if callable(timeout) else lambda: timeout
    while True:
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "shell.prefect_child", str(os.getpid()), str(port)],
            # never a PREFECT_API_URL: the server is not a client (prepare() names it in os.environ for a moment)
            env={**{k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}, **SERVER_ENV},
        )
        url = f"http://127.0.0.1:{port}/api"
        if forked is not None:
            forked(url)
        while time.monotonic() < started + limit():
            if proc.poll() is not None or _healthy(url) or (cancelled and cancelled.is_set()):
                break
            time.sleep(0.1)
        if cancelled and cancelled.is_set():
            _stop(proc)
            raise RuntimeError("the temporary Prefect server was stopped before it answered")
        if proc.poll() == PORT_IN_USE and time.monotonic() < started + limit():
            continue  # another process took the port meanwhile: try another
        if proc.poll() is None and _healthy(url):
            return proc, url
        _stop(proc)
        raise RuntimeError(
            f"the temporary Prefect server did not start within {limit():g}s (exit code {proc.returncode}); "
            "set PREFECT_API_URL to a running Prefect server, or raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _settings_without_heartbeats(url: str) -> Any:
    """Prefect's global settings context as `refresh_global_settings_context()` would build it with
    PREFECT_API_URL=`url`, flow-run heartbeats and the client's server-version check off.

    Heartbeats let a server mark a run crashed when its process stops reporting; this server stops with the
    process, so nobody would ever read them. Their thread also held each flow call's end until its next
    one-second tick (Prefect joins it there): 0.5-0.9 s per sync, measured. No environment variable can say
    "none" (PREFECT_FLOWS_HEARTBEAT_FREQUENCY is an integer of at least 30), hence the settings copy.
    """
    import prefect.context

    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    try:
        current = prefect.context.root_settings_context()
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous
    settings = current.settings  # copied, not validated again (copy_with_update would rebuild every source)
    flows = settings.flows.model_copy(update={"heartbeat_frequency": None})
    # and no API version check: the server was started from this very install (the check is the flow run's first
    # request, 0.1-0.25 s while a fresh server warms up)
    client = settings.client.model_copy(update={"server_version_check_enabled": False})
    return prefect.context.SettingsContext(
        profile=current.profile, settings=settings.model_copy(update={"flows": flows, "client": client})
    )


def _prefect_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("PREFECT_") and k != "PREFECT_API_URL"}


class TiedServer:
    """A temporary server being started by a keeper thread, while the CLI goes on (imports, login, settings).

    The keeper thread forks the server and then waits until `stop()`: Linux sends the parent-death signal when
    the *thread* that forked a child ends, so the thread lives as long as the server must (a daemon thread ends
    only with the process: a `kill -9` of the CLI still stops the server). `url()` waits until the API answers
    and points Prefect at it; `stop()` stops the server (at once if it has not answered yet) and is idempotent.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout  # seconds to wait for the API to answer; may be changed while it starts
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._url: str | None = None
        self._error: BaseException | None = None
        self._pointed = False
        self._candidate: str | None = None  # the URL of the server process forked last
        self._prepared: tuple[str, dict[str, str], Any] | None = None  # url, PREFECT_* env, settings context
        self._thread = threading.Thread(target=self._keep, name="prefect-server-keeper", daemon=True)
        # registered before Prefect's log and event workers start: runs after they have sent their last batch
        atexit.register(self.stop)
        self._thread.start()

    def _keep(self) -> None:
        try:
            self._proc, self._url = _start(lambda: self.timeout, self._stopping, self._forked)
        except BaseException as exc:  # handed to url()
            self._error = exc
        finally:
            self._ready.set()
        self._stopping.wait()  # the forking thread must outlive the server (PR_SET_PDEATHSIG)

    def _forked(self, url: str) -> None:
        self._candidate = url

    def prepare(self) -> None:
        """While the server starts: build Prefect's settings for its URL now, so that `url()` only installs them
        (0.1-0.25 s of settings validation off the wait's end). Rebuilt by `url()` if the server came up on
        another port or a PREFECT_ variable changed meanwhile."""
        url = self._candidate
        if url is not None and not self.ready():
            self._prepared = (url, _prefect_environment(), _settings_without_heartbeats(url))

    @property
    def pid(self) -> int | None:
        """The server process's pid once forked (None before)."""
        return self._proc.pid if self._proc else None

    def ready(self) -> bool:
        """Whether the start is over (the server answers, or it failed): `url()` would not wait."""
        return self._ready.is_set()

    def url(self) -> str:
        """Wait until the server answers, point Prefect at it (`PREFECT_API_URL`) and return its API URL."""
        self._ready.wait()
        if self._error is not None:
            raise self._error
        assert self._url is not None and self._proc is not None
        if not self._pointed:
            import prefect.context

            prepared = self._prepared
            if prepared is None or prepared[:2] != (self._url, _prefect_environment()):
                prepared = (self._url, {}, _settings_without_heartbeats(self._url))
            os.environ["PREFECT_API_URL"] = self._url
            prefect.context.GLOBAL_SETTINGS_CONTEXT = prepared[
                2
            ]  # as refresh_global_settings_context() sets it
            self._pointed = True
            log.info(
                "temporary Prefect server at %s (pid %d), tied to this process", self._url, self._proc.pid
            )
        return self._url

    def stop(self) -> None:
        """Stop the server (terminate, then kill after 5 s); a server still starting is stopped before it answers."""
        self._stopping.set()
        self._ready.wait(10)  # the keeper stops a server that had not answered yet itself
        if self._proc is not None:
            _stop(self._proc)
        self._thread.join(5)


def begin_tied_prefect_server() -> TiedServer | None:
    """Start the temporary server tied to this process in the background; None (nothing started) when a server
    is configured (PREFECT_API_URL) or temporary servers are off. Call `url()` before any flow runs.

    The server is forked before Prefect is imported here (a second of the CLI's critical path): with no
    PREFECT_API_URL in the environment it is started at once, then stopped again if Prefect's settings (a
    profile, prefect.toml) name a server after all or turn temporary servers off.
    """
    if os.environ.get("PREFECT_API_URL"):
        return None
    server = TiedServer(float(os.environ.get(TIMEOUT_VARIABLE) or DEFAULT_TIMEOUT))
    from prefect.settings import get_current_settings

    current = get_current_settings()
    if current.api.url or not current.server.ephemeral.enabled:
        server.stop()
        return None
    server.timeout = float(current.server.ephemeral.startup_timeout_seconds)
    return server


def start_tied_prefect_server() -> str | None:
    """Point Prefect at a temporary server tied to this process and return its API URL; None (nothing started)
    when a server is configured (PREFECT_API_URL) or temporary servers are off. Call it before any flow runs.

    The server stops at this process's exit: `atexit` (registered before Prefect's log and event workers start,
    so it runs after they have sent their last batch), or its parent-death watch for a kill.
    """
    server = begin_tied_prefect_server()
    return server.url() if server else None
