"""What a command does before its run: the settings and `--objects` checked, the login, Prefect's environment and
temporary server, the CRM to talk to (the configured one, or the demo org after `make demo`).

Imports stay light at module level (the CLI's start is part of every run's wall time); heavy ones are inside.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "check_login",
    "crm_configured",
    "crm_overrides",
    "demo_org",
    "prefect_env",
    "preflight",
    "prepared",
]


def prefect_env(state_dir: Path | None = None) -> None:
    """Quiet, offline-friendly Prefect defaults; the demo keeps Prefect's database in its state dir."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # The ephemeral server's 20 s default is too short on a busy 2-core machine (seen here).
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if state_dir is not None:
        os.environ.setdefault("PREFECT_HOME", str((state_dir / "prefect").resolve()))
    home = os.environ.get("PREFECT_HOME")
    if home:  # Prefect makes only the last folder: a missing parent cost a 120 s wait for a server that cannot start
        Path(home).expanduser().mkdir(parents=True, exist_ok=True)


def preflight(objects: list[str] | None, login: bool = True) -> Any:
    """Check the settings and `--objects` before Prefect or DuckDB is touched: a bad one fails in a second, with
    one line and nothing created. Misspelt CRM_RISK_ variables are warned about (they would be ignored).
    Returns the settings; `login=False` leaves the login to `check_login`."""
    # light imports only: Prefect's temporary server is started after this (pipeline.extract costs 0.6 s)
    from connectors.salesforce.registry import select
    from crm_risk.config import load_settings, unknown_variables

    for line in unknown_variables():
        print(f"crm-risk: warning: {line}", file=sys.stderr)
    settings = load_settings()
    select(objects or settings.extract_objects)
    if crm_configured(settings):
        if login:
            check_login(settings)
    elif not demo_org().exists():
        from crm_risk.errors import ConfigError

        raise ConfigError(
            "no CRM configured: set CRM_RISK_SF_LOGIN_URL and the login of your auth mode (see .env.example), "
            "or run `make demo` first to use its simulated org from this folder"
        )
    return settings


def check_login(settings: Any) -> None:
    """Log in once and close: a refused login is one line before the run, not after a warehouse is created."""
    if crm_configured(settings):
        from connectors.salesforce.client import connect

        connect(settings).close()


@contextlib.contextmanager
def prepared(objects: list[str] | None) -> Iterator[Callable[[], None]]:
    """The preflight of a run command, with Prefect's temporary server starting meanwhile; yields `ready()`, to
    call before the first flow: it waits for the server (none when one is configured) and points Prefect at it.

    The server is begun once the settings and objects are valid (a bad one: one line, nothing started), so its
    start overlaps the login and the run's imports; it is stopped at once if the command fails (a refused login,
    an error in the run), else at exit. While it still starts (or with a configured server, while the run begins
    and extracts), `ready()` builds the Great Expectations context the load's gate needs in a thread: seconds of
    imports the run would otherwise spend in its load (1.5 s of a 2,000-account run with a server running).
    """
    settings = preflight(objects, login=False)
    if not crm_configured(settings):
        prefect_env(demo_org().parents[1])  # the demo org's Prefect home, as crm_overrides() sets it
    prefect_env()
    # No cyclic collection while the run's modules are imported: each full collection walks every object imported
    # so far, again (6 in this phase of a sync, 0.57 s, measured), and imports leave next to no cyclic garbage.
    # Once imported, they live as long as the process: frozen (out of the collector's way), then it is on again.
    gc.disable()
    from shell.prefect_server import begin_tied_prefect_server

    server = begin_tied_prefect_server()

    def ready() -> None:
        warming = None
        if (server is None or not server.ready()) and getattr(settings, "dq_enabled", True):
            import threading

            from expectations.gate import warm_up

            def warm() -> None:
                try:
                    warm_up()
                finally:
                    # on again, nothing frozen here: the flow may have begun, and what it holds must stay collectable
                    gc.enable()

            # the load's validation waits for it (a lock), the flow's first steps do not
            warming = threading.Thread(target=warm, name="gx-warm-up", daemon=True)
            warming.start()
        if server is not None:
            if not server.ready():
                _import_flow_engine()
                server.prepare()
            server.url()
        if warming is None:
            _imported()
        else:
            gc.freeze()  # what was imported so far; the collector stays off until the warm-up's imports are done too

    try:
        check_login(settings)
        yield ready
    except BaseException:
        gc.enable()
        if server is not None:
            server.stop()
        raise


def _imported() -> None:
    """The run's imports are done: what they made is frozen, the cyclic collector is on again."""
    gc.freeze()
    gc.enable()


def _import_flow_engine() -> None:
    """What Prefect imports on a flow's first call (its run engines, its task-graph tracker; FastAPI's encoder, for
    the run's parameters: 0.3-0.8 s measured), imported while the server still starts instead of after it answers."""
    import fastapi.encoders  # noqa: F401
    import prefect.flow_engine
    import prefect.task_engine
    import prefect.utilities.visualization  # noqa: F401


def crm_configured(settings: Any) -> bool:
    """Whether the settings name a CRM to talk to (a connection file, an instance or a login)."""
    return any(
        getattr(settings, name) is not None
        for name in (
            "sf_connection_file",
            "sf_instance_url",
            "sf_client_id",
            "sf_username",
            "sf_refresh_token",
            "sf_session_id",
            "sf_private_key_file",
        )
    )


def demo_org() -> Path:
    return Path(".demo") / "org" / "connection.json"


@contextlib.contextmanager
def crm_overrides() -> Iterator[dict[str, Any]]:
    """Settings overrides for a command that talks to the CRM: none when one is configured; after `make demo`, with
    none configured, the demo org (served for this command) and its warehouse."""
    from crm_risk.config import load_settings

    if crm_configured(load_settings()):
        yield {}
        return
    from shell.demo import DEMO_DIR, demo_crm

    prefect_env(DEMO_DIR)
    with demo_crm(DEMO_DIR) as overrides:
        yield overrides
