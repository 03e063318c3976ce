"""SOQL lexing: tokens, string and datetime literals, and Salesforce's located error messages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from simulator.org.errors import ApiError

__all__ = [
    "DATE_LITERALS",
    "DATE_N_LITERALS",
    "KEYWORDS",
    "Tok",
    "decode_string",
    "located",
    "parse_datetime_literal",
    "tokenize",
]

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\dT])
  | (?P<number>[+-]?\d+(?:\.\d+)?|[+-]?\.\d+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op><>|!=|<=|>=|=|<|>)
  | (?P<punct>[(),:])
""",
    re.VERBOSE,
)
_DT = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|([+-])(\d{2}):?(\d{2}))")
# Named date literals that take no argument, and those taking ":n".
DATE_LITERALS = {
    "TODAY",
    "YESTERDAY",
    "TOMORROW",
    "THIS_WEEK",
    "LAST_WEEK",
    "NEXT_WEEK",
    "THIS_MONTH",
    "LAST_MONTH",
    "NEXT_MONTH",
    "THIS_YEAR",
    "LAST_YEAR",
    "NEXT_YEAR",
    "LAST_90_DAYS",
    "NEXT_90_DAYS",
}
DATE_N_LITERALS = {
    "LAST_N_DAYS",
    "NEXT_N_DAYS",
    "N_DAYS_AGO",
    "LAST_N_WEEKS",
    "NEXT_N_WEEKS",
    "LAST_N_MONTHS",
    "NEXT_N_MONTHS",
}
# Reserved words: never an object name after FROM.
KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "ORDER",
    "BY",
    "LIMIT",
    "OFFSET",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "NULL",
    "TRUE",
    "FALSE",
    "COUNT",
    "GROUP",
    "HAVING",
}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}


def located(text: str, pos: int, message: str) -> str:
    """Salesforce's located message: the query line, a caret under the column, the row/column and the reason."""
    row = text.count("\n", 0, pos) + 1
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    line = text[start:] if end < 0 else text[start:end]
    col = pos - start + 1
    return f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{message}"


def parse_datetime_literal(raw: str) -> datetime:
    """A SOQL datetime literal in any accepted form, as a naive UTC datetime."""
    m = _DT.fullmatch(raw)
    if not m:
        raise ValueError(f"not a datetime literal: {raw}")
    y, mo, d, h, mi, s, frac, zone, sign, zh, zm = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    tz = UTC
    if zone != "Z":
        delta = timedelta(hours=int(zh), minutes=int(zm))
        tz = timezone(delta if sign == "+" else -delta)
    value = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=tz)
    return value.astimezone(UTC).replace(tzinfo=None)


def decode_string(raw: str, *, like: bool = False) -> str:
    """The value of a quoted SOQL string body; with like=True, a DuckDB LIKE pattern escaped with backslash."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            i += 2
            if nxt in "%_":
                out.append("\\" + nxt)  # kept escaped: a literal % or _ in LIKE
            elif nxt == "\\" and like:
                out.append("\\\\")
            else:
                out.append(_ESCAPES.get(nxt, nxt))
            continue
        out.append(ch)
        i += 1
    return "".join(out)


@dataclass
class Tok:
    """One token: kind (a group name of the token pattern), its text and offset."""

    kind: str
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


def tokenize(text: str) -> list[Tok]:
    """Split a query into tokens (MALFORMED_QUERY on a character no token starts with)."""
    toks: list[Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ApiError(400, "MALFORMED_QUERY", located(text, pos, f"unexpected token: '{text[pos]}'"))
        kind = m.lastgroup or ""
        if kind != "ws":
            toks.append(Tok(kind, m.group(), pos))
        pos = m.end()
    toks.append(Tok("eof", "", len(text)))
    return toks
