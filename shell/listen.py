"""`crm-risk listen`: CRM change events in, one Prefect event per changed account out, resumable after any stop.

The subscriber (connectors.salesforce.events) hands each batch here; significant changes are attributed to
accounts (pipeline.changes; records whose event does not name their account cost one batched query per object)
and posted to Prefect (flows.events) before the batch's replay id is stored. An expired replay id or a gap event
posts `crm.resync.needed` naming the objects, for the incremental extract to pick them up. With
`CRM_RISK_LISTEN_RECEIVER` (or `--receiver-only`, for orgs without CDC) the push receiver runs beside it and feeds
the same hand-over, which it acknowledges to the sender only once the Prefect events were posted.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connectors.salesforce.client import CrmClient, connect
from connectors.salesforce.events.connect import pubsub_client
from connectors.salesforce.events.decode import ChangeEvent
from connectors.salesforce.events.listener import Listener
from connectors.salesforce.events.receiver import Receiver
from connectors.salesforce.events.replay import ReplayStore
from connectors.salesforce.events.seen import SeenIds
from connectors.salesforce.lookup import account_ids
from crm_risk.config import Settings
from flows.events import account_change_event, post_events, resync_event
from pipeline.changes import AccountCache, attribute, watched_fields

__all__ = ["build_listener", "build_on_events", "build_receiver", "run_listen"]

log = logging.getLogger(__name__)

OnEvents = Callable[[list[ChangeEvent]], None]


def replay_file(settings: Settings) -> Path:
    """Where the listener keeps its replay ids (setting, or beside the warehouse file)."""
    return settings.state_file(settings.listen_replay_file, "listener-replay.json")


def seen_file(settings: Settings) -> Path:
    """Where the receiver keeps the notification ids it acknowledged (setting, or beside the warehouse file)."""
    return settings.state_file(settings.listen_receiver_seen_file, "receiver-seen.json")


def build_on_events(settings: Settings, crm: CrmClient, counts: dict[str, Any]) -> OnEvents:
    """The one hand-over both paths call: significant changes -> accounts -> Prefect events (one at a time)."""
    watched = watched_fields(settings)
    lock = threading.Lock()  # CDC and the receiver's request threads share the CRM client and the counts
    accounts = AccountCache(lambda obj, ids: account_ids(crm, obj, ids))

    def on_events(events: list[ChangeEvent]) -> None:
        with lock:
            found = attribute(events, watched, accounts)
            batch = [account_change_event(c) for c in found.changes]
            if found.resync:
                batch.append(resync_event(found.resync, "gap or overflow events"))
            post_events(batch)
            counts["emitted"] = counts.get("emitted", 0) + len(found.changes)
            counts["resync"] = counts.get("resync", 0) + len(found.resync)
            for reason, n in found.ignored.items():
                counts.setdefault("ignored", {})[reason] = counts.get("ignored", {}).get(reason, 0) + n

    return on_events


def build_listener(settings: Settings, crm: CrmClient, on_events: OnEvents) -> Listener:
    """The CDC subscriber for these settings: `listen_topic` from the stored replay id, into `on_events`."""
    watched = watched_fields(settings)

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


def build_receiver(settings: Settings, on_events: OnEvents) -> Receiver:
    """The push receiver (Outbound Messages, signed webhooks) into the same `on_events`; not started."""
    return Receiver(settings, on_events, SeenIds(seen_file(settings)))


def run_listen(settings: Settings, receiver_only: bool = False) -> dict[str, Any]:
    """Listen (CDC, and the receiver when enabled; the receiver alone when `receiver_only`) until SIGINT/SIGTERM;
    returns the counts."""
    counts: dict[str, Any] = {"emitted": 0, "resync": 0, "ignored": {}}  # keys fixed: read while updated
    crm = connect(settings)
    on_events = build_on_events(settings, crm, counts)
    receiver = build_receiver(settings, on_events) if receiver_only or settings.listen_receiver else None
    listener = None if receiver_only else build_listener(settings, crm, on_events)
    stop = threading.Event()

    def on_signal(*_: Any) -> None:
        stop.set()
        if listener is not None:
            listener.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def summary() -> dict[str, Any]:
        return {
            "cdc": listener.stats.__dict__ if listener else None,
            "receiver": receiver.health() if receiver else None,
            **counts,
        }

    def report() -> None:
        while not stop.wait(60):
            log.info("listen: %s", summary())

    threading.Thread(target=report, daemon=True).start()
    try:
        with receiver or contextlib.nullcontext():
            if listener is not None:
                listener.run()
            else:
                while not stop.wait(1):
                    pass
    finally:
        stop.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("listen stopped: %s", summary())
    return summary()
