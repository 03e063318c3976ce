"""What request handlers see of the simulator: `ApiContext`, a narrow view in place of the whole server.

Handlers are `handler(ctx, req) -> Response`. The server builds one context when it starts; every field is
shared with it (the org, the sessions, the fault plan, the usage counters, the query cursors, the Bulk 2.0 jobs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from simulator.api.auth import Auth
from simulator.api.bulk1.registry import Bulk1Jobs
from simulator.api.bulk2.registry import Bulk2Jobs
from simulator.api.cursors import Cursors
from simulator.api.usage import Usage
from simulator.org.store import Org

__all__ = ["ApiContext", "RecordFaults"]


class RecordFaults(Protocol):
    """The fault rules handlers consult on writes and jobs (`simulator.server.faults.FaultPlan` provides them)."""

    def locked(self, record_id: str | None) -> bool:
        """Whether a write to this record fails with UNABLE_TO_LOCK_ROW."""
        ...

    def rejected(self, sobject: str) -> str | None:
        """The error code a validation-rule fault imposes on a write to this object, or None."""
        ...

    def bulk_refused(self, sobject: str) -> bool:
        """Whether Bulk 2.0 query jobs on this object are refused."""
        ...

    def check(self, endpoint: str, path: str, kinds: set[str] | None = None) -> Sequence[object]:
        """The rules of `kinds` that fire for this request (`bulkfail` for jobs)."""
        ...


@dataclass(frozen=True)
class ApiContext:
    """The org and the API state handlers read and change; nothing of the server's lifecycle or transport."""

    org: Org
    auth: Auth  # credentials and sessions (OAuth grants, SOAP login, revoke)
    faults: RecordFaults
    usage: Usage  # calls per endpoint and the daily API budget (limits)
    cursors: Cursors  # open REST query cursors
    bulk2: Bulk2Jobs
    bulk1: Bulk1Jobs
    instance_url: str  # https://127.0.0.1:PORT (token answers and SOAP login name it)
    advance: Callable[[int], dict[str, int]]  # move the org N days of business forward (admin)
