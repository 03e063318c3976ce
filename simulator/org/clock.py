"""The org's clock: the wall clock in UTC plus an offset that only "advance days" moves (persisted in the state dir)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

__all__ = ["Clock", "format_date", "format_datetime"]


class Clock:
    """Org time. `now()` is monotonic within a process: two stamps never compare equal or go backwards."""

    def __init__(self, state_dir: Path | None = None, offset: timedelta = timedelta(0)) -> None:
        self._path = state_dir / "clock.json" if state_dir else None
        self._offset = offset
        self._last = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()
        if self._path and self._path.exists():
            self._offset = timedelta(seconds=json.loads(self._path.read_text())["offset_seconds"])

    @property
    def offset(self) -> timedelta:
        """How far the org's clock runs ahead of the wall clock."""
        return self._offset

    def now(self) -> datetime:
        """The org's current time, UTC, millisecond precision, strictly increasing within this process."""
        with self._lock:
            t = datetime.now(UTC) + self._offset
            t = t.replace(microsecond=(t.microsecond // 1000) * 1000)
            if t <= self._last:
                t = self._last + timedelta(milliseconds=1)
            self._last = t
            return t

    def today(self) -> date:
        """The org's current date (UTC)."""
        return self.now().date()

    def advance(self, days: float) -> None:
        """Move the org's clock forward and persist the new offset."""
        with self._lock:
            self._offset += timedelta(days=days)
            if self._path:
                self._path.write_text(json.dumps({"offset_seconds": self._offset.total_seconds()}))


def format_datetime(value: datetime) -> str:
    """Salesforce's output form: `2024-01-02T03:04:05.000+0000` (milliseconds, no colon in the offset)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def format_date(value: date) -> str:
    """Salesforce's date form: `2024-01-02`."""
    return value.isoformat()
