"""Progress of a long command: the steps report it, the shell shows it (nothing is shown unless a sink is set).

    with progress.track("Case", "extract", total=estimate) as advance:
        for page in pages:
            ...
            advance(len(page))

`set_sink` is the shell's (a rich display on a terminal: shell/progress.py); the steps never know how, or whether,
progress is shown. A sink is called from the thread of the step; it must be thread-safe and cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

__all__ = ["Sink", "set_sink", "track"]


class Sink(Protocol):
    """Where progress goes: one line of work per (label, phase)."""

    def start(self, label: str, phase: str, total: int | None, unit: str) -> int: ...

    def advance(self, handle: int, n: int) -> None: ...

    def finish(self, handle: int, done: int) -> None: ...


_sink: Sink | None = None


def set_sink(sink: Sink | None) -> Sink | None:
    """Install `sink` (None: report nowhere); returns the previous one."""
    global _sink
    previous, _sink = _sink, sink
    return previous


def _nothing(n: int) -> None:
    return None


@contextmanager
def track(
    label: str, phase: str, total: int | None = None, unit: str = "records"
) -> Iterator[Callable[[int], None]]:
    """One line of work (e.g. the Case extract, ~12,000 records); yields `advance(n)`."""
    sink = _sink
    if sink is None:
        yield _nothing
        return
    handle = sink.start(label, phase, total, unit)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        sink.advance(handle, n)

    try:
        yield advance
    finally:
        sink.finish(handle, done)
