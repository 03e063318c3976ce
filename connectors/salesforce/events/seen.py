"""The ids of the pushed notifications the receiver already acknowledged: a bounded window, kept in a small file.

Salesforce re-sends an Outbound Message until it is acknowledged, and a webhook sender retries after a lost answer,
so the same notification can arrive twice. The receiver remembers each id it acknowledged for `max_age_seconds`
(24 h) and at most `max_ids` (10,000) of them, oldest first out, and drops a notification it remembers. The file is
replaced as `replay.py` replaces its own (`write_json_atomically`: temporary file, fsync, rename), so a restart still drops what was
acknowledged before it and a kill at any instant leaves the old window or the new one, never half of one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from connectors.salesforce.events.replay import write_json_atomically
from crm_risk.errors import ConfigError

__all__ = ["SeenIds"]


class SeenIds:
    """Acknowledged notification ids (any string: the receiver prefixes them by source) and when they were seen."""

    def __init__(
        self,
        path: Path | str,
        *,
        max_ids: int = 10_000,
        max_age_seconds: float = 86_400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.max_ids, self.max_age_seconds, self._clock = max_ids, max_age_seconds, clock
        self._lock = threading.Lock()
        self._ids: dict[str, float] = {}  # insertion order = acknowledgement order
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text() or "{}")
                stored = sorted(dict(data.get("ids") or {}).items(), key=lambda kv: float(kv[1]))
                self._ids = {str(k): float(v) for k, v in stored}  # oldest first, as acknowledged
            except (ValueError, TypeError, AttributeError) as exc:
                raise ConfigError(
                    f"receiver duplicate-id file {self.path} is damaged ({exc}); move it away to start with an "
                    "empty window (notifications re-sent within 24 h would then be emitted again)"
                ) from None
        self._expire()

    def __contains__(self, key: object) -> bool:
        with self._lock:
            self._expire()
            return key in self._ids

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._ids)

    def add(self, keys: Iterable[str]) -> None:
        """Remember `keys` as acknowledged now, durably (written before this returns)."""
        with self._lock:
            now = self._clock()
            for key in keys:
                self._ids.pop(key, None)
                self._ids[key] = now
            self._expire()
            write_json_atomically(self.path, {"ids": self._ids})

    def _expire(self) -> None:
        horizon = self._clock() - self.max_age_seconds
        stale = [k for k, at in self._ids.items() if at < horizon]
        for key in stale:
            del self._ids[key]
        excess = len(self._ids) - self.max_ids
        if excess > 0:
            for key in list(self._ids)[:excess]:
                del self._ids[key]
