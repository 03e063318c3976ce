"""Kills, stops and refusals end to end: the trend's reference, the three push outcomes, a kill -9 during the Account
push (the push log accounts for every CRM write, no run stays `running`, no Prefect server outlives the CLI) and
during the extract, the load and the owner Tasks' create (each rerun converges), a refused login, landing retention. One 80-account org for the module; its tests run in file order (the first needs
the org as generated, with no flag in the CRM)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import fastavro
import pytest

from crm_risk.errors import PushRejectedError, TerminalError
from flows.nightly import nightly_sync
from tests.e2e.secrets_sweep import prefect_database, run_secrets, sweep
from tests.e2e.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

RISK_FIELDS = ("Risk_Level__c", "Risk_Score__c", "Risk_Reasons__c", "Risk_Trend__c", "Risk_Model_Version__c")
CASE_SIGNALS = (
    "repeat_issue",
    "no_follow_up_after_fix",
    "missed_customer_yardstick",
    "broken_promise_after_sale",
)


def _wh(settings: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(settings["warehouse_path"], read_only=True)


def _crm_flags(sim: Any) -> dict[str, dict[str, Any]]:
    soql = f"SELECT Id, {', '.join(RISK_FIELDS)} FROM Account WHERE Risk_Level__c != null"
    return {r["Id"]: r for r in sim.org.query(soql).records(0, 100_000)}


def _blank(sim: Any, ids: list[str]) -> None:
    """Blank the pipeline's fields on these Accounts (an admin's edit): a fresh warehouse has them to push."""
    for account_id in ids:
        sim.org.update("Account", account_id, dict.fromkeys(RISK_FIELDS))
    # an extract window ends at the org's time as its Date header tells it, in whole seconds: a run started within
    # the second would leave the edits to the next run's lookback
    sim.org.clock.advance(1 / 1440)


def _crm_writes(sim: Any, after: int, entity: str) -> Counter[str]:
    """Record id -> the writes (creates and updates) the org's change log holds for it after replay `after`."""
    from simulator.org.cdc import event_schema

    schema = event_schema(entity).parsed
    writes: Counter[str] = Counter()
    for event in sim.org.changes.read(after, sim.org.changes.head, entity, 1_000_000):
        header = fastavro.schemaless_reader(io.BytesIO(event.payload), schema)["ChangeEventHeader"]
        if header["changeType"] in ("CREATE", "UPDATE"):
            writes.update(header["recordIds"])
    return writes


def _logged_writes(settings: dict[str, Any], entity: str) -> Counter[str]:
    """Record id -> the CRM writes sync.push_log reports (accepted results, crash-reconciled ones included)."""
    with _wh(settings) as con:
        rows = con.execute(
            "select record_id from sync.push_log where object = ? and status in ('updated', 'created')",
            [entity],
        ).fetchall()
    return Counter(str(r[0]) for r in rows)


def test_a_refused_login_closes_the_run_failed_with_its_cause(
    e2e_sim: Any, settings_for: dict, tmp_path: Path
) -> None:
    conn = json.loads((Path(e2e_sim.state_dir) / "connection.json").read_text())
    wrong = tmp_path / "connection.json"  # the org's connection file with a client secret the org refuses
    wrong.write_text(json.dumps({**conn, "client_secret": "not-the-secret"}))
    with pytest.raises(
        TerminalError, match=r"Salesforce login \(CRM_RISK_SF_AUTH=client_credentials\) refused"
    ):
        nightly_sync(settings={**settings_for, "sf_connection_file": str(wrong)})
    with _wh(settings_for) as con:
        runs = con.execute("select status, message from meta.runs").fetchall()
    assert len(runs) == 1 and runs[0][0] == "failed"
    assert "login (CRM_RISK_SF_AUTH=client_credentials) refused" in runs[0][1]
    assert "not-the-secret" not in runs[0][1]


def test_the_trend_compares_with_what_the_crm_showed_never_with_a_stopped_or_unpushed_run(
    e2e_sim: Any, settings_for: dict
) -> None:
    assert _crm_flags(e2e_sim) == {}, "the module's first push test needs the org as generated"
    budget = e2e_sim.api_budget
    e2e_sim.api_budget = e2e_sim.api_used + 12  # a few objects, then the quota: scored on half a picture
    try:
        assert nightly_sync(settings=settings_for)["status"] == "stopped_quota"
    finally:
        e2e_sim.api_budget = budget
    clean = nightly_sync(settings=settings_for)
    assert clean["status"] == "success" and clean["push"]["updated"] > 20
    flags = _crm_flags(e2e_sim)
    assert len(flags) == clean["push"]["updated"]
    assert {f["Risk_Trend__c"] for f in flags.values()} == {"Steady"}  # as a clean org shows

    # real changes: three recent cases of a Green account escalated; a Red account's cases withdrawn
    with _wh(settings_for) as con:
        rising = con.execute(
            """select r.account_id from marts.account_risk r
            join staging.stg_cases c on c.account_id = r.account_id
            where r.level = 'Green' and c.created_at >= r.computed_at - interval 60 days
            group by 1 having count(*) >= 3 order by 1 limit 1"""
        ).fetchone()[0]
        falling = con.execute(
            """select account_id from marts.account_signals group by 1
            having bool_or(severity = 'high')
                and bool_and(severity <> 'high' or signal_id in (select unnest($case_signals::varchar[])))
            order by 1 limit 1""",
            {"case_signals": list(CASE_SIGNALS)},
        ).fetchone()[0]
    cases = e2e_sim.org.query(
        f"SELECT Id FROM Case WHERE AccountId = '{rising}' ORDER BY CreatedDate DESC LIMIT 3"
    ).records(0)
    for case in cases:
        e2e_sim.org.update("Case", case["Id"], {"Priority": "High", "IsEscalated": True})
    for case in e2e_sim.org.query(f"SELECT Id FROM Case WHERE AccountId = '{falling}'").records(0, 10_000):
        e2e_sim.org.delete("Case", case["Id"])
    e2e_sim.org.clock.advance(2 / 1440)  # the next extract's window covers the deletes (whole minutes)

    unpushed = nightly_sync(settings=settings_for, push=False)  # scored, nothing told to the CRM
    assert unpushed["status"] == "success" and unpushed["push"] is None
    told = nightly_sync(settings=settings_for)
    assert told["status"] == "success"
    trends = {a: f["Risk_Trend__c"] for a, f in _crm_flags(e2e_sim).items()}
    assert (trends[rising], trends[falling]) == ("Rising", "Falling")  # the --no-push run was no reference
    assert {t for a, t in trends.items() if a not in (rising, falling)} == {"Steady"}


def test_push_outcomes_rejected_not_sent_and_sent_again(e2e_sim: Any, settings_for: dict) -> None:
    flags = sorted(_crm_flags(e2e_sim))
    assert len(flags) >= 6, "runs after the trend test: the CRM holds flags"
    targets = flags[:6]
    _blank(
        e2e_sim, targets
    )  # a fresh warehouse has these six to push (and the trend test's moves: see README)
    settings = {
        **settings_for,
        "push_reject_threshold": 0.25,
        "push_rejected_retry_hours": 0,  # a rejected value may go again at the next run
        "landing_keep_runs": 1,
    }
    e2e_sim.faults.add("reject:Account:count=3")  # a validation rule refusing the next three Account writes
    try:
        with pytest.raises(
            PushRejectedError, match=r"3 of \d Account updates the CRM answered were rejected"
        ):
            nightly_sync(settings=settings)
    finally:
        e2e_sim.faults.clear()  # the rule is lifted
    with _wh(settings) as con:
        sent = {r[0]: r[1] for r in con.execute("select record_id, status from sync.push_log").fetchall()}
    rejected = sorted(a for a, st in sent.items() if st == "rejected")
    assert len(rejected) == 3 and set(targets) <= set(sent)
    assert not set(rejected) & set(targets) & set(_crm_flags(e2e_sim))  # a blanked one stays blank

    e2e_sim.faults.add("403:composite.update:count=1")  # the API quota, hit by the push
    try:
        stopped = nightly_sync(settings=settings)
    finally:
        e2e_sim.faults.clear()
    assert stopped["status"] == "stopped_quota"  # not failed: nothing was rejected
    assert {k: stopped["push"][k] for k in ("pending", "updated", "rejected", "not_sent")} == {
        "pending": 3,
        "updated": 0,
        "rejected": 0,
        "not_sent": 3,
    }
    again = nightly_sync(settings=settings)
    assert again["status"] == "success" and again["push"]["updated"] == 3
    assert set(sent) <= set(_crm_flags(e2e_sim))
    with _wh(settings) as con:
        log = con.execute(
            'select record_id, list(status order by "at") from sync.push_log '
            "where object = 'Account' and status <> 'observed' group by 1 order by 1"
        ).fetchall()
        pending = con.execute("select count(*) from sync.account_push_pending").fetchone()[0]
    assert dict(log) == {
        a: (["rejected", "not_sent", "updated"] if a in rejected else ["updated"]) for a in sent
    }
    assert pending == 0
    landing = [p.name for p in Path(settings["landing_dir"]).iterdir()]
    assert landing == [again["run_id"]]  # CRM_RISK_LANDING_KEEP_RUNS=1: the older runs' files are gone

    _racing_task_intents_are_left_to_their_run(settings)


def _racing_task_intents_are_left_to_their_run(overrides: dict[str, Any]) -> None:
    """Two syncs racing: B's reconcile must leave the owner-Task intents of A, still running, to A (B used to log
    each of those Tasks a second time); once A has ended without logging them, the next push settles them once."""
    from connectors import warehouse
    from connectors.salesforce.client import connect
    from crm_risk.config import load_settings
    from pipeline import owner_tasks

    settings = load_settings(**overrides)
    with warehouse.connect(settings.warehouse_path) as con:
        key = con.execute("select min(task_key) from sync.owner_tasks where state = 'open'").fetchone()[0]
        assert key, "the org has open owner Tasks"
        warehouse.start_run(con, "racing", "nightly_sync")  # A: running, in a live process (this one)
        con.execute(
            "update sync.owner_tasks set state = 'intent', run_id = 'racing', "
            "payload = json_object('Risk_Task_Key__c', task_key) where task_key = ?",
            [key],
        )
    client = connect(settings)
    logged = "select count(*) from sync.push_log where object = 'Task' and operation = 'reconcile'"
    with warehouse.connect(settings.warehouse_path) as con:
        out = owner_tasks.TaskOutcome()
        assert owner_tasks.reconcile(con, client, "b-run", out) == [] and out.reconciled == 0
        assert con.execute(logged).fetchone()[0] == 0
        warehouse.finish_run(con, "racing", "failed", message="ended before logging its creates")
        out = owner_tasks.TaskOutcome()
        owner_tasks.reconcile(con, client, "c-run", out)
        assert out.reconciled == 1 and con.execute(logged).fetchone()[0] == 1


def _children(pid: int) -> list[int]:
    """The pids whose parent is `pid` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[-1].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _kill_sync_when(sim: Any, settings: dict[str, Any], tmp_path: Path, reached: Any, what: str) -> list[int]:
    """Start `crm-risk sync` (its own Prefect home), kill -9 it once `reached()`, wait for its temporary Prefect
    server to stop with it; the simulator's faults are cleared. Returns the servers' pids."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "CRM_RISK_"))}
    env.update({f"CRM_RISK_{k.upper()}": str(v) for k, v in settings.items()})
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_SERVER_ALLOW_EPHEMERAL_MODE="true")
    cli = Path(sys.executable).with_name("crm-risk")
    with (tmp_path / "sync.log").open("w") as log:
        proc = subprocess.Popen(
            [str(cli), "sync"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    servers: list[int] = []
    try:
        wait_for(lambda: reached() or proc.poll() is not None, 300, what)
        assert proc.poll() is None, (tmp_path / "sync.log").read_text()[-2000:]
        servers = [
            p for p in _children(proc.pid) if "prefect_child" in Path(f"/proc/{p}/cmdline").read_text()
        ]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        for pid in servers:
            wait_for(lambda pid=pid: not _alive(pid), 30, "the temporary Prefect server to stop with its CLI")
    finally:
        sim.faults.clear()
        _kill(proc.pid)
        proc.wait(10)
        for pid in servers:
            _kill(pid)
    return servers


def test_kill_9_during_the_account_push_converges_and_leaves_nothing_behind(
    e2e_sim: Any, settings_for: dict, tmp_path: Path
) -> None:
    flags = sorted(_crm_flags(e2e_sim))
    _blank(e2e_sim, flags)  # a fresh warehouse has every flag to push: one Collections call
    mark = e2e_sim.org.changes.head
    calls = e2e_sim.calls["composite.update"]
    e2e_sim.faults.add("slow:4:composite.update:count=1")  # the Account push's call waits in the CRM ...
    # ... while the CLI is killed: the update lands, its result is lost
    servers = _kill_sync_when(
        e2e_sim,
        settings_for,
        tmp_path,
        lambda: e2e_sim.calls["composite.update"] > calls,
        "the CLI's Account push",
    )
    assert len(servers) == 1
    wait_for(lambda: set(flags) <= set(_crm_flags(e2e_sim)), 30, "the slowed update to land in the CRM")
    with _wh(settings_for) as con:
        (killed, status), *_ = con.execute("select run_id, status from meta.runs").fetchall()
        intents = con.execute("select count(*) from sync.account_push_intents").fetchone()[0]
    assert status == "running" and intents == len(flags)  # the intents were committed before the send

    rerun = nightly_sync(settings=settings_for)
    assert rerun["status"] == "success"
    assert rerun["push"]["reconciled"] == len(flags) and rerun["push"]["updated"] == 0
    with _wh(settings_for) as con:
        died = con.execute("select status, message from meta.runs where run_id = ?", [killed]).fetchone()
        left = con.execute("select count(*) from sync.account_push_intents").fetchone()[0]
        scored = {
            a: (lvl, round(s), t)
            for a, lvl, s, t in con.execute(
                "select account_id, level, score, trend from marts.account_risk"
            ).fetchall()
        }
        running = con.execute("select count(*) from meta.runs where status = 'running'").fetchone()[0]
    assert died[0] == "died" and "the Account push" in died[1]
    assert left == 0 and running == 0
    for entity in ("Account", "Task"):  # every CRM write since the kill run started is in the push log
        assert _crm_writes(e2e_sim, mark, entity) == _logged_writes(settings_for, entity), entity
    # no secret of the org in the warehouse, landing, Data Docs, the killed CLI's Prefect database, the log
    db = prefect_database()
    hits = sweep(run_secrets(e2e_sim), [tmp_path, *([db.parent] if db else [])])
    assert not hits, hits
    crm = _crm_flags(e2e_sim)
    assert {
        a: (f["Risk_Level__c"], round(f["Risk_Score__c"]), f["Risk_Trend__c"]) for a, f in crm.items()
    } == {a: v for a, v in scored.items() if a in crm}
    with _wh(settings_for) as con:  # converged: nothing left to send
        assert con.execute("select count(*) from sync.account_push_pending").fetchone()[0] == 0
    db = prefect_database()  # no secret of the org in any store the killed run or its rerun wrote
    hits = sweep(run_secrets(e2e_sim), [tmp_path, *([db.parent] if db else [])])
    assert not hits, hits


def _landed(settings: dict[str, Any], obj: str) -> bool:
    """Whether some run's extract of `obj` is complete (its manifest written: the last object -> the load is next)."""
    return any(Path(settings["landing_dir"]).glob(f"*/{obj}/_manifest.json"))


def _task_started(settings: dict[str, Any], name: str) -> bool:
    """Whether the killed CLI's own Prefect server (its database in `_kill_sync_when`'s Prefect home) has recorded
    a run of the task `name`."""
    db = Path(settings["warehouse_path"]).parent / "prefect-home" / "prefect.db"
    if not db.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as con:
            row = con.execute("select count(*) from task_run where name like ?", [f"{name}-%"]).fetchone()
    except sqlite3.Error:  # not created yet, or busy: asked again
        return False
    return bool(row and row[0])


# stage -> (a simulator fault that holds the CLI in that stage, or None, and what says the CLI is there: when
# None, the fault having fired)
STAGES: dict[str, tuple[str | None, Any]] = {
    # the Case extract's call waits in the CRM
    "extract": ("slow:6:queryAll:object=Case:count=1", None),
    # no CRM call while loading: the last object's manifest is written, the gate and the merges follow (seconds)
    "load": (None, lambda settings: _landed(settings, "AccountHistory")),
    # no CRM call while scoring: the killed CLI's Prefect server records the transform task running (on this org
    # about a second: the kill may land in the push, whose call is held in the CRM so that the run cannot end
    # first; the rerun must converge wherever it lands)
    "transform": ("slow:6:composite.update:count=1", lambda settings: _task_started(settings, "transform")),
    # the owner Tasks' upsert waits in the CRM (after the Account push)
    "task create": ("slow:6:composite.upsert:count=1", None),
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_kill_9_at_a_stage_then_a_clean_rerun_converges(
    e2e_sim: Any, settings_for: dict, tmp_path: Path, stage: str
) -> None:
    """kill -9 of `crm-risk sync` at the stage; the rerun closes it as died and converges: the CRM shows the
    warehouse's levels, nothing is left to send, every CRM write since the kill run started is in the push log, no
    owner Task twice, no Prefect server left."""
    spec, reached = STAGES[stage]
    flags = sorted(_crm_flags(e2e_sim))
    _blank(e2e_sim, flags)  # every flag to push again, owner Tasks to send: the stage is on the run's path
    for task in e2e_sim.org.query("SELECT Id FROM Task WHERE Risk_Task_Key__c != null").records(0, 100_000):
        e2e_sim.org.delete("Task", task["Id"])
    mark = e2e_sim.org.changes.head
    rule = e2e_sim.faults.add(spec)[0] if spec else None
    _kill_sync_when(
        e2e_sim,
        settings_for,
        tmp_path,
        lambda: reached(settings_for) if reached else rule.fired > 0,
        f"the CLI to reach the {stage}",
    )
    if rule is not None:
        # the killed CLI's slowed call is still in the simulator: let it end before reading the org
        time.sleep(float(str(spec).split(":")[1]) + 1)

    rerun = nightly_sync(settings=settings_for)
    assert rerun["status"] == "success", rerun
    with _wh(settings_for) as con:
        runs = con.execute("select status, message from meta.runs order by started_at").fetchall()
        levels = dict(con.execute("select account_id, level from marts.account_risk").fetchall())
        pending = con.execute("select count(*) from sync.account_push_pending").fetchone()[0]
        intents = con.execute("select count(*) from sync.account_push_intents").fetchone()[0]
    assert runs[0][0] == "died" and runs[-1][0] == "success", runs
    # the step the next start reads off the warehouse (the load case dies in the gate or between two objects'
    # merges: with the gate warmed up beforehand, the first merges may commit before the kill lands)
    seen = {
        "extract": ("before any load",),
        "load": ("before any load", "the load ("),
        "task create": ("the push (",),
    }.get(stage)
    assert seen is None or any(f"last step seen: {s}" in runs[0][1] for s in seen), runs[0][1]
    assert not [r for r in runs if r[0] == "running"]
    assert pending == 0 and intents == 0
    crm = _crm_flags(e2e_sim)
    assert {a: f["Risk_Level__c"] for a, f in crm.items() if a in levels} == {
        a: lvl for a, lvl in levels.items() if a in crm
    }
    assert set(levels) <= set(crm), "every scored account carries its level in the CRM"
    keys = [
        t["Risk_Task_Key__c"]
        for t in e2e_sim.org.query(
            "SELECT Risk_Task_Key__c FROM Task WHERE Risk_Task_Key__c != null"
        ).records(0, 100_000)
    ]
    assert keys and len(keys) == len(set(keys)), "owner Tasks sent, none twice"
    for entity in ("Account", "Task"):  # every CRM write since the kill run started is in the push log
        assert _crm_writes(e2e_sim, mark, entity) == _logged_writes(settings_for, entity), entity
    # no secret of the org in the warehouse, landing, Data Docs, the killed CLI's Prefect database, the log
    db = prefect_database()
    hits = sweep(run_secrets(e2e_sim), [tmp_path, *([db.parent] if db else [])])
    assert not hits, hits
