"""Field-level security of the integration user: fields hidden from it, or read-only for it.

A hidden field is what an org without the field deployed (or without its field permission) shows the API user:
absent from describe, `INVALID_FIELD No such column` in SOQL, `INVALID_FIELD` in a write body. A read-only field is
in describe with `createable`/`updateable` false, and a write naming it is `INVALID_FIELD_FOR_INSERT_UPDATE`.
Only the integration user's API requests are restricted; the org's own writes (the generator, the business
simulation, in-process calls) are not, as permission sets restrict users, not the org.

    access.hide("Account.Risk_Score__c"); access.read_only("Account.Risk_Level__c"); access.clear()
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["PACKAGE_FIELDS", "FieldAccess"]

# the crm-risk package's fields (salesforce/ in the product): hiding them all is an org the package is not deployed to
PACKAGE_FIELDS = (
    "Account.Risk_Level__c",
    "Account.Risk_Score__c",
    "Account.Risk_Reasons__c",
    "Account.Risk_Trend__c",
    "Account.Risk_Computed_At__c",
    "Account.Risk_Model_Version__c",
    "Account.Expected_Resolution_Days__c",
    "Account.Key_Account__c",
    "Task.Risk_Task_Key__c",
)


def _key(qualified: str) -> tuple[str, str]:
    obj, dot, name = qualified.partition(".")
    if not dot or not obj or not name:
        raise ValueError(f"field {qualified!r}: expected Object.Field (e.g. Account.Risk_Score__c)")
    return obj.lower(), name.lower()


class FieldAccess:
    """The integration user's hidden and read-only fields (thread-safe; changeable while the server runs)."""

    def __init__(self, hidden: Iterable[str] = (), read_only: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._hidden: set[tuple[str, str]] = set()
        self._read_only: set[tuple[str, str]] = set()
        self.hide(*hidden)
        self.read_only(*read_only)

    def hide(self, *fields: str) -> None:
        """Hide `Object.Field`s from the integration user (as if not deployed, or without field permission)."""
        with self._lock:
            self._hidden.update(_key(f) for f in fields)

    def read_only(self, *fields: str) -> None:
        """Make `Object.Field`s read-only for the integration user."""
        with self._lock:
            self._read_only.update(_key(f) for f in fields)

    def clear(self) -> None:
        """Every field visible and writable again."""
        with self._lock:
            self._hidden.clear()
            self._read_only.clear()

    def hidden(self, sobject: str, field: str) -> bool:
        """Whether the field is hidden from the integration user."""
        return (sobject.lower(), field.lower()) in self._hidden

    def writable(self, sobject: str, field: str) -> bool:
        """Whether field-level security lets the integration user write the field (the schema may still refuse)."""
        key = (sobject.lower(), field.lower())
        return key not in self._read_only and key not in self._hidden

    def describe(self, sobject: str, body: dict[str, Any]) -> dict[str, Any]:
        """An sObject describe as the integration user sees it (a copy when anything differs)."""
        mine = {f for o, f in self._hidden | self._read_only if o == sobject.lower()}
        if not mine:
            return body
        fields = []
        for f in body.get("fields", []):
            name = str(f.get("name", ""))
            if self.hidden(sobject, name):
                continue
            if not self.writable(sobject, name):
                f = {**f, "createable": False, "updateable": False}
            fields.append(f)
        return {**body, "fields": fields}
