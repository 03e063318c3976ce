"""The change-watch flow: poll each watched object for changes since its mark, emit account-change events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger

from connectors.salesforce.client import connect
from connectors.salesforce.events.replay import ReplayStore
from connectors.salesforce.registry import ACCOUNT_FIELD
from crm_risk.config import Settings, settings_from_parameters
from flows.events import account_change_event, post_events
from pipeline.watch import poll

__all__ = ["change_watch", "watch_once"]


def watch_once(settings: Settings, objects: list[str] | None = None) -> dict[str, Any]:
    """One poll: changes since each object's mark -> Prefect events -> marks stored (after the events)."""
    store = ReplayStore(settings.state_file(None, "change-watch.json"))
    with connect(settings) as client:
        names = objects or list(ACCOUNT_FIELD)
        marks = {o: _mark(store.get(f"watch:{o}")) for o in names}
        result = poll(client, marks, names)
        post_events([account_change_event(c) for c in result.changes])
        for obj, mark in result.marks.items():
            store.put(f"watch:{obj}", mark.isoformat().encode())
        calls = client.api_calls
    return {
        "changes": len(result.changes),
        "records": result.records,
        "no_account": result.no_account,
        "api_calls": calls,
    }


def _mark(raw: bytes | None) -> datetime | None:
    return datetime.fromisoformat(raw.decode()) if raw else None


@flow(name="change-watch", log_prints=False)
def change_watch(objects: list[str] | None = None, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Emit `salesforce.account.changed` for every account whose records changed since the last poll."""
    out = watch_once(settings_from_parameters(settings), objects)
    get_run_logger().info("change watch: %s", out)
    return out
