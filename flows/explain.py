"""`crm-risk flags`: read the risk marts and explain an account in plain text (read-only on the warehouse)."""

from __future__ import annotations

import json

from connectors import warehouse
from crm_risk.config import Settings
from crm_risk.errors import ConfigError

__all__ = ["explain_account", "list_flags"]


def list_flags(settings: Settings, level: str | None = None, limit: int = 20) -> str:
    """The highest-scored accounts (optionally of one level) with their reasons."""
    with warehouse.connect(settings.warehouse_path, read_only=True) as con:
        rows = con.execute(
            "select r.account_id, a.account_name, r.level, r.score, r.trend, r.reasons from marts.account_risk r "
            "left join staging.stg_accounts a on a.account_id = r.account_id "
            "where $level is null or r.level = $level order by r.score desc, a.account_name limit $limit",
            {"level": level, "limit": limit},
        ).fetchall()
    out = []
    for account_id, name, lvl, score, trend, reasons in rows:
        out.append(f"{lvl:<5} {score:>5.0f} {trend or '':<7} {name} ({account_id})")
        out += [f"      - {r}" for r in str(reasons or "").split("\n") if r]
    return "\n".join(out) or "no accounts scored yet: run `crm-risk sync` (or `crm-risk demo`) first"


def explain_account(settings: Settings, account_id: str) -> str:
    """Level, score, every signal with its evidence, and the history of the level, for one account."""
    with warehouse.connect(settings.warehouse_path, read_only=True) as con:
        head = con.execute(
            "select r.level, r.score, r.trend, r.computed_at, r.model_version, a.account_name from marts.account_risk r "
            "left join staging.stg_accounts a on a.account_id = r.account_id where r.account_id = $id",
            {"id": account_id},
        ).fetchone()
        if head is None:
            raise ConfigError(f"account {account_id!r} is not in marts.account_risk: check the Id (18 characters)")
        signals = con.execute(
            "select signal_id, severity, points, reason, action, evidence from marts.account_signals "
            "where account_id = $id order by points desc, signal_id",
            {"id": account_id},
        ).fetchall()
        history = con.execute(
            "select computed_at, level, score from marts.account_risk_history where account_id = $id "
            "order by computed_at desc limit 12",
            {"id": account_id},
        ).fetchall()
    level, score, trend, computed_at, version, name = head
    lines = [f"{name} ({account_id})", f"  level {level}, score {score:.0f}, trend {trend}, computed {computed_at} "
             f"by model {version}", "", "Signals:"]
    for signal_id, severity, points, reason, action, evidence in signals:
        lines.append(f"  [{severity}] {signal_id} (+{points}): {reason}")
        lines.append(f"      what to do: {action}")
        ev = json.loads(evidence) if isinstance(evidence, str) else evidence
        lines.append(f"      evidence: {json.dumps(ev, default=str)}")
    if not signals:
        lines.append("  none")
    lines += ["", "History:"] + [f"  {at}  {lvl:<5} {sc:>5.0f}" for at, lvl, sc in history]
    return "\n".join(lines)
