"""sync.account_push_pending: only changed values are sent; dead letters wait for a new value; clears are sent."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from connectors import warehouse as wh
from tests.transforms.helpers import AS_OF, Crm, ago, fired, run, view_rows


def pending(con) -> dict[str, dict[str, Any]]:
    """Id -> the pending row (Salesforce field names + payload_hash)."""
    cur = con.execute("select * from sync.account_push_pending")
    names = [d[0] for d in cur.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def push_all(con, run_id: str, rejected: tuple[str, ...] = ()) -> None:
    """Pretend the CRM accepted every pending row (except `rejected` ones) and record it."""
    rows = list(pending(con).values())
    results = [
        {
            "record_id": r["Id"],
            "ok": r["Id"] not in rejected,
            "status": "rejected" if r["Id"] in rejected else "updated",
            "error_code": "FIELD_CUSTOM_VALIDATION_EXCEPTION" if r["Id"] in rejected else None,
        }
        for r in rows
    ]
    wh.record_push_results(con, run_id, "Account", results, rows)


def setup_org(crm: Crm) -> None:
    """A (red: repeat issue), B (green), C (green), a prospect and a deleted customer."""
    for a in "ABC":
        crm.account(a)
        for first in ("Jane", "Tom"):
            crm.task(a, ago(10), who=crm.contact(a, first, "Smith"))
    for i, (o, c) in enumerate(((80, 70), (60, 55), (50, 45))):
        crm.case("A", f"0000000{i}", ago(o), ago(c))
    crm.account("P", type="Prospect")
    crm.add("account", Id="D", Name="Gone", Type="Customer - Direct", _deleted=True)


def test_unchanged_is_not_pushed_again(con, crm):
    setup_org(crm)
    run(con, run_id="run-1")
    first = pending(con)
    assert set(first) == {"A", "B", "C"}
    assert first["A"]["Risk_Level__c"] == "Red" and first["B"]["Risk_Level__c"] == "Green"
    assert first["A"]["payload_hash"] == wh.payload_hash(first["A"])
    push_all(con, "run-1")
    assert pending(con) == {}
    run(con, as_of=AS_OF + timedelta(days=1), run_id="run-2")  # recomputed next day, same values
    assert pending(con) == {}


def test_changed_value_is_pending_and_clears_are_sent(con, crm):
    setup_org(crm)
    run(con, run_id="run-1")
    push_all(con, "run-1")
    for i, d in enumerate((60, 45, 35)):
        crm.case("B", f"B-{i}", ago(d), Priority="High")
    con.execute("""update raw."case" set _deleted = true where "AccountId" = 'A'""")  # A's issue is gone
    run(con, as_of=AS_OF + timedelta(hours=1), run_id="run-2")
    now = pending(con)
    assert set(now) == {"A", "B"}
    assert (now["B"]["Risk_Level__c"], now["B"]["Risk_Score__c"], now["B"]["Risk_Trend__c"]) == (
        "Amber",
        35.0,
        "Rising",
    )
    assert (now["A"]["Risk_Level__c"], now["A"]["Risk_Reasons__c"], now["A"]["Risk_Trend__c"]) == (
        "Green",
        "No relationship risk signals.",
        "Falling",
    )


def test_dead_letter_waits_for_a_new_value(con, crm):
    setup_org(crm)
    run(con, run_id="run-1")
    push_all(con, "run-1", rejected=("A",))
    assert pending(con) == {}  # same hash dead-lettered: not retried
    run(con, as_of=AS_OF + timedelta(hours=1), run_id="run-2")
    assert pending(con) == {}
    crm.case("A", "00000009", ago(20), Priority="High")  # a new value for A
    run(con, as_of=AS_OF + timedelta(hours=2), run_id="run-3")
    assert set(pending(con)) == {"A"}
    push_all(con, "run-3")
    state = con.execute(
        "select payload_hash is not null, dead_hash from sync.account_push_state where account_id = 'A'"
    ).fetchall()
    assert state == [(True, None)]
    log = con.execute(
        "select run_id, status from sync.push_log where record_id = 'A' order by \"at\""
    ).fetchall()
    assert log == [("run-1", "rejected"), ("run-3", "updated")]


def _reject(con, run_id: str, retry: wh.RejectRetry) -> None:
    rows = list(pending(con).values())
    results = [{"record_id": r["Id"], "ok": False, "status": "rejected", "error_code": "X"} for r in rows]
    wh.record_push_results(con, run_id, "Account", results, rows, retry_rejected=retry)


def test_rejected_value_is_retried_after_the_interval_up_to_the_cap(con, crm):
    setup_org(crm)
    con.execute("""update raw.account set "SystemModstamp" = ?""", [ago(5)])
    run(con, run_id="run-1")
    due_now = wh.RejectRetry(after=timedelta(0), max_attempts=2)
    _reject(con, "run-1", due_now)
    assert set(pending(con)) == {"A", "B", "C"}  # the interval has passed: sent again, unchanged
    _reject(con, "run-2", due_now)
    assert pending(con) == {}  # two sends of the same value rejected: the cap
    state = con.execute(
        "select dead_attempts, dead_retry_at from sync.account_push_state where account_id = 'A'"
    )
    assert state.fetchall() == [(2, None)]
    con.execute(
        """update raw.account set "SystemModstamp" = ? where "Id" = 'B'""", [AS_OF]
    )  # someone edits B
    assert set(pending(con)) == {"B"}  # past the cap, an edited Account still gets its value again


def test_values_already_in_the_crm_are_not_pushed(con, crm):
    setup_org(crm)
    run(con, run_id="run-1")
    b = pending(con)["B"]
    con.execute(
        """update raw.account set "Risk_Level__c" = ?, "Risk_Score__c" = ?, "Risk_Reasons__c" = ?,
                   "Risk_Trend__c" = ?, "Risk_Model_Version__c" = ? where "Id" = 'B'""",
        [
            b["Risk_Level__c"],
            b["Risk_Score__c"],
            b["Risk_Reasons__c"],
            b["Risk_Trend__c"],
            b["Risk_Model_Version__c"],
        ],
    )
    assert set(pending(con)) == {"A", "C"}


def _ledger(con, key: str, state: str, task_id: str | None = None) -> None:
    """What the push step writes: the intent before the create, then its outcome."""
    account, signal, episode = key.split(":")
    con.execute(
        "insert or replace into sync.owner_tasks (task_key, account_id, signal_id, episode, state, task_id, payload) "
        "values (?, ?, ?, ?, ?, ?, '{}')",
        [key, account, signal, int(episode), state, task_id],
    )


def test_owner_tasks_once_per_flag_episode_and_closed_when_it_clears(con, crm):
    setup_org(crm)
    run(con, run_id="run-1")
    tasks = view_rows(con, "sync.owner_task_pending")
    assert [(t["Risk_Task_Key__c"], t["WhatId"], t["OwnerId"], str(t["ActivityDate"])) for t in tasks] == [
        ("A:repeat_issue:1", "A", "005000000000001AAA", "2026-07-07")
    ]
    assert tasks[0]["Subject"] == "Relationship risk at Acme: issues keep coming back after being fixed"
    assert tasks[0]["Description"].startswith("2 issues came back within 14 days of being closed")
    assert "Suggested action: Verify the fix on site" in tasks[0]["Description"]
    _ledger(
        con, "A:repeat_issue:1", "intent"
    )  # stored before the create: not pending twice, even before a result
    assert view_rows(con, "sync.owner_task_pending") == []
    _ledger(con, "A:repeat_issue:1", "open", "00T000000000009AAA")
    assert view_rows(con, "sync.owner_task_pending") == []
    assert view_rows(con, "sync.owner_task_close") == []  # still firing
    # the next extract brings the Task back; then the issue clears
    crm.add(
        "task",
        Id="00T000000000009AAA",
        AccountId="A",
        WhatId="A",
        Status="Not Started",
        IsClosed=False,
        Risk_Task_Key__c="A:repeat_issue:1",
        Subject=tasks[0]["Subject"],
        Description="Original text.",
        OwnerId="005000000000001AAA",
    )
    con.execute("""update raw."case" set _deleted = true where "AccountId" = 'A'""")
    run(con, as_of=AS_OF + timedelta(hours=1), run_id="run-2")
    close = view_rows(con, "sync.owner_task_close")
    assert [(c["Id"], c["Status"], c["crm_state"]) for c in close] == [
        ("00T000000000009AAA", "Completed", "open")
    ]
    assert close[0]["Description"] == (
        "Original text.\n\nSignal cleared on 30 Jun 2026: issues keep coming back after being fixed no longer "
        "applies, so the relationship-risk model closed this task."
    )
    _ledger(con, "A:repeat_issue:1", "closed", "00T000000000009AAA")
    assert view_rows(con, "sync.owner_task_close") == []


def test_owner_task_new_episode_gets_a_new_key_and_open_crm_task_is_not_recreated(con, crm):
    setup_org(crm)
    run(con, run_id="run-1")
    _ledger(con, "A:repeat_issue:1", "closed", "00T000000000009AAA")  # an earlier episode, closed
    assert [t["Risk_Task_Key__c"] for t in view_rows(con, "sync.owner_task_pending")] == ["A:repeat_issue:2"]
    # a rebuilt warehouse (empty ledger) that sees an open Task with our key in the CRM does not create another
    con.execute("delete from sync.owner_tasks")
    crm.add(
        "task",
        Id="00T000000000010AAA",
        AccountId="A",
        WhatId="A",
        Status="Not Started",
        IsClosed=False,
        Risk_Task_Key__c="A:repeat_issue:3",
        OwnerId="005000000000001AAA",
    )
    run(con, as_of=AS_OF + timedelta(hours=1), run_id="run-2")
    assert view_rows(con, "sync.owner_task_pending") == []


def test_rejected_owner_task_waits_until_it_would_read_differently(con, crm):
    setup_org(crm)
    run(con, run_id="run-1")
    (task,) = view_rows(con, "sync.owner_task_pending")
    payload = {k: str(task[k]) for k in ("OwnerId", "Subject", "Description")}
    con.execute(
        "insert into sync.owner_tasks (task_key, account_id, signal_id, episode, state, payload) "
        "values ('A:repeat_issue:1', 'A', 'repeat_issue', 1, 'rejected', ?)",
        [json.dumps(payload)],
    )
    assert (
        view_rows(con, "sync.owner_task_pending") == []
    )  # dead letter: the same Task would be rejected again
    run(con, as_of=AS_OF + timedelta(days=1), run_id="run-1b")
    assert "A" in fired(con, "repeat_issue")
    assert (
        view_rows(con, "sync.owner_task_pending") == []
    )  # a day later: only its 'Flagged on' date would differ
    new_owner = crm.user("005000000000009AAA", "Bea", "New")
    con.execute("""update raw.account set "OwnerId" = ? where "Id" = 'A'""", [new_owner])
    run(con, as_of=AS_OF + timedelta(hours=1), run_id="run-2")
    again = view_rows(con, "sync.owner_task_pending")
    assert [(t["Risk_Task_Key__c"], t["OwnerId"]) for t in again] == [("A:repeat_issue:1", new_owner)]
