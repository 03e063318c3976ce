"""A backfill in windows: plan them, extract one (anywhere: a thread, a Dask worker), load them in order, resume.

    plan = plan_backfill(ctx, client, objects, since, until, window_size("7d"))   # skips windows already loaded
    landed = extract_window(settings, window, run_id)      # a task: its own CRM client (one per worker thread)
    loads = WindowLoads(ctx, plan); loads.landed(landed)   # loads what is next in each object's window order

[since, until) is cut into windows of a fixed size from `since`; every (object, window) is one extract, landed in
`landing/<run_id>/w<index>/<Object>/` (shared storage when the extracts run on a Dask cluster). Loads go one at a
time (DuckDB has one writer) and, per object, in window order: a window that starts at or before the object's
watermark moves it (connectors/warehouse/load.py `_move_watermark`), so an older window must load first. Each load
records its window in meta.backfill_windows in the same transaction; a rerun with the same arguments (the same
`backfill_key`: since, until, objects, window size) skips the recorded windows. A window whose extract or gate fails
holds the object's later windows (loaded by the rerun, in order).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors import warehouse
from connectors.salesforce import registry
from connectors.salesforce.client import CrmClient, connect
from connectors.salesforce.extract import extract_object
from connectors.salesforce.windows import count_window
from crm_risk.config import Settings
from crm_risk.errors import ConfigError, DataQualityError
from expectations.gate import save_rules
from pipeline.context import RunContext
from pipeline.extract import entries
from pipeline.load import load_gated

__all__ = [
    "Landed",
    "Plan",
    "Window",
    "WindowLoads",
    "backfill_key",
    "close_window_clients",
    "count_todo",
    "cut",
    "extract_window",
    "plan_backfill",
    "window_size",
]

log = logging.getLogger(__name__)

MAX_WINDOWS = 16  # per object: 4 rounds of the default concurrency

_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def window_size(text: str) -> timedelta:
    """'7d', '12h', '30m' as a timedelta (ConfigError otherwise)."""
    value = str(text).strip().lower()
    number, unit = value[:-1].strip(), value[-1:]
    if unit not in _UNITS or not number.isdigit() or int(number) < 1:
        raise ConfigError(f"backfill window {text!r} is not a size such as '7d', '12h' or '30m'")
    return timedelta(**{_UNITS[unit]: int(number)})


@dataclass(frozen=True)
class Window:
    """One object's window [start, end); `index` is its place among that object's windows (its load order)."""

    object: str
    index: int
    start: datetime
    end: datetime

    @property
    def tag(self) -> str:
        return f"w{self.index:05d}"


@dataclass
class Plan:
    """The windows of a backfill: all of them, those still to do, and the loaded ones' rows."""

    key: str
    objects: list[str]
    windows: list[Window]
    todo: list[Window]
    done_rows: int
    as_of: datetime  # the org's time when the backfill was planned: the flags are "as of" it


@dataclass
class Landed:
    """What a window's extract landed (returned by the task: plain data, it may come back from a Dask worker)."""

    window: Window
    manifest: str
    rows: int
    api_calls: int


def cut(start: datetime, end: datetime, size: timedelta) -> list[tuple[datetime, datetime]]:
    """[start, end) in consecutive windows of `size` from `start` (the last one shorter), whole seconds."""
    start, end = start.replace(microsecond=0), end.replace(microsecond=0)
    out, at = [], start
    while at < end:
        out.append((at, min(at + size, end)))
        at += size
    return out


def backfill_key(since: datetime, until: datetime | None, objects: list[str], size: timedelta) -> str:
    """The name of a backfill in meta.backfill_windows: the same arguments, the same key (a rerun resumes)."""
    text = json.dumps(
        [
            since.astimezone(UTC).replace(microsecond=0).isoformat(),
            until.astimezone(UTC).replace(microsecond=0).isoformat() if until else None,
            sorted(objects),
            int(size.total_seconds()),
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan_backfill(
    ctx: RunContext,
    client: CrmClient,
    objects: list[str] | None,
    since: datetime,
    until: datetime | None,
    size: timedelta,
    restart: bool = False,
) -> Plan:
    """Every object's windows over [since, min(until, the org's now)), and those not loaded yet by this backfill.

    A window recorded with the same start and an end at least as late is done (an open-ended backfill's last
    window ends at the org's now: rerun later, it is extracted again up to the new now). `restart`: every window
    again (a replay after a quality rule was fixed); the windows are recorded again as they load.
    """
    settings = ctx.settings
    wanted = entries(settings, objects)
    client.describe(wanted[0].name)  # cached; its answer tells the org's clock
    org_now = client.server_now() - timedelta(seconds=settings.extract_safety_seconds)
    end = org_now if until is None else min(org_now, until)
    names = [e.name for e in wanted]
    key = backfill_key(since, until, names, size)
    with warehouse.open_for(settings) as con:
        done = {} if restart else warehouse.completed_windows(con, key)
    # a long span in short windows would be thousands of loads of mostly empty windows (each costs a gate and a
    # transaction): at most MAX_WINDOWS per object, the size widened by a whole factor (the same arguments give the
    # same windows, so a rerun resumes)
    factor = max(1, math.ceil((max(end, since) - since) / size / MAX_WINDOWS))
    if factor > 1:
        log.info(
            "backfill windows of %s widened to %s (at most %d per object)", size, size * factor, MAX_WINDOWS
        )
    windows = [
        Window(e.name, i, s, t)
        for e in wanted
        for i, (s, t) in enumerate(cut(since, max(end, since), size * factor))
    ]
    todo, done_rows = [], 0
    for w in windows:
        got = done.get((w.object, w.start))
        if got is not None and got[0] >= w.end:
            done_rows += got[1]
        else:
            todo.append(w)
    todo.sort(key=lambda w: (w.index, names.index(w.object)))  # oldest windows of every object first
    if len(todo) < len(windows):
        log.info(
            "backfill %s: %d of %d windows already loaded, skipped",
            key,
            len(windows) - len(todo),
            len(windows),
        )
    return Plan(key, names, windows, todo, done_rows, org_now)


def count_todo(client: CrmClient, plan: Plan) -> int:
    """Records the windows still to do hold, roughly: one COUNT() per object over its remaining span (for the
    progress bar's total and ETA; only when progress is shown)."""
    total = 0
    for name in plan.objects:
        mine = [w for w in plan.todo if w.object == name]
        if mine:
            total += count_window(client, registry.entry(name), mine[0].start, mine[-1].end)
    return total


# one CRM client per worker thread (and per Dask worker process): a window reuses its thread's login
_local = threading.local()
_clients: list[CrmClient] = []
_clients_lock = threading.Lock()


def _client(settings: Settings) -> CrmClient:
    mark = settings.model_dump_json()  # secrets print masked: the same settings, the same client
    cached = getattr(_local, "client", None)
    if cached is None or _local.mark != mark:
        cached = connect(settings)
        _local.client, _local.mark = cached, mark
        with _clients_lock:
            _clients.append(cached)
    return cached


def close_window_clients() -> None:
    """Close the clients the window extracts opened in this process."""
    with _clients_lock:
        while _clients:
            _clients.pop().close()
    _local.__dict__.clear()


def extract_window(settings: Settings, window: Window, run_id: str) -> Landed:
    """Land one object's window under landing/<run_id>/<window tag>/<Object>/ (runs as a task, in any worker)."""
    client = _client(settings)
    before = client.api_calls
    entry = registry.entry(window.object)
    manifest = extract_object(
        client, entry, window.start, window.end, Path(settings.landing_dir) / run_id, window.tag, settings
    )
    save_rules(manifest.path, client.describe(entry.name))  # cached: no API call
    return Landed(window, str(manifest.path), manifest.rows, client.api_calls - before)


@dataclass
class WindowLoads:
    """Loads landed windows one at a time, each object's in window order; counts what it loaded."""

    ctx: RunContext
    plan: Plan
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # records extracted per object (landed windows)
    held: dict[str, str] = field(default_factory=dict)  # object -> why its later windows wait for the rerun
    critical: list[str] = field(
        default_factory=list
    )  # the gate's refusals, raised once everything else loaded
    windows_loaded: int = 0
    _waiting: dict[tuple[str, int], Landed] = field(default_factory=dict)
    _next: dict[str, list[Window]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for w in self.plan.todo:
            self._next.setdefault(w.object, []).append(w)
        for queue in self._next.values():
            queue.sort(key=lambda w: w.index)

    def landed(self, landed: Landed) -> list[Landed]:
        """Take a window's extract; load every window now next in its object's order. Returns those loaded."""
        w = landed.window
        self.rows[w.object] = self.rows.get(w.object, 0) + landed.rows
        self._waiting[(w.object, w.index)] = landed
        out = []
        queue = self._next.get(w.object, [])
        while queue and w.object not in self.held and (w.object, queue[0].index) in self._waiting:
            ready = self._waiting.pop((w.object, queue.pop(0).index))
            if self._load(ready):
                out.append(ready)
        return out

    def failed(self, window: Window, cause: str) -> None:
        """A window's extract failed: the object's later windows wait for the rerun (order kept)."""
        self.held.setdefault(window.object, f"window {window.start.isoformat()}: {cause}")

    def _load(self, landed: Landed) -> bool:
        w, key, run_id = landed.window, self.plan.key, self.ctx.run_id

        def record(con: Any, result: warehouse.LoadResult) -> None:
            warehouse.record_window(
                con, key, w.object, (w.start, w.end), result.rows_in_files, run_id, datetime.now(UTC)
            )

        try:
            got = load_gated(
                self.ctx.settings, run_id, [Path(landed.manifest)], docs=False, in_transaction=record
            )
        except DataQualityError as exc:
            self.critical.append(str(exc))
            self.held.setdefault(w.object, f"window {w.start.isoformat()}: refused by the data-quality gate")
            return False
        for obj, c in got.items():
            mine = self.counts.setdefault(obj, {})
            for k, v in c.items():
                mine[k] = mine.get(k, 0) + v
        self.windows_loaded += 1
        return True
