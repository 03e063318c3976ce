"""How `crm-risk sync` / `backfill` end: 0 for success, else the run's one line on stderr and 1."""

from __future__ import annotations

import pytest

from shell.cli import _ended


def test_a_partial_run_prints_its_line_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    line = (
        "not extracted (watermark kept, the next run reads it again): Case: query: HTTP 500 UNKNOWN_EXCEPTION"
    )
    assert _ended({"status": "partial", "message": line}) == 1
    assert capsys.readouterr().err == f"crm-risk: run partial: {line}\n"
    assert _ended({"status": "success", "message": None}) == 0
    assert capsys.readouterr().err == ""
