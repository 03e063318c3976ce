"""The account changes an account refresh answers: its trigger's event, then the change events of its window,
read back from the Prefect server's event store.

Prefect's deployment trigger for `account_refresh` is reactive with `within: W`: the first account change event
starts a run and the trigger ignores the next ones for W seconds. Those are not lost: the run reads every
`salesforce.account.changed` event whose `occurred` lies in its window [since, since + W) from the event store and
refreshes their accounts too, until the window has closed and the store has had `settle` seconds to receive its last
events (the server writes them in batches). An event at or after since + W starts the next run. So a burst of changes
to many accounts makes one run with a few passes, and no change falls between two runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

from prefect.client.orchestration import SyncPrefectClient, get_client

from connectors.salesforce.ids import normalize_id
from flows.events import ACCOUNT_CHANGED

__all__ = ["ACCOUNT_RESOURCE", "Change", "Inbox", "account_of", "parse_time"]

ACCOUNT_RESOURCE = "salesforce.account."
PAGE = 50  # the most Prefect's events API serves a page


@dataclass(frozen=True)
class Change:
    """One account change event, as the refresh needs it."""

    event_id: str
    account_id: str
    object: str | None
    occurred: datetime
    commit_ms: int | None = None  # when the CRM committed the change (Change Data Capture), if known


def parse_time(value: str | datetime | None) -> datetime | None:
    """An ISO 8601 time (Prefect's `{{ event.occurred }}`) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def account_of(resource_id: str) -> str:
    """`salesforce.account.<Id>` (or a bare id) -> the 18-character account id; ConfigError when not an id."""
    text = resource_id.strip()
    if text.startswith(ACCOUNT_RESOURCE):
        text = text[len(ACCOUNT_RESOURCE) :]
    return normalize_id(text, "account id")


def _change(event: dict[str, Any]) -> Change | None:
    resource = (event.get("resource") or {}).get("prefect.resource.id", "")
    try:
        account = account_of(resource)
    except Exception:  # an event of the same name about something else: not ours to answer
        return None
    payload = event.get("payload") or {}
    occurred = parse_time(event.get("occurred"))
    assert occurred is not None
    commit = payload.get("commit_timestamp_ms")
    return Change(str(event["id"]), account, payload.get("object"), occurred, int(commit) if commit else None)


@dataclass
class Inbox:
    """The change events of one refresh window [since, since + window), each handed out once."""

    since: datetime
    window: timedelta
    settle: timedelta
    seen: set[str] = field(default_factory=set)
    _client: SyncPrefectClient | None = None

    @property
    def closes(self) -> datetime:
        """When the window closes: later events belong to the next run."""
        return self.since + self.window

    def done(self, now: datetime | None = None) -> bool:
        """True once the window has closed and the event store has had time to receive its last events."""
        return (now or datetime.now(UTC)) >= self.closes + self.settle

    def poll(self) -> list[Change]:
        """The window's events not handed out before, oldest first."""
        if self.window <= timedelta(0):
            return []
        fresh = []
        for event in self._read(self.since, self.closes - timedelta(microseconds=1)):
            change = _change(event)
            if change is None or change.event_id in self.seen:
                continue
            self.seen.add(change.event_id)
            fresh.append(change)
        return fresh

    def close(self) -> None:
        """Close the API client."""
        if self._client is not None:
            client, self._client = self._client, None
            client.__exit__(None, None, None)

    def _api(self) -> SyncPrefectClient:
        if self._client is None:
            self._client = get_client(sync_client=True)
            self._client.__enter__()
        return self._client

    def _read(self, since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
        body = {
            "filter": {
                "event": {"name": [ACCOUNT_CHANGED]},
                "occurred": {"since": since.isoformat(), "until": until.isoformat()},
                "order": "ASC",
            },
            "limit": PAGE,
        }
        answer = self._api().request("POST", "/events/filter", json=body)
        answer.raise_for_status()
        page = answer.json()
        yield from page.get("events") or []
        while page.get("next_page"):
            token = parse_qs(urlparse(page["next_page"]).query)["page-token"][0]
            answer = self._api().request("GET", "/events/filter/next", params={"page-token": token})
            answer.raise_for_status()
            page = answer.json()
            yield from page.get("events") or []
