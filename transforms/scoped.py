"""Score some accounts only: the transforms of order.txt over those accounts' rows, merged back by account.

    result = score_accounts(con, ["001...", ...], as_of, run_id)   # con: the warehouse, open read-write

An account refresh must cost what its accounts cost, not what the org costs. The SQL is the nightly's, unchanged:
it runs in a scratch in-memory database attached to the warehouse connection, whose `raw.*` tables hold only the
accounts' rows (copied with a semi-join on the account), so every model is built over a few hundred rows instead of
the org. What a model needs of the rest of the org is not recomputed: the files marked `-- scope: org` (org-wide
medians, "does the org hold this input at all") and the signal coverage keep the last full run's tables, copied in
(only the accounts' rows where the table has an `account_id`). The outputs are then merged into the warehouse in
one transaction: for every staging and marts table with an `account_id`, the accounts' rows are replaced. The
trend's reference is read from the push log as a full run reads it (the same accounts' pushes), so a refresh and
the nightly mean the same by Rising and Falling; the nightly's risk history is never appended by a refresh. Equivalence with a full run, account by
account, is tested (tests/e2e/test_refresh.py).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from connectors.warehouse import ensure_schemas
from crm_risk.errors import ConfigError
from transforms.rules import Rules
from transforms.runner import HISTORY_APPEND, ORDER_FILE, run_transforms, sql_files

__all__ = ["SCRATCH", "ScopedResult", "org_models", "score_accounts"]

log = logging.getLogger(__name__)

SCRATCH = "crm_risk_scope"
COVERAGE = "signal_coverage.sql"
_ORG_SCOPE = re.compile(r"^--\s*scope:\s*org\b", re.IGNORECASE | re.MULTILINE)
_CREATES = re.compile(r"create\s+or\s+replace\s+table\s+([a-z_]+\.[a-z_]+)", re.IGNORECASE)
# the warehouse tables the transforms read besides raw.* (the ledger and push state for the sync views, the push
# log for the trend's reference) -> the column naming the account: copied for the accounts only
_STATE = {
    "sync.account_push_state": "account_id",
    "sync.owner_tasks": "account_id",
    "marts.account_risk_history": "account_id",
    "sync.push_log": "record_id",
}
# raw tables whose rows reach their account through another table (child -> parent column -> parent's account)
_THROUGH = {
    "opportunity_history": ('"OpportunityId"', "opportunity"),
    "opportunity_contact_role": ('"OpportunityId"', "opportunity"),
}


@dataclass
class ScopedResult:
    """What scoring some accounts produced and merged."""

    accounts: int
    levels: dict[str, int] = field(default_factory=dict)
    merged: dict[str, int] = field(default_factory=dict)  # table -> the accounts' rows written
    copied_rows: int = 0  # raw rows the scoring read: the cost follows this, not the org
    seconds: float = 0.0


def org_models(files: Iterable[Path]) -> dict[Path, str]:
    """The SQL files an account refresh does not run -> the table each builds: the `-- scope: org` files and the
    signal coverage (org-wide facts, kept from the last full run)."""
    kept: dict[Path, str] = {}
    for path in files:
        text = path.read_text()
        if path.name == COVERAGE or _ORG_SCOPE.search(text):
            made = _CREATES.search(text)
            if made is None:
                raise ConfigError(f"{path} is marked `-- scope: org` but creates no table")
            kept[path] = made.group(1).lower()
    return kept


def score_accounts(
    con: duckdb.DuckDBPyConnection,
    account_ids: Iterable[str],
    as_of: datetime,
    run_id: str,
    rules: Rules | str | Path | None = None,
    order_file: Path = ORDER_FILE,
    loaded_objects: Iterable[str] | None = None,
) -> ScopedResult:
    """Rebuild the models for `account_ids` only and replace their rows in the warehouse `con` (see module doc).

    Raises ConfigError when the warehouse has no full run to keep org-wide models from (run a sync first).
    `loaded_objects`: as for `run_transforms` (the objects loaded at least once).
    """
    started = time.monotonic()
    ids = sorted(set(account_ids))
    out = ScopedResult(accounts=len(ids))
    files = [f for f in sql_files(order_file) if f.name != HISTORY_APPEND]
    kept = org_models(files)
    home = str(con.execute("select current_database()").fetchall()[0][0])
    _require(con, home, ["marts.account_risk", *kept.values()])
    con.execute(f"attach ':memory:' as {SCRATCH}")
    try:
        con.execute(f"use {SCRATCH}")
        try:
            ensure_schemas(con)
            con.execute("create table main.scope (account_id varchar primary key)")
            con.execute("insert into main.scope select unnest($ids::varchar[])", {"ids": ids})
            out.copied_rows = _copy_inputs(con, home, kept.values())
            run_transforms(
                con,
                as_of=as_of,
                run_id=run_id,
                rules=rules,
                record_history=False,
                order_file=order_file,
                skip=kept.keys(),
                loaded_objects=None if loaded_objects is None else set(loaded_objects),
            )
            rows = con.execute("select level, count(*) from marts.account_risk group by 1").fetchall()
            out.levels = {str(level): int(n) for level, n in rows}
        finally:
            con.execute(f'use "{home}"')
        out.merged = _merge_outputs(con, home, set(kept.values()))
    finally:
        con.execute(f"detach {SCRATCH}")
    out.seconds = round(time.monotonic() - started, 3)
    log.info(
        "scored %d accounts over %d raw rows in %.2fs: levels %s",
        out.accounts,
        out.copied_rows,
        out.seconds,
        out.levels,
    )
    return out


def _tables(con: duckdb.DuckDBPyConnection, database: str) -> dict[str, set[str]]:
    """schema.table -> its columns (lower case), for the base tables (not views) of one attached database."""
    rows = con.execute(
        "select c.schema_name || '.' || c.table_name, list(lower(c.column_name)) from duckdb_columns() as c "
        "semi join duckdb_tables() as t on c.database_name = t.database_name and c.schema_name = t.schema_name "
        "and c.table_name = t.table_name where c.database_name = ? group by all",
        [database],
    ).fetchall()
    return {str(name).lower(): set(cols) for name, cols in rows}


def _require(con: duckdb.DuckDBPyConnection, home: str, names: Iterable[str]) -> None:
    have = _tables(con, home)
    missing = sorted(n for n in names if n not in have)
    if missing:
        raise ConfigError(
            f"the warehouse has no {', '.join(missing)} yet: an account refresh keeps the org-wide models of the "
            "last full run, so run a full sync first (`crm-risk sync`, or the nightly deployment)"
        )


def _q(name: str) -> str:
    schema, table = name.split(".", 1)
    return f'{schema}."{table}"'


def _copy_inputs(con: duckdb.DuckDBPyConnection, home: str, kept: Iterable[str]) -> int:
    """Copy the accounts' raw rows, state rows and kept org-wide tables from `home` into the scratch database."""
    source = _tables(con, home)
    in_scope = "(select account_id from main.scope)"
    copied = 0
    for name, cols in sorted(source.items()):
        schema, table = name.split(".", 1)
        if schema != "raw":
            continue
        if table == "user":  # the org's people: every account's owner may be any of them
            where = ""
        elif table == "account":
            where = f'where "Id" in {in_scope}'
        elif table in _THROUGH:
            column, parent = _THROUGH[table]
            where = f'where {column} in (select "Id" from "{home}".raw."{parent}" where "AccountId" in {in_scope})'
        elif "accountid" in cols:
            where = f'where "AccountId" in {in_scope}'
        else:
            log.warning("raw.%s names no account: an account refresh copies all of it", table)
            where = ""
        con.execute(f'create table raw."{table}" as select * from "{home}".raw."{table}" {where}')
        copied += int(con.execute(f'select count(*) from raw."{table}"').fetchall()[0][0])
    for name in [*_STATE, *kept]:
        if name not in source:
            continue
        column = _STATE.get(name, "account_id")
        where = f"where {column} in {in_scope}" if column in source[name] else ""
        con.execute(f'create or replace table {_q(name)} as select * from "{home}".{_q(name)} {where}')
    return copied


def _merge_outputs(con: duckdb.DuckDBPyConnection, home: str, kept: set[str]) -> dict[str, int]:
    """Replace the accounts' rows of every staging/marts table with an `account_id` in `home`, in one transaction."""
    built, target = _tables(con, SCRATCH), _tables(con, home)
    skip = kept | {"marts.account_risk_history"}
    merged: dict[str, int] = {}
    in_scope = f"(select account_id from {SCRATCH}.main.scope)"
    con.execute("begin")
    try:
        for name, cols in sorted(built.items()):
            if name.split(".")[0] not in ("staging", "marts") or name in skip or "account_id" not in cols:
                continue
            if name not in target:
                raise ConfigError(
                    f"the warehouse has no {name}: it predates this version's models; run a full sync first"
                )
            for column in sorted(
                cols - target[name]
            ):  # added by this version: the next full run fills it for all
                _add_column(con, home, name, column)
            con.execute(f'delete from "{home}".{_q(name)} where account_id in {in_scope}')
            con.execute(f'insert into "{home}".{_q(name)} by name select * from {SCRATCH}.{_q(name)}')
            merged[name] = int(con.execute(f"select count(*) from {SCRATCH}.{_q(name)}").fetchall()[0][0])
        con.execute("commit")
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # a failed commit ended the transaction: keep its error
            con.execute("rollback")
        raise
    return merged


def _add_column(con: duckdb.DuckDBPyConnection, home: str, name: str, column: str) -> None:
    """Add the scratch table's `column` (its type) to the warehouse table `name`: a model gained a column since the
    warehouse's last full run, and a refresh must not wait for the next one."""
    schema, table = name.split(".", 1)
    [(data_type,)] = con.execute(
        "select data_type from duckdb_columns() where database_name = ? and schema_name = ? and table_name = ? "
        "and lower(column_name) = ?",
        [SCRATCH, schema, table, column],
    ).fetchall()
    log.info("adding %s.%s (%s) to the warehouse: new in this version", name, column, data_type)
    con.execute(f'alter table "{home}".{_q(name)} add column "{column}" {data_type}')
