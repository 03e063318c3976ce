"""The change-watch poller: one query per object finds what changed since its mark; events name the accounts."""

from __future__ import annotations

import time
from typing import Any

import pytest

from crm_risk.config import load_settings
from flows.change_watch import watch_once

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]


def _account_events(account_id: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The salesforce.account.changed events Prefect stored for `account_id` (polls: events persist in ~5 s)."""
    from prefect.client.orchestration import get_client

    query = {
        "filter": {
            "event": {"name": ["salesforce.account.changed"]},
            "resource": {"id": [f"salesforce.account.{account_id}"]},
            "occurred": {"since": "2000-01-01T00:00:00Z"},
        },
        "limit": 50,
    }
    deadline = time.monotonic() + timeout
    while True:
        with get_client(sync_client=True) as client:
            events = client.request("POST", "/events/filter", json=query).json()["events"]
        if events or time.monotonic() > deadline:
            return list(events)
        time.sleep(0.5)


def test_a_changed_case_is_one_event_for_its_account(e2e_sim: Any, settings_for: dict) -> None:
    settings = load_settings(**settings_for)
    first = watch_once(settings)
    assert first["changes"] == 0  # the first poll only sets each object's mark (no history replay)
    case = e2e_sim.org.query("SELECT Id, AccountId FROM Case WHERE IsClosed = false LIMIT 1").records(0)[0]
    time.sleep(1.1)  # windows end on whole seconds of the org's clock
    e2e_sim.org.update("Case", case["Id"], {"Priority": "High", "IsEscalated": True})
    time.sleep(3.1)  # past the poll's 2-second safety margin
    second = watch_once(settings)
    assert second["changes"] == 1 and second["records"] == 1, second
    assert second["api_calls"] <= 8  # login + describe + one query per watched object
    events = _account_events(case["AccountId"])
    assert len(events) == 1
    assert events[0]["payload"]["object"] == "Case" and events[0]["payload"]["record_ids"] == [case["Id"]]
    assert watch_once(settings)["changes"] == 0  # nothing changed since: nothing emitted
