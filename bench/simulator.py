"""Benchmark the simulator: records/s served through REST query paging and Bulk 2.0 results, API calls counted.

    .venv/bin/python bench/simulator.py [--accounts 2000] [--seed 42] [--state-dir DIR] [--repeat 3] [--in-process]

Starts a simulator on a sizeable org (generated once into the state dir, reused later) in its own process, as
`crm-risk simulate` runs it (`--in-process` runs it in the benchmark's process, where client and server share one
GIL), reads the largest object with simple-salesforce's `query_all_iter` (2,000-record pages) and with
`bulk2.<Object>.query` (50,000-record pages), and writes `bench/results/simulator.json` with wall-clock records/s
and CPU seconds of client and server (records per CPU-second does not depend on the machine's load). Targets: REST >= 20,000 records/s, Bulk 2.0 >= 200,000.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: bench/ must not shadow the `simulator` package
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(_here.parent))

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import requests
from simple_salesforce import Salesforce

from simulator.server import Simulator

TARGETS = {"rest_records_per_s": 20_000, "bulk2_records_per_s": 200_000}
FIELDS = "Id, Subject, Status, Priority, ActivityDate, WhatId, WhoId, OwnerId, IsClosed, SystemModstamp"
RESULTS = Path(__file__).resolve().parent / "results" / "simulator.json"
READY_TIMEOUT = 600.0


class Served:
    """A running simulator, in this process or in a child process (`python -m simulator.cli`)."""

    def __init__(self, state_dir: Path, accounts: int, seed: int, in_process: bool) -> None:
        self.sim: Simulator | None = None
        self.proc: subprocess.Popen[str] | None = None
        if in_process:
            self.sim = Simulator(state_dir, accounts=accounts, seed=seed).start()
            self.connection = self.sim.connection
            return
        cmd = [
            sys.executable,
            "-c",
            "import sys; from simulator.cli import main; sys.exit(main(sys.argv[1:]))",
            "--port",
            "0",
            "--state-dir",
            str(state_dir),
            "--accounts",
            str(accounts),
            "--seed",
            str(seed),
        ]
        self.proc = subprocess.Popen(
            cmd,
            cwd=Path(__file__).resolve().parent.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        deadline = time.monotonic() + READY_TIMEOUT
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"the simulator exited with {self.proc.returncode} before serving")
            if line.startswith("simulator serving"):
                break
        else:
            self.stop()
            raise RuntimeError("the simulator did not start in time")
        self.connection = json.loads((state_dir / "connection.json").read_text())

    def calls(self, http: requests.Session) -> Counter[str]:
        """The simulator's per-endpoint call counter."""
        if self.sim is not None:
            return Counter(self.sim.calls)
        resp = http.get(
            f"{self.connection['instance_url']}/_simulator/calls",
            headers={"Authorization": f"Bearer {self.connection['access_token']}"},
            timeout=30,
        )
        resp.raise_for_status()
        return Counter(resp.json()["calls"])

    def cpu_seconds(self) -> float:
        """CPU seconds the child simulator process has used (0 in-process: the client's clock includes it)."""
        if self.proc is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """Stop the simulator (SIGTERM for a child process, bounded wait)."""
        if self.sim is not None:
            self.sim.stop()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _client(conn: dict[str, Any]) -> tuple[Salesforce, requests.Session]:
    http = requests.Session()
    http.trust_env = False
    http.verify = conn["ca_bundle"]
    return Salesforce(
        instance_url=conn["instance_url"], session_id=conn["access_token"], session=http, version="62.0"
    ), http


def _largest(sf: Salesforce) -> tuple[str, int]:
    counts = {
        o: sf.query(f"SELECT COUNT() FROM {o}")["totalSize"] for o in ("Task", "Event", "Case", "Contact")
    }
    name = max(counts, key=lambda k: counts[k])
    return name, counts[name]


def _fields(sobject: str) -> str:
    return FIELDS if sobject == "Task" else "Id, OwnerId, CreatedDate, SystemModstamp"


def _timed(served: Served, fn: Any) -> dict[str, Any]:
    s0 = served.cpu_seconds()
    t0, c0 = time.perf_counter(), time.process_time()
    n = fn()
    secs, cpu, server_cpu = time.perf_counter() - t0, time.process_time() - c0, served.cpu_seconds() - s0
    return {
        "records": n,
        "seconds": round(secs, 3),
        "records_per_s": round(n / secs),
        "client_cpu_seconds": round(cpu, 3),
        "server_cpu_seconds": round(server_cpu, 3),
        "records_per_cpu_s": round(n / max(cpu + server_cpu, 1e-6)),
    }


def bench_rest(served: Served, sf: Salesforce, sobject: str) -> dict[str, Any]:
    """Read the whole object through REST paging (query + query_more)."""
    return _timed(
        served, lambda: sum(1 for _ in sf.query_all_iter(f"SELECT {_fields(sobject)} FROM {sobject}"))
    )


def bench_bulk2(served: Served, sf: Salesforce, sobject: str) -> dict[str, Any]:
    """Read the whole object through a Bulk 2.0 query job (results pages of 50,000)."""

    def run() -> int:
        n = 0
        for page in getattr(sf.bulk2, sobject).query(
            f"SELECT {_fields(sobject)} FROM {sobject}", max_records=50_000, wait=0
        ):
            n += (
                page.count("\n") - 1
            )  # the selected fields are single-line: one line per record after the header
        return n

    return _timed(served, run)


def _best(runs: list[dict[str, Any]], calls: int) -> dict[str, Any]:
    best = max(runs, key=lambda r: r["records_per_s"])
    return {
        **best,
        "api_calls_per_run": calls // len(runs),
        "runs_records_per_s": [r["records_per_s"] for r in runs],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write bench/results/simulator.json."""
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--accounts", type=int, default=2000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--state-dir", type=Path, default=None, help="reuse an org here (default: a temp dir)")
    p.add_argument("--repeat", type=int, default=3, help="best of N runs per API (default 3)")
    p.add_argument(
        "--in-process", action="store_true", help="serve from this process instead of a child process"
    )
    args = p.parse_args(argv)
    tmp = None
    if args.state_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="sim-bench-")
        args.state_dir = Path(tmp.name)
    served = None
    try:
        t0 = time.perf_counter()
        served = Served(args.state_dir, args.accounts, args.seed, args.in_process)
        startup = time.perf_counter() - t0
        sf, http = _client(served.connection)
        sobject, total = _largest(sf)
        before = served.calls(http)
        rest_runs = [bench_rest(served, sf, sobject) for _ in range(args.repeat)]
        mid = served.calls(http)
        bulk_runs = [bench_bulk2(served, sf, sobject) for _ in range(args.repeat)]
        after = served.calls(http)
        rest = _best(rest_runs, sum((mid - before).values()) - 1)  # minus the counter read itself
        bulk = _best(bulk_runs, sum((after - mid).values()) - 1)
        result = {
            "benchmark": "simulator",
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_average": [round(x, 2) for x in os.getloadavg()],
            },
            "mode": "in-process" if args.in_process else "separate process",
            "org": {
                "accounts": args.accounts,
                "seed": args.seed,
                "object": sobject,
                "records": total,
                "fields": _fields(sobject),
                "startup_seconds": round(startup, 2),
            },
            "rest": rest,
            "bulk2": bulk,
            "targets": TARGETS,
            "meets_targets": {
                "rest": rest["records_per_s"] >= TARGETS["rest_records_per_s"],
                "bulk2": bulk["records_per_s"] >= TARGETS["bulk2_records_per_s"],
            },
            "api_calls_total": sum(after.values()),
            "api_calls": dict(sorted(after.items())),
        }
        http.close()
    finally:
        if served is not None:
            served.stop()
        if tmp is not None:
            tmp.cleanup()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("mode", "org", "rest", "bulk2", "meets_targets")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
