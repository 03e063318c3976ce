"""The validation step the loader calls for every extracted batch: `validate_batch(object_name, df, ...)`.

    result = validate_batch("Case", df, **rules_from_describe(describe), expected_fields=registry_fields,
                            previous_count=last_full_count, full_snapshot=True, settings=settings, run_name=run_id)
    result.raise_for_critical()          # DataQualityError naming expectation, object and numbers: push nothing
    df[result.good_mask]                 # loads
    df[~result.good_mask]                # -> meta.quarantine with result.row_failures[Id] (or failures_at[pos])

Row-level rules (severity warning, see `expectations.suites`): failing rows are quarantined, the rest loads.
Batch-level rules (severity critical): duplicate Ids, a row-count drop on full snapshots, a required reference
mostly empty, an expected field vanished. Rows are validated in chunks of `GateSettings.chunk_rows` so a
1M-row batch never holds more than one chunk's GX working set; the batch-level suite reads the whole frame.
A batch of one chunk runs both in one suite (`<object>.gate`): GX's cost is mostly fixed per run and rule.
extracted = good + quarantined holds by construction: `good_mask` covers every row of the input frame.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from expectations import engine
from expectations.model import BatchValidation, CriticalFailure, GateSettings
from expectations.suites import (
    DUPLICATE_COLUMN,
    OBJECT_RULES,
    ObjectRules,
    Rule,
    batch_rules,
    date_columns,
    default_max_date,
    row_rules,
)

__all__ = ["duplicate_of", "prepare_frame", "run_rules", "validate_batch"]

log = logging.getLogger(__name__)


def validate_batch(
    object_name: str,
    df: pd.DataFrame,
    *,
    picklists: Mapping[str, Iterable[str]] | None = None,
    lengths: Mapping[str, int] | None = None,
    field_types: Mapping[str, str] | None = None,
    required_refs: Iterable[str] | None = None,
    expected_fields: Iterable[str] | None = None,
    previous_count: int | None = None,
    full_snapshot: bool = False,
    settings: Any = None,
    now: datetime | None = None,
    run_name: str | None = None,
    known_records: pd.DataFrame | None = None,
) -> BatchValidation:
    """Validate one extracted batch of `object_name` (Salesforce field names as columns).

    picklists: field -> the org's active values (from describe); lengths: field -> describe length;
    field_types: field -> describe type (finds id/reference and date/datetime columns; else guessed from names
    and dtypes); required_refs: reference fields that must be set (default: `suites.OBJECT_RULES`);
    expected_fields: fields the extract asked for (a vanished one is critical); previous_count and
    full_snapshot: the row-count-drop check runs only for a full snapshot with a previous count;
    settings: a `GateSettings` or app settings with `dq_*` attributes; now: the org's clock (future dates);
    known_records: already-loaded rows (Id, the object's duplicate keys, CreatedDate) so a duplicate of a
    record from an earlier run is caught too (Contact: same Email, FirstName, LastName).
    """
    started = time.perf_counter()
    gs = GateSettings.from_settings(settings)
    columns = [str(c) for c in df.columns]
    frame = prepare_frame(df, date_columns(columns, field_types, df.dtypes))
    keys = OBJECT_RULES.get(object_name, ObjectRules()).duplicate_keys
    if keys and "Id" in columns and all(k in columns for k in keys):
        frame[DUPLICATE_COLUMN] = duplicate_of(frame, keys, known_records)
    rows = row_rules(
        object_name,
        columns,
        dtypes=frame.dtypes,
        picklists=picklists,
        lengths=lengths,
        field_types=field_types,
        required_refs=required_refs,
        min_date=gs.min_date,
        max_date=default_max_date(now, gs.future_years),
    )
    batch = batch_rules(
        object_name,
        columns,
        len(frame),
        required_refs=required_refs,
        expected_fields=expected_fields,
        previous_count=previous_count,
        full_snapshot=full_snapshot,
        max_row_drop=gs.max_row_drop,
        max_empty_ref_share=gs.max_empty_ref_share,
        min_rows_for_share=gs.min_rows_for_share,
    )
    result = run_rules(object_name, frame, df, row=rows, batch=batch, gs=gs, run_name=run_name)
    result.seconds = time.perf_counter() - started
    log.info(
        "validated %s: %d rows, %d good, %d quarantined, %d critical in %.2fs",
        object_name,
        result.rows,
        result.good_count,
        result.quarantined_count,
        len(result.critical),
        result.seconds,
    )
    return result


def run_rules(
    object_name: str,
    frame: pd.DataFrame,
    original: pd.DataFrame,
    *,
    row: list[Rule],
    batch: list[Rule],
    gs: GateSettings,
    run_name: str | None,
    suite_prefix: str | None = None,
    label: str | None = None,
) -> BatchValidation:
    """Run the batch-level suite on the whole frame and the row-level suite chunk by chunk; assemble findings.

    A frame that fits in one chunk is validated by one suite holding both (`<prefix>.gate`): one GX run
    instead of two, with the same findings.
    """
    prefix = suite_prefix or object_name
    label = label or object_name
    results: list[Any] = []
    critical: list[CriticalFailure] = []
    failures: dict[int, list[str]] = {}
    n = len(frame)
    step = max(1, gs.chunk_rows)
    if batch and row and 0 < n <= step:
        suite = engine.build_suite(f"{prefix}.gate", row, batch)
        res = engine.run_suite(
            object_name, frame, suite, complete=True, label=f"{label} ({n} rows)", run_name=run_name
        )
        critical += engine.critical_failures(res, label, n)
        engine.collect_row_failures(res, frame, failures, gs.sample_size)
        results.append(res)
        return _assemble(label, original, failures, _merge_critical(critical, n), results)
    if batch:
        res = engine.run_suite(
            object_name,
            frame,
            engine.build_suite(f"{prefix}.batch", (), batch),
            complete=False,
            label=f"{label} batch ({n} rows)",
            run_name=run_name,
        )
        results.append(res)
        critical += engine.critical_failures(res, label, n)
    if row and n:
        suite = engine.build_suite(f"{prefix}.rows", row)
        # GX filters the whole frame once per expectation: hand it only the columns the rules read.
        needed = list(dict.fromkeys(c for r in row for c in r.columns))
        for start in range(0, n, step):
            chunk = frame.iloc[start : start + step][needed]
            res = engine.run_suite(
                object_name,
                chunk,
                suite,
                complete=True,
                label=f"{label} rows {start}-{start + len(chunk) - 1}",
                run_name=run_name,
            )
            # Critical row-level failures (the payload) and unevaluable rules are reported on the whole batch.
            critical += engine.critical_failures(res, label, len(chunk))
            engine.collect_row_failures(res, chunk, failures, gs.sample_size)
            results.append(res)
    return _assemble(label, original, failures, _merge_critical(critical, n), results)


def _assemble(
    label: str,
    df: pd.DataFrame,
    failures: dict[int, list[str]],
    critical: list[CriticalFailure],
    results: list[Any],
) -> BatchValidation:
    good = np.ones(len(df), dtype=bool)
    if failures:
        good[np.fromiter(failures.keys(), dtype=np.int64, count=len(failures))] = False
    by_id: dict[str, list[str]] = {}
    ids = df["Id"].to_numpy() if "Id" in df.columns else None
    for pos in sorted(failures):
        value = ids[pos] if ids is not None else None
        key = value if isinstance(value, str) and value else f"row#{pos}"
        by_id.setdefault(key, []).extend(failures[pos])
    return BatchValidation(
        object_name=label,
        rows=len(df),
        good_mask=pd.Series(good, index=df.index, name="good"),
        row_failures=by_id,
        failures_at=dict(sorted(failures.items())),
        critical=critical,
        docs_results=results,
    )


def _merge_critical(found: list[CriticalFailure], rows: int) -> list[CriticalFailure]:
    """One entry per expectation: chunked row suites report one per chunk; sum their counts over the batch."""
    merged: dict[str, CriticalFailure] = {}
    for c in found:
        prev = merged.get(c.expectation)
        if "failing_rows" not in c.observed:
            merged.setdefault(c.expectation, c)
            continue
        count = c.observed["failing_rows"] + (prev.observed["failing_rows"] if prev else 0)
        sample = (prev.observed["sample"] if prev else []) + c.observed["sample"]
        observed = {**c.observed, "rows": rows, "failing_rows": count, "sample": sample[:5]}
        message = (
            f"expectation {c.expectation} ({c.observed['type']}) failed on {c.object}: "
            + engine.rows_message(count, rows, sample)
        )
        merged[c.expectation] = CriticalFailure(c.expectation, c.object, message, observed)
    return list(merged.values())


def prepare_frame(df: pd.DataFrame, date_cols: list[str]) -> pd.DataFrame:
    """A frame indexed by row position with every date column as UTC datetimes (the input is not modified)."""
    frame = df.reset_index(drop=True)
    for col in date_cols:
        frame[col] = _as_utc(frame[col])
    return frame


def _as_utc(s: pd.Series) -> pd.Series:
    dtype = s.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return s if str(dtype.tz) == "UTC" else s.dt.tz_convert("UTC")
    if str(dtype).startswith("datetime64"):
        return s.dt.tz_localize("UTC")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", UserWarning
            )  # "could not infer format": mixed values parse one by one
            return pd.to_datetime(s, utc=True)
    except (ValueError, TypeError, OverflowError):
        return s  # left as is: GX then fails to evaluate the rule, which is reported as critical


def duplicate_of(frame: pd.DataFrame, keys: tuple[str, ...], known: pd.DataFrame | None = None) -> pd.Series:
    """Per row of `frame`: the Id of an earlier record (in the batch or `known`) with the same keys, else None.

    Keys compare trimmed and case-folded; rows whose first key is empty are never duplicates; "earlier" is by
    CreatedDate, then Id, so the original stays and only the later copies are flagged.
    """
    cols = ["Id", *keys, *(["CreatedDate"] if "CreatedDate" in frame.columns else [])]
    batch = frame[cols].assign(_pos=np.arange(len(frame)))
    parts = [batch]
    if known is not None and len(known):
        old = known[[c for c in cols if c in known.columns]]
        old = old[~old["Id"].isin(batch["Id"])].assign(_pos=-1)
        if "CreatedDate" in old.columns:
            old = old.assign(CreatedDate=_as_utc(old["CreatedDate"]))
        parts.insert(0, old)
    rows = pd.concat(parts, ignore_index=True)
    rows = rows[rows[keys[0]].notna()]
    norm = pd.DataFrame({k: rows[k].fillna("").astype(str).str.strip().str.casefold() for k in keys})
    order = ["CreatedDate", "Id"] if "CreatedDate" in rows.columns else ["Id"]
    ranked = pd.concat([rows[["Id", "_pos", *order[:-1]]], norm], axis=1).sort_values(
        order, na_position="last"
    )
    first = ranked.groupby(list(keys), sort=False)["Id"].transform("first")
    hits = ranked[(first != ranked["Id"]) & (ranked["_pos"] >= 0)]
    out = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    out.iloc[hits["_pos"].to_numpy()] = first[hits.index].to_numpy()
    return out
