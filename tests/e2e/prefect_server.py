"""A real Prefect server for end-to-end tests of the event path: started on a free 127.0.0.1 port, stopped by PID.

Unlike Prefect's test harness (in this process's settings only), its URL can be handed to subprocesses
(`crm-risk listen`, `serve`) through PREFECT_API_URL, and its services (triggers, automations) run as in production.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

__all__ = ["prefect_env", "read_events", "running_prefect_server"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prefect_env(api_url: str, home: Path) -> dict[str, str]:
    """Environment for a process that talks to the server at `api_url`."""
    env = dict(os.environ)
    env.update(
        PREFECT_API_URL=api_url,
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    return env


@contextmanager
def running_prefect_server(home: Path, startup_seconds: float = 90.0) -> Iterator[str]:
    """Start `prefect server start` with its own PREFECT_HOME; yield its API URL; stop it (SIGINT, then SIGKILL)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "server.log").open("w")
    prefect = Path(sys.executable).with_name("prefect")
    proc = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=prefect_env(url, home),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            try:
                if requests.get(f"{url}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prefect server did not start: see {home / 'server.log'}")
            time.sleep(0.5)
        yield url
    finally:
        stop_process(proc)
        log.close()


def stop_process(proc: subprocess.Popen[Any], grace: float = 15.0) -> None:
    """Stop a process we started (its whole session): SIGINT, then SIGKILL after `grace` seconds."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def read_events(api_url: str, name: str, since: str = "2000-01-01T00:00:00Z", limit: int = 50) -> list[dict]:
    """Every stored event called `name` (all pages; Prefect serves at most 50 a page)."""
    body = {"filter": {"event": {"name": [name]}, "occurred": {"since": since}}, "limit": limit}
    answer = requests.post(f"{api_url}/events/filter", json=body, timeout=30)
    answer.raise_for_status()
    page = answer.json()
    events = list(page["events"])
    while page.get("next_page"):
        page = requests.get(page["next_page"], timeout=30).json()
        events += page["events"]
    return events
