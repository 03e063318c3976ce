"""The data-quality gate over one extract: validate it chunk by chunk, say what to quarantine, stop on critical.

    save_rules(manifest_dir, describe)                 # at extract: the describe facts beside the Parquet chunks
    check = validate_extract(manifest_dir, run_id, settings, prior)   # nothing is written
    build_docs(settings, check.results, run_id)        # Data Docs beside the warehouse
    check_payload(pending_frame, settings, run_id)     # before any push: critical -> DataQualityError

`prior` (what the warehouse already holds for the object) is read by the pipeline's load step, so the gate
itself never opens the warehouse. Great Expectations is imported only by the first validation (about 6 s),
never by importing this module. Memory stays bounded by one chunk (`dq_chunk_rows` rows, read across the
extract's Parquet files, so a Bulk extract of three 50k-row files is validated as one frame: GX's cost is mostly
fixed per run). When an extract spans several chunks, the batch-level checks across them (duplicate Ids) run as
one DuckDB query over the Parquet files instead.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crm_risk import landing as storage
from expectations.model import CriticalFailure, GateSettings
from expectations.suites import OBJECT_RULES, ObjectRules, rules_from_describe

__all__ = [
    "RULES_FILE",
    "ManifestCheck",
    "Prior",
    "build_docs",
    "check_payload",
    "docs_dir",
    "docs_index",
    "manifest_object",
    "save_rules",
    "validate_extract",
    "warm_up",
]

log = logging.getLogger(__name__)

RULES_FILE = "_rules.json"


FULL_SNAPSHOT_BEFORE = datetime(1971, 1, 1, tzinfo=UTC)  # a window starting at the epoch is a full extract


@dataclass
class ManifestCheck:
    """The gate's verdict on one extract: rows to quarantine, critical failures, GX results for Data Docs."""

    object: str
    rows: int = 0
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    critical: list[CriticalFailure] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no critical expectation failed: the batch may load."""
        return not self.critical


def warm_up() -> None:
    """Import Great Expectations and build its context (about 5 s) before the first validation needs it: a
    long-lived run (an account refresh) calls it in a thread while it waits for its first change."""
    from expectations.engine import warm_up as build

    build()


def save_rules(manifest_dir: Path | str | None, describe: dict[str, Any]) -> None:
    """Write the describe-derived rules (picklists, lengths, field types) beside the manifest."""
    if manifest_dir is None:
        return
    rules = rules_from_describe(describe)
    rules["picklists"] = {k: sorted(v) for k, v in rules["picklists"].items()}
    target = storage.join(manifest_dir, RULES_FILE)
    if storage.is_local(target):
        Path(target).write_text(json.dumps(rules, sort_keys=True))
    else:  # one PUT, before the manifest is read by anyone
        fs, path = storage.filesystem(target)
        fs.pipe_file(path, json.dumps(rules, sort_keys=True).encode())


def _rules(manifest_dir: Path | str, manifest: dict[str, Any]) -> dict[str, Any]:
    path = storage.join(manifest_dir, RULES_FILE)
    if storage.exists(path):
        return json.loads(storage.read_text(path))
    # An extract from before the gate: the manifest still knows the describe types.
    return {"picklists": {}, "lengths": {}, "field_types": dict(manifest.get("fields") or {})}


def _cross_chunk_duplicates(
    con: duckdb.DuckDBPyConnection, obj: str, files: list[str]
) -> list[CriticalFailure]:
    """Duplicate Ids across Parquet files (each chunk's own duplicates are GX's `duplicate_ids:Id`).

    Counted as GX counts them, so the message does not depend on how the extract was chunked: every row whose
    (non-empty) Id occurs more than once.
    """
    storage.register_duckdb(con, files)
    dup, total, sample = con.execute(
        'with ids as (select "Id", count(*) as n from read_parquet($f) group by 1) '
        'select coalesce(sum(n) filter (where n > 1 and "Id" is not null), 0), coalesce(sum(n), 0), '
        'list("Id" order by "Id") filter (where n > 1 and "Id" is not null) from ids',
        {"f": files},
    ).fetchall()[0]
    if not dup:
        return []
    message = (
        f"expectation duplicate_ids:Id (expect_column_values_to_be_unique) failed on {obj}: {dup} of {total} "
        f"rows carry an Id that occurs more than once (e.g. {', '.join(repr(i) for i in (sample or [])[:3])})"
    )
    return [CriticalFailure("duplicate_ids:Id", obj, message, {"rows": total, "duplicate_rows": dup})]


@dataclass
class Prior:
    """What the warehouse already holds for an object, read in a short connection before validating."""

    loaded_columns: list[str] = field(default_factory=list)
    known: pd.DataFrame | None = None  # Id, duplicate keys, CreatedDate of loaded records (duplicate check)
    previous: int | None = None  # live rows before this extract (compared with a full snapshot)


def manifest_object(manifest_dir: Path | str) -> str:
    """The object an extract holds, from its manifest."""
    return str(json.loads(storage.read_text(storage.join(manifest_dir, "_manifest.json")))["object"])


def validate_extract(manifest_dir: Path | str, run_id: str, settings: Any, prior: Prior) -> ManifestCheck:
    """Validate one extract's Parquet chunks, one chunk in memory at a time (no warehouse connection held)."""
    from expectations.validate import validate_batch  # pandas only; GX itself loads on the first validation

    started = time.perf_counter()
    manifest_dir = storage.normalize(manifest_dir)  # a local folder (Path) or a URL (object storage)
    manifest = json.loads(storage.read_text(storage.join(manifest_dir, "_manifest.json")))
    obj = manifest["object"]
    check = ManifestCheck(obj)
    files = [
        str(storage.join(manifest_dir, f)) if not Path(f).is_absolute() else f
        for f in manifest.get("files") or []
    ]
    if not files:
        return check
    gs = GateSettings.from_settings(settings)
    rules = _rules(manifest_dir, manifest)
    spec = OBJECT_RULES.get(obj, ObjectRules())
    known = prior.known
    # A field the extract asked for, or one an earlier load brought in, must not vanish (schema change).
    wanted = {f.lower(): f for f in manifest.get("fields") or {}}
    expected = list(wanted.values()) + [
        c
        for c in prior.loaded_columns
        if not c.startswith("_")
        and c.lower() not in wanted
        and c.lower() in {m.lower() for m in manifest.get("missing_fields") or []}
    ]
    window_start = _parse(manifest.get("window_start"))
    full = window_start is not None and window_start < FULL_SNAPSHOT_BEFORE
    previous = prior.previous if full else None
    now = _parse(manifest.get("window_end")) or datetime.now(UTC)
    total = sum(_num_rows(f) for f in files)
    if total >= gs.sql_min_rows:  # GX's per-row cost would dominate: the same rules in one SQL pass
        from expectations.sql_gate import validate_in_sql

        schema = _schema(files)
        return validate_in_sql(check, files, schema, total, rules, expected, (previous, full), now, gs, known)
    # GX's row-count check sees one chunk; a batch of several chunks is compared below, on its total.
    single = total <= gs.chunk_rows
    chunks = 0
    for df in _frames(files, max(1, gs.chunk_rows)):
        chunks += 1
        res = validate_batch(
            obj,
            df,
            picklists=rules.get("picklists"),
            lengths=rules.get("lengths"),
            field_types=rules.get("field_types"),
            expected_fields=expected,
            previous_count=previous if single else None,
            full_snapshot=full,
            settings=gs,
            now=now,
            run_name=run_id,
            known_records=known,
        )
        check.rows += len(df)
        check.critical += res.critical
        check.results += res.docs_results
        # rows without an Id are the loader's to quarantine (it cannot merge them)
        check.quarantine += [r for r in res.quarantine_rows(df) if r["record_id"]]
        if spec.duplicate_keys:  # later chunks compare against earlier ones (key columns only)
            keys = df[[c for c in ("Id", *spec.duplicate_keys, "CreatedDate") if c in df.columns]]
            known = keys.copy() if known is None else pd.concat([known, keys], ignore_index=True)
    if chunks > 1:
        with duckdb.connect() as scratch:  # reads the Parquet files only
            check.critical += _cross_chunk_duplicates(scratch, obj, files)
    if full and previous and not single and check.rows < previous * (1 - gs.max_row_drop):
        check.critical.append(
            CriticalFailure(
                "row_count_drop",
                obj,
                f"expectation row_count_drop failed on {obj}: {check.rows} rows against {previous} loaded before, "
                f"more than a {gs.max_row_drop:.0%} drop",
                {"rows": check.rows, "previous_count": previous},
            )
        )
    check.seconds = time.perf_counter() - started
    log.info(
        "validated %s: %d rows in %d chunks, %d quarantined, %d critical in %.2fs",
        obj,
        check.rows,
        chunks,
        len(check.quarantine),
        len(check.critical),
        check.seconds,
    )
    return check


def _frames(files: list[str], rows: int) -> Iterator[pd.DataFrame]:
    """The extract's rows as frames of `rows` rows (the last one shorter), read across its Parquet files."""
    held: list[pa.Table] = []
    count = 0
    for path in files:
        with storage.open_read(path) as source:  # a local path, or an open file of object storage
            for batch in pq.ParquetFile(source).iter_batches(batch_size=rows):
                table = pa.Table.from_batches([batch])
                while table.num_rows:
                    part = table.slice(0, rows - count)
                    held.append(part)
                    count += part.num_rows
                    table = table.slice(part.num_rows)
                    if count == rows:
                        yield _frame(held)
                        held, count = [], 0
    if held:
        yield _frame(held)


def _schema(files: list[str]) -> pa.Schema:
    """The extract's schema over all its files (a column typed null in one takes the others' type)."""
    schemas = []
    for path in files:
        with storage.open_read(path) as source:
            schemas.append(pq.read_schema(source))
    return pa.unify_schemas(schemas, promote_options="default")


def _num_rows(path: str) -> int:
    """A Parquet file's row count, from its footer (a local path or a URL)."""
    with storage.open_read(path) as source:
        return int(pq.ParquetFile(source).metadata.num_rows)


def _frame(tables: list[pa.Table]) -> pd.DataFrame:
    # A column empty in one file may be typed null there: promote it to the other files' type.
    return pa.concat_tables(tables, promote_options="default").to_pandas()


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    ts = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def docs_dir(settings: Any) -> Path:
    """Where Data Docs go: `<warehouse dir>/data_docs` (the landing dir's parent for non-file warehouses)."""
    target = str(settings.warehouse_path)
    if target == ":memory:" or "://" in target or target.startswith("md:"):
        if not storage.is_local(settings.landing_dir):  # landing on object storage: the working folder
            return Path("data_docs").resolve()
        return Path(settings.landing_dir).resolve().parent / "data_docs"
    return Path(target).resolve().parent / "data_docs"


def docs_index(settings: Any) -> Path | None:
    """The Data Docs site's index.html, or None when no run has built it yet."""
    from expectations.docs import INDEX

    path = docs_dir(settings) / INDEX
    return path if path.exists() else None


def build_docs(settings: Any, results: list[Any], run_id: str) -> Path | None:
    """Add the run's GX results to the Data Docs site beside the warehouse; returns index.html."""
    if not results:
        return docs_index(settings)
    from expectations.docs import build_data_docs

    started = time.perf_counter()
    keep = getattr(settings, "dq_docs_keep_runs", None)
    index = build_data_docs(results, docs_dir(settings), run_name=run_id, keep_runs=keep)
    log.info("Data Docs for run %s at %s (%.1fs)", run_id, index, time.perf_counter() - started)
    return index


def check_payload(
    pending: pd.DataFrame,
    settings: Any,
    run_id: str,
    docs: bool = True,
    docs_into: list[Any] | None = None,
) -> None:
    """Validate the outgoing Account payload; any failure raises DataQualityError before anything is sent.

    `docs=False` (an account refresh's passes): Data Docs only when the payload failed. `docs_into`: the results
    are added to it instead (passed or failed), for the run to build its Data Docs once.
    """
    if pending.empty:
        return
    from expectations.payload import validate_payload

    fields = ["Id", *getattr(settings, "push_fields", {}).values()]
    res = validate_payload(
        pending[[c for c in fields if c in pending.columns]], settings=settings, run_name=run_id
    )
    if docs_into is not None:
        docs_into += res.docs_results
        res.raise_for_critical()
        return
    try:
        res.raise_for_critical()
    except Exception:
        build_docs(settings, res.docs_results, run_id)
        raise
    if docs:
        build_docs(settings, res.docs_results, run_id)
