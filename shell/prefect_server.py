"""Prefect's temporary API server for one CLI command, tied to the command's process: it never outlives it.

With no `PREFECT_API_URL`, Prefect starts a temporary ("ephemeral") server as a subprocess on the first flow call
(`prefect.server.api.server.SubprocessASGIServer`) and stops it at exit (`atexit`). A `kill -9` of the CLI runs no
exit handler: the server, a uvicorn process, lived on (one still used CPU minutes later). Prefect may start it from
any thread, and it offers no hook into the subprocess, so the CLI starts that same server itself, before Prefect is
used, from its main thread, and points Prefect at it (`PREFECT_API_URL`, the global settings refreshed):

- the server process runs `shell.prefect_child`, which asks the kernel for SIGTERM when its parent dies
  (Linux `PR_SET_PDEATHSIG`; tied to the thread that forked it, hence the main thread) and also watches its parent
  pid (any POSIX system, and the window before the first check): either way it stops once the CLI is gone;
- the CLI stops it at its exit (terminate, then kill after 5 s), as Prefect's own server object does.

Killing the process group instead would need whoever kills the CLI to kill the group; a `kill -9 <pid>` would still
orphan the server. With a configured server (PREFECT_API_URL) nothing is started.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import subprocess
import sys
import time

__all__ = ["start_tied_prefect_server"]

log = logging.getLogger(__name__)
# what Prefect's SubprocessASGIServer sets for its temporary server
SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
PORT_IN_USE = 3  # uvicorn's exit code when its port is taken (Prefect retries on another port too)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _start(timeout: float) -> tuple[subprocess.Popen[bytes], str]:
    """Start the server process and wait (at most `timeout` seconds) until its API answers."""
    deadline = time.monotonic() + timeout
    while True:
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "shell.prefect_child", str(os.getpid()), str(port)],
            env={**os.environ, **SERVER_ENV},
        )
        url = f"http://127.0.0.1:{port}/api"
        while time.monotonic() < deadline:
            if proc.poll() is not None or _healthy(url):
                break
            time.sleep(0.1)
        if proc.poll() == PORT_IN_USE and time.monotonic() < deadline:
            continue  # another process took the port meanwhile: try another
        if proc.poll() is None and _healthy(url):
            return proc, url
        _stop(proc)
        raise RuntimeError(
            f"the temporary Prefect server did not start within {timeout:g}s (exit code {proc.returncode}); "
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


def start_tied_prefect_server() -> str | None:
    """Point Prefect at a temporary server tied to this process and return its API URL; None (nothing started)
    when a server is configured (PREFECT_API_URL) or temporary servers are off. Call it before any flow runs.

    The server stops at this process's exit: `atexit` (registered before Prefect's log and event workers start,
    so it runs after they have sent their last batch), or its parent-death watch for a kill.
    """
    from prefect.context import refresh_global_settings_context
    from prefect.settings import get_current_settings

    current = get_current_settings()
    if current.api.url or not current.server.ephemeral.enabled:
        return None
    proc, url = _start(float(current.server.ephemeral.startup_timeout_seconds))
    atexit.register(_stop, proc)
    os.environ["PREFECT_API_URL"] = url
    refresh_global_settings_context()
    log.info("temporary Prefect server at %s (pid %d), tied to this process", url, proc.pid)
    return url
