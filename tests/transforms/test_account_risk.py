"""Account risk: level, score, renewal weighting, reasons, trend against what the CRM showed a week ago, history."""

from __future__ import annotations

from datetime import timedelta

from connectors import warehouse as wh
from tests.transforms.helpers import AS_OF, Crm, ago, day, run
from transforms.rules import load_rules


def healthy(crm: Crm, account: str, **kw: object) -> None:
    """A customer account with two contacts touched recently (no relationship signal on its own)."""
    crm.account(account, **kw)
    for first in ("Jane", "Tom"):
        crm.task(account, ago(10), who=crm.contact(account, first, "Smith"))


def escalations(crm: Crm, account: str, opened: tuple[float, ...], closed: bool = False) -> None:
    """High-priority cases opened `opened` days ago: open, or closed a day later and followed up the next day."""
    for i, d in enumerate(opened):
        crm.case(
            account,
            f"{account}-{i}",
            ago(d),
            ago(d - 1) if closed else None,
            Priority="High",
            Type=("Mechanical", "Electrical", "Structural")[i % 3],
        )  # different issues: no repeat
        if closed:
            crm.task(account, ago(d - 2))


def risk(con, account: str) -> tuple:
    """(level, score, reasons, trend) of an account."""
    return con.execute(
        "select level, score, reasons, trend from marts.account_risk where account_id = ?", [account]
    ).fetchall()[0]


def test_levels_scores_and_reasons(con, crm):
    for a in "RMGWN":
        healthy(crm, a)
    crm.account("P", type="Prospect")
    for i, (o, c) in enumerate(((80, 70), (60, 55), (50, 45))):  # R: repeat issue (high)
        crm.case("R", f"0000000{i}", ago(o), ago(c))
    escalations(crm, "M", (60, 45, 35))  # M: escalation 20 + aging 15
    escalations(crm, "W", (40, 50, 60), closed=True)  # W: escalation 20, renewal near
    crm.opportunity("W", "Renewal 2026", "Negotiation/Review", day(-60), type="Renewal")
    escalations(crm, "N", (40, 50, 60), closed=True)  # N: escalation 20, no renewal
    result = run(con)
    assert risk(con, "R")[:2] == ("Red", 60.0)
    assert (
        risk(con, "R")[2] == "2 issues came back within 14 days of being closed (cases 00000001, 00000002)."
    )
    assert risk(con, "M") == (
        "Amber",
        35.0,
        "3 escalated or high-priority cases in the last 90 days. "
        "3 cases are overdue; the oldest, M-0, has been open since 1 May 2026.",
        "Steady",
    )
    assert risk(con, "W")[:2] == ("Amber", 30.0)
    assert risk(con, "N")[:2] == ("Green", 20.0)
    assert risk(con, "G") == ("Green", 0.0, "No relationship risk signals.", "Steady")
    assert con.execute("select count(*) from marts.account_risk where account_id = 'P'").fetchall() == [(0,)]
    assert result.levels == {"Red": 1, "Amber": 2, "Green": 2}
    assert con.execute("select distinct model_version, computed_at from marts.account_risk").fetchall() == [
        (load_rules().model_version, AS_OF)
    ]


def test_reasons_top_three_within_field_length(con, crm):
    healthy(crm, "A")
    long_name = "Fleet expansion " + "x" * 990
    for i in range(4):
        o = crm.opportunity("A", f"{long_name}{i}", "Closed Won", day(130))
        crm.history(o, "Closed Won", ago(90), close=day(130))
        crm.history(o, "Closed Won", ago(80 - i), amount=5000.0, close=day(130))
    escalations(crm, "A", (60, 45, 35))
    run(con)
    level, score, reasons, _ = risk(con, "A")
    assert level == "Red" and score == 70.0  # 35 + 20 + 15 points
    assert len(reasons) == 1000 and reasons.endswith("…") and reasons.startswith("'Fleet expansion x")


def push(con, run_id: str, rejected: bool = False) -> None:
    """Record every pending Account update as the CRM's answer (accepted, or rejected by a validation rule)."""
    cur = con.execute("select * from sync.account_push_pending")
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    results = [
        {
            "record_id": r["Id"],
            "ok": not rejected,
            "status": "rejected" if rejected else "updated",
            "error_code": "FIELD_CUSTOM_VALIDATION_EXCEPTION" if rejected else None,
        }
        for r in rows
    ]
    wh.record_push_results(con, run_id, "Account", results, rows)


def test_trend_against_what_the_crm_showed_a_week_ago(con, crm):
    healthy(crm, "A")
    escalations(crm, "A", (60, 45, 35))
    run(con, as_of=ago(70), run_id="run-1")  # the cases did not exist yet, nor the touches: single-threaded
    assert risk(con, "A")[0::3] == ("Green", "Steady")  # nothing told yet: no reference
    push(con, "run-1")
    run(con, run_id="run-2")
    assert risk(con, "A")[0::3] == ("Amber", "Rising")  # vs Green, told 70 days ago
    push(con, "run-2")
    run(con, as_of=AS_OF + timedelta(hours=1), run_id="run-3")
    assert risk(con, "A")[0::3] == ("Amber", "Rising")  # a week ago the CRM still showed Green: no flip back
    run(con, as_of=AS_OF + timedelta(days=8), run_id="run-4")
    assert risk(con, "A")[0::3] == ("Amber", "Steady")  # Amber was told 8 days ago
    push(con, "run-4")
    con.execute(
        """update raw."case" set "IsClosed" = true, "Status" = 'Closed', "ClosedDate" = ?""",
        [AS_OF + timedelta(days=8, hours=1)],
    )
    run(con, as_of=AS_OF + timedelta(days=8, hours=2), run_id="run-5")
    assert risk(con, "A")[0::3] == ("Green", "Falling")  # closed, but still 3 escalations in 90 days
    history = con.execute(
        "select run_id, level, score, trend from marts.account_risk_history "
        "where account_id = 'A' order by as_of"
    ).fetchall()
    assert history == [
        ("run-1", "Green", 15.0, "Steady"),
        ("run-2", "Amber", 35.0, "Rising"),
        ("run-3", "Amber", 35.0, "Rising"),
        ("run-4", "Amber", 35.0, "Steady"),
        ("run-5", "Green", 20.0, "Falling"),
    ]
    run(con, as_of=AS_OF + timedelta(days=8, hours=2), run_id="run-5")  # rerunning a run replaces its rows
    assert con.execute("select count(*) from marts.account_risk_history").fetchall() == [(5,)]


def test_unpushed_or_rejected_runs_are_no_reference(con, crm):
    healthy(crm, "A")
    escalations(crm, "A", (60, 45, 35))
    run(con, as_of=ago(70), run_id="stopped")  # scored, never pushed (a quota stop, --no-push, a dry run)
    run(con, run_id="run-2")
    assert risk(con, "A")[0::3] == (
        "Amber",
        "Steady",
    )  # the CRM was never told Green: nothing to compare with
    push(con, "run-2", rejected=True)  # the CRM refused it: the rep still sees nothing
    run(con, as_of=AS_OF + timedelta(hours=1), run_id="run-3")
    assert risk(con, "A")[0::3] == ("Amber", "Steady")


def test_crm_value_is_the_reference_of_a_rebuilt_warehouse(con, crm):
    healthy(crm, "A", Risk_Level__c="Green", Risk_Score__c=15.0, Risk_Computed_At__c=ago(30))
    escalations(crm, "A", (60, 45, 35))
    run(con)
    assert risk(con, "A")[0::3] == ("Amber", "Rising")  # the CRM shows Green since 30 days, no push logged


def test_a_rebuilt_warehouse_keeps_what_the_crm_showed_before_its_first_push(con, crm):
    from pipeline import push_intents

    healthy(crm, "A", Risk_Level__c="Green", Risk_Score__c=15.0, Risk_Computed_At__c=ago(2))
    escalations(crm, "A", (60, 45, 35))
    run(con, run_id="run-1")
    assert risk(con, "A")[0::3] == ("Amber", "Rising")  # the CRM shows Green since 2 days: no push logged
    cur = con.execute("select * from sync.account_push_pending")
    rows = [dict(zip([d[0] for d in cur.description], r, strict=True)) for r in cur.fetchall()]
    push_intents.store(con, "run-1", rows, {r["Id"]: r["payload_hash"] for r in rows})  # logs the CRM's Green
    push(con, "run-1")
    con.execute(  # the next extract brings our own update back
        """update raw.account set "Risk_Level__c" = 'Amber', "Risk_Score__c" = 35, "Risk_Computed_At__c" = ?""",
        [AS_OF],
    )
    run(con, as_of=AS_OF + timedelta(hours=1), run_id="run-2")
    assert risk(con, "A")[0::3] == ("Amber", "Rising")  # still against the Green the rep saw, no flip back


def test_customer_at_the_as_of_date_not_by_the_current_type(con, crm):
    crm.account("CHURNED", type="Other")  # lost its renewal last month
    crm.opportunity("CHURNED", "Contract 2025", "Closed Won", day(340))
    crm.opportunity("CHURNED", "Renewal 2026", "Closed Lost", day(25), type="Renewal")
    crm.account("LATER")  # a customer now, but its first win came later
    crm.opportunity("LATER", "First deal", "Closed Won", day(-20))
    crm.account("NOOPP")  # a customer Type without opportunities
    crm.account("GONE", type="Other", SystemModstamp=ago(30))  # Type changed before the as-of date: believed
    crm.opportunity("GONE", "Contract 2026", "Closed Won", day(100))
    run(con)
    got = dict(con.execute("select account_id, is_customer from marts.int_account_sales_history").fetchall())
    assert got == {"CHURNED": False, "LATER": False, "NOOPP": True, "GONE": False}
    run(con, as_of=ago(60), run_id="run-past")  # two months ago it was still a customer
    got = dict(con.execute("select account_id, is_customer from marts.int_account_sales_history").fetchall())
    assert got["CHURNED"] is True
    assert con.execute("select count(*) from marts.account_risk where account_id = 'CHURNED'").fetchall() == [
        (1,)
    ]
