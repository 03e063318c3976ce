"""The refresh's inbox against a real Prefect server (the test harness): its window's account change events, each
handed out once, however many pages they take; events outside the window or about something else left alone."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from flows.events import ACCOUNT_CHANGED, post_events
from flows.inbox import Inbox, account_of

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

ACCOUNTS = [f"001{'0' * 8}{i:04d}" for i in range(60)]  # 15-character ids


def _event(account: str, at: datetime, obj: str = "Case", resource: str | None = None) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "occurred": at.isoformat(),
        "event": ACCOUNT_CHANGED,
        "resource": {"prefect.resource.id": resource or f"salesforce.account.{account}"},
        "payload": {"object": obj, "commit_timestamp_ms": int(at.timestamp() * 1000)},
    }


def test_the_window_s_events_come_out_once_across_pages_and_nothing_else() -> None:
    since = datetime.now(UTC) + timedelta(
        days=3650 + int(time.time()) % 1000
    )  # a window no other test writes to
    window = timedelta(seconds=60)
    inside = [_event(a, since + timedelta(seconds=i)) for i, a in enumerate(ACCOUNTS)]  # 60 events: two pages
    outside = [
        _event(ACCOUNTS[0], since - timedelta(seconds=1)),
        _event(ACCOUNTS[1], since + window),  # the next window's first event: the next run's
        _event(ACCOUNTS[2], since + timedelta(seconds=5), resource="salesforce.org"),  # not an account
    ]
    post_events(inside + outside)
    inbox = Inbox(since, window, timedelta(seconds=0))
    try:
        got: list = []
        deadline = time.monotonic() + 30
        while len(got) < len(inside) and time.monotonic() < deadline:  # the server stores events in batches
            got += inbox.poll()
            time.sleep(0.5)
        assert sorted(c.event_id for c in got) == sorted(e["id"] for e in inside)
        assert [c.account_id for c in got] == [
            account_of(a) for a in ACCOUNTS
        ]  # oldest first, 18-character ids
        assert all(c.object == "Case" and c.commit_ms for c in got)
        assert inbox.poll() == []  # handed out once
    finally:
        inbox.close()
