"""Write rules of the simulated org: body validation, value coercion, defaults and derived fields.

Pure functions over the schema and plain dicts (canonical field name -> Python value; datetimes naive UTC); the
org's writes (`simulator.org.write`) call them inside the write lock and supply a `lookup(sobject, id) -> row | None`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import SupportsFloat, SupportsIndex

from simulator.org.errors import ApiError
from simulator.org.ids import KEY_PREFIXES, to18
from simulator.org.schema import CASE_STATUSES, OPPORTUNITY_STAGES, TASK_STATUSES, Field, SObject
from simulator.org.schema.access import FieldAccess
from simulator.soql import parse_datetime_literal

__all__ = [
    "Lookup",
    "apply_defaults",
    "check_required",
    "coerce",
    "derive",
    "forecast_category",
    "normalize_body",
    "object_of",
    "parse_id",
    "temporal",
    "to_utc_naive",
]

Lookup = Callable[[str, str], dict | None]
_ID_SHAPE = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_SECURITY = "Please check the security settings of this field and verify that it is read/write for your profile or permission set."
_PREFIX_TO_OBJECT = {v: k for k, v in KEY_PREFIXES.items()}
MAX_NUMBER = 1e18  # a Salesforce number field holds at most 18 digits


def to_utc_naive(value: datetime) -> datetime:
    """A datetime as naive UTC (naive input is taken as UTC already)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def parse_id(value: object, label: str, field_name: str = "Id") -> str:
    """A 15/18-character id as its 18-character form; ApiError MALFORMED_ID otherwise."""
    if not isinstance(value, str) or not _ID_SHAPE.fullmatch(value):
        raise ApiError(400, "MALFORMED_ID", f"{label} ID: id value of incorrect type: {value}", [field_name])
    return to18(value)


def object_of(record_id: str) -> str | None:
    """The object an id's key prefix names."""
    return _PREFIX_TO_OBJECT.get(record_id[:3])


# "Set Audit Fields upon Record Creation": a user with it may set these on insert only (never on update).
AUDIT_FIELDS = frozenset({"CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById"})


def normalize_body(
    obj: SObject, data: dict, *, creating: bool, access: FieldAccess | None = None, audit: bool = False
) -> dict[str, object]:
    """Map a request body to canonical field names, refusing unknown, Id (on create) and read-only fields; `access`:
    the writing user's field-level security (hidden fields are unknown, read-only ones refused).

    `audit`: the user holds "Set Audit Fields upon Record Creation", so a create may carry the audit fields."""
    out: dict[str, object] = {}
    readonly: list[str] = []
    for key, value in data.items():
        if key == "attributes":
            continue
        f = obj.field(key)
        if f is not None and access is not None and access.hidden(obj.name, f.name):
            f = None
        if f is None:
            raise ApiError(
                400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key]
            )
        if f.name == "Id":
            if creating:
                raise ApiError(
                    400, "INVALID_FIELD", "The Id field should not be specified in the sobject data.", ["Id"]
                )
            continue  # Collections updates carry the id in the record
        settable = f.createable or (audit and f.name in AUDIT_FIELDS and obj.createable)
        if not (settable if creating else f.updateable) or (
            access is not None and not access.writable(obj.name, f.name)
        ):
            readonly.append(f.name)
            continue
        out[f.name] = value
    if readonly:
        raise ApiError(
            400,
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {', '.join(readonly)}. {_SECURITY}",
            readonly,
        )
    return out


def _parse_error(f: Field, value: object) -> ApiError:
    kind = "VALUE_STRING" if isinstance(value, str) else type(value).__name__.upper()
    return ApiError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {f.type} from {kind} value {value} "
        "or request may be missing a required field",
        [f.name],
    )


def coerce(f: Field, value: object, lookup: Lookup) -> object:
    """One body value checked and converted to its stored Python type."""
    if value is None or value == "":  # Salesforce stores no empty strings: "" is null
        return None
    t = f.type
    if t in ("id", "reference"):
        target = f.reference_to[0] if f.reference_to else "Record"
        rid = parse_id(value, target, f.name)
        obj = object_of(rid)
        if obj not in f.reference_to or lookup(obj, rid) is None:
            raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
        return rid
    if t == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _parse_error(f, value)
    if t in ("double", "currency", "percent", "int"):
        if isinstance(value, bool):
            raise _parse_error(f, value)
        if isinstance(value, int):
            number: float = value
        elif isinstance(value, str | bytes | SupportsFloat | SupportsIndex):
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise _parse_error(f, value) from None
        else:
            raise _parse_error(f, value)
        if (
            not math.isfinite(number) or abs(number) >= MAX_NUMBER
        ):  # Salesforce numbers hold at most 18 digits
            raise ApiError(
                400,
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"{f.label or f.name}: value outside of valid range on numeric field: {value!s}",
                [f.name],
            )
        return int(number) if t == "int" else float(number)
    if t in ("date", "datetime"):
        return temporal(f, value)
    text = value if isinstance(value, str) else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (JSON "\\ud800"): not text any store could hold
        raise ApiError(
            400, "JSON_PARSER_ERROR", f"{f.label or f.name}: invalid UTF-8 (a lone surrogate)", [f.name]
        ) from None
    if f.restricted and text not in f.picklist:
        raise ApiError(
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"bad value for restricted picklist field: {text}",
            [f.name],
        )
    if f.length and len(text) > f.length and t != "anyType":
        raise ApiError(
            400,
            "STRING_TOO_LONG",
            f"{f.label or f.name}: data value too large: {text} (max length={f.length})",
            [f.name],
        )
    return text


def temporal(f: Field, value: object) -> date | datetime:
    """A date or datetime body value: Python objects, `YYYY-MM-DD`, or ISO datetimes in any offset form."""
    if isinstance(value, datetime):
        return value.date() if f.type == "date" else to_utc_naive(value)
    if isinstance(value, date):
        return value if f.type == "date" else datetime(value.year, value.month, value.day)
    if not isinstance(value, str):
        raise _parse_error(f, value)
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return day if f.type == "date" else datetime(day.year, day.month, day.day)
        try:
            moment = parse_datetime_literal(value)
        except ValueError:
            moment = to_utc_naive(datetime.fromisoformat(value))  # no offset: taken as UTC
    except ValueError:
        raise _parse_error(f, value) from None
    return moment.date() if f.type == "date" else moment


def apply_defaults(obj: SObject, rec: dict[str, object], owner_id: str | None) -> None:
    """Fill fields the API defaults on create (picklist / boolean defaults, OwnerId = the calling user)."""
    for f in obj.fields:
        if rec.get(f.name) is not None or not f.defaulted_on_create:
            continue
        if f.name == "OwnerId":
            rec[f.name] = owner_id
        elif f.default is not None:
            rec[f.name] = f.default
        elif f.type == "boolean":
            rec[f.name] = False


def check_required(obj: SObject, rec: dict[str, object]) -> None:
    """REQUIRED_FIELD_MISSING for required fields left empty."""
    missing = [f.name for f in obj.fields if f.required and rec.get(f.name) in (None, "")]
    if missing:
        raise ApiError(
            400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
        )


def _activity_account(rec: dict[str, object], lookup: Lookup) -> str | None:
    what = rec.get("WhatId")
    if isinstance(what, str):
        kind = object_of(what)
        if kind == "Account":
            return what
        if kind in ("Opportunity", "Case"):
            row = lookup(kind, what)
            if row and row.get("AccountId"):
                return str(row["AccountId"])
    who = rec.get("WhoId")
    if isinstance(who, str):
        row = lookup("Contact", who)
        if row and row.get("AccountId"):
            return str(row["AccountId"])
    return None


def derive(
    obj: SObject,
    old: dict[str, object] | None,
    rec: dict[str, object],
    changed: set[str],
    now: datetime,
    lookup: Lookup,
) -> None:
    """Compute derived fields in place: stage/status flags, names, activity accounts."""
    name = obj.name
    creating = old is None
    if name in ("Contact", "User") and (creating or changed & {"FirstName", "LastName"}):
        rec["Name"] = " ".join(str(p) for p in (rec.get("FirstName"), rec.get("LastName")) if p)
    if name == "Contact" and (creating or "EmailBouncedDate" in changed):
        rec["IsEmailBounced"] = rec.get("EmailBouncedDate") is not None
    if name == "Opportunity" and (creating or "StageName" in changed):
        stage = OPPORTUNITY_STAGES.get(str(rec.get("StageName")))
        if stage is not None:
            probability, closed, won, forecast = stage
            if "Probability" not in changed:
                rec["Probability"] = float(probability)
            if "ForecastCategoryName" not in changed:
                rec["ForecastCategoryName"] = forecast
            rec["IsClosed"], rec["IsWon"] = closed, won
        if not creating and old and old.get("StageName") != rec.get("StageName"):
            rec["LastStageChangeDate"] = now
    if name == "Case" and (creating or "Status" in changed):
        closed = CASE_STATUSES.get(str(rec.get("Status")), False)
        was_closed = bool(old and old.get("IsClosed"))
        rec["IsClosed"] = closed
        rec["ClosedDate"] = (rec.get("ClosedDate") if was_closed else now) if closed else None
    if name == "Task" and (creating or "Status" in changed):
        closed = TASK_STATUSES.get(str(rec.get("Status")), False)
        was_closed = bool(old and old.get("IsClosed"))
        rec["IsClosed"] = closed
        rec["CompletedDateTime"] = (rec.get("CompletedDateTime") if was_closed else now) if closed else None
    if name == "Event" and (creating or changed & _EVENT_TIMES):
        _event_times(rec, changed)
    if name in ("Task", "Event") and (creating or changed & {"WhatId", "WhoId"}):
        rec["AccountId"] = _activity_account(rec, lookup)


_EVENT_TIMES = {"ActivityDateTime", "StartDateTime", "EndDateTime", "DurationInMinutes", "ActivityDate"}


def _event_times(rec: dict[str, object], changed: set[str]) -> None:
    """Event start / activity time / end / duration / date kept consistent (the given ones win)."""
    start = rec.get("StartDateTime") if "StartDateTime" in changed else None
    moment = rec.get("ActivityDateTime") if "ActivityDateTime" in changed else None
    if start is not None and moment is None:
        rec["ActivityDateTime"] = start
    elif moment is not None and start is None:
        rec["StartDateTime"] = moment
    begin = rec.get("StartDateTime")
    if not isinstance(begin, datetime):
        return
    if "ActivityDate" not in changed:
        rec["ActivityDate"] = begin.date()
    end, minutes = rec.get("EndDateTime"), rec.get("DurationInMinutes")
    if "DurationInMinutes" in changed and isinstance(minutes, int) and "EndDateTime" not in changed:
        rec["EndDateTime"] = begin + timedelta(minutes=minutes)
    elif isinstance(end, datetime) and "DurationInMinutes" not in changed:
        rec["DurationInMinutes"] = int((end - begin).total_seconds() // 60)


def forecast_category(name: object) -> str | None:
    """OpportunityHistory.ForecastCategory from an opportunity's ForecastCategoryName."""
    if name is None:
        return None
    return {"Best Case": "BestCase", "Commit": "Forecast"}.get(str(name), str(name))
