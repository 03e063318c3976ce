"""The event loop as it runs for real: a Prefect server, prefect.yaml's `account-refresh` deployment served with its
trigger (`crm-risk serve`), `crm-risk listen` on the simulator's Change Data Capture stream, and CRM changes.

Every process is started here and stopped by PID; the simulator's clock is pinned.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests

from shell.live import account_flags, escalate, escalation_candidates
from shell.service import EventLoop, prefect_env, read_events, running_prefect_server
from tests.e2e.orgclock import pin_org_clock
from tests.e2e.waiting import wait_for as _wait

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


class Stack:
    """The org, the server's URL, the settings every process shares, and the warehouse path."""

    def __init__(self, sim: Any, api: str, work: Path) -> None:
        self.sim, self.api, self.work = sim, api, work
        self.warehouse = work / "warehouse.duckdb"
        self.env = prefect_env(api, work / "prefect-home")
        self.env.update(
            PYTHONPATH=str(ROOT),
            CRM_RISK_SF_CONNECTION_FILE=str(Path(sim.state_dir) / "connection.json"),
            CRM_RISK_SF_AUTH="client_credentials",
            CRM_RISK_WAREHOUSE_PATH=str(self.warehouse),
            CRM_RISK_LANDING_DIR=str(work / "landing"),
            CRM_RISK_REFRESH_SETTLE_SECONDS="2",
            CRM_RISK_REFRESH_WINDOW_SECONDS="15",  # prefect.yaml's 60 s: the tests wait for runs to end
        )

    def sync(self) -> str:
        """`crm-risk sync` against the server; its output."""
        cli = Path(sys.executable).with_name("crm-risk")
        done = subprocess.run(
            [str(cli), "sync"], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def log_files(self) -> list[Path]:
        """The processes' logs, shown when a test fails (tests/e2e/conftest.py)."""
        return [self.work / "prefect" / "server.log", self.work / "serve.log", self.work / "listen.log"]

    def refresh_runs(self) -> list[dict[str, Any]]:
        """The account-refresh deployment's flow runs."""
        body = {"deployments": {"name": {"any_": ["account-refresh"]}}, "limit": 200}
        answer = requests.post(f"{self.api}/flow_runs/filter", json=body, timeout=30)
        answer.raise_for_status()
        return list(answer.json())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A 120-account org synced once, the Prefect server, `crm-risk serve account-refresh` and `crm-risk listen`."""
    from simulator.server import Simulator

    org_dir = tmp_path_factory.mktemp("org")
    pin_org_clock(org_dir)
    work = tmp_path_factory.mktemp("loop")
    with (
        Simulator(org_dir, accounts=120, seed=5, keepalive_seconds=0.5) as sim,
        running_prefect_server(work / "prefect") as api,
    ):
        s = Stack(sim, api, work)
        s.sync()
        with EventLoop(s.env, work):
            yield s


def test_an_escalated_case_moves_its_flag_and_no_other(stack: Stack) -> None:
    with duckdb.connect(str(stack.warehouse), read_only=True) as con:
        as_of = con.execute("select max(as_of) from marts.account_risk_history").fetchall()[0][0]
        account, case = escalation_candidates(con, as_of, 1)[0]
    before = account_flags(stack.sim.org)
    started = time.monotonic()
    escalate(stack.sim.org, case)

    _wait(lambda: account_flags(stack.sim.org)[account]["Risk_Level__c"] == "Red", 120, "the flag in the CRM")
    seconds = time.monotonic() - started
    _wait(
        lambda: stack.refresh_runs() and all(r["state_type"] == "COMPLETED" for r in stack.refresh_runs()),
        120,
        "the refresh run to finish",
        every=1.0,
    )
    after = account_flags(stack.sim.org)
    assert {a for a in after if after[a] != before[a]} == {account}, "another account was touched"
    assert "nobody from the account team followed up" in after[account]["Risk_Reasons__c"]
    tasks = stack.sim.org.query(
        f"SELECT Risk_Task_Key__c FROM Task WHERE WhatId = '{account}' AND Risk_Task_Key__c != null"
    ).records(0)
    assert any(t["Risk_Task_Key__c"].startswith(f"{account}:no_follow_up_after_fix:") for t in tasks)
    # the move went out as events for users' automations, from the refresh run (the account was not Red before)
    [raised] = _wait(
        lambda: [
            e
            for e in read_events(stack.api, "crm.risk.flag.raised")
            if e["payload"]["account_id"] == account and e["payload"]["level"] == "Red"
        ],
        30,
        "the flag's raised event",
    )
    assert raised["payload"]["previous_level"] == before[account]["Risk_Level__c"]
    refreshes = {
        e["payload"]["run_id"]
        for e in read_events(stack.api, "crm.sync.completed")
        if e["resource"]["crm-risk.flow"] == "account_refresh"
    }
    assert raised["payload"]["run_id"] in refreshes
    print(f"escalation -> Red in the CRM in {seconds:.1f}s (cold start of the refresh run included)")


def _burst(org: Any, accounts: list[str], per_account: int, rng: random.Random) -> int:
    """`per_account` changes to each account's cases and contacts, interleaved across accounts; the count."""
    cases = {
        a: [r["Id"] for r in org.query(f"SELECT Id FROM Case WHERE AccountId = '{a}'").records(0)]
        for a in accounts
    }
    contacts = {
        a: [r["Id"] for r in org.query(f"SELECT Id FROM Contact WHERE AccountId = '{a}'").records(0)]
        for a in accounts
    }
    made = 0
    for i in range(per_account):
        for a in accounts:
            if cases[a] and (i % 3 or not contacts[a]):
                org.update(
                    "Case",
                    rng.choice(cases[a]),
                    {"Priority": rng.choice(["High", "Medium", "Low"]), "IsEscalated": rng.random() < 0.3},
                )
            else:
                org.update("Contact", rng.choice(contacts[a]), {"Title": f"Title {i}"})
            made += 1
    return made


def test_a_burst_of_200_changes_over_20_accounts_is_a_few_runs_and_every_flag_right(stack: Stack) -> None:
    with duckdb.connect(str(stack.warehouse), read_only=True) as con:
        accounts = [
            a
            for (a,) in con.execute(
                "select account_id from marts.account_risk order by hash(account_id) limit 20"
            ).fetchall()
        ]
    [before] = _wait(lambda: (stack.refresh_runs(),), 120, "the server's flow runs")  # one element: truthy
    runs_before = {r["id"] for r in before}
    assert _burst(stack.sim.org, accounts, 10, random.Random(7)) == 200

    def settled() -> list[dict[str, Any]]:
        runs = [r for r in stack.refresh_runs() if r["id"] not in runs_before]
        return (
            runs if runs and all(r["state_type"] in ("COMPLETED", "FAILED", "CRASHED") for r in runs) else []
        )

    time.sleep(5)  # the last changes reach the listener and the server
    runs = _wait(settled, 240, "the refresh runs to finish", every=1.0)
    assert all(r["state_type"] == "COMPLETED" for r in runs), [r["state_name"] for r in runs]
    assert 1 <= len(runs) <= 10, len(runs)
    # every flag right: (a) every change reached the warehouse (each Case and Contact of the accounts as the CRM
    # holds it), (b) the CRM holds what the warehouse scored for them; and scoring some accounts equals the full run
    # for them (tests/e2e/test_refresh.py). A full run now would not do: its later as-of moves time windows.
    crm = account_flags(stack.sim.org)
    quoted = ", ".join(f"'{a}'" for a in accounts)
    with duckdb.connect(str(stack.warehouse), read_only=True) as con:
        scored = {
            a: (level, score, reasons)
            for a, level, score, reasons in con.execute(
                "select account_id, level, score, reasons from marts.account_risk "
                "where account_id in (select unnest(?))",
                [accounts],
            ).fetchall()
        }
        # the fields the burst wrote (a write that left them as they were is no change, and no event, rightly)
        for obj, table, fields in (
            ("Case", '"case"', ("Priority", "IsEscalated")),
            ("Contact", "contact", ("Title",)),
        ):
            soql = f"SELECT Id, {', '.join(fields)} FROM {obj} WHERE AccountId IN ({quoted})"
            in_crm = {r["Id"]: tuple(r[f] for f in fields) for r in stack.sim.org.query(soql).records(0)}
            columns = ", ".join(f'"{f}"' for f in fields)
            rows = con.execute(
                f'select "Id", {columns} from raw.{table} where "AccountId" in (select unnest(?))', [accounts]
            ).fetchall()
            assert {r[0]: tuple(r[1:]) for r in rows} == in_crm, f"{obj}: the warehouse misses changes"
    assert scored and all(
        (crm[a]["Risk_Level__c"], crm[a]["Risk_Score__c"], crm[a]["Risk_Reasons__c"]) == scored[a]
        for a in scored
    )
    print(f"burst of 200 changes over 20 accounts: {len(runs)} refresh runs")
