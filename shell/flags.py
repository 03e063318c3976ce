"""`crm-risk flags`: read the risk marts and explain an account in plain text (read-only on the warehouse)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import duckdb

from connectors import warehouse
from connectors.salesforce.ids import normalize_id
from crm_risk.config import Settings
from crm_risk.errors import ConfigError
from pipeline.score import Coverage, coverage

__all__ = ["explain_account", "level_rule", "level_spans", "list_flags"]


def level_rule(amber_min_score: float) -> str:
    """The level rule in one line, as the Salesforce field help says it."""
    return (
        "Red: at least one high-severity signal. Amber: score >= "
        f"{amber_min_score:g} without one. Green: below. Blank: not a customer (no deal won in the contract period)."
    )


def list_flags(settings: Settings, level: str | None = None, limit: int = 20) -> str:
    """A header with counts per level and the level rule, then the highest-scored accounts with their reasons."""
    with warehouse.open_for(settings, read_only=True) as con:
        if not _has_table(con, "marts", "account_risk"):
            return "no accounts scored yet: run `crm-risk sync` (or `crm-risk demo`) first"
        counts = dict(con.execute("select level, count(*) from marts.account_risk group by 1").fetchall())
        accounts = con.execute("select count(*) from staging.stg_accounts").fetchone()
        amber = con.execute(
            "select num_value from meta.rules where signal_id = 'risk' and param = 'amber_min_score'"
        ).fetchone()
        rows = con.execute(
            "select r.account_id, a.account_name, r.level, r.score, r.trend, r.reasons from marts.account_risk r "
            "left join staging.stg_accounts a on a.account_id = r.account_id "
            "where $level is null or r.level = $level order by r.score desc, a.account_name limit $limit",
            {"level": level, "limit": limit},
        ).fetchall()
        cover = _coverage(con)
    scored = sum(counts.values())
    total = int(accounts[0]) if accounts else scored
    matching = counts.get(level, 0) if level else scored
    out = [
        f"{counts.get('Red', 0)} Red, {counts.get('Amber', 0)} Amber, {counts.get('Green', 0)} Green of {scored} "
        f"customer accounts scored ({total - scored} other accounts not scored: prospects and former customers)",
        level_rule(float(amber[0]) if amber and amber[0] is not None else 25.0),
        *(
            ["not scored: " + "; ".join(f"{sid} ({why})" for sid, why in cover.not_scored.items())]
            if cover.not_scored
            else []
        ),
        *([held] if (held := cover.held_line()) else []),
        f"showing {len(rows)} of {matching}{f' {level}' if level else ''}, highest score first:",
        "",
        f"{'level':<5} {'score':>5} {'trend':<7} account",
    ]
    for account_id, name, lvl, score, trend, reasons in rows:
        out.append(f"{lvl:<5} {score:>5.0f} {trend or '':<7} {name} ({account_id})")
        out += [f"      - {r}" for r in str(reasons or "").split("\n") if r]
    return "\n".join(out)


def level_spans(
    history: list[tuple[datetime, str, float]],
) -> list[tuple[datetime, datetime, str, float, float, int]]:
    """Consecutive runs at the same level, oldest first: (from, to, level, min score, max score, runs)."""
    spans: list[tuple[datetime, datetime, str, float, float, int]] = []
    for at, level, score in sorted(history, key=lambda r: r[0]):
        if spans and spans[-1][2] == level:
            first, _, _, low, high, runs = spans[-1]
            spans[-1] = (first, at, level, min(low, score), max(high, score), runs + 1)
        else:
            spans.append((at, at, level, score, score, 1))
    return spans


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from duckdb_tables() where schema_name = $s and table_name = $t",
        {"s": schema, "t": table},
    ).fetchone()
    return bool(row and row[0])


def _coverage(con: duckdb.DuckDBPyConnection) -> Coverage:
    """The last run's coverage; empty for a warehouse scored before signal coverage knew of unloaded objects."""
    cols = {
        (t, c)
        for t, c in con.execute(
            "select table_name, column_name from duckdb_columns() where schema_name = 'marts' "
            "and column_name in ('missing_objects', 'push_held_for')"
        ).fetchall()
    }
    if {("signal_coverage", "missing_objects"), ("account_risk", "push_held_for")} <= cols:
        return coverage(con)
    return Coverage()


def _day(at: Any) -> str:
    return at.strftime("%Y-%m-%d") if isinstance(at, datetime) else str(at)


def explain_account(settings: Settings, account_id: str) -> str:
    """Level, score, reasons, every signal with its evidence, what was not scored, owner Tasks, and level history.

    `account_id` may be the 15-character id of a record's URL or the API's 18-character one.
    """
    account_id = normalize_id(account_id, "--account")
    with warehouse.open_for(settings, read_only=True) as con:
        head = con.execute(
            "select r.level, r.score, r.trend, r.computed_at, r.model_version, a.account_name, r.reasons "
            "from marts.account_risk r left join staging.stg_accounts a on a.account_id = r.account_id "
            "where r.account_id = $id",
            {"id": account_id},
        ).fetchone()
        if head is None:
            known = con.execute(
                "select account_name from staging.stg_accounts where account_id = $id", {"id": account_id}
            ).fetchone()
            if known:
                raise ConfigError(
                    f"account {account_id!r} ({known[0]}) is not scored: only customer accounts "
                    "(a deal won within the contract period) get a risk level"
                )
            held = (
                con.execute(
                    "select failed from meta.quarantine_open where object = 'Account' and record_id = $id "
                    "order by quarantined_at desc limit 1",
                    {"id": account_id},
                ).fetchone()
                if _has_table(con, "meta", "quarantine")
                else None
            )
            if held:
                failed = json.loads(held[0]) if isinstance(held[0], str) else held[0]
                raise ConfigError(
                    f"account {account_id!r} is not scored: its record is quarantined by the quality gate "
                    f"({', '.join(sorted(failed))}); fix it in the CRM and the next sync loads and scores it"
                )
            raise ConfigError(
                f"account {account_id!r} is not in the warehouse: check the Id, or run a sync if it is new"
            )
        signals = con.execute(
            "select signal_id, severity, points, reason, action, evidence from marts.account_signals "
            "where account_id = $id order by points desc, signal_id",
            {"id": account_id},
        ).fetchall()
        not_scored = (
            con.execute(
                "select signal_id, reason from marts.signal_coverage where status = 'not_scored' order by 1"
            ).fetchall()
            if _has_table(con, "marts", "signal_coverage")
            else []
        )
        tasks = (
            con.execute(
                "select task_key, state, task_id, coalesce(closed_at, opened_at, intent_at) from sync.owner_tasks "
                "where account_id = $id order by task_key",
                {"id": account_id},
            ).fetchall()
            if _has_table(con, "sync", "owner_tasks")
            else []
        )
        held_for = (
            con.execute(
                "select push_held_for from marts.account_risk where account_id = $id", {"id": account_id}
            ).fetchall()[0][0]
            if _coverage(con).not_scored
            else None
        )
        history = con.execute(
            "select computed_at, level, score from marts.account_risk_history where account_id = $id",
            {"id": account_id},
        ).fetchall()
    level, score, trend, computed_at, version, name, reasons = head
    lines = [
        f"{name} ({account_id})",
        f"  level {level}, score {score:.0f}, trend {trend}, computed {computed_at} by model {version}",
        f"  reasons (Risk_Reasons__c): {reasons}",
        "",
        "Signals:",
    ]
    for signal_id, severity, points, reason, action, evidence in signals:
        lines.append(f"  [{severity}] {signal_id} (+{points:g}): {reason}")
        lines.append(f"      what to do: {action}")
        ev = json.loads(evidence) if isinstance(evidence, str) else evidence
        lines.append(f"      evidence: {json.dumps(ev, default=str)}")
    if not signals:
        lines.append("  none")
    if held_for:
        lines += [
            "",
            f"Not pushed to the CRM yet: its level rests on signals not scored ({', '.join(held_for)}); "
            "they are scored once every object they read has been loaded",
        ]
    if not_scored:
        lines += ["", "Not scored in this org (input missing, not the same as fine):"]
        lines += [f"  {sid}: {why or 'input missing'}" for sid, why in not_scored]
    if tasks:
        lines += ["", "Owner tasks:"]
        lines += [f"  {key}  {state:<8} {task_id or '-':<18} {_day(at)}" for key, state, task_id, at in tasks]
    lines += ["", "Level history (oldest first):"]
    for first, last, lvl, low, high, runs in level_spans(history):
        scores = f"{low:.0f}" if round(low) == round(high) else f"{low:.0f}-{high:.0f}"
        lines.append(
            f"  {_day(first)} .. {_day(last)}  {lvl:<5} score {scores:<7} ({runs} run{'s' * (runs != 1)})"
        )
    if not history:
        lines.append("  no run recorded yet")
    return "\n".join(lines)
