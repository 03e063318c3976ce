"""Change-event ingest benchmark: events/s decoded and emitted, and lag from commit to Prefect event.

Starts a real Prefect server (subprocess) and an in-process simulator, then runs the listener's own hand-over
(`shell.listen.build_on_events`: decode -> significant? -> account -> POST /events) in this process:

1. backlog: N Case changes are committed with no listener running, then a listener subscribes from EARLIEST and
   drains them: events/s = events / seconds until the last batch was accepted by Prefect.
2. live: a listener subscribed from LATEST while changes are committed at a steady rate; lag per event = when
   Prefect accepted its batch - the change's commit time (`commitTimestamp`, the org's clock = this clock here).

Writes bench/results/events_ingest.json: {"events", "events_per_s", "lag_p50_s", "lag_p95_s", ...}.

    .venv/bin/python bench/events_ingest.py [--events 2000] [--live 1000] [--rate 100]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shell.service import running_prefect_server  # noqa: E402


def _changes(sim: Any, n: int, rate: float | None = None) -> list[str]:
    """Commit `n` real Case changes (Priority flipped), at `rate` per second when given."""
    rows = sim.org.query("SELECT Id, Priority FROM Case WHERE IsDeleted = false").records(0)
    done: list[str] = []
    start = time.monotonic()
    for i in range(n):
        row = rows[i % len(rows)]
        row["Priority"] = "Low" if row["Priority"] == "High" else "High"
        sim.org.update("Case", row["Id"], {"Priority": row["Priority"]})
        done.append(row["Id"])
        if rate:
            pause = start + (i + 1) / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
    return done


def _listen(settings: Any, start: str, until: int, lags: list[float] | None) -> tuple[int, float]:
    """Run the real listener until `until` events were handed over; (events, seconds from subscribe to done)."""
    from connectors.salesforce.client import connect
    from shell.listen import build_listener, build_on_events

    crm = connect(settings)
    counts: dict[str, Any] = {"emitted": 0, "resync": 0, "ignored": {}}
    inner = build_on_events(settings, crm, counts)
    seen = [0]
    first: list[float] = []
    last: list[float] = []
    listener: Any = None

    def on_events(events: list[Any]) -> None:
        if not first:
            first.append(time.monotonic())
        inner(events)  # returns once Prefect accepted the batch
        last[:] = [time.monotonic()]
        now = time.time()
        if lags is not None:
            lags.extend(now - e.commit_timestamp_ms / 1000 for e in events)
        seen[0] += len(events)
        if seen[0] >= until:
            listener.stop()

    listener = build_listener(settings.model_copy(update={"listen_start": start}), crm, on_events)
    started = time.monotonic()
    runner = threading.Thread(target=listener.run, daemon=True)
    runner.start()
    runner.join(600)
    listener.stop()
    # from the first batch handed over: connecting and subscribing once is not per-event work
    return seen[0], (last[0] if last else time.monotonic()) - (first[0] if first else started)


def main(argv: list[str] | None = None) -> int:
    """Run both phases and write the JSON result."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--events", type=int, default=2000, help="backlog drained from EARLIEST")
    p.add_argument("--live", type=int, default=1000, help="changes committed while listening from LATEST")
    p.add_argument("--rate", type=float, default=100.0, help="live changes per second")
    p.add_argument("--accounts", type=int, default=300)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-events-"))
    with running_prefect_server(work / "prefect") as api_url:
        os.environ.update(PREFECT_API_URL=api_url, PREFECT_HOME=str(work / "prefect"))
        from crm_risk.config import load_settings
        from simulator.server import Simulator

        with Simulator(work / "org", accounts=args.accounts, seed=7, keepalive_seconds=1.0) as sim:
            settings = load_settings(
                sf_connection_file=str(Path(sim.state_dir) / "connection.json"),
                sf_auth="client_credentials",
                warehouse_path=str(work / "warehouse.duckdb"),
                listen_replay_file=str(work / "replay-backlog.json"),
            )
            _changes(sim, args.events)
            drained, seconds = _listen(settings, "EARLIEST", args.events, None)
            live_settings = settings.model_copy(update={"listen_replay_file": work / "replay-live.json"})
            lags: list[float] = []
            writer = threading.Timer(3.0, _changes, args=(sim, args.live, args.rate))
            writer.start()
            live, _ = _listen(live_settings, "LATEST", args.live, lags)
            writer.join()
    lags.sort()
    result = {
        "events": drained,
        "events_per_s": round(drained / seconds, 1),
        "lag_p50_s": round(statistics.median(lags), 3),
        "lag_p95_s": round(lags[int(0.95 * (len(lags) - 1))], 3),
        "live_events": live,
        "live_rate_per_s": args.rate,
        "drain_seconds": round(seconds, 2),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "note": "events/s: decode + attribute (one batched AccountId query per batch) + POST /events accepted "
        "by a real Prefect server; lag: commit -> Prefect accepted the event's batch",
    }
    out = ROOT / "bench" / "results" / "events_ingest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
