"""Look records up by the value of a field (e.g. Tasks by their external key), a bounded IN list per query."""

from __future__ import annotations

from connectors.salesforce.client import CrmClient

__all__ = ["KEYS_PER_QUERY", "account_ids", "fetch_by_id", "find_ids", "soql_string"]

KEYS_PER_QUERY = 100  # keeps the SOQL IN (...) list well under the query length limit


def soql_string(value: str) -> str:
    """A SOQL string literal (backslashes and quotes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def find_ids(client: CrmClient, sobject: str, field: str, values: list[str]) -> dict[str, str]:
    """Ids of the live `sobject` records whose `field` is one of `values` (value -> Id).

    `sobject` and `field` are API names from our own code (never user input); the values are escaped.
    """
    found: dict[str, str] = {}
    for i in range(0, len(values), KEYS_PER_QUERY):
        quoted = ", ".join(soql_string(v) for v in values[i : i + KEYS_PER_QUERY])
        soql = f"SELECT Id, {field} FROM {sobject} WHERE {field} IN ({quoted})"
        for page in client.query_pages(soql, include_deleted=False):
            for rec in page.get("records", []):
                found[str(rec[field])] = str(rec["Id"])
    return found


def account_ids(client: CrmClient, sobject: str, record_ids: list[str]) -> dict[str, str]:
    """Record Id -> its AccountId, deleted records included (queryAll), a bounded IN list per query."""
    found: dict[str, str] = {}
    for i in range(0, len(record_ids), KEYS_PER_QUERY):
        quoted = ", ".join(soql_string(v) for v in record_ids[i : i + KEYS_PER_QUERY])
        soql = f"SELECT Id, AccountId FROM {sobject} WHERE Id IN ({quoted})"
        for page in client.query_pages(soql, include_deleted=True):
            for rec in page.get("records", []):
                if rec.get("AccountId"):
                    found[str(rec["Id"])] = str(rec["AccountId"])
    return found


def fetch_by_id(
    client: CrmClient, sobject: str, fields: list[str], record_ids: list[str]
) -> dict[str, dict[str, object]]:
    """Record Id (18 characters) -> {field: value} of the live `sobject` records among `record_ids`.

    `sobject` and `fields` are API names from our own code (never user input); the ids are escaped.
    """
    found: dict[str, dict[str, object]] = {}
    names = ", ".join(["Id", *(f for f in fields if f != "Id")])
    for i in range(0, len(record_ids), KEYS_PER_QUERY):
        quoted = ", ".join(soql_string(v) for v in record_ids[i : i + KEYS_PER_QUERY])
        soql = f"SELECT {names} FROM {sobject} WHERE Id IN ({quoted})"
        for page in client.query_pages(soql, include_deleted=False):
            for rec in page.get("records", []):
                found[str(rec["Id"])] = {k: v for k, v in rec.items() if k != "attributes"}
    return found
