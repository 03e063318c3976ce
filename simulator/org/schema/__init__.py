"""The simulated org's object model: every object and field the simulator serves, with describe metadata.

This table is the single source of truth inside the simulator: describe, SOQL validation, write checks
(createable / updateable / restricted picklists / lengths / required) and storage types all read it.
The product never imports it: the connector learns the same facts through the describe call.
"""

from __future__ import annotations

from simulator.org.schema.access import PACKAGE_FIELDS, FieldAccess
from simulator.org.schema.model import SOAP_TYPES, Field, SObject
from simulator.org.schema.sales import (
    ACCOUNT,
    ACCOUNT_HISTORY,
    CONTACT,
    OPPORTUNITY,
    OPPORTUNITY_CONTACT_ROLE,
    OPPORTUNITY_HISTORY,
    OPPORTUNITY_STAGES,
    USER,
)
from simulator.org.schema.service import CASE, CASE_STATUSES, EVENT, TASK, TASK_STATUSES
from simulator.org.schema.standard import complete

__all__ = [
    "CASE_STATUSES",
    "OPPORTUNITY_STAGES",
    "PACKAGE_FIELDS",
    "SCHEMA",
    "SOAP_TYPES",
    "TASK_STATUSES",
    "Field",
    "FieldAccess",
    "SObject",
    "fields_of",
    "sobject",
]

SCHEMA: dict[str, SObject] = {
    o.name: complete(o)
    for o in (
        USER,
        ACCOUNT,
        CONTACT,
        OPPORTUNITY,
        OPPORTUNITY_HISTORY,
        OPPORTUNITY_CONTACT_ROLE,
        CASE,
        TASK,
        EVENT,
        ACCOUNT_HISTORY,
    )
}
_BY_LOWER = {k.lower(): v for k, v in SCHEMA.items()}


def sobject(name: str) -> SObject | None:
    """The object of that name, case-insensitively, or None."""
    return _BY_LOWER.get(name.lower())


def fields_of(name: str) -> list[str]:
    """Names of an object's stored fields in describe order (compound address fields are not stored)."""
    return [f.name for f in SCHEMA[name].fields]
