"""Backtest robustness: Red N days before renewal on the demo org generated at several dates.

The simulated org is built relative to its "today", so the monthly as-of dates of the backtest fall at other points
of each account's history on every generation date: the renewal lift of one org is one draw. This runs
`crm-risk demo` (2,000 accounts, seed 42) with the org's date set to each offset from a fixed anchor (the e2e tests'
ORG_DAY, so the dates, and the figures, are the same whatever day it runs), then `run_backtest`, and writes
bench/results/backtest_dates.json: per date the renewal metrics and counts, and per horizon the min / mean / max lift.

    .venv/bin/python bench/backtest_dates.py [--offsets=-300,-200,...] [--anchor 2026-11-26] [--accounts 2000]
        [--migrated-history [DAYS]] [--keep DIR]

Every org records its work as orgs do (calls logged late, an activity-capture tool's nightly batches:
docs/simulator-org.md); `--migrated-history` generates orgs whose history before DAYS days ago (default 730) was
migrated in on that day (results in backtest_dates_migrated.json; the backtest scores only as-of dates from the
migration day plus the rules' longest window, shell/backtest.py). Ten dates by default, about 100 s each on 2 cores (generation + sync ~60 s, backtest ~40 s).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shell.backtest import HORIZONS, run_backtest  # noqa: E402
from tests.e2e.orgclock import ORG_DAY, pin_org_clock  # noqa: E402


def _one(
    state: Path, day: date, offset_days: int, accounts: int, seed: int, migrated: int | None
) -> dict[str, Any]:
    pin_org_clock(state / "org", day)  # the org's today is `day` (its clock.json)
    t0 = time.perf_counter()
    with open(state / "demo.log", "w") as log:
        cmd = [str(ROOT / ".venv/bin/crm-risk"), "demo", "--state-dir", str(state)]
        cmd += ["--accounts", str(accounts), "--seed", str(seed)]
        cmd += ["--migrated-history", str(migrated)] if migrated else []
        subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=True, cwd=ROOT)
    t1 = time.perf_counter()
    result = run_backtest(state)
    truth = json.loads((state / "org" / "ground_truth.json").read_text())
    return {
        "offset_days": offset_days,
        "org_today": truth["today"],
        "renewal": result.renewal,
        "renewal_counts": result.renewal_counts,
        "planted_min_precision": min(m["precision"] for m in result.signals.values()),
        "planted_min_recall": min(m["recall"] for m in result.signals.values()),
        "migrated_on": truth.get("migrated_on"),
        "history_from": result.history_from,
        "snapshots": len(result.snapshots),
        "demo_s": round(t1 - t0, 1),
        "backtest_s": round(time.perf_counter() - t1, 1),
        "model_version": result.model_version,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--offsets",
        default="-300,-200,-120,-45,-20,0,15,30,75,120",
        help="days from the anchor to each org's date, comma-separated",
    )
    ap.add_argument(
        "--anchor", type=date.fromisoformat, default=ORG_DAY, help="the date the offsets count from"
    )
    ap.add_argument("--accounts", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--migrated-history",
        type=int,
        nargs="?",
        const=730,
        default=None,
        metavar="DAYS",
        help="orgs whose history before DAYS days ago (default 730) was migrated in on that day",
    )
    ap.add_argument("--keep", help="keep the state dirs under this folder (default: a temporary folder)")
    ap.add_argument("--out", default=None, help="default bench/results/backtest_dates[_migrated].json")
    args = ap.parse_args()
    name = "backtest_dates_migrated.json" if args.migrated_history else "backtest_dates.json"
    args.out = args.out or str(ROOT / "bench" / "results" / name)
    offsets = [int(x) for x in args.offsets.split(",") if x.strip()]
    with tempfile.TemporaryDirectory(prefix="bt-dates-") as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        runs = []
        for off in offsets:
            run = _one(
                base / f"offset{off}",
                args.anchor + timedelta(days=off),
                off,
                args.accounts,
                args.seed,
                args.migrated_history,
            )
            runs.append(run)
            lifts = " ".join(f"{n}d {run['renewal'][str(n)]['lift']:.2f}" for n in HORIZONS)
            print(
                f"org of {run['org_today']} (offset {off:+d} days): lift {lifts}; planted min precision "
                f"{run['planted_min_precision']:.2f} recall {run['planted_min_recall']:.2f}",
                flush=True,
            )
    summary = {
        str(n): {
            stat: round(fn([r["renewal"][str(n)]["lift"] for r in runs]), 3)
            for stat, fn in (("min", min), ("mean", statistics.fmean), ("max", max))
        }
        for n in HORIZONS
    }
    out = {
        "accounts": args.accounts,
        "seed": args.seed,
        "anchor": args.anchor.isoformat(),
        "migrated_history_days": args.migrated_history,
        "lift": summary,
        "runs": runs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(json.dumps(summary), "->", args.out)


if __name__ == "__main__":
    main()
