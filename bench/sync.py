"""Side by side on the same org: `crm-risk sync` (full, then incremental after one simulated day) against the script a
data engineer would write first (simple-salesforce `query_all` per object -> pandas -> a DuckDB table).

Per org size: one in-process simulator (its org generated once, not timed with the runs); every measured run is a
separate process, as a user starts it, so imports, Prefect's start and the interpreter count, and its peak RSS is
its own (os.wait4). The baseline pulls the same objects and the same fields as the sync (the registry's wanted
fields the org has), with the same client library, over the same HTTPS; it validates, scores and pushes nothing, so
it is a floor for "extract + load", not a like-for-like pipeline.

Writes bench/results/sync.json:
    {"orgs": [{"accounts": n, "records": n,
               "full": {"wall_s", "records_per_s", "api_calls", "peak_rss_mb", "phases": {...}},
               "incremental": {...}, "baseline": {...}}], "machine": {...}}

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

from simulator.server import Simulator  # noqa: E402

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


def _sync(env: dict[str, str]) -> dict[str, Any]:
    wall, rss, out = _measured([str(CLI), "sync", "--json"], env)
    result = json.loads(out[out.index("{") :])
    records = sum(result["extracted"].values())
    return {
        "wall_s": round(wall, 2),
        "records": records,
        "records_per_s": round(records / wall),
        "api_calls": result["api_calls"],
        "peak_rss_mb": rss,
        "phases": result.get("seconds", {}),
        "peak_rss_mb_after": result.get("peak_rss_mb", {}),
        "pushed": (result.get("push") or {}).get("updated"),
        "status": result["status"],
    }


def _fields(sim: Simulator) -> dict[str, list[str]]:
    """Every registry object with the wanted fields the org has (what the sync selects)."""
    from connectors.salesforce.registry import REGISTRY
    from simulator.api.describe import describe_object

    out = {}
    for entry in REGISTRY:
        described = {f["name"] for f in describe_object(entry.name, "62.0")["fields"]}
        out[entry.name] = [f for f in entry.fields if f in described]
    return out


def _one_org(accounts: int, seed: int, tmp: Path) -> dict[str, Any]:
    org_dir = tmp / f"org-{accounts}"
    t0 = time.perf_counter()
    with Simulator(org_dir, accounts=accounts, seed=seed) as sim:
        generated = time.perf_counter() - t0
        work = tmp / f"work-{accounts}"
        work.mkdir()
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
        fields = work / "fields.json"
        fields.write_text(json.dumps(_fields(sim)))
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
        calls0 = sum(sim.calls.values())
        full = _sync(env)
        full["api_calls_simulator"] = sum(sim.calls.values()) - calls0
        sim.advance_days(1)
        time.sleep(1.1)  # extract windows end on whole seconds
        calls0 = sum(sim.calls.values())
        incremental = _sync(env)
        incremental["api_calls_simulator"] = sum(sim.calls.values()) - calls0
    return {
        "accounts": accounts,
        "records": full["records"],
        "org_generate_s": round(generated, 1),
        "full": full,
        "incremental": incremental,
        "baseline": baseline,
        "full_vs_baseline": round(baseline["wall_s"] / full["wall_s"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--accounts", type=int, nargs="+", default=[2000, 10000, 50000])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "sync.json"))
    args = p.parse_args(argv)
    orgs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.accounts:
            orgs.append(_one_org(n, args.seed, Path(tmp)))
            print(
                json.dumps({k: orgs[-1][k] for k in ("accounts", "records", "full_vs_baseline")}), flush=True
            )
    result = {
        "benchmark": "sync",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "orgs": orgs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    for org in orgs:
        print(
            f"{org['accounts']:>6} accounts {org['records']:>9,} records | full {org['full']['wall_s']:>7.1f}s "
            f"{org['full']['peak_rss_mb']:>5} MB | incremental {org['incremental']['wall_s']:>6.1f}s "
            f"{org['incremental']['api_calls']:>4} calls | baseline {org['baseline']['wall_s']:>7.1f}s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
