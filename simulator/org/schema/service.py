"""Service-side objects: Case and the activities (Task, Event) with their status tables."""

from __future__ import annotations

from simulator.org.schema.model import Field, SObject, id_field, picklist, reference, system_fields

__all__ = ["CASE", "CASE_STATUSES", "EVENT", "TASK", "TASK_STATUSES"]

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

CASE = SObject(
    "Case",
    "Case",
    (
        id_field(),
        system_fields()[0],
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
        reference("AccountId", "Account", "Account"),
        reference("ContactId", "Contact", "Contact"),
        picklist("Status", tuple(CASE_STATUSES), nillable=False, defaulted_on_create=True, default="New"),
        Field(
            "IsClosed",
            "boolean",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        ),
        Field("ClosedDate", "datetime", createable=False, updateable=False),
        picklist("Priority", ("High", "Medium", "Low"), defaulted_on_create=True, default="Medium"),
        picklist("Origin", ("Phone", "Email", "Web")),
        picklist("Type", ("Mechanical", "Electrical", "Electronic", "Structural", "Billing", "Other")),
        picklist(
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
        reference("OwnerId", "User", "Owner", nillable=False, defaulted_on_create=True),
        *system_fields()[1:],
        Field("CSAT__c", "double", custom=True, label="Customer Satisfaction (1-5)"),
    ),
)

_ACTIVITY_COMMON = (
    reference("WhatId", ("Account", "Opportunity", "Case"), "What"),
    reference("WhoId", "Contact", "Who"),
    reference("AccountId", "Account", "Account", createable=False, updateable=False),
    Field("Subject", "combobox", 255),
    Field("ActivityDate", "date"),
    Field("Description", "textarea", 32000),
    reference("OwnerId", "User", "Owner", nillable=False, defaulted_on_create=True),
)

TASK = SObject(
    "Task",
    "Task",
    (
        id_field(),
        system_fields()[0],
        *_ACTIVITY_COMMON,
        picklist(
            "Status", tuple(TASK_STATUSES), nillable=False, defaulted_on_create=True, default="Not Started"
        ),
        picklist(
            "Priority", ("High", "Normal", "Low"), nillable=False, defaulted_on_create=True, default="Normal"
        ),
        picklist("Type", ("Call", "Email", "Meeting", "Other")),
        picklist(
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
        *system_fields()[1:],
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
        id_field(),
        system_fields()[0],
        *_ACTIVITY_COMMON,
        picklist("Type", ("Call", "Email", "Meeting", "Business Review", "Service Visit", "Other")),
        picklist("EventSubtype", ("Event",), updateable=False),
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
        *system_fields()[1:],
    ),
)
