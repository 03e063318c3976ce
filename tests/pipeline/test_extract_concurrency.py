"""The extract step's fan-out (pipeline/extract.py `_concurrently`): results in the registry's order whatever order
the objects end in; the quota stops new objects, not those under way; a connector error stays with its object;
any other error is raised once the objects under way have ended, and nothing begins after it. Real threads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from connectors.salesforce.registry import REGISTRY
from crm_risk.errors import ConnectorError, QuotaExceeded
from pipeline.extract import _concurrently


def test_results_come_in_the_registry_order_whatever_order_they_end_in() -> None:
    ended: list[str] = []
    lock = threading.Lock()

    def one(entry: object) -> Path:
        name = entry.name  # type: ignore[attr-defined]
        time.sleep(0.02 * (len(REGISTRY) - [e.name for e in REGISTRY].index(name)))  # the first ends last
        with lock:
            ended.append(name)
        return Path(name)

    out = list(_concurrently(one, list(REGISTRY), 4))
    assert [e.name for e, _ in out] == [e.name for e in REGISTRY]
    assert [r for _, r in out] == [Path(e.name) for e in REGISTRY]
    assert ended != [e.name for e in REGISTRY]  # they did end out of order


def test_the_quota_begins_no_object_after_it_and_errors_stay_with_their_object() -> None:
    begun: list[str] = []
    first_two = threading.Barrier(2, timeout=10)

    def one(entry: object) -> Path:
        name = entry.name  # type: ignore[attr-defined]
        begun.append(name)
        if name == REGISTRY[0].name:
            first_two.wait()
            time.sleep(0.3)  # the quota is hit first: this worker's next object must not begin
            raise ConnectorError("HTTP 500 past the retries")
        if name == REGISTRY[1].name:
            first_two.wait()
            raise QuotaExceeded("the run's API call budget is spent")
        return Path(name)

    out = dict((e.name, r) for e, r in _concurrently(one, list(REGISTRY), 2))
    assert isinstance(out[REGISTRY[0].name], ConnectorError)
    assert isinstance(out[REGISTRY[1].name], QuotaExceeded)
    assert begun == [REGISTRY[0].name, REGISTRY[1].name] or begun == [REGISTRY[1].name, REGISTRY[0].name]
    assert all(out[e.name] is None for e in REGISTRY if e.name not in begun)


def test_an_unexpected_error_is_raised_and_nothing_begins_after_it() -> None:
    begun: list[str] = []

    def one(entry: object) -> Path:
        name = entry.name  # type: ignore[attr-defined]
        begun.append(name)
        if name == REGISTRY[0].name:
            raise KeyError("a bug")
        time.sleep(0.05)
        return Path(name)

    with pytest.raises(KeyError):
        list(_concurrently(one, list(REGISTRY), 2))
    assert len(begun) <= 3 < len(REGISTRY)
