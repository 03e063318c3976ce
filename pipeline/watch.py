"""The change-watch poll: changes since each object's own mark, as account changes (one per account and object).

The first poll of an object only sets its mark to the org's now (it does not replay history: the nightly sync has
it). Marks are stored by the caller only after the poll's events were emitted, so a crash polls the window again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from connectors.salesforce.client import CrmClient
from connectors.salesforce.registry import ACCOUNT_FIELD
from connectors.salesforce.watch import changed_since
from pipeline.changes import AccountChange

__all__ = ["PollResult", "poll"]


@dataclass
class PollResult:
    """What one poll found: account changes, each object's new mark, records without an account."""

    changes: list[AccountChange] = field(default_factory=list)
    marks: dict[str, datetime] = field(default_factory=dict)
    records: int = 0
    no_account: int = 0


def poll(
    client: CrmClient,
    marks: dict[str, datetime | None],
    objects: list[str] | None = None,
    safety_seconds: int = 2,
) -> PollResult:
    """One query per object for its changes in (mark, org now - safety]; new marks in the result."""
    client.describe("Account")  # cached after the first call; its answer carries the org's clock
    until = client.server_now().replace(microsecond=0) - timedelta(seconds=safety_seconds)
    out = PollResult()
    for obj in objects or list(ACCOUNT_FIELD):
        since = marks.get(obj)
        out.marks[obj] = until
        if since is None:
            continue
        grouped: dict[str, list[str]] = {}
        deleted: dict[str, bool] = {}
        for rec in changed_since(client, obj, since, until):
            out.records += 1
            if not rec.account_id:
                out.no_account += 1
                continue
            grouped.setdefault(rec.account_id, []).append(rec.record_id)
            deleted[rec.account_id] = deleted.get(rec.account_id, True) and rec.deleted
        stamp = int(until.astimezone(UTC).timestamp() * 1000)
        for account_id, ids in grouped.items():
            out.changes.append(
                AccountChange(
                    account_id=account_id,
                    sobject=obj,
                    change_type="DELETE" if deleted[account_id] else "UPDATE",
                    record_ids=tuple(ids),
                    changed_fields=(),  # a poll knows that a record changed, not which fields
                    commit_timestamp_ms=stamp,
                    replay_id=f"watch:{obj}:{until.isoformat()}".encode().hex(),
                )
            )
    return out
