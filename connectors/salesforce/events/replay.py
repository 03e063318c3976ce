"""Where the listener keeps the last replay id it handled, per topic: a small JSON file, replaced atomically.

`put` is called only after the change's Prefect event was emitted, so a crash between the two re-emits at most the
batch in flight (the event's consumer is idempotent); `put` writes a temporary file, fsyncs it and renames it over
the old one, so a kill at any instant leaves either the old or the new file, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from crm_risk.errors import ConfigError

__all__ = ["ReplayStore", "write_json_atomically"]


class ReplayStore:
    """The last handled replay id of each topic (bytes, stored as hex) and when it was stored (Unix seconds)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._data: dict[str, dict[str, object]] = {}
        if self.path.exists():
            try:
                self._data = json.loads(self.path.read_text() or "{}")
            except ValueError as exc:
                raise ConfigError(
                    f"replay-id file {self.path} is damaged ({exc}); move it away to start again from "
                    "CRM_RISK_LISTEN_START (then run a sync so nothing between is missed)"
                ) from None

    def get(self, topic: str) -> bytes | None:
        """The stored replay id of `topic`, or None when the topic was never handled."""
        entry = self._data.get(topic)
        return bytes.fromhex(str(entry["replay_id"])) if entry else None

    def stored_at(self, topic: str) -> float | None:
        """When the topic's replay id was stored (Unix seconds), or None."""
        entry = self._data.get(topic)
        return float(entry["at"]) if entry else None  # type: ignore[arg-type]

    def put(self, topic: str, replay_id: bytes) -> None:
        """Store `replay_id` as the last handled of `topic`, durably (fsync + atomic rename)."""
        self._data[topic] = {"replay_id": replay_id.hex(), "at": time.time()}
        self._write()

    def forget(self, topic: str) -> None:
        """Drop a topic's replay id (it expired: the next subscription starts from LATEST after a resync)."""
        if self._data.pop(topic, None) is not None:
            self._write()

    def _write(self) -> None:
        write_json_atomically(self.path, self._data)


def write_json_atomically(path: Path, data: object) -> None:
    """Replace `path` with `data` as JSON: a temporary file beside it, fsync, rename (old file or new, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
