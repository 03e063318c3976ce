"""Gate + load: validate each extract against what the warehouse holds, then merge it into raw.* (no Prefect here).

A batch with a critical failure loads nothing and keeps its watermark: the next run extracts it again. The
warehouse is opened in short windows only (reading what it holds, then one transaction per object's load); Great
Expectations validates the next extract in a thread while one loads, so the windows are no longer than the loads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from connectors import warehouse
from connectors.salesforce import registry
from connectors.warehouse.load import table_for
from connectors.warehouse.manifest import read_manifest
from crm_risk import landing as storage
from crm_risk import memory, progress
from crm_risk.errors import DataQualityError
from expectations.gate import (
    ManifestCheck,
    Prior,
    build_docs,
    docs_dir,
    docs_index,
    manifest_object,
    validate_extract,
)
from expectations.model import CriticalFailure, GateSettings
from expectations.suites import OBJECT_RULES, ObjectRules
from pipeline.context import RunContext

BIG_BATCH = 10_000  # rows validated past which freed memory is handed back (cheap, but not free per window)

__all__ = ["load_all", "load_gated", "read_prior", "run_quality", "validate_manifest"]


def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    name = table.split(".", 1)[1].strip('"')
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = 'raw' and table_name = ?",
        [name],
    ).fetchall()
    return [r[0] for r in rows]


def _previous_count(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> int | None:
    """Live rows the warehouse holds for the object (compared with a full snapshot), None before its first load."""
    if not columns:
        return None
    return int(
        con.execute(f"select count(*) from {table} where not coalesce(_deleted, false)").fetchall()[0][0]
    )


def _known_records(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[str], spec: ObjectRules, files: list[str]
) -> pd.DataFrame | None:
    """Already-loaded rows (Id, duplicate keys, CreatedDate) that could duplicate a record of the extract: those
    sharing its first key (trimmed, lower case) with one of `files`' rows, so the read follows the extract, not
    the table (an account refresh of a few Contacts reads a few rows, not the org's)."""
    lower = {c.lower(): c for c in columns}
    wanted = ["Id", *spec.duplicate_keys, "CreatedDate"]
    if not spec.duplicate_keys or not all(c.lower() in lower for c in wanted):
        return None
    select = ", ".join(f'"{lower[c.lower()]}" as "{c}"' for c in wanted)
    first = spec.duplicate_keys[0]
    if not files:
        return con.execute(f"select {select} from {table} where false").fetch_df()
    storage.register_duckdb(con, files)
    return con.execute(
        f"""select {select} from {table}
            where not coalesce(_deleted, false) and lower(trim("{lower[first.lower()]}")) in (
                select lower(trim("{first}")) from read_parquet($files, union_by_name = true)
            )""",
        {"files": files},
    ).fetch_df()


def _head(manifest_dir: Path | str) -> tuple[str, int | None]:
    """The extract's object and the rows it landed (None when its manifest names none), in one read."""
    manifest = json.loads(storage.read_text(storage.join(manifest_dir, "_manifest.json")))
    rows = manifest.get("rows")
    return str(manifest["object"]), int(rows) if rows is not None else None


def read_prior(con: duckdb.DuckDBPyConnection, manifest_dir: Path | str) -> Prior:
    """The loaded columns, duplicate-check keys and live row count of the manifest's object."""
    obj = manifest_object(manifest_dir)
    table = table_for(obj)
    columns = _table_columns(con, table)
    spec = OBJECT_RULES.get(obj, ObjectRules())
    manifest = json.loads(storage.read_text(storage.join(manifest_dir, "_manifest.json")))
    files = [str(storage.join(manifest_dir, f)) for f in manifest.get("files") or []]
    if spec.duplicate_keys and spec.duplicate_keys[0] not in (manifest.get("fields") or {}):
        files = []  # the extract lacks the key: none of its rows can duplicate a loaded one
    known = _known_records(con, table, columns, spec, files)
    return Prior(columns, known, _previous_count(con, table, columns))


def validate_manifest(
    con: duckdb.DuckDBPyConnection, manifest_dir: Path | str, run_id: str, settings: Any = None
) -> ManifestCheck:
    """Validate one extract against what `con`'s warehouse holds; nothing is written."""
    return validate_extract(manifest_dir, run_id, settings, read_prior(con, manifest_dir))


def load_gated(
    settings: Any,
    run_id: str,
    manifests: list[Path | str],
    docs: bool = True,
    in_transaction: Callable[[duckdb.DuckDBPyConnection, warehouse.LoadResult], None] | None = None,
    docs_into: list[Any] | None = None,
) -> dict[str, dict[str, int]]:
    """Validate then load each manifest; critically failed objects load nothing and raise at the end.

    Objects that pass load (their rows, quarantine and watermark in one transaction each); an object with a
    critical failure keeps its watermark, so its batch is extracted again by the next run. Data Docs are built
    for the run either way (`docs=False`, an account refresh's passes: only when a row was quarantined or a batch
    failed). `docs_into`: the results are added to it instead, for the run to build its Data Docs once (a sync:
    the payload's results join them). Raises DataQualityError naming each expectation, object and numbers.
    `in_transaction`: called inside each manifest's load transaction, before its commit (a backfill records its
    window there).
    """

    # Nothing reads a manifest's files before it is checked: registry objects only, files inside its extract,
    # extracts inside the landing area (ManifestRefused names the manifest and what is wrong).
    known = [e.name for e in registry.REGISTRY]
    if getattr(settings, "landing_dir", None) is not None:
        storage.landing(
            settings
        )  # the landing filesystem (object storage: its endpoint and keys) for the reads
    for manifest_dir in manifests:
        read_manifest(manifest_dir, known, landing=getattr(settings, "landing_dir", None))
    counts: dict[str, dict[str, int]] = {}
    critical: list[CriticalFailure] = []
    results: list[Any] = []
    gate = bool(getattr(settings, "dq_enabled", True))
    priors: list[Prior | None] = [None] * len(manifests)
    # What the warehouse holds, read in one connection (opening one costs ~50 ms); GX runs without it open.
    if gate:
        with warehouse.open_for(settings) as con:
            priors = [read_prior(con, m) for m in manifests]
    loaded: set[str] = set()
    gs = GateSettings.from_settings(settings)
    heads = [_head(m) for m in manifests]
    objects, sizes = [obj for obj, _ in heads], [rows for _, rows in heads]

    def gated(k: int, prior: Prior) -> ManifestCheck:
        with progress.track(objects[k], "validate"):
            return validate_extract(manifests[k], run_id, settings, prior)

    def ahead(k: int) -> bool:
        """Whether manifest k may be validated while manifest k-1 loads: an object's first extract (a later one
        reads what the earlier loaded) that GX validates in one frame (a batch for the SQL gate, or one of several
        chunks, would run a second DuckDB beside the load's, each with its memory budget)."""
        rows = sizes[k]
        return (
            objects[k] not in objects[:k]
            and rows is not None
            and rows < gs.sql_min_rows
            and rows <= gs.chunk_rows
        )

    # Great Expectations (Python, holding the GIL) validates the next extract while DuckDB (which releases it)
    # merges this one: one thread ahead, never more (one batch's frames at a time). A failed load waits for that
    # validation to end (GX is not left running beside whatever the run does next).
    with ThreadPoolExecutor(1, thread_name_prefix="gate") as pool:
        upcoming: Future[ManifestCheck] | None = None
        for k, (manifest_dir, prior) in enumerate(zip(manifests, priors, strict=True)):
            check = None
            if upcoming is not None:
                check, upcoming = upcoming.result(), None
            elif prior is not None:
                if objects[k] in loaded:  # a second extract of an object reads what the first loaded
                    with warehouse.open_for(settings) as con:
                        prior = read_prior(con, manifest_dir)
                check = gated(k, prior)
            if check is not None and check.rows >= BIG_BATCH:
                memory.release()  # the validated frames' memory, before DuckDB takes its own budget
            following = priors[k + 1] if k + 1 < len(priors) else None
            if following is not None and ahead(k + 1):
                upcoming = pool.submit(gated, k + 1, following)
            if check is not None:
                results += check.results
                if not check.ok:
                    critical += check.critical
                    counts[check.object] = {
                        "extracted": check.rows,
                        "loaded": 0,
                        "quarantined": 0,
                        "tombstones": 0,
                        "critical": len(check.critical),
                    }
                    continue
            with progress.track(objects[k], "load"), warehouse.open_for(settings) as con:
                result = warehouse.load_manifest(
                    con,
                    manifest_dir,
                    run_id,
                    quarantine=check.quarantine if check else None,
                    in_transaction=in_transaction,
                )
            loaded.add(result.object)
            counts[result.object] = {
                "extracted": result.rows_in_files,
                "loaded": result.inserted + result.updated + result.unchanged,
                "quarantined": result.quarantined,
                "tombstones": result.tombstoned,
                "validation_ms": int(check.seconds * 1000) if check else 0,
            }
    if docs_into is not None:
        docs_into += results
    elif docs or critical or any(c.get("quarantined") for c in counts.values()):
        build_docs(settings, results, run_id)
    del results
    if sum(c.get("extracted", 0) for c in counts.values()) >= BIG_BATCH:
        memory.release()  # the gate's results and frames: the transforms start from the process's floor
    if critical:
        held = sorted({c.object for c in critical})
        raise DataQualityError(
            "; ".join(c.message for c in critical)
            + f". Nothing of {', '.join(held)} was loaded (watermarks unchanged) and nothing was pushed; "
            f"see the Data Docs in {docs_dir(settings)}"
        )
    return counts


def run_quality(settings: Any, run_id: str) -> dict[str, Any]:
    """For the run summary: counts per object from meta.reconciliation and the Data Docs index (if built)."""

    loaded: dict[str, dict[str, int]] = {}
    try:
        with warehouse.open_for(settings, read_only=True) as con:
            rows = con.execute(
                "select object, extracted, loaded, quarantined, tombstones from meta.reconciliation where run_id = ?",
                [run_id],
            ).fetchall()
    except duckdb.Error:
        rows = []
    for obj, extracted, n, q, t in rows:
        loaded[obj] = {"extracted": extracted, "loaded": n, "quarantined": q, "tombstones": t}
    index = docs_index(settings)
    return {"loaded": loaded, "data_docs": str(index) if index else None}


def load_all(ctx: RunContext, manifests: list[Path | str]) -> dict[str, dict[str, int]]:
    """Validate (the data-quality gate) and merge every manifest into raw.*, each object in its own transaction."""
    return load_gated(ctx.settings, ctx.run_id, manifests, docs_into=ctx.docs_results)
