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

__all__ = ["Sink", "active", "overall", "set_sink", "track"]


class Sink(Protocol):
    """Where progress goes: one line of work per (label, phase)."""

    def start(self, label: str, phase: str, total: int | None, unit: str) -> int: ...

    def advance(self, handle: int, n: int) -> None: ...

    def finish(self, handle: int, done: int) -> None: ...


_sink: Sink | None = None
# phase -> how many `overall` lines are open that stand for it (their parts draw no line of their own)
_absorbed: dict[str, int] = {}


def set_sink(sink: Sink | None) -> Sink | None:
    """Install `sink` (None: report nowhere); returns the previous one."""
    global _sink
    previous, _sink = _sink, sink
    return previous


def active() -> bool:
    """Whether progress is shown at all (a step may skip work done only to show it, e.g. a COUNT() for a total)."""
    return _sink is not None


def _nothing(n: int) -> None:
    return None


@contextmanager
def overall(
    label: str, phase: str, total: int | None = None, unit: str = "records", absorb: tuple[str, ...] = ()
) -> Iterator[Callable[[int], None]]:
    """One line for a job made of many parts (a backfill's windows, extracted in parallel); yields `advance(n)`.

    While it is open, `track` of the `absorb` phases draws nothing: the job advances this line as its parts end
    (a part may run in another process, where no sink is set), so the rate and the ETA are the whole job's.
    """
    for p in absorb:
        _absorbed[p] = _absorbed.get(p, 0) + 1
    try:
        with track(label, phase, total, unit) as advance:
            yield advance
    finally:
        for p in absorb:
            _absorbed[p] -= 1
            if not _absorbed[p]:
                del _absorbed[p]


@contextmanager
def track(
    label: str, phase: str, total: int | None = None, unit: str = "records"
) -> Iterator[Callable[[int], None]]:
    """One line of work (e.g. the Case extract, ~12,000 records); yields `advance(n)`."""
    sink = _sink
    if sink is None or phase in _absorbed:
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
