"""`crm-risk listen`: CRM change events in, one Prefect event per changed account out, resumable after any stop.

The subscriber (connectors.salesforce.events) hands each batch here; significant changes are attributed to
accounts (pipeline.changes; records whose event does not name their account cost one batched query per object)
and posted to Prefect (flows.events) before the batch's replay id is stored. An expired replay id or a gap event
posts `crm.resync.needed` naming the objects, for the incremental extract to pick them up.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

from connectors.salesforce.client import connect
from connectors.salesforce.events.connect import pubsub_client
from connectors.salesforce.events.decode import ChangeEvent
from connectors.salesforce.events.listener import Listener, ListenerStats
from connectors.salesforce.events.replay import ReplayStore
from connectors.salesforce.lookup import account_ids
from crm_risk.config import Settings
from flows.events import account_change_event, post_events, resync_event
from pipeline.changes import attribute, watched_fields

__all__ = ["build_listener", "run_listen"]

log = logging.getLogger(__name__)


def replay_file(settings: Settings) -> Path:
    """Where the listener keeps its replay ids (setting, or beside the warehouse file)."""
    if settings.listen_replay_file:
        return Path(settings.listen_replay_file)
    target = str(settings.warehouse_path)
    base = Path(target).parent if "://" not in target and target != ":memory:" else Path(".")
    return base / "listener-replay.json"


def build_listener(settings: Settings, counts: dict[str, Any] | None = None) -> Listener:
    """The listener for these settings: CDC from `listen_topic` into Prefect events."""
    crm = connect(settings)
    watched = watched_fields(settings)
    totals = counts if counts is not None else {}

    def on_events(events: list[ChangeEvent]) -> None:
        found = attribute(events, watched, lambda obj, ids: account_ids(crm, obj, ids))
        batch = [account_change_event(c) for c in found.changes]
        if found.resync:
            batch.append(resync_event(found.resync, "gap or overflow events"))
        post_events(batch)
        totals["emitted"] = totals.get("emitted", 0) + len(found.changes)
        totals["resync"] = totals.get("resync", 0) + len(found.resync)
        for reason, n in found.ignored.items():
            totals.setdefault("ignored", {})[reason] = totals.get("ignored", {}).get(reason, 0) + n

    def on_expired(topic: str) -> None:
        post_events([resync_event([e for e in watched], f"replay id of {topic} expired")])

    return Listener(
        lambda relogin: pubsub_client(settings, crm, relogin),
        ReplayStore(replay_file(settings)),
        settings.listen_topic,
        on_events,
        on_expired,
        start=settings.listen_start,
        batch=settings.listen_batch,
    )


def run_listen(settings: Settings) -> ListenerStats:
    """Listen until SIGINT/SIGTERM; returns the counts."""
    counts: dict[str, Any] = {}
    listener = build_listener(settings, counts)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: listener.stop())
    done = threading.Event()

    def report() -> None:
        while not done.wait(60):
            log.info("listener: %s, %s", listener.stats, counts)

    threading.Thread(target=report, daemon=True).start()
    try:
        return listener.run()
    finally:
        done.set()
        log.info("listener stopped: %s, %s", listener.stats, counts)
