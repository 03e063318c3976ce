"""The activity clock on tiny rows: a touch is dated by when it happened, and seen only once its record existed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.transforms.helpers import AS_OF, OWNER, ago, day, fired, run


def _logged(
    crm: Any, account: str, activity_days_ago: float | None, saved: datetime | None, **kw: Any
) -> str:
    """A completed Task about a call `activity_days_ago` days back (its ActivityDate), completed at `saved`."""
    return crm.add(
        "task",
        AccountId=account,
        WhatId=account,
        Status="Completed",
        IsClosed=True,
        OwnerId=OWNER,
        ActivityDate=None if activity_days_ago is None else day(activity_days_ago),
        CompletedDateTime=saved,
        **{"CreatedDate": saved or ago(3), **kw},
    )


def _touched(con: Any) -> dict[str, datetime]:
    return dict(con.execute("select activity_id, touched_at from marts.int_account_touches").fetchall())


def test_a_task_is_dated_by_its_activity_date_unless_done_within_a_day_of_it(con, crm):
    crm.account("A")
    late = _logged(crm, "A", 213, ago(0.1))  # a call seven months ago, logged today
    next_morning = _logged(crm, "A", 10, ago(9.15))  # logged the morning after (or the user's time zone)
    early = _logged(crm, "A", -5, ago(2))  # due in five days, done two days ago
    undated = _logged(crm, "A", None, ago(4))
    bare = _logged(crm, "A", None, None, CreatedDate=ago(6))  # neither date: when it was saved
    run(con)
    assert _touched(con) == {
        late: datetime.combine(day(213), datetime.min.time(), AS_OF.tzinfo),
        next_morning: ago(9.15),
        early: ago(2),
        undated: ago(4),
        bare: ago(6),
    }


def test_as_of_a_date_only_records_saved_and_completed_by_then_are_seen(con, crm):
    crm.account("A")
    crm.event("A", ago(40), type="Meeting")
    saved_later = crm.event("A", ago(30), type="Meeting", CreatedDate=ago(5))  # entered after the as-of date
    kept = _logged(crm, "A", 50, ago(50))
    logged_later = _logged(crm, "A", 45, ago(5))  # a call 45 days back, logged 5 days back
    completed_later = _logged(crm, "A", 40, ago(4), CreatedDate=ago(42))  # an open to-do, closed later
    run(con, as_of=AS_OF - timedelta(days=10))
    seen = _touched(con)
    assert kept in seen and len(seen) == 2
    assert not {saved_later, logged_later, completed_later} & set(seen)
    run(con)
    assert {saved_later, logged_later, completed_later} <= set(_touched(con))


def test_a_business_review_entered_after_the_as_of_date_is_not_seen_then(con, crm):
    crm.account("A", CreatedDate=ago(900))
    crm.account("B", CreatedDate=ago(900))
    crm.event("A", ago(400), type="Business Review")
    crm.event("B", ago(100), type="Business Review", CreatedDate=ago(2))  # typed in two days ago
    run(con, as_of=AS_OF - timedelta(days=10))
    assert fired(con, "no_business_review")["B"][0] == "No business review on record."
    run(con)
    assert "B" not in fired(con, "no_business_review")


def test_a_warehouse_of_an_older_version_gets_its_tables_replaced_by_the_views(con, crm):
    """int_account_touches and account_timeline were tables before they were views: a warehouse that holds them as
    tables (any warehouse synced by an older version) runs the transforms and reads the same rows after."""
    crm.account("A")
    touch = _logged(crm, "A", 12, ago(12))
    run(con)
    for name in ("int_account_touches", "account_timeline"):
        con.execute(f"create table marts.old_{name} as select * from marts.{name}")
        con.execute(f"drop view marts.{name}")
        con.execute(f"alter table marts.old_{name} rename to {name}")  # the older version's table
    run(con)
    kinds = dict(
        con.execute(
            "select table_name, table_type from information_schema.tables where table_schema = 'marts' "
            "and table_name in ('int_account_touches', 'account_timeline')"
        ).fetchall()
    )
    assert kinds == {"int_account_touches": "VIEW", "account_timeline": "VIEW"}
    assert touch in _touched(con)
    timeline = con.execute("select record_id from marts.account_timeline where account_id = ?", ["A"])
    assert touch in {r for (r,) in timeline.fetchall()}
