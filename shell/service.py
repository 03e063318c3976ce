"""A local Prefect server and the processes of the event loop, started on 127.0.0.1 and stopped by PID: for
`crm-risk demo --live`, the end-to-end tests and the event benchmarks.

Unlike Prefect's test harness (in this process's settings only), its URL can be handed to subprocesses
(`crm-risk listen`, `crm-risk serve`) through PREFECT_API_URL, and its services (triggers, automations) run as in
production. The server stores events every quarter second (Prefect's default is 5 s): an account refresh reads its
window's change events back from the store (flows/inbox.py), so this bounds how late it sees them.
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

ROOT = Path(__file__).resolve().parents[1]  # the checkout: prefect.yaml and the flows' entrypoints
READY_MARK = (
    "runs execute in this process"  # `crm-risk serve account-refresh` is registered and warm (shell/warm.py)
)

__all__ = ["EventLoop", "prefect_env", "read_events", "running_prefect_server", "stop_process"]


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
    env.setdefault("PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL", "0.25")
    return env


def _seed(env: dict[str, str], home: Path) -> None:
    """A new home's SQLite database copied from the migrated empty template (shell/prefect_db.py) when there is
    one: `prefect server start` then skips its migrations (4-5 s). Its database is the one the environment names,
    else PREFECT_HOME/prefect.db (Prefect's default)."""
    from importlib.metadata import version

    from shell.prefect_db import seed_database

    url = (
        env.get("PREFECT_SERVER_DATABASE_CONNECTION_URL")
        or env.get("PREFECT_API_DATABASE_CONNECTION_URL")
        or f"sqlite+aiosqlite:///{home / 'prefect.db'}"
    )
    seed_database(url, version("prefect"), migrate=False)


@contextmanager
def running_prefect_server(home: Path, startup_seconds: float = 90.0) -> Iterator[str]:
    """Start `prefect server start` with its own PREFECT_HOME; yield its API URL; stop it (SIGINT, then SIGKILL)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    home.mkdir(parents=True, exist_ok=True)
    env = prefect_env(url, home)
    _seed(env, home)
    log = (home / "server.log").open("w")
    prefect = Path(sys.executable).with_name("prefect")
    proc = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
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


class EventLoop:
    """`crm-risk serve account-refresh` and `crm-risk listen` in processes of their own, on one Prefect server and
    one set of CRM_RISK_* settings (`env`); `start()` waits until both are ready, `stop()` stops both by PID.

    Logs go to `work/serve.log` and `work/listen.log`.
    """

    def __init__(
        self, env: dict[str, str], work: Path, deployments: tuple[str, ...] = ("account-refresh",)
    ) -> None:
        self.env, self.work, self.deployments = env, work, deployments
        self.procs: list[subprocess.Popen[Any]] = []
        self._logs: list[Any] = []

    def _start(self, name: str, *args: str) -> subprocess.Popen[Any]:
        cli = Path(sys.executable).with_name("crm-risk")
        log = (self.work / f"{name}.log").open("w")
        self._logs.append(log)
        proc = subprocess.Popen(
            [str(cli), *args],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def start(self, timeout: float = 120.0) -> None:
        """Start both; return once the listener has subscribed and the refresh deployment is served."""
        self.work.mkdir(parents=True, exist_ok=True)
        self._start("serve", "serve", *self.deployments)
        self._start("listen", "listen")
        deadline = time.monotonic() + timeout
        while not (self.ready("serve", READY_MARK) and self.ready("listen", "subscribed")):
            dead = [p.args for p in self.procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the event loop did not start ({dead or 'timeout'}): see {self.work}/*.log"
                )
            time.sleep(0.25)
        time.sleep(2)  # the server registers the served deployment's trigger a moment after serving starts

    def ready(self, name: str, mark: str) -> bool:
        """True when the process's log says `mark`."""
        path = self.work / f"{name}.log"
        return path.exists() and mark in path.read_text(errors="replace")

    def stop(self) -> None:
        """Stop the processes (SIGINT, then SIGKILL) and close their logs."""
        for proc in self.procs:
            stop_process(proc)
        for log in self._logs:
            log.close()
        self.procs, self._logs = [], []

    def __enter__(self) -> EventLoop:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
