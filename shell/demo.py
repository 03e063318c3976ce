"""`crm-risk demo`: start the simulator in-process, run the nightly flow against it, show what happened."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["DEMO_DIR", "demo_crm", "demo_settings", "next_steps", "run_demo", "run_live", "simulate"]

DEMO_DIR = Path(".demo")
PARAMS = "demo.json"  # beside the org: what it was generated with (a reused org says what it is)


def demo_settings(state_dir: Path) -> dict[str, Any]:
    """Settings overrides that point the pipeline at the demo org and warehouse of `state_dir`."""
    state_dir = state_dir.resolve()
    return {
        "sf_connection_file": str(state_dir / "org" / "connection.json"),
        "sf_auth": "client_credentials",
        "warehouse_path": str(state_dir / "warehouse.duckdb"),
        "landing_dir": str(state_dir / "landing"),
    }


@contextmanager
def demo_crm(state_dir: Path = DEMO_DIR) -> Iterator[dict[str, Any]]:
    """The demo org of `state_dir` served by the simulator for the length of one command (`crm-risk sync` after
    `make demo`, with no CRM configured); yields the settings overrides. Said on stderr, once."""
    from simulator.server import Simulator

    org_dir = state_dir.resolve() / "org"
    with Simulator(org_dir) as sim:
        print(
            f"crm-risk: no CRM configured (CRM_RISK_SF_* or .env): using the demo org in {state_dir / 'org'}, "
            f"served for this command on {sim.url}",
            file=sys.stderr,
        )
        yield demo_settings(state_dir)


def _describe(params: dict[str, Any]) -> str:
    migrated = params.get("migrated_history_days")
    return (
        f"{params['accounts']} accounts, seed {params['seed']}, {'dirty' if params['dirty'] else 'clean'} data"
        + (f", history migrated {migrated} days ago" if migrated else "")
    )


def _print_table(rows: list[tuple[Any, ...]], headers: tuple[str, ...]) -> None:
    widths = [
        max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    print("  " + "  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)))
    for r in rows:
        print("  " + "  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)))


def _print_quality(warehouse_path: str, result: dict[str, Any]) -> None:
    """Quarantined records per object and rule (open quarantine: newest state still refused), Data Docs path."""
    from connectors import warehouse

    with warehouse.connect(warehouse_path, read_only=True) as con:
        rows = con.execute(
            "select object, rule, count(*) from (select object, unnest(json_keys(failed)) as rule "
            "from meta.quarantine_open) group by all order by 1, 2"
        ).fetchall()
    seconds = sum(c.get("validation_ms", 0) for c in result["loaded"].values()) / 1000
    print(
        f"\nData-quality gate: {sum(c.get('quarantined', 0) for c in result['loaded'].values())} records "
        f"quarantined by this run (validation {seconds:.1f}s); open quarantine by rule (meta.quarantine_open):"
    )
    _print_table(rows, ("object", "rule", "records"))
    print(f"  Data Docs: {result.get('data_docs') or 'not built'}")


def _count(client: Any, soql: str) -> int:
    """A SELECT COUNT() through the client's retried, budgeted query path."""
    return int(next(client.query_pages(soql, include_deleted=False))["totalSize"])


def run_demo(
    state_dir: Path,
    accounts: int = 2000,
    seed: int = 42,
    dirty: bool = False,
    migrated_history_days: int | None = None,
) -> int:
    """Run one nightly sync against a simulated org in `state_dir`; print a summary a new user can follow."""
    from connectors import warehouse
    from connectors.salesforce.client import connect
    from crm_risk.config import load_settings
    from flows.nightly import nightly_sync
    from simulator.server import Simulator

    state_dir = state_dir.resolve()
    org_dir = state_dir / "org"
    fresh = not (org_dir / "org.duckdb").exists()
    asked = {
        "accounts": accounts,
        "seed": seed,
        "dirty": dirty,
        "migrated_history_days": migrated_history_days,
    }
    params_file = org_dir / PARAMS
    had = (
        {"migrated_history_days": None, **json.loads(params_file.read_text())}
        if params_file.exists() and not fresh
        else None
    )
    if fresh:
        print(f"crm-risk demo: generating a simulated Salesforce org ({_describe(asked)}) in {org_dir}")
    else:
        print(
            f"crm-risk demo: reusing the simulated Salesforce org in {org_dir} ({_describe(had) if had else 'as it is'})"
        )
        if had and had != asked:
            print(
                f"  note: you asked for {_describe(asked)}; the org above is reused as it is. For a new one: "
                f"--state-dir <another folder>, or remove {state_dir}"
            )
    t0 = time.monotonic()
    with Simulator(
        org_dir, accounts=accounts, seed=seed, dirty=dirty, migrated_history_days=migrated_history_days
    ) as sim:
        if fresh:
            params_file.write_text(json.dumps(asked))
        print(
            f"  simulator listening on {sim.url} (TLS, CA {sim.connection['ca_bundle']}) "
            f"after {time.monotonic() - t0:.1f}s"
        )
        overrides = demo_settings(state_dir)
        t1 = time.monotonic()
        result = nightly_sync(settings=overrides)
        elapsed = time.monotonic() - t1

        print(
            f"\nNightly sync {result['run_id']}: {result['status']} in {elapsed:.1f}s, "
            f"{result['api_calls']} API calls"
        )
        print("\nPulled from the CRM (changed since the last run):")
        _print_table(
            [
                (obj, n, result["loaded"].get(obj, {}).get("quarantined", 0))
                for obj, n in sorted(result["extracted"].items())
            ],
            ("object", "records", "quarantined"),
        )
        if dirty or any(c.get("quarantined") for c in result["loaded"].values()):
            _print_quality(overrides["warehouse_path"], result)
        levels = result["levels"]
        print(
            f"\nRelationship risk: {levels.get('Red', 0)} Red, {levels.get('Amber', 0)} Amber, "
            f"{levels.get('Green', 0)} Green accounts"
        )

        settings = load_settings(**overrides)
        with warehouse.open_for(settings, read_only=True) as con:
            reds = con.execute(
                "select r.account_id, a.account_name, r.score, r.reasons from marts.account_risk r "
                "join staging.stg_accounts a on a.account_id = r.account_id "
                "where r.level = 'Red' order by r.score desc, a.account_name limit 5"
            ).fetchall()
        if reds:
            print("\nTop Red accounts and why:")
            for account_id, name, score, reasons in reds:
                print(f"  {name} ({account_id}), score {score:.0f}")
                for line in str(reasons).split("\n"):
                    print(f"    - {line}")

        push = result.get("push") or {}
        print(
            f"\nWritten back to the CRM: {push.get('updated', 0)} Account updates, "
            f"{push.get('rejected', 0)} rejected (every result is in sync.push_log)"
        )
        client = connect(settings)
        crm_red = _count(client, "SELECT COUNT() FROM Account WHERE Risk_Level__c = 'Red'")
        print(
            f"  read back from the CRM: {crm_red} Accounts now carry Risk_Level__c = 'Red' "
            f"(warehouse: {levels.get('Red', 0)})"
        )
        tasks = result.get("tasks") or {}
        open_tasks = _count(
            client, "SELECT COUNT() FROM Task WHERE Risk_Task_Key__c != null AND IsClosed = false"
        )
        print(
            f"  owner Tasks: {tasks.get('created', 0)} created, {tasks.get('closed', 0)} closed as their signal "
            f"cleared; {open_tasks} open in the CRM (one per account and high-severity signal)"
        )
        if not fresh and push.get("pending", 0) == 0:
            print(
                "  nothing changed since the last run, so nothing was pushed (the incremental path; the Accounts "
                "pulled again are the ones the previous run wrote flags to)"
            )
        print(
            f"  API calls used by this run: {result['api_calls']}; simulator total today: {sum(sim.calls.values())}"
        )

    print(next_steps(state_dir, result.get("data_docs"), time.monotonic() - t0))
    return 0 if result["status"] == "success" else 1


def next_steps(state_dir: Path, data_docs: str | None, seconds: float) -> str:
    """The demo's last lines: the README's walk-through, each command as it works from here."""
    default = state_dir == (Path.cwd() / DEMO_DIR).resolve()
    env = "" if default else f"CRM_RISK_WAREHOUSE_PATH={state_dir / 'warehouse.duckdb'} "
    crm = "" if default else "   (commands that talk to the CRM find the demo org in ./.demo only)"
    rows = [
        ("the flags", f"{env}.venv/bin/crm-risk flags", "flagged accounts, counts, the level rule"),
        (
            "one account",
            f"{env}.venv/bin/crm-risk flags --account <Id>",
            "every signal, its evidence, Tasks, history",
        ),
        (
            "the warehouse",
            f'{env}.venv/bin/crm-risk sql "select level, count(*) from marts.account_risk group by 1"',
            "",
        ),
        ("a dry run", ".venv/bin/crm-risk sync --dry-run", "what a push would change; nothing written"),
        ("a sync", ".venv/bin/crm-risk sync", "the nightly, incremental, on this demo org"),
        ("a backfill", ".venv/bin/crm-risk backfill --since 2026-11-01 --objects Case", ""),
        ("the backtest", ".venv/bin/crm-risk backtest", "the signals against the org's ground truth"),
        ("can it run?", ".venv/bin/crm-risk doctor", "login, fields, budget, warehouse: one line each"),
        ("live events", ".venv/bin/crm-risk demo --live", "change the org, watch flags move in seconds"),
    ]
    width = max(len(cmd) for _, cmd, what in rows if what)
    lines = [
        f"  {label:<14} {cmd.ljust(width) if what else cmd}  {what}".rstrip() for label, cmd, what in rows
    ]
    return (
        '\nWhere to look next (the README\'s "After the demo"; from this folder every command finds the demo by '
        f"itself){crm}:\n"
        + "\n".join(lines)
        + f"\n  {'data docs':<14} {data_docs or '-'}"
        + f"\n  {'run it again':<14} make demo   (incremental: only what changed is pulled, only changed flags are pushed)"
        + f"\n  {'total time':<14} {seconds:.1f}s"
    )


def run_live(state_dir: Path, accounts: int = 2000, seed: int = 42, changes: int = 3) -> int:
    """The event loop against the simulator: a Prefect server, `crm-risk serve account-refresh`, `crm-risk listen`;
    escalate a few cases in the org and print each account's flag moving, with the seconds it took."""
    import statistics
    import subprocess
    import sys

    import duckdb

    from shell.live import account_names, escalation_candidates, watch_flags
    from shell.service import ROOT, EventLoop, prefect_env, running_prefect_server
    from simulator.server import Simulator

    state_dir = state_dir.resolve()
    org_dir, live = state_dir / "org", state_dir / "live"
    t0 = time.monotonic()
    print(f"crm-risk demo --live: the event loop against a simulated org of {accounts} accounts in {org_dir}")
    with (
        Simulator(org_dir, accounts=accounts, seed=seed, keepalive_seconds=0.5) as sim,
        running_prefect_server(live / "prefect") as api,
    ):
        print(f"  Prefect server {api.removesuffix('/api')} (its UI shows the runs)")
        env = prefect_env(api, live / "prefect-home")
        env.update(
            PYTHONPATH=str(ROOT),
            CRM_RISK_SF_CONNECTION_FILE=str(org_dir / "connection.json"),
            CRM_RISK_SF_AUTH="client_credentials",
            CRM_RISK_WAREHOUSE_PATH=str(state_dir / "warehouse.duckdb"),
            CRM_RISK_LANDING_DIR=str(state_dir / "landing"),
            CRM_RISK_REFRESH_SETTLE_SECONDS="2",
        )
        print("  bringing the warehouse up to date (crm-risk sync) ...")
        cli = Path(sys.executable).with_name("crm-risk")
        sync = subprocess.run([str(cli), "sync"], env=env, cwd=ROOT, capture_output=True, text=True)
        if sync.returncode != 0:
            print(sync.stderr[-2000:], file=sys.stderr)
            return 1
        with duckdb.connect(str(state_dir / "warehouse.duckdb"), read_only=True) as con:
            as_of = con.execute("select max(as_of) from marts.account_risk_history").fetchall()[0][0]
            picks = escalation_candidates(con, as_of, changes)
            names = account_names(con, [a for a, _ in picks])
        if not picks:
            print("  no Green account with a closed, unfollowed case to escalate in this org")
            return 1
        print("  starting `crm-risk serve account-refresh` and `crm-risk listen` ...")
        with EventLoop(env, live):
            print(f"  ready after {time.monotonic() - t0:.1f}s; logs in {live}/")
            took = watch_flags(sim.org, [(a, c, names.get(a, a)) for a, c in picks])
    moved = [t for t in took if t is not None]
    if moved:
        print(
            f"\n{len(moved)} of {len(took)} flags moved; seconds from the CRM change to the flag back in the CRM: "
            f"first {moved[0]:.1f}s (starts the refresh run), then median "
            f"{statistics.median(moved[1:] or moved):.1f}s (the live run answers)"
        )
    print("  how it works: docs/account-refresh.md; run it for real: README, 'Run it for real'")
    return 0 if len(moved) == len(took) else 1


def simulate(argv: list[str]) -> int:
    """`crm-risk simulate ...`: the simulator's own command line (the demo is the only product code that imports it)."""
    from simulator.cli import main as simulate_main

    return int(simulate_main(argv) or 0)
