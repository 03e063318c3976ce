"""The change-watch query: which records of an object changed in a window, with their account, one query each.

For orgs with neither Change Data Capture nor Outbound Messages: `SystemModstamp` moves on every change (ours
included), `queryAll` also returns records deleted since (IsDeleted = true), and the account comes in the same row,
so a poll costs one query (plus queryMore pages) per watched object and no lookups.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from connectors.salesforce.client import CrmClient
from connectors.salesforce.registry import ACCOUNT_FIELD
from connectors.salesforce.windows import soql_datetime

__all__ = ["ChangedRecord", "changed_since"]


@dataclass(frozen=True)
class ChangedRecord:
    """One record that changed in the window."""

    record_id: str
    account_id: str | None
    deleted: bool
    stamp: str  # SystemModstamp as Salesforce wrote it


def changed_since(
    client: CrmClient, sobject: str, since: datetime, until: datetime
) -> Iterator[ChangedRecord]:
    """Records of `sobject` whose SystemModstamp is in (since, until], deleted ones included, oldest first."""
    account = ACCOUNT_FIELD[sobject]
    extra = "" if account == "Id" else f", {account}"
    soql = (
        f"SELECT Id{extra}, IsDeleted, SystemModstamp FROM {sobject} "
        f"WHERE SystemModstamp > {soql_datetime(since)} AND SystemModstamp <= {soql_datetime(until)} "
        "ORDER BY SystemModstamp"
    )
    for page in client.query_pages(soql, include_deleted=True):
        for rec in page.get("records", []):
            yield ChangedRecord(
                record_id=str(rec["Id"]),
                account_id=str(rec.get(account)) if rec.get(account) else None,
                deleted=bool(rec.get("IsDeleted")),
                stamp=str(rec.get("SystemModstamp") or ""),
            )
