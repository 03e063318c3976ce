"""API usage: calls per endpoint and the daily API budget, as `Sforce-Limit-Info` and the `limits` resource show."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date

from simulator.api.http import error

__all__ = ["Usage"]


class Usage:
    """Thread-safe counters: `calls` per endpoint name, `used` of the daily `budget` (reset at the org's midnight)."""

    def __init__(self, budget: int) -> None:
        self.calls: Counter[str] = Counter()
        self.used = 0
        self.budget = budget
        self._day: date | None = None
        self._lock = threading.Lock()

    def count(self, endpoint: str) -> None:
        """Count one call to an endpoint (every matched route, charged or not)."""
        with self._lock:
            self.calls[endpoint] += 1

    def charge(self, today: date) -> None:
        """Spend one API request of `today`'s budget; 403 REQUEST_LIMIT_EXCEEDED when none is left."""
        with self._lock:
            if today != self._day:
                self._day, self.used = today, 0
            if self.used >= self.budget:
                raise error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self.used += 1

    def limit_info(self) -> str:
        """The `Sforce-Limit-Info` header value."""
        return f"api-usage={self.used}/{self.budget}"
