"""The subscriber loop: subscribe from the stored replay id, hand each batch over, store its replay id, reconnect.

    listener = Listener(connect, store, "/data/ChangeEvents", on_events=emit, on_expired=resync)
    listener.run()            # until listener.stop() (another thread) or a terminal error

Order of work per batch: decode -> `on_events(events)` (which emits them) -> store the batch's last replay id. A
crash between the last two re-delivers that batch after a restart (never loses it). An empty keepalive batch
stores its `latest_replay_id`, so a quiet org does not let the stored id age out of the 72-hour window.
A refused session logs in again (`connect` is called anew); a dropped stream reconnects with backoff; an expired
replay id calls `on_expired(topic)` (the caller asks for a resync), forgets the id and resubscribes from LATEST.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from connectors.salesforce.events.decode import ChangeEvent, SchemaCache, decode_event
from connectors.salesforce.events.pubsub import PubSubClient, ReplayIdInvalid, SessionRefused, Subscription
from connectors.salesforce.events.replay import ReplayStore
from crm_risk.errors import TransientError

__all__ = ["Listener", "ListenerStats"]

log = logging.getLogger(__name__)


@dataclass
class ListenerStats:
    """Counts since the listener started (logged, and returned by `run`)."""

    received: int = 0
    batches: int = 0
    keepalives: int = 0
    reconnects: int = 0
    relogins: int = 0
    expired: int = 0
    lag_seconds: float = 0.0  # commit to hand-over, of the last event


class Listener:
    """Subscribe to one topic and hand every change over, resuming after restarts from the stored replay id."""

    def __init__(
        self,
        connect: Callable[[bool], PubSubClient],
        store: ReplayStore,
        topic: str,
        on_events: Callable[[list[ChangeEvent]], None],
        on_expired: Callable[[str], None],
        start: str = "LATEST",
        batch: int = 500,
        backoff_seconds: float = 0.5,
        backoff_max_seconds: float = 30.0,
        max_reconnects: int | None = None,
    ) -> None:
        self._connect, self.store, self.topic = connect, store, topic
        self._on_events, self._on_expired = on_events, on_expired
        self.start, self.batch = start, batch
        self._backoff, self._backoff_max, self._max_reconnects = (
            backoff_seconds,
            backoff_max_seconds,
            max_reconnects,
        )
        self._stop = threading.Event()
        self._current: Subscription | None = None
        self.stats = ListenerStats()

    def stop(self) -> None:
        """Ask `run` to return (from another thread or a signal handler)."""
        self._stop.set()
        if self._current is not None:
            self._current.cancel()

    def run(self) -> ListenerStats:
        """Listen until `stop()`; raise on a terminal error (bad configuration, refused twice in a row)."""
        failures, relogin = 0, False
        while not self._stop.is_set():
            client = self._connect(relogin)
            relogin = False
            try:
                self._listen(client)
                failures = 0
            except ReplayIdInvalid as exc:
                log.warning(
                    "%s: stored replay id no longer valid (%s); resync, then resubscribing from LATEST",
                    self.topic,
                    exc,
                )
                self.stats.expired += 1
                self._on_expired(self.topic)
                self.store.forget(self.topic)
            except SessionRefused:
                if self.stats.relogins and failures:
                    raise
                self.stats.relogins += 1
                failures += 1
                relogin = True
                log.info("%s: session refused; logging in again", self.topic)
            except TransientError as exc:
                if self._stop.is_set():
                    break
                failures += 1
                self.stats.reconnects += 1
                if self._max_reconnects is not None and self.stats.reconnects > self._max_reconnects:
                    raise
                delay = min(self._backoff_max, self._backoff * 2 ** (failures - 1)) * random.uniform(0.5, 1.0)
                log.warning("%s: stream broke (%s); reconnecting in %.1fs", self.topic, exc, delay)
                self._stop.wait(delay)
            finally:
                self._current = None
                client.close()
        return self.stats

    def _listen(self, client: PubSubClient) -> None:
        schemas = SchemaCache(client.schema)
        stored = self.store.get(self.topic)
        preset = "CUSTOM" if stored else self.start
        sub = client.subscribe(self.topic, preset, stored, self.batch)
        self._current = sub
        if self._stop.is_set():
            sub.cancel()
        log.info("%s: subscribed from %s", self.topic, f"replay id {stored.hex()}" if stored else preset)
        for response in sub:
            if not response.events:
                self.stats.keepalives += 1
                if response.latest_replay_id:
                    self.store.put(self.topic, response.latest_replay_id)
                continue
            events = [
                decode_event(e.event.payload, e.event.schema_id, schemas, e.replay_id)
                for e in response.events
            ]
            self._on_events(events)
            self.store.put(self.topic, events[-1].replay_id)
            self.stats.received += len(events)
            self.stats.batches += 1
            self.stats.lag_seconds = max(0.0, time.time() - events[-1].commit_timestamp_ms / 1000)
