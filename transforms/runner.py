"""Run the SQL transforms listed in transforms/order.txt, in order, as of a date, in one transaction.

Each file holds one statement (files without parameters may hold several, e.g. macro definitions); values are
bound parameters (`$as_of`, `$run_id`, `$model_version`), never formatted into the SQL. Rules come from the rules
file via meta.rules / meta.signal_catalog, written before the SQL runs.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from connectors.warehouse import TABLES, ensure_schemas
from crm_risk.errors import ConfigError
from transforms.inputs import ensure_raw_inputs
from transforms.lineage import signal_reads
from transforms.rules import Rules, load_rules, write_rules

__all__ = [
    "ORDER_FILE",
    "TransformResult",
    "check_rule_references",
    "run_transforms",
    "signal_files",
    "sql_files",
    "write_signal_inputs",
]

log = logging.getLogger(__name__)
ROOT = Path(__file__).parent
ORDER_FILE = ROOT / "order.txt"
HISTORY_APPEND = "account_risk_history.sql"
SIGNALS_DIR = "signals"  # marts/signals/<id>.sql creates marts.sig_<id>
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")
_VIEW = re.compile(r"create\s+or\s+replace\s+view\s+([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\b", re.IGNORECASE)
_RULE_REF = re.compile(r"meta\.rule_(?:num|days|text|list|for)\(\s*'(\w+)'\s*,\s*'(\w+)'\s*[,)]")


@dataclass
class TransformResult:
    """What a transform run produced."""

    run_id: str
    as_of: datetime
    model_version: str
    files: int = 0
    signals: dict[str, int] = field(default_factory=dict)
    levels: dict[str, int] = field(default_factory=dict)
    not_scored: list[str] = field(default_factory=list)
    pending_pushes: int = 0
    added_inputs: list[str] = field(default_factory=list)


def sql_files(order_file: Path = ORDER_FILE) -> list[Path]:
    """The SQL files in run order (blank lines and `#` comments in order.txt are skipped; a glob such as
    `marts/signals/*.sql` stands for its files in name order)."""
    files: list[Path] = []
    for line in order_file.read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        if any(c in name for c in "*?["):
            files += sorted(order_file.parent.glob(name))
            continue
        path = order_file.parent / name
        if not path.exists():
            raise FileNotFoundError(f"{order_file} lists {name}, which does not exist")
        files.append(path)
    return files


def signal_files(rules: Rules, files: list[Path]) -> dict[str, Path]:
    """Each signal of the rules file -> its SQL file (`signals/<id>.sql`); ConfigError when one lacks the other.

    Adding a signal is its SQL file plus its [signals.<id>] table: the union over signals is bound from this.
    """
    found = {p.stem: p for p in files if p.parent.name == SIGNALS_DIR}
    if missing := sorted(set(rules.signals) - set(found)):
        raise ConfigError(
            f"{rules.path} defines signal(s) {', '.join(missing)} without SQL: add "
            f"{', '.join(f'transforms/marts/{SIGNALS_DIR}/{m}.sql' for m in missing)} or remove the table(s)"
        )
    if extra := sorted(set(found) - set(rules.signals)):
        raise ConfigError(
            f"{', '.join(_rel(found[e]) for e in extra)} ha{'s' if len(extra) == 1 else 've'} no "
            f"[signals.<id>] table in {rules.path}: add one (severity, points, action) or remove the file"
        )
    return {sid: found[sid] for sid in rules.signals}


def check_rule_references(rules: Rules, files: list[Path] | None = None) -> None:
    """Fail with ConfigError when a SQL file reads a rule the rules file does not define (it would read NULL)."""
    defined = (
        {("model", "version")} | {("risk", k) for k in rules.risk} | {("inputs", k) for k in rules.inputs}
    )
    defined |= {(sid, k) for sid, sig in rules.signals.items() for k in sig.params}
    files = files or sql_files()
    read: set[tuple[str, str]] = set()
    for path in files:
        for sid, key in _RULE_REF.findall(path.read_text()):
            if (sid, key) not in defined:
                raise ConfigError(
                    f"{_rel(path)} reads rule [{sid}] {key}, which {rules.path} does not define"
                )
            read.add((sid, key))
    by_name = {p.name: p for p in files}
    for sid, sig in rules.signals.items():
        if f"{sid}.sql" not in by_name:
            continue
        for key in sig.params:
            if key not in _DESCRIPTIVE and "." not in key and (sid, key) not in read:
                raise ConfigError(
                    f"{rules.path} [signals.{sid}] {key} is read by no SQL file (a typo?); "
                    f"{_rel(by_name[f'{sid}.sql'])} reads: {', '.join(sorted(k for s, k in read if s == sid))}"
                )
    for sid, sig in rules.signals.items():
        sql = by_name.get(f"{sid}.sql")
        if sig.mitigated_severity and sql and not _MITIGATED.search(_strip_comments(sql.read_text())):
            raise ConfigError(
                f"{rules.path} [signals.{sid}] sets mitigated_severity, but {_rel(sql)} has no `mitigated` "
                "column: remove the setting or add the column to the signal's SQL"
            )


# signal keys that describe rather than tune (the owner Task's subject reads `title` from meta.rules)
_DESCRIPTIVE = frozenset({"title"})
_MITIGATED = re.compile(r"\bas\s+mitigated\b", re.IGNORECASE)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


def _drop_tables_becoming_views(con: duckdb.DuckDBPyConnection, sqls: list[str]) -> None:
    """Models that were tables in an older version and are views now (`create or replace view` cannot replace a
    table): those tables are dropped first, in the transform's transaction (one catalogue read per run)."""
    views = {m.group(1).lower() for sql in sqls if (m := _VIEW.search(_strip_comments(sql)))}
    tables = con.execute(
        "select schema_name || '.' || table_name from duckdb_tables() where database_name = current_database()"
    ).fetchall()
    for (name,) in tables:
        if name in views:  # names from our own SQL files, matched against the catalogue
            con.execute(f"drop table {name}")


def write_signal_inputs(
    con: duckdb.DuckDBPyConnection, reads: dict[str, set[str]], loaded_objects: Collection[str] | None
) -> None:
    """Replace meta.signal_inputs (signal_id, object, loaded): the CRM objects each signal reads, and whether each
    has been loaded at least once (every object counts as loaded when `loaded_objects` is None)."""
    objects = {table: name for name, table in TABLES.items()}
    rows = [
        (
            sid,
            objects.get(table, table),
            loaded_objects is None or objects.get(table, table) in loaded_objects,
        )
        for sid, tables in sorted(reads.items())
        for table in sorted(tables)
    ]
    con.execute(
        "create or replace table meta.signal_inputs (signal_id varchar, object varchar, loaded boolean)"
    )
    if rows:
        con.execute(
            "insert into meta.signal_inputs values " + ", ".join(["(?, ?, ?)"] * len(rows)),
            [v for r in rows for v in r],
        )


def run_transforms(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime | None = None,
    run_id: str | None = None,
    rules: Rules | str | Path | None = None,
    record_history: bool = True,
    order_file: Path = ORDER_FILE,
    skip: Collection[Path] = (),
    loaded_objects: Collection[str] | None = None,
) -> TransformResult:
    """Build staging, intermediate, marts and sync models as of `as_of` (default now, UTC); all or nothing.

    `rules`: a Rules object or a rules file (default transforms/rules.toml); `record_history=False` for backtests
    and what-ifs (marts.account_risk_history is not appended); `order_file`: the list of SQL files to run
    (default transforms/order.txt; paths relative to it); `skip`: files not to run, whose tables the caller
    provides (an account refresh keeps the org-wide models of the last full run: transforms/scoped.py);
    `loaded_objects`: the objects loaded at least once (`connectors.warehouse.loaded_objects`): a signal reading an
    object outside it is not scored (meta.signal_inputs, marts.signal_coverage) and accounts whose level would rest
    on it are held from the push; None (tests that build raw tables by hand) counts every object as loaded.
    """
    as_of = (as_of or datetime.now(UTC)).astimezone(UTC)
    loaded = rules if isinstance(rules, Rules) else load_rules(rules)
    run_id = run_id or f"transform-{as_of:%Y%m%dT%H%M%SZ}"
    params: dict[str, Any] = {"as_of": as_of, "run_id": run_id, "model_version": loaded.model_version}
    result = TransformResult(run_id=run_id, as_of=as_of, model_version=loaded.model_version)
    files = sql_files(order_file)
    if not record_history:  # what-if and backtest runs leave the nightly history (and so the trend) alone
        files = [f for f in files if f.name != HISTORY_APPEND]
    check_rule_references(loaded, files)
    if any(p.parent.name == SIGNALS_DIR for p in files):
        params["signal_tables"] = [f"marts.sig_{sid}" for sid in signal_files(loaded, files)]
    reads = signal_reads(files)
    files = [f for f in files if f not in set(skip)]
    ensure_schemas(con)
    con.execute("begin")
    try:
        result.added_inputs = ensure_raw_inputs(con)
        write_rules(con, loaded)
        write_signal_inputs(con, reads, loaded_objects)
        sqls = [path.read_text() for path in files]
        _drop_tables_becoming_views(con, sqls)
        for path, sql in zip(files, sqls, strict=True):
            used = set(_PARAM.findall(_strip_comments(sql)))
            unknown = used - params.keys()
            if unknown:
                raise ValueError(f"{path.name} uses unknown parameters: {', '.join(sorted(unknown))}")
            try:
                con.execute(sql, {k: params[k] for k in used} if used else None)
            except duckdb.Error as exc:
                raise type(exc)(f"{_rel(path)}: {exc}") from exc
            result.files += 1
        con.execute("commit")
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # a failed commit ended the transaction: keep its error
            con.execute("rollback")
        raise
    result.signals = dict(
        con.execute("select signal_id, count(*) from marts.account_signals group by 1 order by 1").fetchall()
    )
    result.levels = dict(con.execute("select level, count(*) from marts.account_risk group by 1").fetchall())
    result.not_scored = [
        r[0]
        for r in con.execute(
            "select signal_id from marts.signal_coverage where status = 'not_scored' order by 1"
        ).fetchall()
    ]
    result.pending_pushes = con.execute("select count(*) from sync.account_push_pending").fetchall()[0][0]
    log.info(
        "transforms as of %s: %d files, signals %s, levels %s, not scored %s, %d pushes pending",
        as_of.isoformat(),
        result.files,
        result.signals,
        result.levels,
        result.not_scored,
        result.pending_pushes,
    )
    return result
