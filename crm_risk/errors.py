"""The error tree. Every failure the pipeline can name is one of these.

CrmRiskError
 +-- ConfigError            a setting is missing or wrong (the message names it and says how to fix it)
 +-- WarehouseError         the warehouse cannot be written: its disk is full, its file or directory read-only
 |    +-- WarehouseBusy     another process held the DuckDB file read-write for longer than the wait allowed
 +-- ConnectorError         something that talks to the CRM failed
 |    +-- TransientError    worth retrying: timeouts, connection resets, 5xx, UNABLE_TO_LOCK_ROW
 |    +-- QuotaExceeded     403 REQUEST_LIMIT_EXCEEDED: stop the run cleanly, keep the watermark
 |    +-- TerminalError     retrying will not help: auth refused, INVALID_FIELD, MALFORMED_QUERY
 |    +-- RecordError       one record was refused (data error): dead-letter it, go on with the rest
 +-- DataQualityError       a critical expectation failed: nothing is pushed
 +-- ManifestRefused        a landing manifest names an unknown object or a file outside its extract: not loaded
 +-- PushRejectedError      the rejected share of a push passed the configured threshold
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConnectorError",
    "CrmRiskError",
    "DataQualityError",
    "ManifestRefused",
    "PushRejectedError",
    "QuotaExceeded",
    "RecordError",
    "TerminalError",
    "TransientError",
    "WarehouseBusy",
    "WarehouseError",
]


class CrmRiskError(Exception):
    """Base of every error the pipeline raises on purpose."""


class ConfigError(CrmRiskError):
    """A setting is missing or invalid; the message names the setting and how to fix it."""


class WarehouseError(CrmRiskError):
    """The warehouse cannot be written (disk full, read-only file or directory); the message says what to do."""


class WarehouseBusy(WarehouseError):
    """Another process held the DuckDB warehouse read-write for longer than the wait allowed."""


class ConnectorError(CrmRiskError):
    """A call to the CRM failed."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class TransientError(ConnectorError):
    """Retryable: the same call may succeed later."""


class QuotaExceeded(ConnectorError):
    """The org's daily API budget is spent (or the run's own budget): stop cleanly, resume next run."""


class TerminalError(ConnectorError):
    """Not retryable: configuration, permission or query errors."""


class RecordError(ConnectorError):
    """One record was refused for its data; the rest of the batch goes on."""


class DataQualityError(CrmRiskError):
    """A critical expectation failed; the run stops before anything is pushed."""


class ManifestRefused(CrmRiskError):
    """A landing manifest names an object outside the registry or a file outside its extract; nothing is loaded."""


class PushRejectedError(CrmRiskError):
    """More pushes were rejected than the configured share allows."""

    def __init__(self, message: str, *, outcome: object = None) -> None:
        super().__init__(message)
        self.outcome = outcome  # what the push did (the pipeline's PushOutcome), accepted updates included
