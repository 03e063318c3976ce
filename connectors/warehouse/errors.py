"""What a failed warehouse read or write means to an operator: DuckDB's and the OS's errors as one line and a fix.

    cause (DuckDB / OS message)                          -> crm_risk.errors
    No space left on device, File too large, quota       -> WarehouseError "the disk ... is full"
    Read-only file system, Permission denied             -> WarehouseError "cannot write the warehouse ..."
    Could not set lock ... Conflicting lock is held      -> WarehouseBusy (raised by connect.py after its wait)
    anything else                                        -> None: the caller keeps the original error

A failed transaction commits nothing: the objects it was loading keep their watermarks, so the next run loads them
again. DuckDB answers a `rollback` after a failed commit with "cannot rollback - no transaction is active": callers
roll back quietly and raise the first error, never that one.
"""

from __future__ import annotations

import errno

import duckdb

from crm_risk.errors import CrmRiskError, WarehouseError

__all__ = ["explain", "one_line"]

_FULL = ("no space left on device", "file too large", "disk quota exceeded")
_READ_ONLY = ("read-only file system", "permission denied", "read only file system")
_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
_READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (DuckDB's may span several)."""
    return " ".join(str(exc).split())


def explain(
    exc: BaseException, target: str, what: str = "the warehouse", setting: str = "CRM_RISK_WAREHOUSE_PATH"
) -> CrmRiskError | None:
    """A WarehouseError saying what is wrong with `what` at `target` (moved by `setting`) and how to fix it, or None
    when `exc` is not a storage failure (a bug, a bad query: the caller keeps it as it is)."""
    if isinstance(exc, CrmRiskError):
        return None
    code = exc.errno if isinstance(exc, OSError) else None
    if not isinstance(exc, (duckdb.Error, OSError)):
        return None
    text = one_line(exc)
    lower = text.lower()
    if code in _FULL_ERRNOS or any(m in lower for m in _FULL):
        return WarehouseError(
            f"the disk holding {what} {target} is full ({_cause(lower, _FULL, text)}): free space there or set "
            f"{setting} to a disk with room; nothing of the failed write was committed (watermarks unchanged), "
            "the next run loads it again"
        )
    if code in _READ_ONLY_ERRNOS or any(m in lower for m in _READ_ONLY):
        return WarehouseError(
            f"cannot write {what} {target} ({_cause(lower, _READ_ONLY, text)}): make the file and its directory "
            f"writable for this user, or set {setting} to a writable place"
        )
    return None


def _cause(lower: str, markers: tuple[str, ...], text: str) -> str:
    """The OS's words for the failure, as DuckDB quoted them (e.g. 'No space left on device')."""
    for marker in markers:
        at = lower.find(marker)
        if at >= 0:
            return text[at : at + len(marker)]
    return text[:200]
