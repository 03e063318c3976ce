"""Salesforce record ids: 15-character base ids with the 3-character case-safe checksum suffix."""

from __future__ import annotations

__all__ = ["KEY_PREFIXES", "checksum", "make_id", "to18"]

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Opportunity": "006",
    "OpportunityHistory": "008",
    "OpportunityContactRole": "00K",
    "Case": "500",
    "Task": "00T",
    "Event": "00U",
    "AccountHistory": "017",
    "Organization": "00D",
}


def checksum(id15: str) -> str:
    """The 3-character suffix Salesforce appends to make a 15-character id case-insensitive."""
    out = []
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        out.append(_ALNUM[bits])
    return "".join(out)


def to18(record_id: str) -> str:
    """Normalise a 15- or 18-character id to its 18-character form (ValueError on any other shape)."""
    if len(record_id) == 18:
        return record_id[:15] + checksum(record_id[:15])
    if len(record_id) == 15:
        return record_id + checksum(record_id)
    raise ValueError(f"not a Salesforce id: {record_id!r}")


def make_id(sobject: str, serial: int, pod: str = "8d") -> str:
    """A deterministic 18-character id: key prefix, 2-character pod, base-62 serial, checksum."""
    digits = []
    n = serial
    for _ in range(10):
        n, r = divmod(n, 62)
        digits.append(_BASE62[r])
    if n:
        raise ValueError("serial too large")
    id15 = KEY_PREFIXES[sobject] + pod + "".join(reversed(digits))
    return id15 + checksum(id15)
