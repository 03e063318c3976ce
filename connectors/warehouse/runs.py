"""Run bookkeeping: meta.runs (one row per run) and the per-object watermarks in meta.watermarks.

A run's row names the process that owns it (host, pid and the process's start time, so a reused pid is not taken
for the run's): a row left `running` by a process that is gone (kill -9, an OOM kill, a power cut) is closed as
`died` by the next run that starts on the same host, with the last step the run's own rows show (`mark_dead_runs`).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

__all__ = [
    "DIED",
    "finish_run",
    "get_watermark",
    "live_runs",
    "loaded_objects",
    "mark_dead_runs",
    "process_token",
    "start_run",
]

DIED = "died"


def get_watermark(con: duckdb.DuckDBPyConnection, object_name: str) -> datetime | None:
    """The object's committed watermark (UTC), or None when it was never loaded."""
    rows = con.execute("select watermark from meta.watermarks where object = ?", [object_name]).fetchall()
    return rows[0][0] if rows else None


def process_token(pid: int) -> str | None:
    """`<pid>:<start time in clock ticks since boot>` of a live process (`<pid>:?` where there is no /proc), None
    when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        if Path("/proc/self/stat").exists():
            return None
        try:  # no /proc: the pid alone (a reused pid would pass for the run's)
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return f"{pid}:?"
    fields = stat.rsplit(")", 1)[-1].split()  # the command name, in parentheses, may hold spaces
    return f"{pid}:{fields[19]}" if len(fields) > 19 else f"{pid}:?"


def loaded_objects(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The objects loaded at least once: those with a watermark (a full extract from the start of time committed;
    a backfill of a later window alone does not count, it leaves the records before it unknown)."""
    return {
        r[0] for r in con.execute("select object from meta.watermarks where watermark is not null").fetchall()
    }


def start_run(
    con: duckdb.DuckDBPyConnection, run_id: str, flow: str, started_at: datetime | None = None
) -> None:
    """Record a run as `running` in meta.runs, owned by this process (a rerun of the same run_id restarts its row)."""
    con.execute(
        "insert or replace into meta.runs (run_id, flow, started_at, status, host, process) "
        "values (?, ?, ?, 'running', ?, ?)",
        [run_id, flow, started_at or datetime.now(UTC), socket.gethostname(), process_token(os.getpid())],
    )


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    status: str,
    counts: Mapping[str, Any] | None = None,
    api_calls: int | None = None,
    message: str | None = None,
    finished_at: datetime | None = None,
) -> None:
    """Close a run in meta.runs with its status (`completed`, `failed`, ...), counts, API calls and message."""
    con.execute(
        "update meta.runs set finished_at = ?, status = ?, counts = ?, api_calls = ?, message = ? where run_id = ?",
        [
            finished_at or datetime.now(UTC),
            status,
            json.dumps(counts or {}, default=str),
            api_calls,
            message,
            run_id,
        ],
    )


def _alive(process: str) -> bool:
    """Whether the process a run row names still runs (same pid, same start time)."""
    return process_token(int(process.split(":", 1)[0])) == process


def mark_dead_runs(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """Close as `died` every `running` row of this host whose process is gone; returns (run_id, message) pairs.

    Rows of another host are left alone (their process cannot be checked from here); rows that name no process
    were written before runs named theirs (an older version): left `running`, they can only be dead.
    """
    rows = con.execute(
        "select run_id, process from meta.runs where status = 'running' and (host = ? or host is null)",
        [socket.gethostname()],
    ).fetchall()
    dead = [(str(run_id), process) for run_id, process in rows if process is None or not _alive(process)]
    out = []
    for run_id, process in dead:
        who = f"its process (pid {process.split(':')[0]})" if process else "its process (not recorded)"
        message = (
            f"died: {who} ended without closing the run (killed, or the machine stopped); "
            f"last step seen: {_last_step(con, run_id)}"
        )
        con.execute(
            "update meta.runs set status = ?, finished_at = ?, message = ? where run_id = ? and status = 'running'",
            [DIED, datetime.now(UTC), message, run_id],
        )
        out.append((run_id, message))
    return out


def live_runs(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The run ids still `running` (after `mark_dead_runs`, those whose process lives, or cannot be checked)."""
    return {
        str(r[0]) for r in con.execute("select run_id from meta.runs where status = 'running'").fetchall()
    }


_STEPS = (  # the latest first: what a run leaves behind, step by step
    (
        "select count(*) from sync.account_push_intents where run_id = ?",
        "the Account push ({n} updates in flight)",
    ),
    ("select count(*) from sync.push_log where run_id = ?", "the push ({n} CRM results logged)"),
    ("select count(*) from marts.account_risk_history where run_id = ?", "scoring (done), before the push"),
    ("select count(*) from meta.reconciliation where run_id = ?", "the load ({n} objects loaded)"),
)


def _last_step(con: duckdb.DuckDBPyConnection, run_id: str) -> str:
    for sql, label in _STEPS:
        try:
            n = int(con.execute(sql, [run_id]).fetchall()[0][0])
        except duckdb.Error:  # a table an older warehouse lacks
            continue
        if n:
            return label.format(n=n)
    return "before any load (extract or login)"
