"""A warehouse that cannot be written fails the run in one line saying what to do, and a rerun then converges.

The full disk and the read-only file system are real: a small tmpfs mounted in a user and mount namespace of our
own (`unshare -rm`, no root needed where unprivileged user namespaces are allowed; skipped where they are not). A
chmod would not do: this project's machines run the tests as root, whom file modes do not stop.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from crm_risk.errors import WarehouseBusy
from shell.cli import main
from tests.connectors.test_warehouse import _hold_lock

ROOT = Path(__file__).resolve().parents[2]

# Phase "fill" lands 60,000 Accounts (about 4 MB of Parquet) and loads them into a warehouse on a 3 MB disk;
# phase "reload", after the disk grew, loads the same manifest again. Each prints what happened as JSON.
LOAD = """
import json, os, sys
from pathlib import Path
sys.path.insert(0, ROOT)
from tests.connectors.test_warehouse import write_extract, ts
from connectors import warehouse as wh
from crm_risk.config import load_settings
from pipeline.context import explain_failure
phase, landing, path = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
settings = load_settings(warehouse_path=path, landing_dir=str(landing))
if phase == "fill":
    rows = [
        {"Id": f"001{i:015d}", "IsDeleted": False, "Name": os.urandom(24).hex(), "AnnualRevenue": float(i),
         "SystemModstamp": ts(2)}
        for i in range(60_000)
    ]
    write_extract(landing, "r1", [rows])
out = {"phase": phase}
try:
    with wh.open_for(settings) as con:
        out["loaded"] = wh.load_manifest(con, landing / "r1" / "Account", "r1").inserted
except Exception as exc:
    out["error"] = str(explain_failure(settings, exc))
with wh.open_for(settings, read_only=True) as con:
    out["watermark"] = str(wh.get_watermark(con, "Account"))
print(json.dumps(out))
"""

# Phase "create" opens a run (the warehouse is created); phase "read-only", after the disk was remounted read-only,
# opens the next run.
BEGIN = """
import json, sys
sys.path.insert(0, ROOT)
from crm_risk.config import load_settings
from pipeline.context import begin_run
settings = load_settings(warehouse_path=sys.argv[2], landing_dir=sys.argv[3])
try:
    begin_run(settings, "nightly_sync")
    print(json.dumps({"phase": sys.argv[1], "ok": True}))
except Exception as exc:
    print(json.dumps({"phase": sys.argv[1], "error": f"{type(exc).__name__}: {exc}"}))
"""


def _namespaces() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    return probe.returncode == 0


needs_namespaces = pytest.mark.skipif(
    not _namespaces(),
    reason="unshare -rm (user + mount namespaces) is not allowed here: no small disk to fill",
)


def _in_namespace(tmp_path: Path, script: str, steps: str) -> list[dict[str, Any]]:
    """Run `steps` (shell, with $PY = python running `script`, $DISK = a tmpfs of ours) in a fresh namespace."""
    (tmp_path / "script.py").write_text(textwrap.dedent(script).replace("ROOT", repr(str(ROOT))))
    disk = tmp_path / "disk"
    disk.mkdir()
    shell = f'DISK={disk}; PY="{sys.executable} {tmp_path / "script.py"}"; ' + steps
    done = subprocess.run(["unshare", "-rm", "sh", "-ec", shell], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@needs_namespaces
def test_full_disk_is_one_line_commits_nothing_and_the_rerun_loads(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    full, freed = _in_namespace(
        tmp_path,
        LOAD,
        "mount -t tmpfs -o size=3m tmpfs $DISK; "
        f"$PY fill {landing} $DISK/warehouse.duckdb; "
        "mount -o remount,size=64m $DISK; "
        f"$PY reload {landing} $DISK/warehouse.duckdb",
    )
    message = full["error"]
    assert message.startswith("the disk holding the warehouse ") and "\n" not in message
    assert "is full (No space left on device)" in message and "CRM_RISK_WAREHOUSE_PATH" in message
    assert "cannot rollback" not in message
    assert full["watermark"] == "None"  # nothing of the failed load was committed
    assert freed == {"phase": "reload", "loaded": 60_000, "watermark": "2026-01-20 00:00:00+00:00"}


@needs_namespaces
def test_read_only_warehouse_is_one_line(tmp_path: Path) -> None:
    created, refused = _in_namespace(
        tmp_path,
        BEGIN,
        "mount -t tmpfs -o size=16m tmpfs $DISK; "
        f"$PY create $DISK/warehouse.duckdb {tmp_path / 'landing'}; "
        "mount -o remount,ro $DISK; "
        f"$PY read-only $DISK/warehouse.duckdb {tmp_path / 'landing'}",
    )
    assert created == {"phase": "create", "ok": True}
    error = refused["error"]
    assert error.startswith("WarehouseError: cannot write the warehouse ") and "\n" not in error
    assert "(Read-only file system)" in error and "CRM_RISK_WAREHOUSE_PATH" in error


def test_locked_warehouse_is_one_line_and_exit_code_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "warehouse.duckdb"
    from connectors import warehouse

    warehouse.connect(path).close()
    monkeypatch.setenv("CRM_RISK_WAREHOUSE_PATH", str(path))
    monkeypatch.setenv("CRM_RISK_WAREHOUSE_LOCK_WAIT_SECONDS", "0")
    holder = _hold_lock(path, 120)
    try:
        assert main(["flags"]) == 2
        err = capsys.readouterr().err
        with pytest.raises(WarehouseBusy):
            main(["--debug", "flags"])  # --debug: the error itself, with its traceback
    finally:
        holder.kill()
        holder.wait()
    (line,) = err.splitlines()
    assert line.startswith(f"crm-risk: warehouse {path} is held by another process")
    assert "CRM_RISK_WAREHOUSE_LOCK_WAIT_SECONDS" in line and "Conflicting lock" in line
