"""Salesforce record ids: a 15-character id (case-sensitive, as in URLs) and its 18-character case-safe form."""

from __future__ import annotations

import re

from crm_risk.errors import ConfigError

__all__ = ["normalize_id"]

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_SHAPE = re.compile(r"[A-Za-z0-9]{15}(?:[A-Z0-5]{3})?")


def _suffix(id15: str) -> str:
    """The 3-character suffix: for each 5-character chunk, a bit per upper-case letter, as one character."""
    out = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, c in enumerate(id15[start : start + 5]) if "A" <= c <= "Z")
        out += _ALPHABET[bits]
    return out


def normalize_id(value: str, what: str = "record id") -> str:
    """The 18-character id of a 15- or 18-character Salesforce id; ConfigError naming the value otherwise."""
    text = value.strip()
    if not _SHAPE.fullmatch(text):
        raise ConfigError(
            f"{what} {value!r} is not a Salesforce id: 15 characters (as in the record's URL) or 18 (as the API "
            "returns), letters and digits"
        )
    if len(text) == 18 and text[15:] != _suffix(text[:15]):
        raise ConfigError(f"{what} {value!r}: its last 3 characters do not match the first 15 (a typo?)")
    return text[:15] + _suffix(text[:15])
