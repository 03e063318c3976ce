"""Secret masking: every secret value the run knows is scrubbed from messages, logs and artifacts.

Secrets are registered by type, not by name: `register_settings(settings)` registers the value of every `SecretStr`
setting, and the connector registers the session tokens it receives. `mask(text)` then replaces each registered
value, plus anything shaped like a bearer token, a Salesforce session id or a `password=`/`client_secret=` pair.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, SecretStr

__all__ = ["mask", "register_secret", "register_settings"]

_SECRETS: set[str] = set()
_PATTERNS = (
    (re.compile(r"(Bearer\s+)[^\s'\",]+", re.I), r"\1***"),
    (re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._\-]+"), "00D***!***"),  # Salesforce session ids
    (
        re.compile(
            r"((?:access_token|refresh_token|client_secret|password|assertion|session_?id)[\"']?\s*[:=]\s*[\"']?)"
            r"[^\s&\"',}]+",
            re.I,
        ),
        r"\1***",
    ),
    (re.compile(r"(<(?:\w+:)?(?:password|sessionId)>)[^<]*", re.I), r"\1***"),
)


def register_secret(value: str | None) -> None:
    """Remember a secret value so that `mask` scrubs it from every message (values shorter than 6 are ignored)."""
    if value and len(value) >= 6:
        _SECRETS.add(value)


def mask(text: object) -> str:
    """The text with tokens, session ids, passwords and registered secret values replaced by ***."""
    out = str(text)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        out = out.replace(secret, "***")
    for pattern, repl in _PATTERNS:
        out = pattern.sub(repl, out)
    return out


def register_settings(settings: BaseModel) -> None:
    """Register the value of every SecretStr field of `settings` (masked by type, whatever the field is called)."""
    for name in type(settings).model_fields:
        value: Any = getattr(settings, name, None)
        if isinstance(value, SecretStr):
            register_secret(value.get_secret_value())
