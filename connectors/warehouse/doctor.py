"""`crm-risk doctor`'s warehouse check: the DuckDB file writable and not held by another process; its watermarks
(what a nightly run will ask the CRM for)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import duckdb

from connectors.warehouse.runs import get_watermark
from crm_risk.checks import Check, failed, passed, skipped

__all__ = ["warehouse_check"]


def _writable_dir(path: Path) -> Path | None:
    """The nearest existing folder of `path` when it is writable (the warehouse or landing can be created there)."""
    for folder in (path, *path.parents):
        if folder.exists():
            return folder if os.access(folder, os.W_OK) else None
    return None


def warehouse_check(
    warehouse_path: str, landing_dir: str, objects: Iterable[str]
) -> tuple[Check, dict[str, datetime | None]]:
    """(check, watermark per object): the file exists and opens read-write at once, or can be created."""
    name = "warehouse"
    marks: dict[str, datetime | None] = {o: None for o in objects}
    if warehouse_path == ":memory:" or "://" in warehouse_path or warehouse_path.startswith("md:"):
        return skipped(name, f"{warehouse_path} is not a local file: not checked"), marks
    target = Path(warehouse_path)
    landing = Path(landing_dir)
    if (
        "://" not in landing_dir and _writable_dir(landing) is None
    ):  # a URL (object storage): doctor's landing check
        return (
            failed(
                name,
                f"landing folder {landing} cannot be written",
                "fix its permissions or set CRM_RISK_LANDING_DIR",
            ),
            marks,
        )
    if not target.exists():
        if _writable_dir(target.parent) is None:
            return (
                failed(
                    name,
                    f"{target} does not exist and its folder cannot be written",
                    "create the folder with write access for this user, or set CRM_RISK_WAREHOUSE_PATH",
                ),
                marks,
            )
        return passed(name, f"{target} will be created by the first run (folder writable)"), marks
    if not os.access(target, os.W_OK):
        return failed(
            name, f"{target} is read-only for this user", f"chmod u+w {target}, or run as its owner"
        ), marks
    try:
        con = duckdb.connect(str(target))  # read-write, no wait: is anyone holding it now?
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            return failed(
                name, f"{target} cannot be opened: {exc}", "check the file (a DuckDB 2.0 database)"
            ), marks
        holder = str(exc).split("Conflicting lock is held in", 1)[-1].strip().rstrip(".")
        return (
            failed(
                name,
                f"{target} is locked by another process ({holder}); a run waits for it at most "
                "CRM_RISK_WAREHOUSE_LOCK_WAIT_SECONDS (600 s by default)",
                "stop that process or let it finish: a sync, backfill or SQL client holding the warehouse read-write "
                "(DuckDB admits one writer)",
            ),
            marks,
        )
    try:
        has_meta = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'meta' and table_name = 'watermarks'"
        ).fetchone()
        if has_meta and has_meta[0]:
            marks = {o: get_watermark(con, o) for o in marks}
    finally:
        con.close()
    done = sum(1 for m in marks.values() if m is not None)
    return passed(
        name, f"{target} writable, not locked; {done} of {len(marks)} objects extracted before"
    ), marks
