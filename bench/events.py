"""Event-path latency: from a change committed in the CRM to the account's flag written back, through the real loop.

Per org size: an in-process simulator, a Prefect server, one full `crm-risk sync`, then `crm-risk serve
account-refresh` and `crm-risk listen` as separate processes (shell.service.EventLoop), exactly as in production.
Each change escalates a closed case nobody followed up on, on a Green account (shell.live): the account must turn Red.
Latency = the moment the simulator's Account shows Red - the moment the case update committed (both this clock).

1. steady: `--changes` changes, one every `--gap` seconds; the first one wakes the deployment (a cold start: a new
   flow-run process, Prefect, DuckDB and Great Expectations imported), the next ones reach the live run.
2. during a nightly: `--during` changes while a full re-pull of every object (`crm-risk backfill --since 2000-01-01`,
   the heaviest run that shares the warehouse) is running.

Writes bench/results/events.json:
    {"orgs": [{"accounts": n, "p50_s": .., "p95_s": .., "runs": .., "changes": .., "cold_start_s": ..,
               "during_nightly": {"p50_s": .., "p95_s": .., "changes": .., "nightly_running_at_last_flag": ..}}]}

    .venv/bin/python bench/events.py [--accounts 2000 20000] [--changes 30] [--gap 1.0] [--during 10]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import requests  # noqa: E402

from shell.live import escalate, escalation_candidates  # noqa: E402
from shell.service import EventLoop, prefect_env, running_prefect_server, stop_process  # noqa: E402

CLI = Path(sys.executable).with_name("crm-risk")
TIMEOUT = 180.0  # a change whose flag has not moved by then counts as this (and is reported)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 2)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1], 2)


class Watch:
    """Polls the simulator's Accounts (its store, no API call) for the accounts waiting to turn Red."""

    def __init__(self, org: Any) -> None:
        self.org = org
        self.waiting: dict[str, float] = {}  # account -> commit time
        self.done: dict[str, float] = {}  # account -> latency
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def expect(self, account: str, committed: float) -> None:
        with self.lock:
            self.waiting[account] = committed

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            with self.lock:
                ids = list(self.waiting)
            if not ids:
                continue
            quoted = ", ".join(f"'{a}'" for a in ids)
            rows = self.org.query(f"SELECT Id, Risk_Level__c FROM Account WHERE Id IN ({quoted})").records(0)
            now = time.monotonic()
            with self.lock:
                for r in rows:
                    if r.get("Risk_Level__c") == "Red" and r["Id"] in self.waiting:
                        self.done[r["Id"]] = now - self.waiting.pop(r["Id"])

    def wait(self, accounts: list[str], timeout: float = TIMEOUT) -> list[float]:
        """Latencies of `accounts` (a timed-out one counts as its wait so far)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(a in self.done for a in accounts):
                    break
            time.sleep(0.1)
        with self.lock:
            return [self.done.get(a, timeout) for a in accounts]

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


def _refresh_runs(api: str) -> list[dict[str, Any]]:
    body = {"deployments": {"name": {"any_": ["account-refresh"]}}, "limit": 200}
    answer = requests.post(f"{api}/flow_runs/filter", json=body, timeout=30)
    answer.raise_for_status()
    return list(answer.json())


def _changes(sim: Any, watch: Watch, picks: list[tuple[str, str]], gap: float) -> list[str]:
    for i, (account, case) in enumerate(picks):
        escalate(sim.org, case)
        watch.expect(account, time.monotonic())
        if i < len(picks) - 1:
            time.sleep(gap)
    return [a for a, _ in picks]


def run_org(accounts: int, changes: int, gap: float, during: int, seed: int, work: Path) -> dict[str, Any]:
    from simulator.server import Simulator

    out: dict[str, Any] = {"accounts": accounts}
    t0 = time.monotonic()
    with (
        Simulator(work / "org", accounts=accounts, seed=seed, keepalive_seconds=0.5) as sim,
        running_prefect_server(work / "prefect") as api,
    ):
        out["generate_s"] = round(time.monotonic() - t0, 1)
        env = prefect_env(api, work / "prefect-home")
        env.update(
            PYTHONPATH=str(ROOT),
            CRM_RISK_SF_CONNECTION_FILE=str(Path(sim.state_dir) / "connection.json"),
            CRM_RISK_SF_AUTH="client_credentials",
            CRM_RISK_WAREHOUSE_PATH=str(work / "warehouse.duckdb"),
            CRM_RISK_LANDING_DIR=str(work / "landing"),
            CRM_RISK_REFRESH_SETTLE_SECONDS="2",
        )
        t1 = time.monotonic()
        done = subprocess.run(
            [str(CLI), "sync"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=3600
        )
        if done.returncode != 0:
            raise RuntimeError(f"crm-risk sync failed: {done.stderr[-2000:]}")
        out["sync_s"] = round(time.monotonic() - t1, 1)
        with duckdb.connect(str(work / "warehouse.duckdb"), read_only=True) as con:
            as_of = con.execute("select max(as_of) from marts.account_risk_history").fetchall()[0][0]
            picks = escalation_candidates(con, as_of, 1 + changes + during)
        if len(picks) < 1 + changes + during:
            out["note"] = f"only {len(picks)} candidate accounts for {1 + changes + during} changes"
        cold, steady, busy = picks[:1], picks[1 : 1 + changes], picks[1 + changes :]
        watch = Watch(sim.org)
        try:
            with EventLoop(env, work / "loop"):
                before = {r["id"] for r in _refresh_runs(api)}
                # 1. steady: the first change wakes the deployment, the next ones reach the live run
                _changes(sim, watch, cold, 0)
                cold_s = watch.wait([cold[0][0]])
                steady_s = watch.wait(_changes(sim, watch, steady, gap))
                all_s = cold_s + steady_s
                runs = [r for r in _refresh_runs(api) if r["id"] not in before]
                out.update(
                    p50_s=_pct(all_s, 50),
                    p95_s=_pct(all_s, 95),
                    max_s=round(max(all_s), 2),
                    runs=len(runs),
                    changes=len(all_s),
                    cold_start_s=round(cold_s[0], 2),
                    live_run_p50_s=_pct(steady_s, 50),
                    live_run_p95_s=_pct(steady_s, 95),
                    timed_out=sum(1 for s in all_s if s >= TIMEOUT),
                )
                # 2. during a nightly-sized run that shares the warehouse
                if busy:
                    log = (work / "backfill.log").open("w")
                    nightly = subprocess.Popen(
                        [str(CLI), "backfill", "--since", "2000-01-01"],
                        env=env,
                        cwd=ROOT,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                    try:
                        time.sleep(3)  # it has started pulling
                        busy_s = watch.wait(_changes(sim, watch, busy, 2.0))
                        running = nightly.poll() is None
                        nightly.wait(3600)
                    finally:
                        stop_process(nightly)
                        log.close()
                    out["during_nightly"] = {
                        "p50_s": _pct(busy_s, 50),
                        "p95_s": _pct(busy_s, 95),
                        "max_s": round(max(busy_s), 2),
                        "changes": len(busy_s),
                        "nightly_running_at_last_flag": running,
                        "nightly_rc": nightly.returncode,
                    }
        finally:
            watch.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between two steady changes")
    parser.add_argument("--during", type=int, default=10, help="changes while a nightly-sized run runs")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    orgs = []
    for n in args.accounts:
        with tempfile.TemporaryDirectory(prefix=f"bench-events-{n}-") as tmp:
            result = run_org(n, args.changes, args.gap, args.during, args.seed, Path(tmp))
        print(json.dumps(result), flush=True)
        orgs.append(result)
    report = {
        "orgs": orgs,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "note": "latency = the simulator's Account shows Red - the case update committed; steady changes one every "
        f"{args.gap}s; cold_start_s is the first change, which starts the deployment's flow-run process",
    }
    target = ROOT / "bench" / "results" / "events.json"
    target.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
