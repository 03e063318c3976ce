"""One line of `crm-risk doctor`: a named check that passed, failed (with the fix) or was skipped (with why).

Checks are made in the layer that knows the facts (connectors/salesforce/doctor.py, connectors/warehouse/doctor.py,
shell/doctor.py for Prefect); each message is masked before it is kept, so no check can print a secret.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from crm_risk.secrets import mask

__all__ = ["Check", "Status", "failed", "passed", "skipped"]

Status = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    """One check's outcome: `detail` says what was found; `fix` (failures) what to do."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        """Whether this check lets a nightly run succeed (a skipped check does not stop it)."""
        return self.status != "fail"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def passed(name: str, detail: str) -> Check:
    """A check that passed."""
    return Check(name, "pass", mask(detail))


def failed(name: str, detail: str, fix: str) -> Check:
    """A check that failed, with what to do about it."""
    return Check(name, "fail", mask(detail), mask(fix))


def skipped(name: str, detail: str) -> Check:
    """A check not made (not configured, or an earlier failure makes it meaningless)."""
    return Check(name, "skip", mask(detail))
