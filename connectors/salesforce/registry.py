"""The objects the pipeline extracts, as data: one `ObjectEntry` per Salesforce object.

Fields listed here are what the pipeline *wants*; what it selects is `wanted ∩ describe` (`resolve_fields`). A wanted
field the org lacks (not deployed, or hidden by field-level security) is reported in the manifest's `missing_fields`;
only a missing *required* field stops the extract. Adding an object is adding an entry, not writing code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from crm_risk.errors import ConfigError, TerminalError
from crm_risk.fields import ACCOUNT_INPUTS, ACCOUNT_RISK, TASK_KEY

__all__ = [
    "ACCOUNT_FIELD",
    "ACCOUNT_PATH",
    "PULLED_WITH",
    "REGISTRY",
    "ObjectEntry",
    "RegistryEntry",
    "entries",
    "entry",
    "resolve_fields",
    "select",
]

_SYSTEM = ("CreatedById", "CreatedDate", "LastModifiedById", "LastModifiedDate", "SystemModstamp")


@dataclass(frozen=True)
class ObjectEntry:
    """One object to extract: wanted and required fields, cursor, and delete semantics (its raw table is the
    warehouse's to name: connectors.warehouse.table_for)."""

    name: str
    fields: tuple[str, ...]
    required: tuple[str, ...]
    cursor_field: str = "SystemModstamp"
    has_is_deleted: bool = True

    @property
    def tracks_hard_deletes(self) -> bool:
        """Whether `sobjects/X/deleted` is asked for hard deletes (objects that can be deleted at all)."""
        return self.has_is_deleted


RegistryEntry = ObjectEntry  # the name flows/ use

# the objects whose changes concern one account -> the field naming it (Salesforce fills Task/Event.AccountId from WhatId/WhoId)
ACCOUNT_FIELD = {
    "Account": "Id",
    "Contact": "AccountId",
    "Opportunity": "AccountId",
    "Case": "AccountId",
    "Task": "AccountId",
    "Event": "AccountId",
}

# every account-owned object -> the SOQL path from its record to the account (an account refresh pulls by it);
# User is the org's, not an account's, and is left to the nightly sync
ACCOUNT_PATH = {
    **ACCOUNT_FIELD,
    "OpportunityHistory": "Opportunity.AccountId",
    "OpportunityContactRole": "Opportunity.AccountId",
    "AccountHistory": "AccountId",
}

# objects without change events of their own, written by Salesforce with a change to another: pulled with it
PULLED_WITH = {
    "Account": ("AccountHistory",),
    "Opportunity": ("OpportunityHistory", "OpportunityContactRole"),
}


REGISTRY: tuple[ObjectEntry, ...] = (
    ObjectEntry(
        "User",
        (
            "Id",
            "Username",
            "FirstName",
            "LastName",
            "Name",
            "Email",
            "Title",
            "Department",
            "IsActive",
            "ManagerId",
            *_SYSTEM,
        ),
        ("Id", "Name", "IsActive", "SystemModstamp"),
        has_is_deleted=False,
    ),
    ObjectEntry(
        "Account",
        (
            "Id",
            "IsDeleted",
            "Name",
            "Type",
            "Industry",
            "AnnualRevenue",
            "NumberOfEmployees",
            "Phone",
            "Website",
            "BillingCity",
            "BillingCountry",
            "ParentId",
            "OwnerId",
            "LastActivityDate",
            *_SYSTEM,
            *(f.name for f in ACCOUNT_INPUTS),
            *(f.name for f in ACCOUNT_RISK.values()),
        ),
        ("Id", "IsDeleted", "Name", "OwnerId", "CreatedDate", "SystemModstamp"),
    ),
    ObjectEntry(
        "Contact",
        (
            "Id",
            "IsDeleted",
            "AccountId",
            "FirstName",
            "LastName",
            "Name",
            "Title",
            "Email",
            "Phone",
            "IsEmailBounced",
            "EmailBouncedDate",
            "EmailBouncedReason",
            "LastActivityDate",
            "OwnerId",
            *_SYSTEM,
            "Left_Company__c",
        ),
        ("Id", "IsDeleted", "AccountId", "SystemModstamp"),
    ),
    ObjectEntry(
        "Opportunity",
        (
            "Id",
            "IsDeleted",
            "AccountId",
            "Name",
            "StageName",
            "Amount",
            "Probability",
            "CloseDate",
            "Type",
            "IsClosed",
            "IsWon",
            "ForecastCategoryName",
            "LastStageChangeDate",
            "LastActivityDate",
            "OwnerId",
            *_SYSTEM,
        ),
        ("Id", "IsDeleted", "AccountId", "StageName", "CloseDate", "IsClosed", "IsWon", "SystemModstamp"),
    ),
    ObjectEntry(
        "OpportunityHistory",
        (
            "Id",
            "IsDeleted",
            "OpportunityId",
            "StageName",
            "Amount",
            "Probability",
            "CloseDate",
            "ForecastCategory",
            "PrevAmount",
            "PrevCloseDate",
            "CreatedById",
            "CreatedDate",
            "SystemModstamp",
        ),
        ("Id", "IsDeleted", "OpportunityId", "StageName", "CreatedDate", "SystemModstamp"),
    ),
    ObjectEntry(
        "OpportunityContactRole",
        ("Id", "IsDeleted", "OpportunityId", "ContactId", "Role", "IsPrimary", *_SYSTEM),
        ("Id", "IsDeleted", "OpportunityId", "ContactId", "SystemModstamp"),
    ),
    ObjectEntry(
        "Case",
        (
            "Id",
            "IsDeleted",
            "CaseNumber",
            "AccountId",
            "ContactId",
            "Status",
            "IsClosed",
            "ClosedDate",
            "Priority",
            "Origin",
            "Type",
            "Reason",
            "IsEscalated",
            "Subject",
            "Description",
            "OwnerId",
            *_SYSTEM,
            "CSAT__c",
        ),
        ("Id", "IsDeleted", "AccountId", "Status", "IsClosed", "CreatedDate", "SystemModstamp"),
    ),
    ObjectEntry(
        "Task",
        (
            "Id",
            "IsDeleted",
            "WhatId",
            "WhoId",
            "AccountId",
            "Subject",
            "ActivityDate",
            "Description",
            "OwnerId",
            "Status",
            "Priority",
            "Type",
            "TaskSubtype",
            "IsClosed",
            "CompletedDateTime",
            "IsArchived",
            *_SYSTEM,
            TASK_KEY.name,
        ),
        ("Id", "IsDeleted", "WhatId", "AccountId", "Status", "SystemModstamp"),
    ),
    ObjectEntry(
        "Event",
        (
            "Id",
            "IsDeleted",
            "WhatId",
            "WhoId",
            "AccountId",
            "Subject",
            "ActivityDate",
            "Description",
            "OwnerId",
            "Type",
            "EventSubtype",
            "ActivityDateTime",
            "StartDateTime",
            "EndDateTime",
            "DurationInMinutes",
            "IsAllDayEvent",
            "IsArchived",
            *_SYSTEM,
        ),
        ("Id", "IsDeleted", "WhatId", "AccountId", "SystemModstamp"),
    ),
    ObjectEntry(
        "AccountHistory",
        (
            "Id",
            "IsDeleted",
            "AccountId",
            "Field",
            "DataType",
            "OldValue",
            "NewValue",
            "CreatedById",
            "CreatedDate",
        ),
        ("Id", "AccountId", "Field", "CreatedDate"),
        cursor_field="CreatedDate",  # AccountHistory has no SystemModstamp
    ),
)

_BY_NAME = {e.name.lower(): e for e in REGISTRY}


def entry(name: str) -> ObjectEntry:
    """The registry entry of an object (case-insensitive); ConfigError naming the known objects otherwise."""
    found = _BY_NAME.get(name.lower())
    if found is None:
        known = ", ".join(e.name for e in REGISTRY)
        raise ConfigError(f"CRM_RISK_EXTRACT_OBJECTS: unknown object {name!r}; known objects: {known}")
    return found


def entries(names: Iterable[str] | None = None) -> tuple[ObjectEntry, ...]:
    """The entries for `names` in registry order (all of them when `names` is None or empty)."""
    if not names:
        return REGISTRY
    wanted = {entry(n).name for n in names}
    return tuple(e for e in REGISTRY if e.name in wanted)


def select(wanted: Iterable[str] | None) -> list[ObjectEntry]:
    """The entries a run extracts: `wanted` in its order (`--objects` or CRM_RISK_EXTRACT_OBJECTS), all when empty;
    unknown names refused with one ConfigError naming them all."""
    wanted = list(wanted or [])
    found = list(REGISTRY)
    if wanted:
        missing = [o for o in wanted if o.lower() not in _BY_NAME]
        if missing:
            raise ConfigError(
                f"unknown object(s) {missing} (in --objects or CRM_RISK_EXTRACT_OBJECTS); "
                f"known: {sorted(e.name for e in found)}"
            )
        found = [_BY_NAME[o.lower()] for o in wanted]
    return found


# Compound and binary fields: Bulk 2.0 cannot select them and the warehouse has no column type for them.
_UNSELECTABLE = frozenset({"address", "location", "base64", "complexvalue"})


def resolve_fields(obj: ObjectEntry, describe: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """({field: describe type} in registry order, with the org's spelling; [wanted fields the org lacks]).

    Raises TerminalError naming the missing required fields and what to check.
    """
    by_lower = {
        str(f["name"]).lower(): f
        for f in describe.get("fields", [])
        if str(f.get("type", "")).lower() not in _UNSELECTABLE
    }
    selected: dict[str, str] = {}
    missing: list[str] = []
    for name in obj.fields:
        found = by_lower.get(name.lower())
        if found is None:
            missing.append(name)
        else:
            selected[str(found["name"])] = str(found.get("type", "string"))
    lacking = [n for n in obj.required if n.lower() not in by_lower]
    if lacking:
        raise TerminalError(
            f"{obj.name}: required fields {', '.join(lacking)} are not visible to the integration user "
            "(missing from describe): grant field-level security on them or check the API version "
            "(CRM_RISK_SF_API_VERSION)",
            code="INVALID_FIELD",
        )
    return selected, missing
