"""Landing retention: the newest CRM_RISK_LANDING_KEEP_RUNS runs' landing directories stay, older ones go."""

from __future__ import annotations

import os
from pathlib import Path

from crm_risk.config import load_settings
from pipeline.retention import prune_landing


def test_keeps_the_newest_runs_and_any_run_still_running(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    for age, run in enumerate(["r5", "r4", "r3", "r2", "r1"]):  # r5 newest
        (landing / run / "Case").mkdir(parents=True)
        (landing / run / "Case" / "part-00000.parquet").write_bytes(b"x")
        stamp = 1_700_000_000 - age * 3600
        os.utime(landing / run, (stamp, stamp))
    settings = load_settings(landing_dir=str(landing), landing_keep_runs=2)
    deleted = prune_landing(settings, keep_also={"r1"})  # r1 is still running: never deleted
    assert sorted(deleted) == ["r2", "r3"]
    assert sorted(p.name for p in landing.iterdir()) == ["r1", "r4", "r5"]
    assert prune_landing(settings) == ["r1"]  # once it ended, its rank counts


def test_no_landing_yet_is_nothing_to_do(tmp_path: Path) -> None:
    assert prune_landing(load_settings(landing_dir=str(tmp_path / "none"))) == []
