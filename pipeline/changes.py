"""From CRM change events to the accounts they touch: which changes matter to the risk model, and whose they are.

A change is *significant* when it creates, deletes or undeletes a record of an object the pipeline reads, or
updates one of the fields the registry extracts for it, other than bookkeeping (`SystemModstamp`,
`LastModifiedDate`, ...) and the risk fields the pipeline itself writes (our own push must not trigger a refresh
of the account it just scored). Gap events say a change happened without its values: they ask for a resync of the
object instead. Each significant change is attributed to its account: the Account itself, or the record's
`AccountId` when the event carries it, else one batched lookup per object (`lookup(object, ids)`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from connectors.salesforce import registry
from connectors.salesforce.events.decode import ChangeEvent
from connectors.salesforce.registry import ACCOUNT_FIELD
from crm_risk.config import Settings
from crm_risk.fields import TASK_KEY

__all__ = ["AccountCache", "AccountChange", "Attribution", "attribute", "watched_fields"]

_BOOKKEEPING = frozenset(
    {"SystemModstamp", "LastModifiedDate", "LastModifiedById", "LastViewedDate", "LastReferencedDate"}
)


@dataclass(frozen=True)
class AccountChange:
    """One significant change, attributed to one account (a change to several accounts' records is several)."""

    account_id: str
    sobject: str
    change_type: str
    record_ids: tuple[str, ...]
    changed_fields: tuple[str, ...]
    commit_timestamp_ms: int
    replay_id: str  # hex

    def payload(self) -> dict[str, object]:
        """The Prefect event payload (no field values: they may hold personal data)."""
        return {
            "object": self.sobject,
            "change_type": self.change_type,
            "record_ids": list(self.record_ids),
            "changed_fields": list(self.changed_fields),
            "commit_timestamp_ms": self.commit_timestamp_ms,
            "replay_id": self.replay_id,
        }


@dataclass
class Attribution:
    """What a batch of events came to: account changes, the objects to resync, what was ignored and why."""

    changes: list[AccountChange] = field(default_factory=list)
    resync: set[str] = field(default_factory=set)
    ignored: dict[str, int] = field(default_factory=dict)  # reason -> count

    def ignore(self, reason: str) -> None:
        """Count one event ignored for `reason`."""
        self.ignored[reason] = self.ignored.get(reason, 0) + 1


OWN_TASK_KEY = TASK_KEY.name  # set only on the owner Tasks the pipeline creates (pipeline/owner_tasks.py)


class AccountCache:
    """Record id -> account id, remembered across batches (a record rarely moves: when it does, its event carries
    the new AccountId), so only records never seen cost a `lookup`. Bounded: the oldest entries go first."""

    def __init__(self, lookup: Callable[[str, list[str]], dict[str, str]], size: int = 200_000) -> None:
        self._lookup, self._size = lookup, size
        self._known: OrderedDict[str, str] = OrderedDict()
        self.lookups = 0

    def remember(self, record_id: str, account_id: str) -> None:
        """Note a record's account (from an event that carries it)."""
        self._known[record_id] = account_id
        self._known.move_to_end(record_id)
        while len(self._known) > self._size:
            self._known.popitem(last=False)

    def __call__(self, sobject: str, record_ids: list[str]) -> dict[str, str]:
        """The accounts of `record_ids`: from memory, the rest from one `lookup`."""
        missing = [r for r in record_ids if r not in self._known]
        if missing:
            self.lookups += 1
            for rid, account in self._lookup(sobject, missing).items():
                self.remember(rid, account)
        return {r: self._known[r] for r in record_ids if r in self._known}


def watched_fields(settings: Settings) -> dict[str, frozenset[str]]:
    """Object -> the fields whose change matters (registry fields less bookkeeping and our own risk fields)."""
    ours = frozenset(settings.push_fields.values())
    return {
        e.name: frozenset(f for f in e.fields if f not in _BOOKKEEPING and f not in ours)
        for e in registry.REGISTRY
        if e.name in ACCOUNT_FIELD
    }


def attribute(
    events: Iterable[ChangeEvent],
    watched: dict[str, frozenset[str]],
    lookup: Callable[[str, list[str]], dict[str, str]],
) -> Attribution:
    """The account changes of a batch (significant ones only), with one `lookup` per object for missing accounts."""
    out = Attribution()
    unresolved: list[tuple[ChangeEvent, tuple[str, ...]]] = []
    for event in events:
        if event.is_gap:
            out.resync.add(event.entity)
            continue
        fields = watched.get(event.entity)
        if fields is None:
            out.ignore(f"{event.entity}: not read by the risk model")
            continue
        if event.entity == "Task" and event.change_type == "CREATE" and event.values.get(OWN_TASK_KEY):
            out.ignore("Task: an owner Task the pipeline created")  # its own push must not wake it up again
            continue
        if event.change_type == "UPDATE":
            relevant = tuple(f for f in map(_flat, event.changed_fields) if f in fields)
            if not relevant:
                out.ignore(f"{event.entity}: only untracked fields changed")
                continue
        else:
            relevant = event.changed_fields
        if ACCOUNT_FIELD[event.entity] == "Id":  # the Account itself
            for rid in event.record_ids:
                out.changes.append(_change(rid, event, relevant))
            continue
        account = event.values.get(ACCOUNT_FIELD[event.entity])
        if account:  # a create, or an update that moved the record to another account
            for rid in event.record_ids:
                if isinstance(lookup, AccountCache):
                    lookup.remember(rid, str(account))
                out.changes.append(_change(str(account), event, relevant, (rid,)))
        else:
            unresolved.append((event, relevant))
    by_object: dict[str, set[str]] = {}
    for event, _ in unresolved:
        by_object.setdefault(event.entity, set()).update(event.record_ids)
    accounts: dict[str, str] = {}
    for obj, ids in by_object.items():
        accounts.update(lookup(obj, sorted(ids)))
    for event, relevant in unresolved:
        for rid in event.record_ids:
            if accounts.get(rid):
                out.changes.append(_change(accounts[rid], event, relevant, (rid,)))
            else:
                out.ignore(f"{event.entity}: no account")
    return out


def _flat(name: str) -> str:
    """The API field of a compound component in a change event: `Name.FirstName` -> `FirstName`,
    `BillingAddress.City` -> `BillingCity` (CDC names components under their compound; the registry does not)."""
    parent, _, child = name.partition(".")
    if not child:
        return name
    if parent == "Name":
        return child
    return parent.removesuffix("Address") + child


def _change(
    account_id: str, event: ChangeEvent, fields: tuple[str, ...], record_ids: tuple[str, ...] | None = None
) -> AccountChange:
    return AccountChange(
        account_id=account_id,
        sobject=event.entity,
        change_type=event.change_type,
        record_ids=record_ids or (account_id,),
        changed_fields=fields,
        commit_timestamp_ms=event.commit_timestamp_ms,
        replay_id=event.replay_id.hex(),
    )
