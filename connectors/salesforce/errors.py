"""Translate everything simple-salesforce, requests and the Salesforce wire can throw into crm_risk.errors, in one place.

    Salesforce / transport failure                         -> crm_risk.errors
    timeouts, connection resets, 5xx, UNABLE_TO_LOCK_ROW   -> TransientError (code CONNECT when nothing was sent,
                                                              READ_TIMEOUT, NETWORK for a reset or cut-off answer)
    403 REQUEST_LIMIT_EXCEEDED, the run's own call budget  -> QuotaExceeded
    401 INVALID_SESSION_ID                                 -> SessionExpired (a TerminalError the client
                                                              answers with one re-login + retry)
    auth refused, INVALID_FIELD, MALFORMED_QUERY, 4xx      -> TerminalError (message names what to check)
    a per-record data error (Collections / Bulk item)      -> RecordError / a rejected PushResult

Messages never carry secrets: `mask()` scrubs bearer tokens, session ids and any registered secret value.
"""

from __future__ import annotations

from typing import Any

import requests
import urllib3
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

from crm_risk.errors import ConnectorError, QuotaExceeded, RecordError, TerminalError, TransientError
from crm_risk.secrets import mask

__all__ = [
    "QUOTA_CODES",
    "RECORD_CODES",
    "TERMINAL_CODES",
    "TRANSIENT_CODES",
    "SessionExpired",
    "classify_code",
    "classify_item",
    "error_from_response",
    "first_error",
    "translate",
]

TRANSIENT_CODES = frozenset(
    {
        "UNABLE_TO_LOCK_ROW",
        "SERVER_UNAVAILABLE",
        "REQUEST_RUNNING_TOO_LONG",
        "QUERY_TIMEOUT",
        "UNKNOWN_EXCEPTION",
        "JOB_NOT_COMPLETE",
        "TXN_SECURITY_METERING_ERROR",
        "API_CURRENTLY_DISABLED_TEMPORARILY",
    }
)
QUOTA_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "TOO_MANY_APEX_REQUESTS"})
TERMINAL_CODES = frozenset(
    {
        "INVALID_FIELD",
        "MALFORMED_QUERY",
        "INVALID_TYPE",
        "INVALID_SESSION_ID",
        "INSUFFICIENT_ACCESS",
        "API_DISABLED_FOR_ORG",
        "INVALID_QUERY_LOCATOR",
        "INVALIDENTITY",
        "NOT_FOUND",
        "EXCEEDED_ID_LIMIT",
        "JSON_PARSER_ERROR",
        "INVALID_REPLICATION_DATE",
        "API_ERROR",
        "METHOD_NOT_ALLOWED",
    }
)
# Per-record data errors: dead-letter with the reason, never retry until the value changes.
RECORD_CODES = frozenset(
    {
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "STRING_TOO_LONG",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "ENTITY_IS_DELETED",
        "INVALID_CROSS_REFERENCE_KEY",
        "NOT_FOUND",
        "MALFORMED_ID",
        "REQUIRED_FIELD_MISSING",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "DUPLICATE_VALUE",
        "FIELD_INTEGRITY_EXCEPTION",
        "INVALID_ID_FIELD",
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "ENTITY_IS_LOCKED",
        "CANNOT_UPDATE_CONVERTED_LEAD",
        "NUMBER_OUTSIDE_VALID_RANGE",
        "INVALID_EMAIL_ADDRESS",
        "INVALID_FIELD",
    }
)


def classify_code(code: str | None, status: int | None = None) -> str:
    """'transient' | 'quota' | 'terminal' | 'record' for a Salesforce errorCode/statusCode (and HTTP status)."""
    if code in QUOTA_CODES:
        return "quota"
    if code in TRANSIENT_CODES or (status is not None and (status >= 500 or status in (408, 420, 429))):
        return "transient"
    if code in RECORD_CODES and code not in ("INVALID_FIELD", "NOT_FOUND"):
        return "record"
    return "terminal"


def classify_item(code: str | None) -> str:
    """'transient' | 'quota' | 'record' for one record's statusCode in a Collections or Bulk result."""
    if code in QUOTA_CODES:
        return "quota"
    if code in TRANSIENT_CODES:
        return "transient"
    return "record"  # data errors and anything unknown: dead-letter with the reason, never retry blindly


class SessionExpired(TerminalError):
    """401 INVALID_SESSION_ID: the client logs in again once and retries; seen by callers only if that fails."""


def first_error(content: Any) -> tuple[str | None, str]:
    """(errorCode, message) of a Salesforce error body: a list of {errorCode|statusCode, message} or an OAuth dict."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        item = content[0]
        return item.get("errorCode") or item.get("statusCode"), str(item.get("message", ""))
    if isinstance(content, dict):
        if "error" in content:
            return str(content["error"]), str(content.get("error_description", ""))
        return content.get("errorCode") or content.get("statusCode"), str(content.get("message", ""))
    text = str(content or "").strip()
    return None, text[:300]


def _build(status: int | None, code: str | None, message: str, what: str) -> ConnectorError:
    """The crm_risk error for one failed call."""
    text = mask(f"{what}: HTTP {status} {code or ''} {message}".replace("  ", " ").strip())
    kind = classify_code(code, status)
    if status == 401 or code == "INVALID_SESSION_ID":
        return SessionExpired(
            text + " (session expired or invalid; check the CRM_RISK_SF_AUTH credentials)",
            status=status,
            code=code or "INVALID_SESSION_ID",
        )
    if kind == "quota":
        return QuotaExceeded(
            text + " (the org's API request limit is spent: stop now, resume next run)",
            status=status,
            code=code,
        )
    if kind == "transient":
        return TransientError(text, status=status, code=code)
    if code == "INVALID_FIELD":
        text += " (a field was removed or the integration user lost field-level security on it)"
    elif status == 403:
        text += " (the integration user lacks a permission: check its profile / permission set)"
    if kind == "record":
        return RecordError(text, status=status, code=code)
    return TerminalError(text, status=status, code=code)


def error_from_response(resp: requests.Response, what: str) -> ConnectorError:
    """The crm_risk error for a raw `requests` response with status >= 300."""
    try:
        content: Any = resp.json()
    except ValueError:
        content = resp.text
    code, message = first_error(content)
    return _build(resp.status_code, code, message, what)


def _network_code(exc: BaseException) -> str:
    """CONNECT when the request never left (nothing was sent: safe to repeat), READ_TIMEOUT, or NETWORK."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "CONNECT"
    reason = (
        getattr(exc.args[0], "reason", None) if exc.args else None
    )  # requests wraps urllib3's MaxRetryError
    if isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)):
        return "CONNECT"
    if isinstance(exc, (requests.exceptions.ReadTimeout, TimeoutError)):
        return "READ_TIMEOUT"
    return "NETWORK"


def translate(exc: BaseException, what: str) -> ConnectorError:
    """Map one exception (simple-salesforce, requests, urllib3, OS) to the crm_risk error tree."""
    if isinstance(exc, ConnectorError):
        return exc
    if isinstance(exc, SalesforceAuthenticationFailed):
        return TerminalError(
            mask(f"{what}: login refused: {exc.code} {exc.message}"), status=401, code=str(exc.code)
        )
    if isinstance(exc, SalesforceError):
        code, message = first_error(exc.content)
        return _build(exc.status, code, message, what)
    if isinstance(exc, requests.exceptions.SSLError):
        return TerminalError(
            mask(
                f"{what}: TLS verification failed ({exc}); check CRM_RISK_SF_CA_BUNDLE "
                "and CRM_RISK_SF_LOGIN_URL"
            ),
            code="SSL",
        )
    if isinstance(
        exc,
        (
            requests.exceptions.Timeout,
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.RetryError,
            urllib3.exceptions.ProtocolError,
            ConnectionError,
            TimeoutError,
        ),
    ):
        return TransientError(mask(f"{what}: {type(exc).__name__}: {exc}"), code=_network_code(exc))
    if isinstance(exc, requests.exceptions.RequestException):
        return TerminalError(mask(f"{what}: {type(exc).__name__}: {exc}"))
    if type(exc).__name__.startswith("Salesforce"):  # Bulk 2.0 errors do not derive from SalesforceError
        return TerminalError(mask(f"{what}: {type(exc).__name__}: {exc}"))
    return TerminalError(mask(f"{what}: unexpected {type(exc).__name__}: {exc}"))
