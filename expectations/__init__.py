"""The data-quality gate: Great Expectations suites for every extracted batch and for the outgoing payload.

Public API (importing it does not import Great Expectations; the first validation does, ~6 s):

    validate_batch(object_name, df, *, picklists, lengths, field_types, required_refs, expected_fields,
                   previous_count, full_snapshot, settings, now, run_name, known_records) -> BatchValidation
    validate_payload(df, *, owned_fields, settings, now, run_name) -> BatchValidation
    build_data_docs(validations, target_dir, *, run_name) -> Path (the site's index.html)
    rules_from_describe(describe_json) -> {"picklists", "lengths", "field_types"} for validate_batch

`BatchValidation`: `good_mask` (rows passing every row-level rule), `row_failures` (Id -> ["rule: reason"]),
`failures_at` (row position -> the same), `critical` (`CriticalFailure`s: expectation, object, message with the
numbers), `docs_results` (GX results), `counts()`, `quarantine_rows(df)` (rows for
`connectors.warehouse.quarantine_rows`), `raise_for_critical()` (DataQualityError).

In a load step (after staging the extract as a frame):

    res = validate_batch(obj, df, **rules_from_describe(describe), expected_fields=fields, run_name=run_id)
    res.raise_for_critical()                                  # nothing loads, nothing is pushed
    quarantine_rows(con, run_id, obj, res.quarantine_rows(df))
    load(df[res.good_mask])                                   # extracted = loaded + quarantined
Suites are data (`expectations.suites`); `expectations.engine` maps them onto GX 1.x expectations.
"""

from __future__ import annotations

from expectations.docs import build_data_docs
from expectations.gx_tuning import defer_unused_imports
from expectations.model import BatchValidation, CriticalFailure, GateSettings
from expectations.payload import validate_payload
from expectations.suites import rules_from_describe
from expectations.validate import validate_batch

# Before any module of this package imports GX: the modules GX imports for an expectation never used here
# (scipy.stats, altair; ~0.8 s) are only imported when something reads them (expectations/gx_tuning.py).
defer_unused_imports()

__all__ = [
    "BatchValidation",
    "CriticalFailure",
    "GateSettings",
    "build_data_docs",
    "rules_from_describe",
    "validate_batch",
    "validate_payload",
]
