"""Open query cursors: the `nextRecordsUrl` locators of REST queries, kept in memory (LRU-bounded)."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict

from simulator.api.http import error
from simulator.org.result import QueryResult

__all__ = ["Cursors"]


class Cursors:
    """Open query cursors by locator (LRU-bounded, like an org's open-cursor limit)."""

    def __init__(self, limit: int = 50) -> None:
        self._items: OrderedDict[str, tuple[QueryResult, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    def open(self, result: QueryResult, batch: int) -> str:
        """Register a result; returns its locator (`01g` + 15 characters, like a query locator id)."""
        locator = "01g" + secrets.token_hex(8)[:15].upper()
        with self._lock:
            self._items[locator] = (result, batch)
            while len(self._items) > self._limit:
                self._items.popitem(last=False)
        return locator

    def get(self, locator: str) -> tuple[QueryResult, int]:
        """The result and batch size of a locator; 400 INVALID_QUERY_LOCATOR when unknown."""
        with self._lock:
            item = self._items.get(locator)
            if item is not None:
                self._items.move_to_end(locator)
        if item is None:
            raise error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return item
