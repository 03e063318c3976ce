"""How `crm-risk sync` / `backfill` end: 0 for success, else the run's one line on stderr and 1."""

from __future__ import annotations

import json
import time

import pytest

from shell.cli import _finish


def test_a_partial_run_prints_its_line_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    line = (
        "not extracted (watermark kept, the next run reads it again): Case: query: HTTP 500 UNKNOWN_EXCEPTION"
    )
    result = {
        "run_id": "r1",
        "status": "partial",
        "message": line,
        "failed_objects": {"Case": "query: HTTP 500"},
    }
    assert _finish("Nightly sync", result, time.monotonic(), as_json=True) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["status"] == "partial" and err == f"crm-risk: run partial: {line}\n"
    assert _finish("Nightly sync", result, time.monotonic(), as_json=False) == 1
    out, _ = capsys.readouterr()
    assert (
        "PARTIAL: some objects were not extracted" in out and "  not extracted: Case: query: HTTP 500" in out
    )
    ok = {"run_id": "r2", "status": "success", "message": None}
    assert _finish("Nightly sync", ok, time.monotonic(), as_json=True) == 0
    assert capsys.readouterr().err == ""
