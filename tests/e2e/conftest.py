"""End-to-end fixtures: Prefect's test harness, a simulator per module, a fresh warehouse per test."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.orgclock import pin_org_clock

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# the test server stores events every quarter second (Prefect: 5 s): tests that read events back wait less
os.environ.setdefault("PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL", "0.25")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed test that ran the event loop's processes shows the end of their logs (the server's, `crm-risk
    serve`'s, `crm-risk listen`'s): a CI run keeps nothing else of them."""
    report = yield
    if report.failed and call.when == "call":
        for name in getattr(item, "fixturenames", ()):
            logs = getattr(getattr(item, "funcargs", {}).get(name), "log_files", None)
            for path in logs() if callable(logs) else ():
                with contextlib.suppress(OSError):
                    report.sections.append((f"{path.name} (last 80 lines)", _tail(path, 80)))
    return report


def _tail(path: Path, lines: int) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _pipeline_settings(sim: Any, work_dir: Path) -> dict[str, Any]:
    """Settings overrides for a run against `sim` with its warehouse and landing files in `work_dir`."""
    return {
        "sf_connection_file": str(Path(sim.state_dir) / "connection.json"),
        "sf_auth": "client_credentials",
        "warehouse_path": str(work_dir / "warehouse.duckdb"),
        "landing_dir": str(work_dir / "landing"),
        "extract_lookback_seconds": 600,
        # the retry policy's waits are the same logic at 10 ms: fault tests need not sleep for real
        "sf_retry_backoff_seconds": 0.01,
    }


@pytest.fixture(scope="session")
def pipeline_settings() -> Callable[[Any, Path], dict[str, Any]]:
    """The settings builder, for tests that start a simulator of their own."""
    return _pipeline_settings


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server for the whole session (about 9 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def e2e_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A small simulated org of its own for each test module (tests here change the org)."""
    from simulator.server import Simulator

    org_dir = tmp_path_factory.mktemp("org")
    pin_org_clock(org_dir)
    with Simulator(org_dir, accounts=80, seed=7) as sim:
        yield sim


@pytest.fixture
def settings_for(tmp_path: Path, e2e_sim: Any) -> dict[str, Any]:
    """Settings overrides pointing the pipeline at the module's simulator and a fresh warehouse."""
    return _pipeline_settings(e2e_sim, tmp_path)
