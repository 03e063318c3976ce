"""How a run command's process ends (shell/cli.py `exit_without_teardown`): every exit hook the interpreter would
run, in its order, and stdout complete, but not the teardown of every module and object (seconds after a sync)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import atexit, os, sys, threading, time
from shell.cli import exit_without_teardown

def log(line):
    with open(sys.argv[1], "a") as f:
        f.write(line + "\n")

threading._register_atexit(lambda: log("thread exit hook"))  # how Prefect's log and event workers drain
atexit.register(lambda: log("atexit"))  # how the temporary Prefect server stops
threading.Thread(target=lambda: (time.sleep(0.5), log("non-daemon thread done"))).start()

class Teardown:
    def __del__(self, write=os.write):  # module globals may be gone by then
        write(2, b"torn down")

kept = Teardown()
sys.stdout.write("the run's JSON, no newline")
if sys.argv[2] == "quick":
    exit_without_teardown(3)
sys.exit(3)
"""


def _run(tmp_path: Path, how: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    out = tmp_path / f"{how}.log"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out), how],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc, out.read_text().splitlines()


def test_the_quick_exit_runs_every_exit_hook_in_order_and_skips_only_the_teardown(tmp_path: Path) -> None:
    proc, lines = _run(tmp_path, "quick")
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "the run's JSON, no newline"
    assert lines == ["thread exit hook", "non-daemon thread done", "atexit"]
    assert "torn down" not in proc.stderr
    # the interpreter's own exit runs the same hooks in the same order, then tears the objects down
    proc, normal = _run(tmp_path, "normal")
    assert proc.returncode == 3 and proc.stdout == "the run's JSON, no newline"
    assert normal == lines and "torn down" in proc.stderr


def test_main_called_with_arguments_returns_its_code(monkeypatch, tmp_path: Path, capsys) -> None:
    from shell.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRM_RISK_SF_TIMEOUT_SECONDS", "soon")
    assert main(["sync"]) == 2  # returned (a test process goes on), not exited
