"""The simulated org's object model: every object and field the simulator serves, with describe metadata.

This table is the single source of truth inside the simulator: describe, SOQL validation, write checks
(createable / updateable / restricted picklists / lengths / required) and storage types all read it.
The product never imports it: the connector learns the same facts through the describe call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SCHEMA", "Field", "SObject", "fields_of", "sobject"]

# Field types are the standard describe types only (DESIGN.md: simulator).
SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "picklist": "xsd:string",
    "textarea": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "url": "xsd:string",
    "combobox": "xsd:string",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "boolean": "xsd:boolean",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "anyType": "xsd:anyType",
}


@dataclass(frozen=True)
class Field:
    """One field's describe metadata (the subset the simulator enforces; describe fills the rest)."""

    name: str
    type: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    custom: bool = False
    external_id: bool = False
    unique: bool = False
    calculated: bool = False
    defaulted_on_create: bool = False
    default: object = None
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    id_lookup: bool = False
    name_field: bool = False
    required: bool = False  # required on create (nillable False and not defaulted)
    label: str = ""


@dataclass(frozen=True)
class SObject:
    """One object's describe metadata and its fields in describe order."""

    name: str
    label: str
    fields: tuple[Field, ...]
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    replicateable: bool = True
    custom: bool = False
    by_name: dict[str, Field] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_name.update({f.name.lower(): f for f in self.fields})

    def field(self, name: str) -> Field | None:
        """The field of that name, case-insensitively (SOQL and REST bodies are case-insensitive)."""
        return self.by_name.get(name.lower())


def _id() -> Field:
    return Field(
        "Id", "id", 18, nillable=False, createable=False, updateable=False, id_lookup=True, label="Record ID"
    )


def _ref(name: str, to: str | tuple[str, ...], rel: str | None, **kw: object) -> Field:
    targets = (to,) if isinstance(to, str) else to
    return Field(name, "reference", 18, reference_to=targets, relationship_name=rel, **kw)  # type: ignore[arg-type]


def _system(deletable: bool = True, modstamp: bool = True) -> tuple[Field, ...]:
    out = [
        _ref(
            "CreatedById",
            "User",
            "CreatedBy",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        ),
        Field(
            "CreatedDate",
            "datetime",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        ),
    ]
    if modstamp:
        out += [
            _ref(
                "LastModifiedById",
                "User",
                "LastModifiedBy",
                nillable=False,
                createable=False,
                updateable=False,
                defaulted_on_create=True,
            ),
            Field(
                "LastModifiedDate",
                "datetime",
                nillable=False,
                createable=False,
                updateable=False,
                defaulted_on_create=True,
            ),
            Field(
                "SystemModstamp",
                "datetime",
                nillable=False,
                createable=False,
                updateable=False,
                defaulted_on_create=True,
            ),
        ]
    if deletable:
        out.insert(
            0,
            Field(
                "IsDeleted",
                "boolean",
                nillable=False,
                createable=False,
                updateable=False,
                defaulted_on_create=True,
                default=False,
            ),
        )
    return tuple(out)


def _pick(name: str, values: tuple[str, ...], restricted: bool = False, **kw: object) -> Field:
    return Field(
        name, "picklist", 255 if not restricted else 40, picklist=values, restricted=restricted, **kw
    )  # type: ignore[arg-type]


OPPORTUNITY_STAGES: dict[str, tuple[int, bool, bool, str]] = {
    # stage -> (probability, is_closed, is_won, forecast category)
    "Prospecting": (10, False, False, "Pipeline"),
    "Qualification": (10, False, False, "Pipeline"),
    "Needs Analysis": (20, False, False, "Pipeline"),
    "Value Proposition": (50, False, False, "Pipeline"),
    "Id. Decision Makers": (60, False, False, "Pipeline"),
    "Perception Analysis": (70, False, False, "Pipeline"),
    "Proposal/Price Quote": (75, False, False, "Pipeline"),
    "Negotiation/Review": (90, False, False, "Commit"),
    "Closed Won": (100, True, True, "Closed"),
    "Closed Lost": (0, True, False, "Omitted"),
}
CASE_STATUSES: dict[str, bool] = {
    "New": False,
    "Working": False,
    "Escalated": False,
    "On Hold": False,
    "Closed": True,
}
TASK_STATUSES: dict[str, bool] = {
    "Not Started": False,
    "In Progress": False,
    "Completed": True,
    "Waiting on someone else": False,
    "Deferred": False,
}

USER = SObject(
    "User",
    "User",
    (
        _id(),
        Field("Username", "string", 80, nillable=False, unique=True, id_lookup=True),
        Field("FirstName", "string", 40),
        Field("LastName", "string", 80, nillable=False, required=True),
        Field("Name", "string", 121, createable=False, updateable=False, name_field=True, calculated=True),
        Field("Email", "email", 128, nillable=False, required=True),
        Field("Title", "string", 80),
        Field("Department", "string", 80),
        Field("IsActive", "boolean", nillable=False, defaulted_on_create=True, default=True),
        _ref("ManagerId", "User", "Manager"),
        *_system(deletable=False),
    ),
    deletable=False,
)

ACCOUNT = SObject(
    "Account",
    "Account",
    (
        _id(),
        _system()[0],
        Field("Name", "string", 255, nillable=False, required=True, name_field=True),
        _pick(
            "Type",
            (
                "Prospect",
                "Customer - Direct",
                "Customer - Channel",
                "Channel Partner / Reseller",
                "Installation Partner",
                "Technology Partner",
                "Other",
            ),
        ),
        _pick(
            "Industry",
            (
                "Agriculture",
                "Banking",
                "Construction",
                "Education",
                "Energy",
                "Healthcare",
                "Manufacturing",
                "Retail",
                "Technology",
                "Transportation",
                "Utilities",
                "Other",
            ),
        ),
        Field("AnnualRevenue", "currency"),
        Field("NumberOfEmployees", "int"),
        Field("Phone", "phone", 40),
        Field("Website", "url", 255),
        Field("BillingCity", "string", 40),
        Field("BillingCountry", "string", 80),
        _ref("ParentId", "Account", "Parent"),
        _ref("OwnerId", "User", "Owner", nillable=False, defaulted_on_create=True),
        Field("LastActivityDate", "date", createable=False, updateable=False),
        *_system()[1:],
        # Customer-expectation inputs (optional in a real org; present in the simulated one).
        Field("Expected_Resolution_Days__c", "double", custom=True, label="Expected Resolution (days)"),
        Field(
            "Key_Account__c", "boolean", nillable=False, custom=True, defaulted_on_create=True, default=False
        ),
        # The product's own fields (salesforce/ metadata deploys them to a real org).
        _pick(
            "Risk_Level__c",
            ("Red", "Amber", "Green"),
            restricted=True,
            custom=True,
            label="Relationship Risk",
        ),
        Field("Risk_Score__c", "double", custom=True, label="Risk Score"),
        Field("Risk_Reasons__c", "textarea", 1000, custom=True, label="Risk Reasons"),
        _pick(
            "Risk_Trend__c", ("Rising", "Steady", "Falling"), restricted=True, custom=True, label="Risk Trend"
        ),
        Field("Risk_Computed_At__c", "datetime", custom=True, label="Risk Computed At"),
        Field("Risk_Model_Version__c", "string", 40, custom=True, label="Risk Model Version"),
    ),
)

CONTACT = SObject(
    "Contact",
    "Contact",
    (
        _id(),
        _system()[0],
        _ref("AccountId", "Account", "Account"),
        Field("FirstName", "string", 40),
        Field("LastName", "string", 80, nillable=False, required=True),
        Field("Name", "string", 121, createable=False, updateable=False, name_field=True, calculated=True),
        Field("Title", "string", 128),
        Field("Email", "email", 80, id_lookup=True),
        Field("Phone", "phone", 40),
        Field(
            "IsEmailBounced",
            "boolean",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
            default=False,
        ),
        Field("EmailBouncedDate", "datetime"),
        Field("EmailBouncedReason", "string", 255),
        Field("LastActivityDate", "date", createable=False, updateable=False),
        _ref("OwnerId", "User", "Owner", nillable=False, defaulted_on_create=True),
        *_system()[1:],
        Field(
            "Left_Company__c",
            "boolean",
            nillable=False,
            custom=True,
            defaulted_on_create=True,
            default=False,
            label="Left the Company",
        ),
    ),
)

OPPORTUNITY = SObject(
    "Opportunity",
    "Opportunity",
    (
        _id(),
        _system()[0],
        _ref("AccountId", "Account", "Account"),
        Field("Name", "string", 120, nillable=False, required=True, name_field=True),
        _pick("StageName", tuple(OPPORTUNITY_STAGES), nillable=False, required=True),
        Field("Amount", "currency"),
        Field("Probability", "percent"),
        Field("CloseDate", "date", nillable=False, required=True),
        _pick("Type", ("New Business", "Existing Business", "Renewal")),
        Field(
            "IsClosed",
            "boolean",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        ),
        Field(
            "IsWon", "boolean", nillable=False, createable=False, updateable=False, defaulted_on_create=True
        ),
        _pick("ForecastCategoryName", ("Omitted", "Pipeline", "Best Case", "Commit", "Closed")),
        Field("LastStageChangeDate", "datetime", createable=False, updateable=False),
        Field("LastActivityDate", "date", createable=False, updateable=False),
        _ref("OwnerId", "User", "Owner", nillable=False, defaulted_on_create=True),
        *_system()[1:],
    ),
)

OPPORTUNITY_HISTORY = SObject(
    "OpportunityHistory",
    "Opportunity History",
    (
        _id(),
        _system()[0],
        _ref(
            "OpportunityId", "Opportunity", "Opportunity", nillable=False, createable=False, updateable=False
        ),
        _pick("StageName", tuple(OPPORTUNITY_STAGES), createable=False, updateable=False),
        Field("Amount", "currency", createable=False, updateable=False),
        Field("Probability", "percent", createable=False, updateable=False),
        Field("CloseDate", "date", createable=False, updateable=False),
        _pick(
            "ForecastCategory",
            ("Omitted", "Pipeline", "BestCase", "Forecast", "Closed"),
            createable=False,
            updateable=False,
        ),
        Field("PrevAmount", "currency", createable=False, updateable=False),
        Field("PrevCloseDate", "date", createable=False, updateable=False),
        _system()[1],
        _system()[2],
        Field(
            "SystemModstamp",
            "datetime",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        ),
    ),
    createable=False,
    updateable=False,
    deletable=False,
)

OPPORTUNITY_CONTACT_ROLE = SObject(
    "OpportunityContactRole",
    "Opportunity Contact Role",
    (
        _id(),
        _system()[0],
        _ref("OpportunityId", "Opportunity", "Opportunity", nillable=False, required=True, updateable=False),
        _ref("ContactId", "Contact", "Contact", nillable=False, required=True),
        _pick(
            "Role",
            (
                "Business User",
                "Decision Maker",
                "Economic Buyer",
                "Economic Decision Maker",
                "Evaluator",
                "Executive Sponsor",
                "Influencer",
                "Technical Buyer",
                "Other",
            ),
        ),
        Field("IsPrimary", "boolean", nillable=False, defaulted_on_create=True, default=False),
        *_system()[1:],
    ),
)

CASE = SObject(
    "Case",
    "Case",
    (
        _id(),
        _system()[0],
        Field(
            "CaseNumber",
            "string",
            30,
            nillable=False,
            createable=False,
            updateable=False,
            name_field=True,
            defaulted_on_create=True,
        ),
        _ref("AccountId", "Account", "Account"),
        _ref("ContactId", "Contact", "Contact"),
        _pick("Status", tuple(CASE_STATUSES), nillable=False, defaulted_on_create=True, default="New"),
        Field(
            "IsClosed",
            "boolean",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        ),
        Field("ClosedDate", "datetime", createable=False, updateable=False),
        _pick("Priority", ("High", "Medium", "Low"), defaulted_on_create=True, default="Medium"),
        _pick("Origin", ("Phone", "Email", "Web")),
        _pick("Type", ("Mechanical", "Electrical", "Electronic", "Structural", "Billing", "Other")),
        _pick(
            "Reason",
            (
                "Installation",
                "Equipment Complexity",
                "Performance",
                "Breakdown",
                "Equipment Design",
                "Feedback",
                "Unexpected Charges",
                "Not What We Agreed",
                "Other",
            ),
        ),
        Field("IsEscalated", "boolean", nillable=False, defaulted_on_create=True, default=False),
        Field("Subject", "string", 255),
        Field("Description", "textarea", 32000),
        _ref("OwnerId", "User", "Owner", nillable=False, defaulted_on_create=True),
        *_system()[1:],
        Field("CSAT__c", "double", custom=True, label="Customer Satisfaction (1-5)"),
    ),
)

_ACTIVITY_COMMON = (
    _ref("WhatId", ("Account", "Opportunity", "Case"), "What"),
    _ref("WhoId", "Contact", "Who"),
    _ref("AccountId", "Account", "Account", createable=False, updateable=False),
    Field("Subject", "combobox", 255),
    Field("ActivityDate", "date"),
    Field("Description", "textarea", 32000),
    _ref("OwnerId", "User", "Owner", nillable=False, defaulted_on_create=True),
)

TASK = SObject(
    "Task",
    "Task",
    (
        _id(),
        _system()[0],
        *_ACTIVITY_COMMON,
        _pick(
            "Status", tuple(TASK_STATUSES), nillable=False, defaulted_on_create=True, default="Not Started"
        ),
        _pick(
            "Priority", ("High", "Normal", "Low"), nillable=False, defaulted_on_create=True, default="Normal"
        ),
        _pick("Type", ("Call", "Email", "Meeting", "Other")),
        _pick(
            "TaskSubtype", ("Task", "Email", "LinkedIn", "List Email", "Cadence", "Call"), updateable=False
        ),
        Field(
            "IsClosed",
            "boolean",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        ),
        Field("CompletedDateTime", "datetime", createable=False, updateable=False),
        Field(
            "IsArchived",
            "boolean",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        ),
        *_system()[1:],
        # The product's idempotency key for owner tasks: one open Task per (account, signal).
        Field(
            "Risk_Task_Key__c",
            "string",
            80,
            custom=True,
            external_id=True,
            unique=True,
            label="Risk Task Key",
        ),
    ),
)

EVENT = SObject(
    "Event",
    "Event",
    (
        _id(),
        _system()[0],
        *_ACTIVITY_COMMON,
        _pick("Type", ("Call", "Email", "Meeting", "Business Review", "Service Visit", "Other")),
        _pick("EventSubtype", ("Event",), updateable=False),
        Field("ActivityDateTime", "datetime"),
        Field("StartDateTime", "datetime"),
        Field("EndDateTime", "datetime"),
        Field("DurationInMinutes", "int"),
        Field("IsAllDayEvent", "boolean", nillable=False, defaulted_on_create=True, default=False),
        Field(
            "IsArchived",
            "boolean",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        ),
        *_system()[1:],
    ),
)

ACCOUNT_HISTORY = SObject(
    "AccountHistory",
    "Account History",
    (
        _id(),
        _system()[0],
        _ref("AccountId", "Account", "Account", nillable=False, createable=False, updateable=False),
        _pick("Field", ("Owner", "Name", "Type", "created"), createable=False, updateable=False),
        Field("DataType", "string", 40, createable=False, updateable=False),
        Field("OldValue", "anyType", createable=False, updateable=False),
        Field("NewValue", "anyType", createable=False, updateable=False),
        *_system(
            deletable=False, modstamp=False
        ),  # AccountHistory has no SystemModstamp: extract on CreatedDate
    ),
    createable=False,
    updateable=False,
    deletable=False,
)

SCHEMA: dict[str, SObject] = {
    o.name: o
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
    """Field names of an object in describe order."""
    return [f.name for f in SCHEMA[name].fields]
