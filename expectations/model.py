"""What a validation returns (`BatchValidation`, `CriticalFailure`) and the gate's knobs (`GateSettings`).

Plain dataclasses over pandas: importing this module does not import Great Expectations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from crm_risk.errors import DataQualityError

__all__ = ["BatchValidation", "CriticalFailure", "GateSettings"]


@dataclass(frozen=True)
class GateSettings:
    """Thresholds of the gate. `from_settings` reads `dq_*` attributes of the app settings when they exist."""

    chunk_rows: int = 100_000  # rows validated at once: bounds GX's working memory on big batches
    sql_min_rows: int = 50_000  # extracts this large run the same rules in DuckDB (expectations/sql_gate.py)
    max_row_drop: float = 0.5  # full snapshots: fail when rows fall by more than this share of the last run
    max_empty_ref_share: float = 0.5  # fail when more than this share of a batch lacks a required reference
    min_rows_for_share: int = 20  # share checks need this many rows: 2 of 3 new Cases is not a trend
    min_date: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    future_years: int = 5
    sample_size: int = 200  # unexpected values kept per expectation in the Data Docs results

    @classmethod
    def from_settings(cls, settings: Any) -> GateSettings:
        """Build from an object with optional `dq_chunk_rows`, `dq_max_row_drop`, ... attributes."""
        if settings is None:
            return cls()
        if isinstance(settings, GateSettings):
            return settings
        names = cls.__dataclass_fields__
        values = {
            n: getattr(settings, f"dq_{n}") for n in names if getattr(settings, f"dq_{n}", None) is not None
        }
        return cls(**values)


@dataclass(frozen=True)
class CriticalFailure:
    """A critical expectation that failed: the run must stop before any push."""

    expectation: str
    object: str
    message: str
    observed: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


@dataclass
class BatchValidation:
    """The outcome of validating one batch (or the outgoing payload).

    `good_mask` is aligned with the validated frame's index (True = passes every row-level expectation);
    `row_failures` maps a record Id (or `row#<position>` when the Id is empty) to `"<rule>: <reason>"` strings;
    `failures_at` holds the same keyed by row position; `docs_results` are GX suite validation results.
    """

    object_name: str
    rows: int
    good_mask: pd.Series
    row_failures: dict[str, list[str]] = field(default_factory=dict)
    failures_at: dict[int, list[str]] = field(default_factory=dict)
    critical: list[CriticalFailure] = field(default_factory=list)
    docs_results: list[Any] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no critical expectation failed."""
        return not self.critical

    @property
    def good_count(self) -> int:
        """Rows that pass every row-level expectation."""
        return int(self.good_mask.sum())

    @property
    def quarantined_count(self) -> int:
        """Rows that fail at least one row-level expectation."""
        return self.rows - self.good_count

    def counts(self) -> dict[str, int]:
        """Extracted / good / quarantined / critical counts (extracted = good + quarantined)."""
        return {
            "extracted": self.rows,
            "good": self.good_count,
            "quarantined": self.quarantined_count,
            "critical": len(self.critical),
        }

    def quarantine_rows(self, df: pd.DataFrame) -> list[dict[str, Any]]:
        """The failing rows of `df` (the validated frame) as `meta.quarantine` rows: record_id, failed, record.

        Shaped for `connectors.warehouse.quarantine_rows`: `failed` maps each failed rule to its reason,
        `record` is the raw row, JSON-ready (timestamps as ISO 8601 strings, NaN/NaT as null).
        """
        if not self.failures_at:
            return []
        positions = list(self.failures_at)
        records = json.loads(df.iloc[positions].to_json(orient="records", date_format="iso", date_unit="us"))
        out = []
        for pos, record in zip(positions, records, strict=True):
            rid = record.get("Id")
            out.append(
                {
                    "record_id": rid if isinstance(rid, str) and rid else None,
                    "failed": dict(f.split(": ", 1) for f in self.failures_at[pos]),
                    "record": record,
                }
            )
        return out

    def raise_for_critical(self) -> None:
        """Raise DataQualityError naming every failed critical expectation, its object and numbers."""
        if self.critical:
            raise DataQualityError("; ".join(c.message for c in self.critical))
