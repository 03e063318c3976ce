"""Side by side on the same org: `crm-risk sync` (full, then incremental after one simulated day) against the script a
data engineer would write first (simple-salesforce `query_all` per object -> pandas -> a DuckDB table).

Per org size: the simulator in a process of its own (its org generated once, not timed with the runs); every
measured run is a separate process, as a user starts it, so imports, Prefect's start and the interpreter count, and
its peak RSS is its own (os.wait4; this process stays small, see _Served). The baseline pulls the same objects and the same fields as the sync (the registry's wanted
fields the org has), with the same client library, over the same HTTPS; it validates, scores and pushes nothing, so
it is a floor for "extract + load", not a like-for-like pipeline.

Writes bench/results/sync.json:
    {"orgs": [{"accounts": n, "records": n,
               "full": {"wall_s", "records_per_s", "api_calls", "peak_rss_mb", "phases": {...}},
               "full_no_push": {...}, "full_no_push_served": {...}, "incremental": {...}, "baseline": {...}}],
     "machine": {...}}

"full_no_push" is `crm-risk sync --no-push` on a warehouse of its own (extract, gate, load, score; nothing written
back), the like-for-like figure beside the baseline, which writes nothing back either. "full_no_push_served" is the
same with Prefect's server already running (PREFECT_API_URL), as a deployment runs it (a worker, `crm-risk
serve`): what the command's own temporary server costs is the difference.

    .venv/bin/python bench/sync.py [--accounts 2000 10000 50000] [--seed 42]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


CLI = Path(sys.executable).with_name("crm-risk")

# the baseline: what a first script looks like (run in its own process; argv: connection.json, warehouse, fields.json)
BASELINE = r"""
import json, sys, time
import duckdb, pandas as pd, requests
from simple_salesforce import Salesforce

conn = json.load(open(sys.argv[1]))
fields = json.load(open(sys.argv[3]))
http = requests.Session()
http.verify = conn["ca_bundle"]
http.trust_env = False  # REQUESTS_CA_BUNDLE is set on this machine and would override verify
token = http.post(conn["token_url"], data={"grant_type": "client_credentials", "client_id": conn["client_id"],
                                           "client_secret": conn["client_secret"]}).json()
sf = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=http, version="62.0")
con = duckdb.connect(sys.argv[2])
phases, rows = {}, 0
for obj, names in fields.items():
    t0 = time.perf_counter()
    records = sf.query_all(f"SELECT {', '.join(names)} FROM {obj}", include_deleted=True)["records"]
    frame = pd.DataFrame.from_records(records).drop(columns=["attributes"], errors="ignore")
    con.execute(f'create or replace table "{obj}" as select * from frame')
    rows += len(frame)
    phases[obj] = round(time.perf_counter() - t0, 3)
print(json.dumps({"records": rows, "phases": phases}))
"""


def _measured(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run a process to its end: (wall seconds, its peak RSS in MB (os.wait4: the process itself), its stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    streams: dict[str, str] = {}
    readers = [
        threading.Thread(target=lambda k=k, f=f: streams.__setitem__(k, f.read()))
        for k, f in (("out", proc.stdout), ("err", proc.stderr))
    ]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    for r in readers:
        r.join()
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[:3])} failed ({proc.returncode}): {streams.get('err', '')[-2000:]}"
        )
    return wall, round(usage.ru_maxrss / 1024), streams.get("out", "")


def _sync(env: dict[str, str], *extra: str) -> dict[str, Any]:
    wall, rss, out = _measured([str(CLI), "sync", "--json", *extra], env)
    result = json.loads(out[out.index("{") :])
    records = sum(result["extracted"].values())
    phases = result.get("seconds", {})
    moving = (phases.get("extract") or 0) + (phases.get("load") or 0)
    return {
        "wall_s": round(wall, 2),
        "records": records,
        "records_per_s": round(records / wall),
        # extract + gate + load only (the throughput target), from the run's own step timings
        "extract_load_records_per_s": round(records / moving) if moving else None,
        "api_calls": result["api_calls"],
        "peak_rss_mb": rss,
        "phases": result.get("seconds", {}),
        "peak_rss_mb_after": result.get("peak_rss_mb", {}),
        "pushed": (result.get("push") or {}).get("updated"),
        "status": result["status"],
    }


def _fields() -> dict[str, list[str]]:
    """Every registry object with the wanted fields the org has (what the sync selects)."""
    from connectors.salesforce.registry import REGISTRY
    from simulator.api.describe import describe_object

    out = {}
    for entry in REGISTRY:
        described = {f["name"] for f in describe_object(entry.name, "62.0")["fields"]}
        out[entry.name] = [f for f in entry.fields if f in described]
    return out


class _Served:
    """The simulator as its own process (`crm-risk simulate`), so this process stays small: a child's peak RSS
    starts from its parent's size at fork (Linux keeps the high-water mark across exec), and a 10,000-account org
    held here would be counted in every run measured."""

    def __init__(self, org_dir: Path, accounts: int, seed: int) -> None:
        self.org_dir, self.accounts, self.seed = org_dir, accounts, seed
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str, timeout: float = 3600) -> float:
        conn = self.org_dir / "connection.json"
        before = conn.stat().st_mtime_ns if conn.exists() else 0
        t0 = time.perf_counter()
        argv = [str(CLI), "simulate", "--port", "0", "--state-dir", str(self.org_dir)]
        argv += ["--accounts", str(self.accounts), "--seed", str(self.seed), *extra]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not (conn.exists() and conn.stat().st_mtime_ns > before):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the simulator exited ({self.proc.returncode})")
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError("the simulator did not start in time")
            time.sleep(0.2)
        return time.perf_counter() - t0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        self.proc = None

    def advance(self, days: int) -> None:
        """N days of business (the simulator's own --advance-days --once), the server stopped meanwhile."""
        self.stop()
        argv = [
            str(CLI),
            "simulate",
            "--port",
            "0",
            "--state-dir",
            str(self.org_dir),
            "--advance-days",
            str(days),
        ]
        subprocess.run([*argv, "--once"], check=True, stdout=subprocess.DEVNULL, timeout=3600)


def _one_org(accounts: int, seed: int, tmp: Path, settings: dict[str, str]) -> dict[str, Any]:
    org_dir = tmp / f"org-{accounts}"
    work = tmp / f"work-{accounts}"
    work.mkdir()
    sim = _Served(org_dir, accounts, seed)
    try:
        generated = sim.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_RISK_")}
        env.update(
            CRM_RISK_SF_CONNECTION_FILE=str(org_dir / "connection.json"),
            CRM_RISK_SF_AUTH="client_credentials",
            CRM_RISK_WAREHOUSE_PATH=str(work / "warehouse.duckdb"),
            CRM_RISK_LANDING_DIR=str(work / "landing"),
            PREFECT_HOME=str(work / "prefect"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_LOGGING_LEVEL="WARNING",
        )
        env.update(settings)
        fields = work / "fields.json"
        fields.write_text(json.dumps(_fields()))
        wall, rss, out = _measured(
            [
                sys.executable,
                "-c",
                BASELINE,
                str(org_dir / "connection.json"),
                str(work / "baseline.duckdb"),
                str(fields),
            ],
            env,
        )
        base = json.loads(out.strip().splitlines()[-1])  # DuckDB may draw a progress bar on stdout before
        baseline = {
            "wall_s": round(wall, 2),
            "records": base["records"],
            "records_per_s": round(base["records"] / wall),
            "peak_rss_mb": rss,
            "phases": base["phases"],
        }
        # the same pipeline writing nothing back (the baseline pushes nothing either): a warehouse of its own
        alone = work / "no-push"
        alone.mkdir()
        no_push = _sync(
            {
                **env,
                "CRM_RISK_WAREHOUSE_PATH": str(alone / "warehouse.duckdb"),
                "CRM_RISK_LANDING_DIR": str(alone / "landing"),
                "PREFECT_HOME": str(alone / "prefect"),
            },
            "--no-push",
        )
        served = _served(env, work / "served", "--no-push")
        full = _sync(env)
        sim.advance(1)
        sim.start()
        time.sleep(1.1)  # extract windows end on whole seconds
        incremental = _sync(env)
    finally:
        sim.stop()
    return {
        "accounts": accounts,
        "records": full["records"],
        "org_generate_s": round(generated, 1),
        "full": full,
        "full_no_push": no_push,
        "full_no_push_served": served,
        "incremental": incremental,
        "baseline": baseline,
        "full_vs_baseline": round(baseline["wall_s"] / full["wall_s"], 2),
        "full_no_push_vs_baseline": round(baseline["wall_s"] / no_push["wall_s"], 2),
        "full_no_push_served_vs_baseline": round(baseline["wall_s"] / served["wall_s"], 2),
    }


def _served(env: dict[str, str], home: Path, *extra: str) -> dict[str, Any]:
    """A sync (a warehouse of its own) with Prefect's server already running, as under a worker or `crm-risk
    serve` (PREFECT_API_URL set): the run starts no temporary server. The server is the one the CLI would start
    (shell/prefect_server.py), begun and answering before the run is timed. `--no-push`: a push would find the
    CRM's Accounts already flagged by another run of the same org, so only a run that writes nothing back is the
    same work twice."""
    from shell.prefect_server import _start, _stop

    home.mkdir()
    saved = {
        k: os.environ.get(k) for k in ("PREFECT_HOME", "PREFECT_API_URL", "PREFECT_SERVER_ANALYTICS_ENABLED")
    }
    os.environ["PREFECT_HOME"] = str(home / "prefect")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"  # as for the runs: no telemetry call out
    os.environ.pop("PREFECT_API_URL", None)
    try:
        proc, url = _start(120)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        return _sync(
            {
                **env,
                "PREFECT_API_URL": url,
                "PREFECT_HOME": str(home / "prefect"),
                "CRM_RISK_WAREHOUSE_PATH": str(home / "warehouse.duckdb"),
                "CRM_RISK_LANDING_DIR": str(home / "landing"),
            },
            *extra,
        )
    finally:
        _stop(proc)


def _targets(orgs: list[dict[str, Any]]) -> dict[str, Any]:
    """Issue 17's targets against what was measured (None where the size was not run)."""
    by = {o["accounts"]: o for o in orgs}

    def at(n: int, f: Any) -> Any:
        return f(by[n]) if n in by else None

    return {
        "full_5x_baseline_10000": at(10000, lambda o: o["full_vs_baseline"] >= 5),
        "full_5x_baseline_50000": at(50000, lambda o: o["full_vs_baseline"] >= 5),
        "full_faster_than_baseline_2000": at(2000, lambda o: o["full_vs_baseline"] > 1),
        "full_no_push_served_faster_than_baseline_2000": at(
            2000, lambda o: o["full_no_push_served_vs_baseline"] > 1
        ),
        "extract_load_100k_records_per_s_50000": at(
            50000, lambda o: (o["full"]["extract_load_records_per_s"] or 0) >= 100_000
        ),
        "peak_rss_under_1gb_50000": at(50000, lambda o: o["full"]["peak_rss_mb"] < 1024),
        "peak_rss_50000_within_20pct_of_10000": (
            by[50000]["full"]["peak_rss_mb"] <= 1.2 * by[10000]["full"]["peak_rss_mb"]
            if 10000 in by and 50000 in by
            else None
        ),
        "incremental_under_2pct_of_full_calls_2000": at(
            2000, lambda o: o["incremental"]["api_calls"] < 0.02 * o["full"]["api_calls"]
        ),
        "incremental_under_10s_2000": at(2000, lambda o: o["incremental"]["wall_s"] < 10),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--accounts", type=int, nargs="+", default=[2000, 10000, 50000])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "sync.json"))
    p.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="CRM_RISK_X=VALUE",
        help="a setting for the measured syncs (repeatable), e.g. CRM_RISK_DQ_CHUNK_ROWS=50000",
    )
    args = p.parse_args(argv)
    settings = dict(s.split("=", 1) for s in args.setting)
    orgs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.accounts:
            orgs.append(_one_org(n, args.seed, Path(tmp), settings))
            print(
                json.dumps({k: orgs[-1][k] for k in ("accounts", "records", "full_vs_baseline")}), flush=True
            )
    result = {
        "benchmark": "sync",
        "targets": _targets(orgs),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": settings,
        "orgs": orgs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    for org in orgs:
        print(
            f"{org['accounts']:>6} accounts {org['records']:>9,} records | full {org['full']['wall_s']:>7.1f}s "
            f"{org['full']['peak_rss_mb']:>5} MB | incremental {org['incremental']['wall_s']:>6.1f}s "
            f"{org['incremental']['api_calls']:>4} calls | baseline {org['baseline']['wall_s']:>7.1f}s "
            f"| no-push {org['full_no_push']['wall_s']:>6.1f}s, server running {org['full_no_push_served']['wall_s']:>6.1f}s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
