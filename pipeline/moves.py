"""Flag moves: an account's level changing in the CRM, read before a push and kept for the updates it accepted.

A move is `previous_level -> level` (sync.account_flag_moves). Its kind, for the events users subscribe to:

- `raised`: up the scale, none/Green -> Amber or Red, or Amber -> Red;
- `cleared`: Amber or Red -> Green;
- `changed`: any other move (Red -> Amber). Every move, raised and cleared included, is also a change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import duckdb

from transforms.statements import statement

__all__ = ["LEVELS", "accepted_moves", "move_kind", "read_moves"]

LEVELS = ("Green", "Amber", "Red")  # the scale, lowest first; no level counts as Green
_RANK = {name: rank for rank, name in enumerate(LEVELS)}
log = logging.getLogger(__name__)


def move_kind(previous: str | None, level: str | None) -> str | None:
    """`raised`, `cleared` or `changed` for a move from `previous` to `level`; None when the level did not move."""
    before, after = previous or "Green", level or "Green"
    if before == after:
        return None
    if after == "Green" and before in ("Amber", "Red"):
        return "cleared"
    if _RANK.get(after, 0) > _RANK.get(before, 0):
        return "raised"
    return "changed"


def read_moves(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """The pending updates that would move an account's level, by account id (read before the push moves the state).

    A warehouse whose last full run predates the view gets it now (an account refresh builds no sync view); should
    it still fail, the push goes on without flag events: they must never stop a flag from reaching the CRM."""
    try:
        try:
            cursor = con.execute("select * from sync.account_flag_moves")
        except duckdb.CatalogException:
            con.execute(statement("sync/account_flag_moves"))
            cursor = con.execute("select * from sync.account_flag_moves")
        names = [d[0] for d in cursor.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}
    except duckdb.Error as exc:
        log.warning("no flag events this run: sync.account_flag_moves cannot be read (%s)", exc)
        return {}


def accepted_moves(moves: dict[str, dict[str, Any]], results: Iterable[Any]) -> list[dict[str, Any]]:
    """The moves whose Account update the CRM accepted (`results` are PushResults), in the order of the results."""
    return [moves[r.record_id] for r in results if r.ok and r.record_id in moves]
