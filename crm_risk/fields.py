"""The CRM fields of the crm-risk package (`salesforce/`): the one place their names and shapes are written down.

The push (settings.push_fields' default), the owner Tasks' key, the demo, `crm-risk doctor` and the package test all
read them from here; tests/salesforce checks every one against the package's XML (type, length, picklist values)
and the push view's column names (transforms/sync/account_push_pending.sql).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACCOUNT_INPUTS",
    "ACCOUNT_RISK",
    "PACKAGE",
    "PUSH_FIELDS",
    "TASK_KEY",
    "CrmField",
    "describe_types",
]


@dataclass(frozen=True)
class CrmField:
    """One custom field: its object and API name, metadata type (CustomField `type`) and shape."""

    sobject: str
    name: str
    type: str  # Picklist, Number, LongTextArea, DateTime, Text, Checkbox
    length: int | None = None  # Text / LongTextArea
    precision: int | None = None  # Number
    scale: int | None = None  # Number
    values: tuple[str, ...] = ()  # a restricted picklist's values
    external_id: bool = False
    unique: bool = False

    @property
    def qualified(self) -> str:
        """`Object.Field`, as permission sets and doctor name it."""
        return f"{self.sobject}.{self.name}"


# metadata type -> the describe types the API reports for it
_DESCRIBE_TYPES = {
    "Picklist": ("picklist",),
    "Number": ("double", "int"),
    "LongTextArea": ("textarea",),
    "TextArea": ("textarea",),
    "DateTime": ("datetime",),
    "Text": ("string",),
    "Checkbox": ("boolean",),
}


def describe_types(field: CrmField) -> tuple[str, ...]:
    """The describe `type`s an org may report for this field."""
    return _DESCRIBE_TYPES[field.type]


# pipeline value -> the Account field it is written to
ACCOUNT_RISK: dict[str, CrmField] = {
    "level": CrmField("Account", "Risk_Level__c", "Picklist", values=("Red", "Amber", "Green")),
    "score": CrmField("Account", "Risk_Score__c", "Number", precision=3, scale=0),
    "reasons": CrmField("Account", "Risk_Reasons__c", "LongTextArea", length=1000),
    "trend": CrmField("Account", "Risk_Trend__c", "Picklist", values=("Rising", "Steady", "Falling")),
    "computed_at": CrmField("Account", "Risk_Computed_At__c", "DateTime"),
    "model_version": CrmField("Account", "Risk_Model_Version__c", "Text", length=40),
}
PUSH_FIELDS: dict[str, str] = {key: f.name for key, f in ACCOUNT_RISK.items()}

# read when present, written by people
ACCOUNT_INPUTS: tuple[CrmField, ...] = (
    CrmField("Account", "Expected_Resolution_Days__c", "Number", precision=4, scale=1),
    CrmField("Account", "Key_Account__c", "Checkbox"),
)

# the idempotency key of owner Tasks (upsert on it)
TASK_KEY = CrmField("Task", "Risk_Task_Key__c", "Text", length=80, external_id=True, unique=True)

PACKAGE: tuple[CrmField, ...] = (*ACCOUNT_RISK.values(), *ACCOUNT_INPUTS, TASK_KEY)
