"""Waiting for something another process does, bounded in time (the end-to-end tests of the event path)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

__all__ = ["TRANSIENT", "wait_for"]

# A server that did not answer one poll in time (a loaded 2-core CI machine: Prefect's SQLite server once took
# more than 30 s to answer a flow-run filter while the refresh runs wrote) is "not yet", not the test's failure:
# the wait's own deadline still bounds it, and the last such error is named when the wait gives up.
TRANSIENT: tuple[type[BaseException], ...] = (requests.ConnectionError, requests.Timeout)


def wait_for(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    every: float = 0.25,
    transient: tuple[type[BaseException], ...] = TRANSIENT,
) -> Any:
    """The first truthy value of `predicate()`, asked every `every` seconds; AssertionError after `timeout`. A
    `transient` error from `predicate` counts as a falsy answer."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = predicate()
        except transient as exc:
            value, last = None, exc
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f" (last error: {type(last).__name__}: {last})" if last is not None else ""
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}{detail}")
        time.sleep(every)
