"""Backfill benchmark: wall time of a windowed backfill (the flow, under Prefect's test harness) at concurrency 1
and 4, on an in-process simulator; optionally with a latency added to every query (a real CRM answers in ~100 ms+).

Every run starts from a fresh warehouse, all objects, the org's last year in 30-day windows, no push.
Writes bench/results/backfill.json.

    .venv/bin/python bench/backfill.py [--accounts 300 2000] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.server import Simulator  # noqa: E402
from tests.e2e.orgclock import ORG_DAY, pin_org_clock  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, nargs="*", default=[300, 2000])
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 4])
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every queryAll call")
    parser.add_argument("--window", default="30d")
    args = parser.parse_args()

    from prefect.testing.utilities import prefect_test_harness

    from flows.backfill import backfill

    until = datetime.combine(ORG_DAY, datetime.min.time(), UTC)
    since = until - timedelta(days=365)
    runs: list[dict[str, Any]] = []
    with prefect_test_harness(server_startup_timeout=120), tempfile.TemporaryDirectory() as tmp:
        for accounts in args.accounts:
            org = Path(tmp) / f"org-{accounts}"
            pin_org_clock(org)
            with Simulator(org, accounts=accounts, seed=42) as sim:
                if args.latency:
                    sim.faults.add(f"slow:{args.latency}:queryAll")
                for n in args.concurrency:
                    work = Path(tmp) / f"run-{accounts}-{n}"
                    settings = {
                        "sf_connection_file": str(Path(sim.state_dir) / "connection.json"),
                        "sf_auth": "client_credentials",
                        "warehouse_path": str(work / "warehouse.duckdb"),
                        "landing_dir": str(work / "landing"),
                    }
                    t0 = time.perf_counter()
                    result = backfill(
                        since=since,
                        until=until,
                        push=False,
                        settings=settings,
                        window=args.window,
                        concurrency=n,
                    )
                    seconds = round(time.perf_counter() - t0, 2)
                    runs.append(
                        {
                            "accounts": accounts,
                            "concurrency": n,
                            "latency_s": args.latency,
                            "status": result["status"],
                            "records": sum(result["extracted"].values()),
                            "api_calls": result["api_calls"],
                            "wall_seconds": seconds,
                            "extract_load_seconds": result["seconds"].get("extract_load"),
                            "score_seconds": result["seconds"].get("score"),
                        }
                    )
                    print(json.dumps(runs[-1]), flush=True)
    out = ROOT / "bench" / "results" / f"backfill{'-latency' if args.latency else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "command": " ".join(["bench/backfill.py", *sys.argv[1:]]),
                "window": args.window,
                "span_days": 365,
                "machine": {"python": platform.python_version(), "cpus": 2, "shared": True},
                "runs": runs,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
