"""The temporary Prefect server's process (started by shell/prefect_server.py): stops when its parent is gone.

python -m shell.prefect_child PARENT_PID PORT
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

__all__ = ["create_app", "main"]

PR_SET_PDEATHSIG = 1
WATCH_SECONDS = 0.5


def _die_with(parent: int) -> None:
    """SIGTERM to this process when `parent` dies: the kernel's parent-death signal where there is one, and a
    thread watching the parent pid everywhere (both: the signal cannot be set on every system)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the signal was set
        sys.exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)  # uvicorn's graceful stop; then no more waiting
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def create_app() -> Any:
    """Prefect's API app (`prefect.server.api.server.create_app`), then the cyclic collector on again, with what
    the server imported frozen: it was off while the server's modules were imported (see `main`)."""
    from prefect.server.api.server import create_app as prefect_app

    app = prefect_app()
    gc.freeze()
    gc.enable()
    return app


def _seed() -> None:
    """A new Prefect home gets the migrated empty database instead of migrating its own (shell/prefect_db.py); on
    any failure Prefect's start creates it, as it would have."""
    try:
        import prefect
        from prefect.settings import get_current_settings

        from shell.prefect_db import seed_database

        url = get_current_settings().server.database.connection_url
        if url is not None:
            seed_database(url.get_secret_value(), prefect.__version__)
    except Exception:  # an optimisation only: the server's own start still migrates
        logging.getLogger(__name__).warning("Prefect's database template was not used", exc_info=True)


def main(argv: list[str]) -> None:
    """Serve Prefect's API on 127.0.0.1:PORT until PARENT_PID is gone (or SIGTERM)."""
    parent, port = int(argv[0]), int(argv[1])
    _die_with(parent)
    # The server's start is what a CLI run waits for first: no cyclic collection while it imports Prefect's
    # server (each full collection walks every object imported so far again: 0.6-0.8 s of its start, measured).
    gc.disable()
    _seed()
    import uvicorn

    uvicorn.run(
        "shell.prefect_child:create_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        log_level="error",
        lifespan="on",
    )


if __name__ == "__main__":
    main(sys.argv[1:])
