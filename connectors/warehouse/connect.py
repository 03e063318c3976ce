"""Open the warehouse: one DuckDB file (or connection string), UTC, a memory cap, its schemas and bookkeeping tables."""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import duckdb

from connectors.warehouse.errors import explain, one_line
from crm_risk.config import SIZE_PATTERN
from crm_risk.errors import WarehouseBusy

__all__ = ["LOCK_WAIT_SECONDS", "MEMORY_LIMIT", "SCHEMAS", "connect", "ensure_schemas", "open_for"]

log = logging.getLogger(__name__)
# how long a writer waits for another process to release the warehouse file (DuckDB's single-writer lock)
LOCK_WAIT_SECONDS = 600.0


# DuckDB's own memory cap for a warehouse file (its default is 80% of the machine's RAM): past it, large loads and
# transforms spill to `<warehouse>.tmp/` instead of growing with the size of the org. In-memory databases (backtests)
# cannot spill and keep DuckDB's default.
MEMORY_LIMIT = "512MB"
MIN_LIMIT_MB = 256  # below this DuckDB spends its time spilling
DUCKDB_MARGIN_MB = 96  # what DuckDB allocates past its cap (measured: 50-100 MB in the transforms)


SCHEMAS = ("raw", "meta", "staging", "marts", "sync")
# warehouse files this process has ensured the schemas of: a long-lived run (an account refresh opens the file
# several times a pass) runs the DDL once, not at every open
_ENSURED: set[str] = set()
DDL = Path(__file__).with_name("ddl.sql")


def connect(
    path: str | Path,
    read_only: bool = False,
    lock_wait_seconds: float = LOCK_WAIT_SECONDS,
    memory_limit: str | None = MEMORY_LIMIT,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (a file path, ':memory:' or a DuckDB connection string) with UTC as the session zone.

    DuckDB admits one read-write process per file: while another process holds it (a nightly sync, a backfill, a SQL
    client), this waits up to `lock_wait_seconds` for it (write windows are short), then raises WarehouseBusy.
    A local file gets DuckDB's `memory_limit` (None: DuckDB's default) so memory stays flat as the org grows.
    """
    target = str(path)
    local_file = target != ":memory:" and "://" not in target and not target.startswith("md:")
    cap = _size(memory_limit) if local_file and memory_limit else None
    try:
        if local_file:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        con = _open(target, read_only, lock_wait_seconds)
    except (duckdb.Error, OSError) as exc:
        raise (explain(exc, target) or exc) from exc
    try:
        if cap:
            con.execute(f"set memory_limit = '{cap}'")
        con.execute("set TimeZone = 'UTC'")
        if not read_only and (not local_file or target not in _ENSURED):
            ensure_schemas(con)
            if local_file:
                _ENSURED.add(target)
    except (duckdb.Error, OSError) as exc:
        con.close()
        raise (explain(exc, target) or exc) from exc
    return con


def open_for(settings: Any, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """The warehouse of these settings (`warehouse_path`, capped at `warehouse_memory_limit`, waiting up to
    `warehouse_lock_wait_seconds` for another writer)."""
    limit = getattr(settings, "warehouse_memory_limit", MEMORY_LIMIT)
    budget = getattr(settings, "memory_budget", None)
    if limit is None:
        limit = share_of_budget(budget) if budget else MEMORY_LIMIT
    wait = getattr(settings, "warehouse_lock_wait_seconds", LOCK_WAIT_SECONDS)
    return connect(settings.warehouse_path, read_only=read_only, lock_wait_seconds=wait, memory_limit=limit)


def share_of_budget(budget: str) -> str:
    """DuckDB's cap when the process aims at `budget` in all: what it does not hold yet, less a margin for
    DuckDB's allocations outside its buffer pool, between 256MB and 512MB (MEMORY_LIMIT)."""
    mb = _megabytes(_size(budget))
    held = _resident_mb()
    if held is None:
        return MEMORY_LIMIT
    cap = max(MIN_LIMIT_MB, min(_megabytes(MEMORY_LIMIT), mb - held - DUCKDB_MARGIN_MB))
    return f"{cap}MB"


def _megabytes(size: str) -> int:
    number, unit = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", size).groups()  # type: ignore[union-attr]
    scale = {
        "": 1 / 2**20,
        "b": 1 / 2**20,
        "kb": 1 / 1024,
        "kib": 1 / 1024,
        "mb": 1,
        "mib": 1,
        "gb": 1024,
        "gib": 1024,
        "tb": 2**20,
        "tib": 2**20,
    }[unit.lower()]
    return int(float(number) * scale)


def _resident_mb() -> int | None:
    """This process's resident memory now (Linux /proc), None where unknown."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 2**20
    except (OSError, ValueError, IndexError):
        return None


def _size(value: str) -> str:
    """A DuckDB size such as '1GB' or '512MB' (checked: it is formatted into a SET statement)."""
    if not re.fullmatch(SIZE_PATTERN, value):
        raise ValueError(f"memory_limit {value!r} is not a size such as '1GB' or '512MB'")
    return value.strip()


def _open(target: str, read_only: bool, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    deadline, pause, told = time.monotonic() + wait_seconds, 0.25, False
    while True:
        try:
            return duckdb.connect(target, read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusy(
                    f"warehouse {target} is held by another process (a sync, a backfill or a SQL client with it open "
                    f"read-write) and stayed so for {wait_seconds:g}s (CRM_RISK_WAREHOUSE_LOCK_WAIT_SECONDS); "
                    f"try again when it is done: {one_line(exc)}"
                ) from None
            if not told:
                log.warning(
                    "warehouse %s is held by another process; waiting up to %gs", target, wait_seconds
                )
                told = True
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 1.0)  # an account refresh waiting behind a nightly window: resume soon


def ensure_schemas(con: duckdb.DuckDBPyConnection) -> None:
    """Create the five schemas and the meta/sync bookkeeping tables if they are missing (idempotent)."""
    for schema in SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    con.execute(DDL.read_text())
