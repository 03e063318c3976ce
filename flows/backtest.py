"""`crm-risk backtest`: run the signals over the org's history and compare with the simulator's ground truth.

Works on an in-memory copy of the warehouse's raw tables (the nightly marts and history are never touched), with
`run_transforms(..., record_history=False)`:

- per signal, as of the warehouse's latest run: precision and recall on the planted scenarios (the accounts planted
  for the signal against the clean controls; support = planted accounts);
- per horizon N (30, 60, 90 days): accounts scored at monthly as-of dates; a closed renewal counts as "flagged" when
  its account was Red at the last monthly as-of date at least N days (and less than N + 31 days) before its close
  date; precision and recall of "flagged" for a lost renewal, and lift = precision / base rate of lost renewals.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb

from connectors import warehouse
from crm_risk.errors import ConfigError
from transforms.rules import Rules, load_rules
from transforms.runner import run_transforms

__all__ = ["HORIZONS", "BacktestResult", "find_inputs", "run_backtest"]

log = logging.getLogger(__name__)
HORIZONS = (30, 60, 90)
_COPIED_SCHEMAS = ("raw", "meta")


@dataclass
class BacktestResult:
    """The metrics (`as_json()` is the documented JSON) and the counts behind them (for the table and the report)."""

    signals: dict[str, dict[str, float | int]] = field(default_factory=dict)
    renewal: dict[str, dict[str, float]] = field(default_factory=dict)
    model_version: str = ""
    as_of: str = ""
    signal_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    renewal_counts: dict[str, dict[str, float | int]] = field(default_factory=dict)
    snapshots: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """{"signals": {id: {precision, recall, support}}, "renewal": {N: {precision, recall, lift}}, "model_version"}."""
        return {"signals": self.signals, "renewal": self.renewal, "model_version": self.model_version}


def find_inputs(state_dir: Path) -> tuple[Path, Path]:
    """The warehouse and the ground-truth file of a demo state dir (`DIR/warehouse.duckdb`, `DIR/org/ground_truth.json`)."""
    wh = state_dir / "warehouse.duckdb"
    truth = next(
        (p for p in (state_dir / "org" / "ground_truth.json", state_dir / "ground_truth.json") if p.exists()),
        None,
    )
    if not wh.exists():
        raise ConfigError(f"no warehouse at {wh}: run `crm-risk demo --state-dir {state_dir}` first")
    if truth is None:
        raise ConfigError(
            f"no ground_truth.json in {state_dir}/org or {state_dir}: the backtest needs the simulator's"
        )
    return wh, truth


def _copy_warehouse(source: Path) -> tuple[duckdb.DuckDBPyConnection, datetime | None]:
    """An in-memory warehouse holding the source's raw and meta tables, and the source's latest scoring time."""
    con = warehouse.connect(":memory:")
    con.execute("attach $path as src (read_only)", {"path": str(source)})
    tables = con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = 'src'"
    ).fetchall()
    for schema, table in tables:  # names come from the catalogue of our own warehouse, never from user input
        if schema in _COPIED_SCHEMAS:
            con.execute(f'create or replace table {schema}."{table}" as select * from src.{schema}."{table}"')
    last = None
    if ("marts", "account_risk") in set(tables):
        row = con.execute("select max(computed_at) from src.marts.account_risk").fetchone()
        last = row[0] if row else None
    con.execute("detach src")
    return con, last


def _ratio(a: float, b: float) -> float:
    return round(a / b, 4) if b else 0.0


def _month_starts(first: date, last: date) -> list[date]:
    out, d = [], date(first.year, first.month, 1)
    while d <= last:
        out.append(d)
        d = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return out


def _at(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=UTC)


def _signals_at(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    fired: dict[str, set[str]] = {}
    for account_id, signal_id in con.execute(
        "select account_id, signal_id from marts.account_signals"
    ).fetchall():
        fired.setdefault(signal_id, set()).add(account_id)
    return fired


def _score_signals(result: BacktestResult, truth: dict[str, Any], fired: dict[str, set[str]]) -> None:
    controls = set(truth.get("controls", []))
    for sid, planted_list in sorted(truth.get("signals", {}).items()):
        planted = set(planted_list)
        hits = fired.get(sid, set())
        tp, fp = len(hits & planted), len(hits & (controls - planted))
        result.signals[sid] = {
            "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, len(planted)),
            "support": len(planted),
        }
        result.signal_counts[sid] = {
            "true_pos": tp,
            "false_pos": fp,
            "missed": len(planted) - tp,
            "controls": len(controls - planted),
            "fired_in_org": len(hits),
        }


def _score_renewals(
    result: BacktestResult, renewals: list[dict[str, Any]], red_at: dict[date, set[str]]
) -> None:
    snaps = sorted(red_at)
    for n in HORIZONS:
        flagged = lost = flagged_lost = total = 0
        for r in renewals:
            target = date.fromisoformat(r["close_date"]) - timedelta(days=n)
            snap = max((s for s in snaps if target - timedelta(days=31) < s <= target), default=None)
            if snap is None:
                continue
            total += 1
            is_red, is_lost = r["account_id"] in red_at[snap], r["outcome"] == "lost"
            flagged += is_red
            lost += is_lost
            flagged_lost += is_red and is_lost
        precision, base = _ratio(flagged_lost, flagged), _ratio(lost, total)
        result.renewal[str(n)] = {
            "precision": precision,
            "recall": _ratio(flagged_lost, lost),
            "lift": _ratio(precision, base),
        }
        result.renewal_counts[str(n)] = {
            "renewals": total,
            "lost": lost,
            "red": flagged,
            "red_and_lost": flagged_lost,
            "base_rate": base,
        }


def run_backtest(state_dir: Path, rules: Rules | str | Path | None = None) -> BacktestResult:
    """Score the planted signals as of the latest run and Red's lead on lost renewals over monthly as-of dates."""
    wh_path, truth_path = find_inputs(state_dir)
    truth = json.loads(truth_path.read_text())
    loaded = rules if isinstance(rules, Rules) else load_rules(rules)
    result = BacktestResult(model_version=loaded.model_version)
    con, last = _copy_warehouse(wh_path)
    try:
        now = last.astimezone(UTC) if last else _at(date.fromisoformat(truth["today"]) + timedelta(days=1))
        result.as_of = now.isoformat()
        run_transforms(con, as_of=now, run_id="backtest-now", rules=loaded, record_history=False)
        _score_signals(result, truth, _signals_at(con))
        renewals = [
            r
            for r in truth.get("renewals", [])
            if not r.get("is_open") and date.fromisoformat(r["close_date"]) <= now.date()
        ]
        red_at: dict[date, set[str]] = {}
        if renewals:
            first = min(date.fromisoformat(r["close_date"]) for r in renewals) - timedelta(
                days=max(HORIZONS) + 31
            )
            for snap in _month_starts(first, now.date()):
                run_transforms(
                    con, as_of=_at(snap), run_id=f"backtest-{snap}", rules=loaded, record_history=False
                )
                red_at[snap] = {
                    r[0]
                    for r in con.execute(
                        "select account_id from marts.account_risk where level = 'Red'"
                    ).fetchall()
                }
                result.snapshots.append(snap.isoformat())
        _score_renewals(result, renewals, red_at)
    finally:
        con.close()
    log.info(
        "backtest of %s: %d signals, %d monthly snapshots",
        state_dir,
        len(result.signals),
        len(result.snapshots),
    )
    return result
