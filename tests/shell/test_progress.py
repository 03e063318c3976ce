"""The terminal progress display: drawn only on a terminal, one line per object and phase, counts of the total."""

from __future__ import annotations

import io

from rich.console import Console

from crm_risk import progress
from shell.progress import RichSink, terminal_progress


def test_nothing_is_drawn_when_stderr_is_not_a_terminal(capsys) -> None:
    with terminal_progress(), progress.track("Case", "extract", total=10) as advance:
        advance(10)
    assert capsys.readouterr().err == ""


def test_each_phase_is_a_line_with_its_records_and_total() -> None:
    out = io.StringIO()
    sink = RichSink(Console(file=out, force_terminal=True, width=120, color_system=None))
    previous = progress.set_sink(sink)
    try:
        with sink.progress:
            with progress.track("Case", "extract", total=1200) as advance:
                advance(700)
                advance(500)
            with progress.track("Case", "validate"):
                pass
            with progress.track("as of each month", "backtest", total=3, unit="dates") as advance:
                advance(3)
    finally:
        progress.set_sink(previous)
    text = out.getvalue()
    assert "extract  Case" in text and "1,200 / 1,200 records" in text
    assert "validate Case" in text and "3 / 3 dates" in text
    assert progress.set_sink(None) is previous  # restored


def test_a_backfill_is_one_line_its_windows_draw_none() -> None:
    out = io.StringIO()
    sink = RichSink(Console(file=out, force_terminal=True, width=120, color_system=None))
    previous = progress.set_sink(sink)
    try:
        with sink.progress:
            with progress.overall(
                "5 objects, 3 windows", "backfill", total=900, absorb=("extract", "load")
            ) as advance:
                for _ in range(3):  # each window's extract and load, as the flow runs them
                    with progress.track("Case", "extract", total=300) as part:
                        part(300)
                    with progress.track("Case", "load"):
                        pass
                    advance(300)
            with progress.track("Case", "extract", total=5) as after:  # closed: lines of their own again
                after(5)
    finally:
        progress.set_sink(previous)
    text = out.getvalue()
    assert "backfill 5 objects, 3 windows" in text and "900 / 900 records" in text
    assert "load     Case" not in text and "300 / 300" not in text
    assert "5 / 5 records" in text
