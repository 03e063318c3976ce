"""`crm-risk backtest`: run the signals over the org's history and compare with the simulator's ground truth.

Works on an in-memory copy of the warehouse's raw tables (the nightly marts and history are never touched), with
`run_transforms(..., record_history=False)`:

- per signal, as of the warehouse's latest run: precision and recall on the planted scenarios (the accounts planted
  for the signal against the clean controls; support = planted accounts);
- per horizon N (30, 60, 90 days): accounts scored at monthly as-of dates; a closed renewal counts as "flagged" when
  its account was Red at the last monthly as-of date at least N days (and less than N + 31 days) before its close
  date; precision and recall of "flagged" for a lost renewal, and lift = precision / base rate of lost renewals;
- per signal, at `SIGNAL_HORIZON` days: how often the renewals of accounts where it fired were lost (lift over the
  same base rate), the evidence for tuning a signal's severity in the rules (table and HTML, not in the JSON).
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
from crm_risk import progress
from crm_risk.errors import ConfigError
from transforms.rules import Rules, load_rules
from transforms.runner import run_transforms

__all__ = ["HORIZONS", "SIGNAL_HORIZON", "BacktestResult", "find_inputs", "run_backtest"]

log = logging.getLogger(__name__)
HORIZONS = (30, 60, 90)
SIGNAL_HORIZON = 60
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
    # signal -> {severity, fired, lost, precision, lift} over renewals SIGNAL_HORIZON days ahead (by lift, desc)
    renewal_signals: dict[str, dict[str, Any]] = field(default_factory=dict)

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


def _snapshot_for(close_date: str, n: int, snaps: list[date]) -> date | None:
    """The last monthly as-of date at least `n` (and less than n + 31) days before the renewal's close date."""
    target = date.fromisoformat(close_date) - timedelta(days=n)
    return max((s for s in snaps if target - timedelta(days=31) < s <= target), default=None)


def _score_renewals(
    result: BacktestResult, renewals: list[dict[str, Any]], red_at: dict[date, set[str]]
) -> None:
    snaps = sorted(red_at)
    for n in HORIZONS:
        flagged = lost = flagged_lost = total = 0
        for r in renewals:
            snap = _snapshot_for(r["close_date"], n, snaps)
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


def _score_signal_renewals(
    result: BacktestResult,
    renewals: list[dict[str, Any]],
    fired_at: dict[date, dict[str, dict[str, str]]],
    rules: Rules,
) -> None:
    """Per signal (a mitigated firing apart: "<id> (mitigated)"), the renewals SIGNAL_HORIZON days ahead."""
    snaps = sorted(fired_at)
    counts: dict[str, list[int]] = {}
    severities: dict[str, str] = {}
    total = lost_total = 0
    for r in renewals:
        snap = _snapshot_for(r["close_date"], SIGNAL_HORIZON, snaps)
        if snap is None:
            continue
        is_lost = r["outcome"] == "lost"
        total += 1
        lost_total += is_lost
        for sid, severity in fired_at[snap].get(r["account_id"], {}).items():
            rule = rules.signals.get(sid)
            key = sid if rule is None or rule.severity == severity else f"{sid} (mitigated)"
            c = counts.setdefault(key, [0, 0])
            c[0] += 1
            c[1] += is_lost
            severities[key] = severity
    base = _ratio(lost_total, total)
    rows: dict[str, dict[str, Any]] = {
        sid: {
            "severity": severities[sid],
            "fired": fired,
            "lost": lost,
            "precision": _ratio(lost, fired),
            "lift": _ratio(_ratio(lost, fired), base),
        }
        for sid, (fired, lost) in counts.items()
    }
    result.renewal_signals = dict(sorted(rows.items(), key=lambda kv: (-float(kv[1]["lift"]), kv[0])))


def _fired_now(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    """account -> {signal: severity} (the rules' severity; a mitigated firing's lower one) in the current marts."""
    out: dict[str, dict[str, str]] = {}
    for account_id, signal_id, severity in con.execute(
        "select account_id, signal_id, severity from marts.account_signals"
    ).fetchall():
        out.setdefault(account_id, {})[signal_id] = severity
    return out


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
        by_signal: dict[str, set[str]] = {}
        for account_id, signals in _fired_now(con).items():
            for signal_id in signals:
                by_signal.setdefault(signal_id, set()).add(account_id)
        _score_signals(result, truth, by_signal)
        renewals = [
            r
            for r in truth.get("renewals", [])
            if not r.get("is_open") and date.fromisoformat(r["close_date"]) <= now.date()
        ]
        red_at: dict[date, set[str]] = {}
        fired_at: dict[date, dict[str, dict[str, str]]] = {}
        if renewals:
            first = min(date.fromisoformat(r["close_date"]) for r in renewals) - timedelta(
                days=max(HORIZONS) + 31
            )
            snaps = list(_month_starts(first, now.date()))
            with progress.track("as of each month", "backtest", total=len(snaps), unit="dates") as advance:
                for snap in snaps:
                    run_transforms(
                        con, as_of=_at(snap), run_id=f"backtest-{snap}", rules=loaded, record_history=False
                    )
                    red_at[snap] = {
                        r[0]
                        for r in con.execute(
                            "select account_id from marts.account_risk where level = 'Red'"
                        ).fetchall()
                    }
                    fired_at[snap] = _fired_now(con)
                    result.snapshots.append(snap.isoformat())
                    advance(1)
        _score_renewals(result, renewals, red_at)
        _score_signal_renewals(result, renewals, fired_at, loaded)
    finally:
        con.close()
    log.info(
        "backtest of %s: %d signals, %d monthly snapshots",
        state_dir,
        len(result.signals),
        len(result.snapshots),
    )
    return result
