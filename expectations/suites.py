"""The data-quality suites as data: which rule applies to which object and column, with its severity.

Nothing here imports Great Expectations: a suite is a list of `Rule`s (name, kind, columns, severity,
parameters), built per batch from the object's entry in `OBJECT_RULES` plus what the org's describe reports
(picklist values, field lengths, field types). `expectations.engine` turns rules into GX expectations.

Rule names are what a quarantined row or a failed run reports: `<kind>:<column>`, e.g. `picklist:Status`,
`required_ref:AccountId`, `date_order:ClosedDate>=CreatedDate`, `ref_mostly_empty:AccountId`.

Row-level kinds (severity "warning": the failing row is quarantined, the rest loads):
    id_format, required_ref (and required for Id), picklist, date_order, non_negative, value_range,
    text_length, date_range, duplicate_record (computed in pandas into `_duplicate_of`, checked by GX)
Batch-level kinds (severity "critical": the run stops before any push):
    duplicate_ids, row_count_drop, ref_mostly_empty, schema
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "DUPLICATE_COLUMN",
    "ID_REGEX",
    "OBJECT_RULES",
    "ObjectRules",
    "Rule",
    "batch_rules",
    "date_columns",
    "id_columns",
    "row_rules",
    "rules_from_describe",
]

Severity = Literal["warning", "critical"]

# 15-character case-sensitive or 18-character case-safe Salesforce ids.
ID_REGEX = r"^(?:[A-Za-z0-9]{15}|[A-Za-z0-9]{18})$"
STRING_TYPES = frozenset(
    {"string", "textarea", "email", "phone", "url", "picklist", "combobox", "multipicklist"}
)
DATE_TYPES = frozenset({"date", "datetime"})
ID_TYPES = frozenset({"id", "reference"})
# Derived column added to the validated frame: the Id of the earlier record a row duplicates, else null.
DUPLICATE_COLUMN = "_duplicate_of"
UNIVERSAL_DATE_ORDERS: tuple[tuple[str, str], ...] = (
    ("SystemModstamp", "CreatedDate"),
    ("LastModifiedDate", "CreatedDate"),
)


@dataclass(frozen=True)
class Rule:
    """One expectation as data: `kind` picks the GX expectation, `columns` its column(s), `params` its values."""

    name: str
    kind: str
    columns: tuple[str, ...]
    severity: Severity
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def column(self) -> str | None:
        """The first (usually only) column the rule reads, or None for table-level rules."""
        return self.columns[0] if self.columns else None


@dataclass(frozen=True)
class ObjectRules:
    """What a clean record of one object looks like beyond describe: references, date orders, numeric bounds."""

    required_refs: tuple[str, ...] = ()
    date_orders: tuple[tuple[str, str], ...] = ()  # (later, earlier): later >= earlier when both are set
    non_negative: tuple[str, ...] = ()
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    # The same person entered twice: rows sharing these values (first one set, compared case-insensitively)
    # with an earlier record are duplicates; the earliest one stays.
    duplicate_keys: tuple[str, ...] = ()


OBJECT_RULES: dict[str, ObjectRules] = {
    "User": ObjectRules(),
    "Account": ObjectRules(
        non_negative=("AnnualRevenue", "NumberOfEmployees", "Expected_Resolution_Days__c"),
        ranges={"Risk_Score__c": (0, 100)},
    ),
    "Contact": ObjectRules(required_refs=("AccountId",), duplicate_keys=("Email", "FirstName", "LastName")),
    "Opportunity": ObjectRules(
        required_refs=("AccountId",),
        non_negative=("Amount",),
        date_orders=(("LastStageChangeDate", "CreatedDate"),),
        ranges={"Probability": (0, 100)},
    ),
    "OpportunityHistory": ObjectRules(
        required_refs=("OpportunityId",),
        non_negative=("Amount", "PrevAmount"),
        ranges={"Probability": (0, 100)},
    ),
    "OpportunityContactRole": ObjectRules(required_refs=("OpportunityId", "ContactId")),
    "Case": ObjectRules(
        required_refs=("AccountId",), date_orders=(("ClosedDate", "CreatedDate"),), ranges={"CSAT__c": (1, 5)}
    ),
    "Task": ObjectRules(date_orders=(("CompletedDateTime", "CreatedDate"),)),
    "Event": ObjectRules(
        date_orders=(("EndDateTime", "StartDateTime"),), non_negative=("DurationInMinutes",)
    ),
    "AccountHistory": ObjectRules(required_refs=("AccountId",)),
}


def rules_from_describe(describe: Mapping[str, Any]) -> dict[str, Any]:
    """Picklists (active values), lengths and field types from a describe response, as `validate_batch` kwargs."""
    picklists: dict[str, set[str]] = {}
    lengths: dict[str, int] = {}
    types: dict[str, str] = {}
    for f in describe.get("fields", []):
        name, ftype = f["name"], f.get("type", "")
        types[name] = ftype
        if ftype == "picklist":
            # Inactive values are what old integrations left behind: the org keeps them, we quarantine them.
            picklists[name] = {v["value"] for v in f.get("picklistValues", []) if v.get("active", True)}
        if ftype in STRING_TYPES and int(f.get("length") or 0) > 0:
            lengths[name] = int(f["length"])
    return {"picklists": picklists, "lengths": lengths, "field_types": types}


def id_columns(columns: Iterable[str], field_types: Mapping[str, str] | None) -> list[str]:
    """Columns holding Salesforce ids: describe types id/reference, else `Id` and names ending in `Id`."""
    if field_types:
        return [c for c in columns if field_types.get(c) in ID_TYPES]
    return [c for c in columns if c == "Id" or (c.endswith("Id") and c[-3:-2].islower())]


def date_columns(
    columns: Iterable[str], field_types: Mapping[str, str] | None, dtypes: Mapping[str, Any]
) -> list[str]:
    """Columns holding dates or datetimes: describe types date/datetime, else datetime64 dtypes."""
    if field_types:
        return [c for c in columns if field_types.get(c) in DATE_TYPES]
    return [c for c in columns if str(dtypes[c]).startswith("datetime64")]


def row_rules(
    object_name: str,
    columns: list[str],
    *,
    dtypes: Mapping[str, Any],
    picklists: Mapping[str, Iterable[str]] | None,
    lengths: Mapping[str, int] | None,
    field_types: Mapping[str, str] | None,
    required_refs: Iterable[str] | None,
    min_date: datetime,
    max_date: datetime,
) -> list[Rule]:
    """The row-level (warning) rules for one batch of an object, restricted to the columns it has."""
    spec = OBJECT_RULES.get(object_name, ObjectRules())
    present = set(columns)
    refs = spec.required_refs if required_refs is None else tuple(required_refs)
    out: list[Rule] = []
    if "Id" in present:
        out.append(Rule("required:Id", "not_null", ("Id",), "warning", description="every record has an Id"))
    for col in id_columns(columns, field_types):
        out.append(
            Rule(
                f"id_format:{col}",
                "regex",
                (col,),
                "warning",
                {"regex": ID_REGEX},
                "ids are 15 or 18 alphanumeric characters",
            )
        )
    for col in refs:
        if col in present:
            out.append(
                Rule(
                    f"required_ref:{col}",
                    "not_null",
                    (col,),
                    "warning",
                    description=f"{object_name}.{col} is set",
                )
            )
    for col, values in sorted((picklists or {}).items()):
        if col in present:
            out.append(
                Rule(
                    f"picklist:{col}",
                    "in_set",
                    (col,),
                    "warning",
                    {"value_set": sorted(values)},
                    "values are in the org's active picklist",
                )
            )
    for later, earlier in (*spec.date_orders, *UNIVERSAL_DATE_ORDERS):
        if later in present and earlier in present:
            out.append(
                Rule(
                    f"date_order:{later}>={earlier}",
                    "date_order",
                    (later, earlier),
                    "warning",
                    description=f"{later} is not before {earlier}",
                )
            )
    for col in spec.non_negative:
        if col in present:
            out.append(
                Rule(
                    f"non_negative:{col}",
                    "between",
                    (col,),
                    "warning",
                    {"min_value": 0},
                    f"{col} is not negative",
                )
            )
    for col, (low, high) in spec.ranges.items():
        if col in present:
            out.append(
                Rule(
                    f"value_range:{col}",
                    "between",
                    (col,),
                    "warning",
                    {"min_value": low, "max_value": high},
                    f"{col} lies in {low}..{high}",
                )
            )
    for col, length in sorted((lengths or {}).items()):
        # a picklist column is already held to its (shorter) values; skip the redundant GX expectation
        if col in present and col not in (picklists or {}) and _is_text(dtypes[col]):
            out.append(
                Rule(
                    f"text_length:{col}",
                    "max_length",
                    (col,),
                    "warning",
                    {"max_value": int(length)},
                    f"{col} fits the field length {length}",
                )
            )
    for col in date_columns(columns, field_types, dtypes):
        out.append(
            Rule(
                f"date_range:{col}",
                "between",
                (col,),
                "warning",
                {"min_value": min_date, "max_value": max_date},
                f"{col} lies between {min_date:%Y-%m-%d} and {max_date:%Y-%m-%d}",
            )
        )
    keys = spec.duplicate_keys
    if keys and "Id" in present and all(k in present for k in keys):
        out.append(
            Rule(
                f"duplicate_record:{'+'.join(keys)}",
                "is_null",
                (DUPLICATE_COLUMN,),
                "warning",
                {"keys": keys},
                f"no earlier {object_name} with the same {', '.join(keys)}",
            )
        )
    return out


def batch_rules(
    object_name: str,
    columns: list[str],
    rows: int,
    *,
    required_refs: Iterable[str] | None,
    expected_fields: Iterable[str] | None,
    previous_count: int | None,
    full_snapshot: bool,
    max_row_drop: float,
    max_empty_ref_share: float,
    min_rows_for_share: int,
) -> list[Rule]:
    """The batch-level (critical) rules for one batch of an object."""
    spec = OBJECT_RULES.get(object_name, ObjectRules())
    present = set(columns)
    refs = spec.required_refs if required_refs is None else tuple(required_refs)
    out: list[Rule] = []
    if expected_fields is not None:
        out.append(
            Rule(
                "schema:expected_fields",
                "columns_present",
                (),
                "critical",
                {"column_set": sorted(set(expected_fields))},
                "no expected field vanished",
            )
        )
    if "Id" in present:
        out.append(
            Rule("duplicate_ids:Id", "unique", ("Id",), "critical", description="no Id twice in a batch")
        )
    if full_snapshot and previous_count:
        floor = math.ceil(previous_count * (1 - max_row_drop))
        out.append(
            Rule(
                "row_count_drop",
                "row_count_min",
                (),
                "critical",
                {"min_value": floor, "previous_count": previous_count, "max_drop": max_row_drop},
                f"at most {max_row_drop:.0%} fewer rows than the previous run ({previous_count})",
            )
        )
    if rows >= min_rows_for_share:
        for col in refs:
            if col in present:
                out.append(
                    Rule(
                        f"ref_mostly_empty:{col}",
                        "mostly_not_null",
                        (col,),
                        "critical",
                        {"mostly": round(1 - max_empty_ref_share, 6), "max_empty": max_empty_ref_share},
                        f"at most {max_empty_ref_share:.0%} of {object_name} rows lack {col}",
                    )
                )
    return out


def default_max_date(now: datetime | None, future_years: int) -> datetime:
    """The latest plausible date: `future_years` after now (UTC)."""
    now = now or datetime.now(UTC)
    try:
        return now.replace(year=now.year + future_years)
    except ValueError:  # 29 February
        return now.replace(year=now.year + future_years, day=28)


def _is_text(dtype: Any) -> bool:
    return str(dtype) in {"object", "str", "string", "string[python]", "string[pyarrow]"}
