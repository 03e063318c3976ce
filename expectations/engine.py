"""The Great Expectations side of the gate: rules -> GX 1.x suites, pandas frames -> GX results -> findings.

GX is imported lazily (about 6 s) the first time a suite is built or run, never at module import.
One ephemeral GX context per process holds a pandas data source with one dataframe asset per object;
batches are validated with `Batch.validate(suite, result_format=...)`, so nothing accumulates in a store.
Row-level suites run with result_format COMPLETE on frames indexed by row position, so each failing row
is identified by `unexpected_index_list` even when its Id is empty or duplicated; batch-level suites run
with SUMMARY. A frame that fits in one chunk runs both in one suite (COMPLETE): each expectation carries its
scope in `meta`, and batch-scope results are trimmed to the SUMMARY shape afterwards. GX's cost is mostly per
expectation and per run, not per row, so one run instead of two saves that fixed cost once per batch.
Results are trimmed to `sample_size` unexpected values before they are kept for Data Docs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from expectations.gx_tuning import memoized_configurations
from expectations.model import CriticalFailure
from expectations.suites import Rule

__all__ = ["build_suite", "collect_row_failures", "critical_failures", "rows_message", "run_suite"]

log = logging.getLogger(__name__)

DATASOURCE = "crm_risk"
# The unexpected-index query (a string listing every failing index) is computed per expectation and dropped.
COMPLETE = {
    "result_format": "COMPLETE",
    "include_unexpected_rows": False,
    "return_unexpected_index_query": False,
}
SUMMARY = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
_META_PARAMS = ("previous_count", "max_drop", "max_empty")
ROW, BATCH = "row", "batch"  # an expectation's scope (meta["scope"]): per row (quarantine) or whole batch
_SUMMARY_ONLY = ("unexpected_list", "unexpected_index_list", "unexpected_index_query")


_CONTEXT_LOCK = threading.Lock()


def warm_up() -> None:
    """Import Great Expectations and build its context now (about 5 s), e.g. in a thread while a run extracts."""
    _context()


def _context() -> Any:
    """The process-wide ephemeral GX context, created once (a lock: `warm_up` may build it in another thread)."""
    with _CONTEXT_LOCK:
        return _new_context()


@cache
def _new_context() -> Any:
    """An ephemeral GX context with progress bars off."""
    import great_expectations as gx
    import great_expectations.execution_engine.pandas_execution_engine as pandas_engine
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX md5-hashes every row of a dataframe batch for a `pandas_data_fingerprint` marker, twice per
    # validation; that was over half the validation time of a 200k-row chunk. The marker is metadata only.
    pandas_engine.HASH_THRESHOLD = 0
    # An ephemeral context announces its throwaway docs folder at INFO: noise in the CLI and the run logs.
    noisy = logging.getLogger("great_expectations.data_context.types.base")
    level = noisy.level
    noisy.setLevel(logging.WARNING)
    try:
        context = gx.get_context(mode="ephemeral")
    finally:
        noisy.setLevel(level)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.data_sources.add_pandas(DATASOURCE)
    return context


def _batch_definition(asset_name: str) -> Any:
    datasource = _context().data_sources.get(DATASOURCE)
    try:
        asset = datasource.get_asset(asset_name)
    except LookupError:
        asset = datasource.add_dataframe_asset(asset_name)
    try:
        return asset.get_batch_definition("whole")
    except (KeyError, LookupError):
        return asset.add_batch_definition_whole_dataframe("whole")


def _expectation(rule: Rule, scope: str) -> Any:
    import great_expectations.expectations as gxe

    common: dict[str, Any] = {
        "severity": rule.severity,
        "description": rule.description or None,
        "meta": {
            "rule": rule.name,
            "kind": rule.kind,
            "scope": scope,
            **{k: v for k, v in rule.params.items() if k in _META_PARAMS},
        },
    }
    p, col = rule.params, rule.column or ""
    match rule.kind:
        case "not_null":
            return gxe.ExpectColumnValuesToNotBeNull(column=col, **common)
        case "mostly_not_null":
            return gxe.ExpectColumnValuesToNotBeNull(column=col, mostly=p["mostly"], **common)
        case "is_null":
            return gxe.ExpectColumnValuesToBeNull(column=col, **common)
        case "regex":
            return gxe.ExpectColumnValuesToMatchRegex(column=col, regex=p["regex"], **common)
        case "in_set":
            return gxe.ExpectColumnValuesToBeInSet(column=col, value_set=list(p["value_set"]), **common)
        case "between":
            return gxe.ExpectColumnValuesToBeBetween(
                column=col, min_value=p.get("min_value"), max_value=p.get("max_value"), **common
            )
        case "max_length":
            return gxe.ExpectColumnValueLengthsToBeBetween(column=col, max_value=p["max_value"], **common)
        case "date_order":
            return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=rule.columns[0],
                column_B=rule.columns[1],
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                **common,
            )
        case "unique":
            return gxe.ExpectColumnValuesToBeUnique(column=col, **common)
        case "row_count_min":
            return gxe.ExpectTableRowCountToBeBetween(min_value=p["min_value"], **common)
        case "columns_present":
            return gxe.ExpectTableColumnsToMatchSet(
                column_set=list(p["column_set"]), exact_match=False, **common
            )
        case "columns_only":
            return gxe.ExpectTableColumnsToMatchSet(
                column_set=list(p["column_set"]), exact_match=True, **common
            )
    raise ValueError(f"unknown rule kind {rule.kind!r} for {rule.name}")


def build_suite(name: str, rows: Iterable[Rule], batch: Iterable[Rule] = ()) -> Any:
    """A GX ExpectationSuite named `name`: one expectation per batch rule, then per row rule (not in any store)."""
    import great_expectations as gx

    expectations = [_expectation(r, BATCH) for r in batch] + [_expectation(r, ROW) for r in rows]
    return gx.ExpectationSuite(name=name, expectations=expectations)


def run_suite(
    asset_name: str, frame: pd.DataFrame, suite: Any, *, complete: bool, label: str, run_name: str | None
) -> Any:
    """Validate `frame` against `suite`; `label` names the batch (e.g. the chunk's rows) in Data Docs."""
    batch = _batch_definition(asset_name).get_batch(batch_parameters={"dataframe": frame})
    try:
        with memoized_configurations():
            result = batch.validate(suite, result_format=COMPLETE if complete else SUMMARY)
    finally:
        # GX's execution engine keeps every batch it loaded (the frame included) in an unbounded cache keyed by
        # batch id, one per object's asset: left there, the last chunk of every object stays in memory.
        batch.data.execution_engine.batch_manager.reset_batch_cache()
    result.meta["crm_risk"] = {"object": asset_name, "label": label, "run_name": run_name, "rows": len(frame)}
    return result


def _error_message(res: Any) -> str | None:
    """GX's exception message when an expectation could not be evaluated, else None.

    `exception_info` is either flat or keyed by metric id (one entry per failed metric).
    """
    info = res.exception_info or {}
    entries = [info, *(v for v in info.values() if isinstance(v, dict))]
    for entry in entries:
        if entry.get("raised_exception"):
            return str(entry.get("exception_message") or "unknown error")
    return None


def _is_error(res: Any) -> bool:
    return _error_message(res) is not None


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, datetime | pd.Timestamp | np.datetime64):
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return (
            stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    if isinstance(value, float | np.floating) and float(value).is_integer() and abs(float(value)) < 1e15:
        return str(int(value))
    return str(value)


def meta_keys(rule_name: str) -> list[str]:
    """The key columns a `duplicate_record:A+B+C` rule name lists."""
    return rule_name.split(":", 1)[-1].split("+")


def _reason(rule_name: str, kind: str, params: dict[str, Any], value: Any) -> str:
    col = rule_name.split(":", 1)[-1]
    match kind:
        case "not_null":
            return f"{rule_name}: {col} is empty"
        case "regex":
            return f"{rule_name}: {_show(value)} is not a 15/18-character alphanumeric id"
        case "in_set":
            if rule_name.startswith("picklist:"):
                return f"{rule_name}: {_show(value)} is not an active picklist value"
            allowed = ", ".join(str(v) for v in params.get("value_set", []))
            return f"{rule_name}: {_show(value)} is not one of {allowed}"
        case "between":
            low, high = params.get("min_value"), params.get("max_value")
            bounds = f">= {_show(low)}" if high is None else f"in {_show(low)}..{_show(high)}"
            return f"{rule_name}: {_show(value)} is not {bounds}"
        case "max_length":
            return f"{rule_name}: {len(value)} characters, more than {params.get('max_value')}"
        case "is_null":
            keys = ", ".join(meta_keys(rule_name))
            return f"{rule_name}: same {keys} as {value} (an earlier record)"
        case "date_order":
            later, earlier = col.split(">=")
            a, b = value if isinstance(value, tuple | list) and len(value) == 2 else (value, None)
            return f"{rule_name}: {later} {_show(a)} is before {earlier} {_show(b)}"
    return f"{rule_name}: {_show(value)}"


def collect_row_failures(
    result: Any, frame: pd.DataFrame, failures: dict[int, list[str]], sample_size: int
) -> None:
    """Add each failing row's `"<rule>: <reason>"` to `failures` (by row position), then trim the result.

    `frame` is the validated chunk (indexed by row position): GX lists every failing index but caps
    `unexpected_list` at 200 values, so the offending values are read back from the frame. Batch-scope
    results (a combined suite) quarantine nothing; they are cut back to what a SUMMARY run returns.
    """
    for res in result.results:
        cfg = res.expectation_config
        meta = cfg.meta or {}
        if meta.get("scope") == BATCH:  # ran COMPLETE beside the row rules: keep what SUMMARY would show
            for key in _SUMMARY_ONLY:
                res.result.pop(key, None)
            continue
        if res.success or _is_error(res):
            continue
        body = res.result
        positions = [int(p) for p in body.get("unexpected_index_list") or []]
        kind, kwargs = meta.get("kind", ""), dict(cfg.kwargs)
        rule_name = meta.get("rule", cfg.type)
        if kind == "date_order":
            a, b = kwargs["column_A"], kwargs["column_B"]
            values: list[Any] = list(zip(frame.loc[positions, a], frame.loc[positions, b], strict=True))
        elif "column" in kwargs and kwargs["column"] in frame.columns:
            values = frame.loc[positions, kwargs["column"]].tolist()
        else:
            values = [None] * len(positions)
        for pos, value in zip(positions, values, strict=True):
            failures.setdefault(pos, []).append(_reason(rule_name, kind, kwargs, value))
        # The findings live in `failures` now; keep only a sample for Data Docs, named by record Id.
        for key in ("unexpected_list", "unexpected_index_list", "partial_unexpected_index_list"):
            if isinstance(body.get(key), list):
                body[key] = body[key][:sample_size]
        body.pop("unexpected_index_query", None)
        if "Id" in frame.columns and positions:
            _name_sample_by_id(body, frame, positions[:sample_size], kwargs)


def _name_sample_by_id(body: dict[str, Any], frame: pd.DataFrame, positions: list[int], kwargs: dict) -> None:
    """Rewrite the kept index sample as GX's `unexpected_index_column_names=["Id"]` shape (what Data Docs show)."""
    columns = [c for c in (kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B")) if c]
    rows = frame.loc[positions, list(dict.fromkeys([*columns, "Id"]))]
    sample = [
        {k: (None if pd.isna(v) else v if isinstance(v, str | int | float) else str(v)) for k, v in r.items()}
        for r in rows.to_dict(orient="records")
    ]
    body["unexpected_index_column_names"] = ["Id"]
    body["unexpected_index_list"] = sample
    body["partial_unexpected_index_list"] = sample[:20]


def critical_failures(result: Any, object_label: str, rows: int) -> list[CriticalFailure]:
    """One CriticalFailure per failed critical expectation of `result`, its message carrying the numbers.

    An expectation GX could not evaluate (an exception) counts as critical whatever its severity: a gate
    that cannot look must not let the batch through.
    """
    out: list[CriticalFailure] = []
    for res in result.results:
        cfg = res.expectation_config
        critical = str(getattr(cfg.severity, "value", cfg.severity)) == "critical"
        if not _is_error(res) and (res.success or not critical):
            continue
        name = (cfg.meta or {}).get("rule", cfg.type)
        observed, detail = _critical_detail(cfg, res, rows)
        out.append(
            CriticalFailure(
                name,
                object_label,
                f"expectation {name} ({cfg.type}) failed on {object_label}: {detail}",
                observed,
            )
        )
    return out


def _critical_detail(cfg: Any, res: Any, rows: int) -> tuple[dict[str, Any], str]:
    kw, body = dict(cfg.kwargs), dict(res.result or {})
    kind = (cfg.meta or {}).get("kind", "")
    error = _error_message(res)
    if error is not None:
        return {"error": error[:300]}, f"could not be evaluated ({error[:300]})"
    count = int(body.get("unexpected_count") or 0)
    sample = [_show(v) for v in (body.get("partial_unexpected_list") or [])[:5]]
    if kind == "unique":
        ids = list(dict.fromkeys(sample))
        return (
            {"rows": rows, "duplicate_rows": count, "sample": ids[:3]},
            f"{count} of {rows} rows carry an Id that occurs more than once (e.g. {', '.join(ids[:3])})",
        )
    if kind == "row_count_min":
        now, prev = int(body.get("observed_value") or 0), int((cfg.meta or {}).get("previous_count") or 0)
        drop = (1 - now / prev) if prev else 0.0
        return (
            {"rows": now, "previous_count": prev, "min_rows": kw.get("min_value")},
            f"{now} rows against {prev} in the previous run, a {drop:.1%} drop "
            f"(at least {kw.get('min_value')} rows expected)",
        )
    if kind == "mostly_not_null":
        share = count / rows if rows else 0.0
        return (
            {"rows": rows, "empty": count, "share": round(share, 4)},
            f"{count} of {rows} rows ({share:.1%}) have no {kw.get('column')}, "
            f"at most {1 - float(kw.get('mostly') or 1):.0%} may be empty",
        )
    if kind in ("columns_present", "columns_only"):
        mismatch = (body.get("details") or {}).get("mismatched", {})
        if kind == "columns_present":
            missing = mismatch.get("missing", [])
            return {"missing": missing}, f"expected field(s) vanished: {', '.join(missing)}"
        extra = mismatch.get("unexpected", [])
        return {"unexpected": extra}, f"fields the pipeline does not own: {', '.join(extra)}"
    return (
        {"rows": rows, "failing_rows": count, "sample": sample, "type": cfg.type},
        rows_message(count, rows, sample),
    )


def rows_message(count: int, rows: int, sample: list[str]) -> str:
    """The detail of a failed critical row-level expectation: how many rows, and a few values."""
    return f"{count} of {rows} rows fail (e.g. {', '.join(sample[:5]) or 'n/a'})"
