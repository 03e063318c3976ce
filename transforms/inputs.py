"""The raw columns the staging views read, with their warehouse types.

Before the SQL runs, `ensure_raw_inputs` creates a missing raw table and adds a missing column as all-NULL,
so an org without an optional field (e.g. no `CSAT__c`) still builds: the signal that needs it reports
"not scored" in marts.signal_coverage instead of failing the run or silently reading as green.
"""

from __future__ import annotations

import duckdb

from connectors.warehouse.load import SYSTEM_COLUMNS

__all__ = ["RAW_INPUTS", "ensure_raw_inputs"]

V, B, D, T, F = "VARCHAR", "BOOLEAN", "DATE", "TIMESTAMPTZ", "DOUBLE"
_COMMON = {"Id": V, "IsDeleted": B, "CreatedDate": T, "SystemModstamp": T}

RAW_INPUTS: dict[str, dict[str, str]] = {
    "user": {
        "Id": V,
        "Name": V,
        "FirstName": V,
        "LastName": V,
        "Email": V,
        "IsActive": B,
        "SystemModstamp": T,
    },
    "account": {
        **_COMMON,
        "Name": V,
        "Type": V,
        "Industry": V,
        "OwnerId": V,
        "ParentId": V,
        "Expected_Resolution_Days__c": F,
        "Key_Account__c": B,
        "Risk_Level__c": V,
        "Risk_Score__c": F,
        "Risk_Reasons__c": V,
        "Risk_Trend__c": V,
        "Risk_Computed_At__c": T,
        "Risk_Model_Version__c": V,
    },
    "contact": {
        **_COMMON,
        "AccountId": V,
        "FirstName": V,
        "LastName": V,
        "Name": V,
        "Title": V,
        "Email": V,
        "IsEmailBounced": B,
        "EmailBouncedDate": T,
        "EmailBouncedReason": V,
        "Left_Company__c": B,
    },
    "opportunity": {
        **_COMMON,
        "AccountId": V,
        "Name": V,
        "StageName": V,
        "Amount": F,
        "CloseDate": D,
        "Type": V,
        "IsClosed": B,
        "IsWon": B,
        "OwnerId": V,
    },
    "opportunity_history": {
        **_COMMON,
        "OpportunityId": V,
        "StageName": V,
        "Amount": F,
        "CloseDate": D,
        "PrevAmount": F,
        "PrevCloseDate": D,
    },
    "opportunity_contact_role": {**_COMMON, "OpportunityId": V, "ContactId": V, "Role": V, "IsPrimary": B},
    "case": {
        **_COMMON,
        "CaseNumber": V,
        "AccountId": V,
        "ContactId": V,
        "Status": V,
        "IsClosed": B,
        "ClosedDate": T,
        "Priority": V,
        "Origin": V,
        "Type": V,
        "Reason": V,
        "IsEscalated": B,
        "Subject": V,
        "OwnerId": V,
        "CSAT__c": F,
    },
    "task": {
        **_COMMON,
        "WhatId": V,
        "WhoId": V,
        "AccountId": V,
        "Subject": V,
        "ActivityDate": D,
        "Description": V,
        "Status": V,
        "Type": V,
        "IsClosed": B,
        "CompletedDateTime": T,
        "OwnerId": V,
        "Risk_Task_Key__c": V,
    },
    "event": {
        **_COMMON,
        "WhatId": V,
        "WhoId": V,
        "AccountId": V,
        "Subject": V,
        "Type": V,
        "ActivityDate": D,
        "ActivityDateTime": T,
        "StartDateTime": T,
        "OwnerId": V,
    },
    "account_history": {
        "Id": V,
        "IsDeleted": B,
        "CreatedDate": T,
        "AccountId": V,
        "Field": V,
        "OldValue": V,
        "NewValue": V,
    },
}


def ensure_raw_inputs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create missing raw tables / add missing input columns (NULL); returns the `table.column`s added."""
    con.execute("create schema if not exists raw")
    existing: dict[str, set[str]] = {}
    for table, column in con.execute(
        "select table_name, column_name from information_schema.columns where table_schema = 'raw'"
    ).fetchall():
        existing.setdefault(table, set()).add(column.lower())
    added = []
    for table, columns in RAW_INPUTS.items():
        wanted = {**columns, **SYSTEM_COLUMNS}
        if table not in existing:
            cols = ", ".join(f'"{c}" {t}' for c, t in wanted.items())
            con.execute(f'create table raw."{table}" ({cols})')
            continue
        for col, typ in wanted.items():
            if col.lower() not in existing[table]:
                con.execute(f'alter table raw."{table}" add column "{col}" {typ}')
                added.append(f"{table}.{col}")
    return added
