"""The README's "After the demo" block, run as a new user would: in order, from the folder of a fresh demo.

Each line is a real `crm-risk` process (its own Prefect ephemeral server, the demo org served by the simulator for
the command). The demo here is smaller than `make demo`'s (the commands are the same); `<Id>` is a Red account's Id.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("crm-risk")


def readme_block(title: str) -> list[str]:
    """The commands of the first bash block under the README's `## <title>` (comments dropped)."""
    text = (ROOT / "README.md").read_text()
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block, f"README section {title!r} has a bash block"
    lines = []
    for raw in block.group(1).splitlines():
        line = re.sub(r"\s+#.*$", "", raw).strip()
        if line:
            lines.append(line)
    return lines


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def test_the_readme_walkthrough_runs_after_the_demo_without_a_traceback(tmp_path: Path) -> None:
    commands = readme_block("After the demo")
    assert len(commands) >= 6 and all(c.startswith(".venv/bin/crm-risk ") for c in commands)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_RISK_", "PREFECT_"))}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    demo = _run([str(CLI), "demo", "--accounts", "300"], tmp_path, env)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert ".venv/bin/crm-risk sync --dry-run" in demo.stdout  # the demo's last lines lead on to the block
    with duckdb.connect(str(tmp_path / ".demo" / "warehouse.duckdb"), read_only=True) as con:
        (red,) = con.execute(
            "select account_id from marts.account_risk where level = 'Red' limit 1"
        ).fetchone()
    seen: dict[str, str] = {}
    for line in commands:
        argv = [str(CLI), *[a.replace("<Id>", red) for a in shlex.split(line)[1:]]]
        done = _run(argv, tmp_path, env)
        out = done.stdout + done.stderr
        assert done.returncode == 0, f"{line}\n{out[-3000:]}"
        assert "Traceback" not in out, f"{line}\n{out[-3000:]}"
        seen[" ".join(shlex.split(line)[1:3])] = out
    assert not (tmp_path / "warehouse.duckdb").exists(), "no second warehouse beside the demo's"
    sync = seen["sync"]
    assert "using the demo org in .demo/org" in sync
    assert re.search(r"Nightly sync \w+: done in [\d.]+s", sync)
    assert "Push preview (dry run, nothing written to the CRM)" in seen["sync --dry-run"]
    assert f"({red})" in seen["flags --account"]
    assert "Account refresh" in seen["refresh --account"]
