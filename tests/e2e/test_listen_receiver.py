"""`crm-risk listen --receiver-only`: the simulator's outbound message for a Case update becomes a Prefect
`salesforce.account.changed` event for the Case's account, through the same hand-over as Change Data Capture."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from typing import Any

import pytest
from prefect.client.orchestration import get_client

from crm_risk.config import load_settings
from flows.events import ACCOUNT_CHANGED
from shell.cli import build_parser
from shell.listen import run_listen

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]
TOKEN = "e2e-outbound-token-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _account_events(account_id: str) -> list[dict[str, Any]]:
    with get_client(sync_client=True) as client:
        resp = client.request(
            "POST",
            "/events/filter",
            json={
                "filter": {
                    "occurred": {"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"},
                    "event": {"name": [ACCOUNT_CHANGED]},
                    "resource": {"id": [f"salesforce.account.{account_id}"]},
                },
                "limit": 50,
            },
        )
        resp.raise_for_status()
        return list(resp.json()["events"])


def test_receiver_only_flag() -> None:
    assert build_parser().parse_args(["listen", "--receiver-only"]).receiver_only is True
    assert build_parser().parse_args(["listen"]).receiver_only is False


def test_listen_receiver_only_turns_an_outbound_message_into_a_prefect_event(
    e2e_sim: Any, settings_for: dict[str, Any]
) -> None:
    port = _free_port()
    settings = load_settings(
        **settings_for, listen_receiver_port=port, listen_outbound_token=TOKEN, listen_receiver=False
    )
    org = e2e_sim.org
    case = org.query("SELECT Id, AccountId FROM Case WHERE AccountId != null LIMIT 1").records(0, 1)[0]
    sent: dict[str, Any] = {}
    returned = threading.Event()

    def drive() -> None:  # runs beside run_listen, which holds the main thread until SIGTERM
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            e2e_sim.set_outbound(f"http://127.0.0.1:{port}/salesforce/outbound/{TOKEN}")
            sent["outbound"] = outbound = e2e_sim.outbound
            org.update("Case", case["Id"], {"Status": "Escalated"})
            while time.monotonic() < deadline and not outbound.delivered:
                time.sleep(0.05)
        finally:
            e2e_sim.set_outbound(None)
            for _ in range(60):  # until run_listen returns (its handler may not be installed yet)
                os.kill(os.getpid(), signal.SIGTERM)
                if returned.wait(1):
                    break

    def stray(*_: Any) -> None:  # a SIGTERM outside run_listen must not end the test session
        pass

    before = signal.signal(signal.SIGTERM, stray)
    helper = threading.Thread(target=drive, daemon=True)
    helper.start()
    try:
        counts = run_listen(settings, receiver_only=True)
        assert signal.getsignal(signal.SIGTERM) is stray  # run_listen put the previous handlers back
    finally:
        returned.set()
        helper.join(timeout=10)
        signal.signal(signal.SIGTERM, before)
    assert sent["outbound"].delivered == 1 and sent["outbound"].failed == 0
    assert counts["cdc"] is None and counts["emitted"] == 1
    assert counts["receiver"]["emitted"] == 1 and counts["receiver"]["refused"] == {}
    deadline = time.monotonic() + 30
    events = _account_events(case["AccountId"])
    while not events and time.monotonic() < deadline:  # the server persists events asynchronously
        time.sleep(0.5)
        events = _account_events(case["AccountId"])
    assert len(events) == 1
    payload = events[0]["payload"]
    assert payload["object"] == "Case" and payload["record_ids"] == [case["Id"]]
    assert payload["change_type"] == "UPDATE" and "Status" in payload["changed_fields"]
    assert bytes.fromhex(payload["replay_id"]).startswith(b"04l")
