"""Shared fixtures: one simulated org served over TLS for the session, and real simple-salesforce clients on it.

- `simulator`: a session-scoped `Simulator` (150 accounts, seed 11) on a free port in a temp dir.
- `connection`: its connection.json as a dict.
- `sim_http`: a `requests.Session` that trusts the simulator's CA (`trust_env=False`: REQUESTS_CA_BUNDLE is set
  on this machine and would override `verify`).
- `sf`: a real `simple_salesforce.Salesforce` in direct mode (instance_url + session_id) on `sim_http`.
- `faults`: the simulator's FaultPlan, cleared after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

API_VERSION = "59.0"


@pytest.fixture(scope="session")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A small simulated org (150 accounts) served on 127.0.0.1 for the whole test session."""
    from simulator.server import Simulator

    with Simulator(tmp_path_factory.mktemp("sim-org"), accounts=150, seed=11) as sim:
        yield sim


@pytest.fixture(scope="session")
def connection(simulator: Any) -> dict[str, Any]:
    """The simulator's connection.json."""
    return dict(simulator.connection)


def make_http(ca_bundle: str) -> requests.Session:
    """A requests session that verifies against the simulator's CA and ignores the environment's CA settings."""
    http = requests.Session()
    http.trust_env = False
    http.verify = ca_bundle
    return http


@pytest.fixture
def sim_http(connection: dict[str, Any]) -> Iterator[requests.Session]:
    """A requests session trusting the simulator's CA."""
    http = make_http(connection["ca_bundle"])
    yield http
    http.close()


@pytest.fixture
def sf(simulator: Any, connection: dict[str, Any], sim_http: requests.Session) -> Any:
    """A real simple-salesforce client in direct mode (instance_url + session_id) pinned to v59.0."""
    from simple_salesforce import Salesforce

    return Salesforce(
        instance_url=simulator.url,
        session_id=connection["access_token"],
        session=sim_http,
        version=API_VERSION,
    )


@pytest.fixture
def faults(simulator: Any) -> Iterator[Any]:
    """The simulator's fault plan; every rule added by the test is removed afterwards."""
    simulator.faults.clear()
    yield simulator.faults
    simulator.faults.clear()
