"""Pipeline benchmark: extract + load records/s, transform and push time, API calls of a full and a no-change run.

Runs the nightly steps (the same functions the Prefect flow wraps) against an in-process simulator, so Prefect's
own start-up is not counted. Writes bench/results/pipeline.json.

    .venv/bin/python bench/pipeline.py [--accounts 2000] [--seed 42]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.salesforce.client import connect  # noqa: E402
from crm_risk.config import load_settings  # noqa: E402
from pipeline import context, extract, load, score  # noqa: E402
from pipeline.push import push_flags  # noqa: E402
from simulator.server import Simulator  # noqa: E402


def _run(settings: Any, label: str) -> dict[str, Any]:
    out: dict[str, Any] = {"run": label}
    t0 = time.perf_counter()
    ctx = context.begin_run(settings, "bench")
    client = connect(settings)
    t1 = time.perf_counter()
    extracted = extract.extract_all(ctx, client)
    t2 = time.perf_counter()
    loaded = load.load_all(ctx, extracted.manifests)
    t3 = time.perf_counter()
    levels = score.transform(ctx, extracted.as_of).levels
    t4 = time.perf_counter()
    pushed = push_flags(ctx, client)
    t5 = time.perf_counter()
    rows = sum(extracted.rows.values())
    out.update(
        records=rows,
        records_per_object=extracted.rows,
        seconds={
            "connect": round(t1 - t0, 3),
            "extract": round(t2 - t1, 3),
            "load": round(t3 - t2, 3),
            "transform": round(t4 - t3, 3),
            "push": round(t5 - t4, 3),
            "total": round(t5 - t0, 3),
        },
        extract_load_records_per_s=round(rows / max(t3 - t1, 1e-9)),
        api_calls=client.api_calls,
        api_calls_extract=extracted.api_calls,
        api_calls_push=pushed.api_calls,
        pushed=pushed.updated,
        rejected=pushed.rejected,
        levels=levels,
        loaded_rows=sum(c.get("loaded", 0) for c in loaded.values()),
    )
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its JSON."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--accounts", type=int, default=2000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "pipeline.json"))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t0 = time.perf_counter()
        with Simulator(d / "org", accounts=args.accounts, seed=args.seed) as sim:
            org_seconds = time.perf_counter() - t0
            settings = load_settings(
                sf_connection_file=str(d / "org" / "connection.json"),
                warehouse_path=str(d / "warehouse.duckdb"),
                landing_dir=str(d / "landing"),
            )
            full = _run(settings, "full")
            time.sleep(1.1)  # windows end on whole seconds: let our own push's second pass
            again = _run(settings, "no_change")
            calls = dict(sim.calls)
    result = {
        "benchmark": "pipeline",
        "accounts": args.accounts,
        "seed": args.seed,
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "org_generate_seconds": round(org_seconds, 3),
        "runs": [full, again],
        "simulator_calls": calls,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("accounts", "org_generate_seconds", "peak_rss_mb")}))
    for run in result["runs"]:
        print(
            json.dumps(
                {
                    k: run[k]
                    for k in (
                        "run",
                        "records",
                        "extract_load_records_per_s",
                        "seconds",
                        "api_calls",
                        "api_calls_extract",
                        "api_calls_push",
                        "pushed",
                    )
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
