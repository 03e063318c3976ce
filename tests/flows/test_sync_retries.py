"""One retry layer: the CRM calls retry in connectors/salesforce/retry.py, so Prefect retries none of a sync's tasks
(a task retried by Prefect would repeat every call, each already retried up to 1 + sf_max_retries times)."""

from __future__ import annotations

from flows import backfill, nightly, sync


def test_no_sync_task_or_flow_is_retried_by_prefect() -> None:
    tasks = [getattr(sync, name) for name in dir(sync) if name.endswith("_task")]
    assert len(tasks) == 7
    for t in tasks:
        assert t.retries == 0, t.name
    for f in (nightly.nightly_sync, backfill.backfill):
        assert not f.retries, f.name
