"""`crm-risk demo --live` as a new user runs it: a Prefect server, serve and listen in processes of their own, three
cases escalated in the simulated org, each account's flag moving in the CRM with the seconds it took."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.orgclock import pin_org_clock

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_demo_live_shows_three_flags_moving(tmp_path: Path) -> None:
    pin_org_clock(tmp_path / "org")
    cli = Path(sys.executable).with_name("crm-risk")
    done = subprocess.run(
        [str(cli), "demo", "--live", "--accounts", "150", "--state-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "3 of 3 flags moved" in out
    moves = re.findall(r"-> (Red|Amber) in the CRM after ([0-9.]+)s", out)
    assert len(moves) == 3
    assert out.count("owner Task for the account's owner") >= 3
    assert "nobody from the account team followed up" in out
