"""Progress on the terminal for `sync`, `backfill` and `refresh`: one line per object and phase, drawn with rich.

    with terminal_progress():      # nothing at all when stderr is not a terminal (CI, cron, a pipe)
        nightly_sync(...)

Per object: the phase (extract, validate, load, score), records so far (of the `COUNT()` total when known),
records/s and an ETA. Lines stay on screen once done, so the whole run reads top to bottom afterwards.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from crm_risk import progress

__all__ = ["RichSink", "terminal_progress"]


class _Records(ProgressColumn):
    """'12,345 / 20,000 records' (or '12,345 records' without a total), and the rate once there is one."""

    def render(self, task: Task) -> Text:
        if (task.total is None and not task.completed) or not task.fields.get("counted", True):
            return Text("")
        of = f" / {int(task.total):,}" if task.total is not None else ""
        speed = task.speed or 0.0
        rate = f"  {speed:,.0f}/s" if speed >= 1 else f"  {1 / speed:.1f}s each" if speed else ""
        unit = task.fields.get("unit", "records")
        return Text(f"{int(task.completed):,}{of} {unit}{rate}", style="progress.download")


class RichSink:
    """A `crm_risk.progress.Sink` drawing on a rich Progress (thread-safe: steps run in Prefect's task threads)."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("{task.fields[phase]:<8} [bold]{task.description:<24}"),
            BarColumn(bar_width=24),
            _Records(),
            TimeRemainingColumn(compact=True),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._lock = threading.Lock()

    def start(self, label: str, phase: str, total: int | None, unit: str) -> int:
        with self._lock:
            return int(self.progress.add_task(label, total=total if total else None, phase=phase, unit=unit))

    def advance(self, handle: int, n: int) -> None:
        self.progress.advance(handle, n)  # type: ignore[arg-type]

    def finish(self, handle: int, done: int) -> None:
        with self._lock:
            if done:
                self.progress.update(handle, total=done, completed=done)  # type: ignore[arg-type]
            else:  # a phase without records (validate, score) or nothing to pull: done, no count shown
                self.progress.update(handle, total=1, completed=1, counted=False)  # type: ignore[arg-type]


@contextmanager
def terminal_progress(enabled: bool | None = None) -> Iterator[None]:
    """Show progress while the block runs when stderr is a terminal (or `enabled`); restore the previous sink."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield
        return
    sink = RichSink(Console(stderr=True))
    previous = progress.set_sink(sink)
    try:
        with sink.progress:
            yield
    finally:
        progress.set_sink(previous)
