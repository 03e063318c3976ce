"""Score step: rebuild staging, history, signals and risk in the warehouse, as of the instant every object is loaded."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from connectors import warehouse
from crm_risk import progress
from crm_risk.config import Settings
from pipeline.context import RunContext
from pipeline.extract import entries
from transforms.runner import run_transforms

__all__ = ["Coverage", "Scored", "complete_as_of", "coverage", "transform"]

log = logging.getLogger(__name__)


def complete_as_of(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: datetime) -> datetime:
    """`as_of`, or the oldest watermark of the configured objects when earlier: the instant up to which every object
    is loaded. A backfill of some objects (or a run stopped by the quota) then scores the accounts on a consistent
    picture, not on today's cases next to yesterday's activities."""
    names = [e.name for e in entries(settings, None)]
    marks = [warehouse.get_watermark(con, n) for n in names]
    known = [m for m in marks if m is not None]
    return min([as_of, *known]) if len(known) == len(marks) else as_of


@dataclass
class Coverage:
    """What a run could not score: signal -> why (marts.signal_coverage), and the accounts held from the push
    because their level rests on signals not scored yet (an object they read never loaded)."""

    not_scored: dict[str, str] = field(default_factory=dict)
    missing_objects: list[str] = field(default_factory=list)
    held_accounts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "not_scored": self.not_scored,
            "missing_objects": self.missing_objects,
            "held_accounts": self.held_accounts,
        }

    def held_line(self) -> str | None:
        """One plain line when accounts were held from the push, else None."""
        if not self.held_accounts:
            return None
        objects = ", ".join(self.missing_objects)
        return (
            f"{self.held_accounts} account(s) not pushed: their level rests on signals not scored yet "
            f"({objects} never loaded). A sync of every object (or `--objects {' '.join(self.missing_objects)}`) "
            "scores and pushes them."
        )


def coverage(con: duckdb.DuckDBPyConnection) -> Coverage:
    """The last transform's coverage, read from marts.signal_coverage and marts.account_risk."""
    out = Coverage()
    for signal_id, reason, missing in con.execute(
        "select signal_id, reason, missing_objects from marts.signal_coverage where status = 'not_scored' order by 1"
    ).fetchall():
        out.not_scored[str(signal_id)] = str(reason)
        out.missing_objects += [m for m in missing or [] if m not in out.missing_objects]
    out.missing_objects.sort()
    row = con.execute("select count(*) from marts.account_risk where push_held_for is not null").fetchone()
    out.held_accounts = int(row[0]) if row else 0
    return out


@dataclass
class Scored:
    """What the score step produced: accounts per level and what could not be scored."""

    levels: dict[str, int]
    coverage: Coverage


def transform(ctx: RunContext, as_of: datetime | None = None) -> Scored:
    """Rebuild staging, history and marts, scored as of the data's complete instant; return the risk levels and
    the coverage (signals not scored, accounts held from the push)."""
    with warehouse.open_for(ctx.settings) as con:
        at = complete_as_of(con, ctx.settings, as_of or ctx.started_at)
        if at != (as_of or ctx.started_at):
            log.info("scoring as of %s, the instant up to which every object is loaded", at.isoformat())
        with progress.track("accounts", "score"):
            run_transforms(con, as_of=at, run_id=ctx.run_id, loaded_objects=warehouse.loaded_objects(con))
        rows = con.execute("select level, count(*) from marts.account_risk group by level").fetchall()
        cover = coverage(con)
    if line := cover.held_line():
        log.warning(line)
    return Scored({str(level): int(n) for level, n in rows}, cover)
