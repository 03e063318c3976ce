"""Fault injection for the simulator: what real orgs do to clients on a bad day.

SPEC grammar (``--faults SPEC`` or ``Simulator.faults.add(SPEC)``): rules separated by ``;``, each rule
``KIND[:ARG][:PATTERN][:OPTION=VALUE]...`` (positional parts before the options):

=============  ===========================  =====================================================================
KIND           ARG                          effect
=============  ===========================  =====================================================================
``503``        -                            503 ``SERVER_UNAVAILABLE`` ("Server too busy")
``500``        -                            500 ``UNKNOWN_EXCEPTION`` with an ErrorId
``403``        -                            403 ``REQUEST_LIMIT_EXCEEDED`` ("TotalRequests Limit exceeded.")
``timeout``    -                            400 ``QUERY_TIMEOUT`` ("Your query request was running for too long."),
                                            as Salesforce answers a query that scans too much
``expire``     -                            the presented session is revoked -> 401 ``INVALID_SESSION_ID``
``slow``       seconds (float)              the response is delayed that long (capped at 30 s)
``drop``       -                            the connection is closed half-way through the response body
``bulkfail``   -                            Bulk 2.0 jobs created while it fires end ``Failed``; Bulk 1.0 query
                                            batches added while it fires end ``Failed``
``noasync``    -                            Bulk 1.0 requests get 400 ``FeatureNotEnabled`` "Async API not
                                            enabled", as an org without the Bulk API answers (fires on Bulk 1.0
                                            requests only; give it the pattern ``bulk1.*`` when using ``count``)
``lock``       id,id,...                    writes to these records fail ``UNABLE_TO_LOCK_ROW`` (per item in
                                            Collections and Bulk, 400 on single-record writes)
``reject``     OBJECT[:CODE]                writes (create/update/upsert) to OBJECT fail per record with CODE
                                            (default ``FIELD_CUSTOM_VALIDATION_EXCEPTION``), like a validation rule
``nobulk``     OBJECT                       Bulk 2.0 query jobs on OBJECT are refused at creation: 400
                                            ``INVALIDENTITY`` "Entity 'X' is not supported by the Bulk API."
``dirty``      -                            passed to the generator as its dirty-data switch (new orgs only)
``gap``        OBJECT                       the next changes of OBJECT (all, or ``count`` of them) are published
                                            as ``GAP_CREATE`` / ``GAP_UPDATE`` / ``GAP_DELETE`` / ``GAP_UNDELETE``
                                            change events: header and record id, no field values
``overflow``   N (changes)                  a transaction of more than N changes (a create, delete or undelete
                                            counts 1, an update its changed fields) publishes its first N as
                                            usual and one ``GAP_OVERFLOW`` event per object for the rest
                                            (Salesforce's threshold is 100,000); ``count`` = transactions
``pubsubdrop`` -                            the Pub/Sub API ``Subscribe`` stream is aborted with ``UNAVAILABLE``
                                            ("RST_STREAM closed stream") instead of sending its next batch of
                                            events; PATTERN ``/data/...`` selects topics (substring)
=============  ===========================  =====================================================================

PATTERN selects requests by endpoint name (the keys of ``Simulator.calls``, e.g. ``query``, ``queryAll.more``,
``sobject.update``, ``bulk2.*``, ``composite.*``) as an ``fnmatch`` glob, or by URL path when it starts with ``/``
(substring match). No pattern = every API request. ``lock``, ``reject``, ``nobulk``, ``dirty``, ``gap`` and
``overflow`` take no pattern; their ``count`` limits how many writes (jobs, changes, transactions) they affect.
``pubsubdrop`` never fires on HTTP requests: its endpoint is ``pubsub.subscribe`` and its path the topic name,
and ``after=N`` lets N batches through first.

OPTIONS: ``count=N`` fire at most N times; ``p=P`` fire with probability P (seeded, reproducible);
``after=N`` let the first N matching requests through; ``every=N`` fire on every Nth matching request.

Examples: ``503:query:count=2`` (the next two queries get 503), ``lock:001xx...,001yy...``,
``slow:0.5:p=0.1`` (10% of requests take half a second more), ``drop:bulk2.query.results:count=1``,
``500:/composite/:every=3``, ``expire:query.more:count=1``, ``gap:Case:count=2``, ``overflow:50``,
``pubsubdrop:count=1``, ``pubsubdrop:/data/CaseChangeEvent:after=3:count=1``.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Fault", "FaultPlan", "parse"]

KINDS = {
    "503",
    "500",
    "403",
    "timeout",
    "expire",
    "slow",
    "drop",
    "bulkfail",
    "noasync",
    "lock",
    "reject",
    "nobulk",
    "dirty",
    "gap",
    "overflow",
    "pubsubdrop",
}
_RECORD_KINDS = ("lock", "reject", "nobulk", "dirty", "gap", "overflow")


@dataclass
class Fault:
    """One parsed rule and its firing state."""

    kind: str
    pattern: str | None = None
    delay: float = 0.0
    ids: frozenset[str] = frozenset()
    sobject: str | None = None
    code: str = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    threshold: int = 0
    count: int | None = None
    probability: float = 1.0
    after: int = 0
    every: int = 1
    seen: int = 0
    fired: int = 0

    def matches(self, endpoint: str, path: str) -> bool:
        """Whether this rule's pattern selects the request."""
        if not self.pattern:
            return True
        if self.pattern.startswith("/"):
            return self.pattern in path
        return fnmatch.fnmatchcase(endpoint, self.pattern)


def parse(spec: str) -> list[Fault]:
    """Parse a SPEC string into rules (ValueError naming the bad rule)."""
    out: list[Fault] = []
    for raw in (spec or "").split(";"):
        raw = raw.strip()
        if not raw:
            continue
        parts = raw.split(":")
        kind = parts[0].strip().lower()
        if kind not in KINDS:
            raise ValueError(f"fault rule {raw!r}: unknown kind {kind!r} (one of {sorted(KINDS)})")
        fault = Fault(kind)
        positional = [p for p in parts[1:] if "=" not in p]
        try:
            for opt in (p for p in parts[1:] if "=" in p):
                key, _, value = opt.partition("=")
                if key == "count":
                    fault.count = int(value)
                elif key == "p":
                    fault.probability = float(value)
                elif key == "after":
                    fault.after = int(value)
                elif key == "every":
                    fault.every = max(1, int(value))
                else:
                    raise ValueError(f"unknown option {key!r}")
            if kind == "slow":
                fault.delay = min(30.0, float(positional.pop(0))) if positional else 1.0
            if kind == "lock":
                fault.ids = frozenset(i.strip()[:15] for i in ",".join(positional).split(",") if i.strip())
                positional = []
            if kind == "reject":
                fault.sobject = positional.pop(0).lower() if positional else None
                fault.code = positional.pop(0) if positional else fault.code
            if kind in ("nobulk", "gap"):
                if not positional:
                    raise ValueError(f"{kind} needs the object: {kind}:OBJECT")
                fault.sobject = positional.pop(0).lower()
            if kind == "overflow":
                if not positional:
                    raise ValueError("overflow needs the threshold: overflow:N")
                fault.threshold = int(positional.pop(0))
            if positional:
                fault.pattern = positional[0]
        except (ValueError, IndexError) as exc:
            raise ValueError(f"fault rule {raw!r}: {exc}") from None
        out.append(fault)
    return out


@dataclass
class FaultPlan:
    """The active rules; thread-safe; `check` decides which rules fire for one request."""

    seed: int = 0
    rules: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)

    def add(self, spec: str) -> list[Fault]:
        """Add rules from a SPEC string; returns them."""
        new = parse(spec)
        with self._lock:
            self.rules.extend(new)
        return new

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self.rules.clear()

    @property
    def dirty(self) -> bool:
        """Whether the dirty-data switch is on."""
        return any(r.kind == "dirty" for r in self.rules)

    def _fire_record(self, kind: str, test: Callable[[Fault], bool]) -> Fault | None:
        with self._lock:
            for rule in self.rules:
                if rule.kind == kind and test(rule) and (rule.count is None or rule.fired < rule.count):
                    rule.fired += 1
                    return rule
        return None

    def locked(self, record_id: str | None) -> bool:
        """Whether a write to this record fails with UNABLE_TO_LOCK_ROW (counts against the rule's `count`)."""
        if not record_id:
            return False
        key = str(record_id)[:15]
        return self._fire_record("lock", lambda r: key in r.ids) is not None

    def rejected(self, sobject: str) -> str | None:
        """The error code a `reject` rule imposes on a write to this object, or None."""
        rule = self._fire_record("reject", lambda r: r.sobject in (None, sobject.lower()))
        return rule.code if rule else None

    def bulk_refused(self, sobject: str) -> bool:
        """Whether a `nobulk` rule refuses a Bulk 2.0 query job on this object."""
        return self._fire_record("nobulk", lambda r: r.sobject == sobject.lower()) is not None

    def gap(self, sobject: str) -> bool:
        """Whether a `gap` rule turns this change of `sobject` into a gap event (counts against its `count`)."""
        return self._fire_record("gap", lambda r: r.sobject == sobject.lower()) is not None

    def overflow(self, changes: int) -> int | None:
        """The threshold of an `overflow` rule that a transaction of `changes` changes exceeds, or None."""
        rule = self._fire_record("overflow", lambda r: changes > r.threshold)
        return rule.threshold if rule else None

    def check(self, endpoint: str, path: str, kinds: set[str] | None = None) -> list[Fault]:
        """The rules that fire for this request (each firing is counted against its `count`)."""
        fired: list[Fault] = []
        with self._lock:
            for rule in self.rules:
                if rule.kind in _RECORD_KINDS or (kinds is not None and rule.kind not in kinds):
                    continue
                if not rule.matches(endpoint, path):
                    continue
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                rule.seen += 1
                if rule.seen <= rule.after or (rule.seen - rule.after) % rule.every:
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                fired.append(rule)
        return fired
