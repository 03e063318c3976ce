"""The run's events: which level moves give which event names, their shape, no secret in them, and no failure."""

from __future__ import annotations

import json
import logging
import socket
from datetime import UTC, datetime
from typing import Any

import pytest
from prefect.events.schemas.events import Event
from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

from connectors.salesforce.ids import normalize_id
from crm_risk.config import Settings
from crm_risk.errors import PushRejectedError
from crm_risk.secrets import register_secret
from flows.run_events import (
    emit_run_events,
    flag_events,
    push_failed_event,
    refresh_record,
    run_events,
)
from pipeline.context import RunContext
from pipeline.moves import move_kind
from pipeline.owner_tasks import TaskOutcome
from pipeline.push import PushOutcome
from pipeline.refresh import RefreshOutcome
from pipeline.report import RunRecord

ACME = "001000000000001AAA"  # an 18-character Account id (its suffix matches)


def move(previous: str | None, level: str, account_id: str = ACME, **kw: Any) -> dict[str, Any]:
    """A row of sync.account_flag_moves."""
    return {
        "account_id": account_id,
        "account_name": "Acme Corp",
        "is_key_account": True,
        "level": level,
        "previous_level": previous,
        "score": 72.4,
        "reasons": ["Case 00001 has been open since 1 Jun 2026.", "Our main contact is gone."],
        "model_version": "risk-2026.11.2",
        **kw,
    }


@pytest.mark.parametrize(
    ("previous", "level", "names"),
    [
        (None, "Red", ["crm.risk.flag.raised", "crm.risk.flag.changed"]),
        (None, "Amber", ["crm.risk.flag.raised", "crm.risk.flag.changed"]),
        ("Green", "Red", ["crm.risk.flag.raised", "crm.risk.flag.changed"]),
        ("Amber", "Red", ["crm.risk.flag.raised", "crm.risk.flag.changed"]),
        ("Red", "Green", ["crm.risk.flag.cleared", "crm.risk.flag.changed"]),
        ("Amber", "Green", ["crm.risk.flag.cleared", "crm.risk.flag.changed"]),
        ("Red", "Amber", ["crm.risk.flag.changed"]),  # down, but still flagged: a change only
        (None, "Green", []),  # no flag before, none after
        ("Red", "Red", []),
    ],
)
def test_level_moves_give_these_event_names(previous: str | None, level: str, names: list[str]) -> None:
    events = flag_events("run-1", [move(previous, level)])
    assert [e["event"] for e in events] == names
    kind = move_kind(previous, level)
    assert kind == (names[0].rsplit(".", 1)[1] if names else None)


def test_a_flag_event_is_a_prefect_event_naming_the_account_by_its_18_character_id() -> None:
    fifteen = ACME[:15]
    data = flag_events("run-1", [move("Amber", "Red", account_id=fifteen)])
    raised, changed = (Event.model_validate(e) for e in data)
    assert raised.resource.id == changed.resource.id == f"salesforce.account.{ACME}"
    assert normalize_id(fifteen) == ACME
    assert raised.resource.get("prefect.resource.name") == "Acme Corp"
    assert raised.resource.get("crm-risk.level") == "Red"
    assert raised.resource.get("crm-risk.previous-level") == "Amber"
    assert raised.resource.get("crm-risk.key-account") == "true"
    assert raised.payload == {
        "account_id": ACME,
        "level": "Red",
        "previous_level": "Amber",
        "score": 72,
        "reasons": ["Case 00001 has been open since 1 Jun 2026.", "Our main contact is gone."],
        "model_version": "risk-2026.11.2",
        "run_id": "run-1",
    }
    assert [r.id for r in raised.related] == ["crm-risk.run.run-1"]
    # the same run, event and account: the same id (sent twice = one event); another run: another
    again = flag_events("run-1", [move("Amber", "Red", account_id=fifteen)])
    assert [e["id"] for e in again] == [e["id"] for e in data] and data[0]["id"] != data[1]["id"]
    assert flag_events("run-2", [move("Amber", "Red")])[0]["id"] != data[0]["id"]
    none_before = Event.model_validate(flag_events("run-1", [move(None, "Red", is_key_account=False)])[0])
    assert none_before.resource.get("crm-risk.previous-level") == "none"
    assert none_before.resource.get("crm-risk.key-account") == "false"
    assert none_before.payload["previous_level"] is None


def _run(push: PushOutcome | None = None, tasks: TaskOutcome | None = None, **kw: Any) -> RunRecord:
    run = RunRecord(levels={"Red": 2, "Amber": 3, "Green": 75}, push=push, tasks=tasks, **kw)
    run.extracted.rows = {"Account": 80, "Case": 400}
    return run


def test_a_successful_run_says_what_it_did_and_nothing_failed() -> None:
    push = PushOutcome(
        pending=3, updated=3, raised=1, cleared=1, moves=[move(None, "Red"), move("Red", "Green")]
    )
    run = _run(push, TaskOutcome(created=2), status="success")
    events = run_events("run-1", "nightly_sync", run, api_calls=31)
    names = [e["event"] for e in events]
    assert names == [
        "crm.risk.flag.raised",
        "crm.risk.flag.changed",
        "crm.risk.flag.cleared",
        "crm.risk.flag.changed",
        "crm.sync.completed",
    ]
    done = Event.model_validate(events[-1])
    assert done.resource.id == "crm-risk.run.run-1"
    assert done.resource.get("crm-risk.status") == "success"
    assert done.resource.get("crm-risk.flow") == "nightly_sync"
    assert done.payload["levels"] == {"Red": 2, "Amber": 3, "Green": 75}
    assert done.payload["api_calls"] == 31 and done.payload["records_extracted"] == 480
    assert done.payload["push"] == {
        "pending": 3,
        "updated": 3,
        "rejected": 0,
        "not_sent": 0,
        "raised": 1,
        "cleared": 1,
        "changed": 2,
    }
    assert done.payload["tasks"] == {"created": 2, "closed": 0, "rejected": 0}
    assert done.payload["failed_objects"] == []
    assert push_failed_event("run-1", "nightly_sync", run) is None


def test_a_run_that_scored_nothing_has_no_levels_and_a_partial_one_names_its_objects() -> None:
    failed = RunRecord(status="failed", message="ExtractFailed: no object extracted; User: ...")
    done = Event.model_validate(run_events("run-1", "nightly_sync", failed, api_calls=3)[-1])
    assert done.payload["levels"] is None and done.payload["message"].startswith("ExtractFailed")
    partial = _run(status="partial")
    partial.extracted.failed = {"Case": "query: HTTP 500 UNKNOWN_EXCEPTION"}
    done = Event.model_validate(run_events("run-2", "nightly_sync", partial, api_calls=40)[-1])
    assert done.payload["failed_objects"] == ["Case"] and done.resource.get("crm-risk.status") == "partial"


def test_rejections_are_a_push_failure_with_counts_by_error_code_and_no_record_values() -> None:
    push = PushOutcome(pending=4, updated=1, rejected=3, errors={"FIELD_CUSTOM_VALIDATION_EXCEPTION": 3})
    push.moves = [move(None, "Red")]
    failure = PushRejectedError(
        "3 of 4 Account updates were rejected; Risk_Reasons__c='secret text'", outcome=push
    )
    run = _run(message=f"PushRejectedError: {failure}")  # push_flags raised: run.push was never set
    events = run_events("run-1", "nightly_sync", run, api_calls=12, failure=failure)
    assert [e["event"] for e in events] == [
        "crm.risk.flag.raised",  # the one update the CRM accepted did move the flag
        "crm.risk.flag.changed",
        "crm.push.failed",
        "crm.sync.completed",
    ]
    failed = Event.model_validate(events[2])
    assert failed.payload["failed_step"] == "push" and failed.payload["error"] == "PushRejectedError"
    assert failed.payload["accounts"] == {
        "pending": 4,
        "updated": 1,
        "rejected": 3,
        "errors": {"FIELD_CUSTOM_VALIDATION_EXCEPTION": 3},
    }
    assert "secret text" not in json.dumps(failed.payload)
    assert Event.model_validate(events[3]).resource.get("crm-risk.status") == "failed"


def test_a_failed_owner_task_step_and_rejected_tasks_are_push_failures() -> None:
    run = _run(PushOutcome(pending=1, updated=1), message="TerminalError: boom")
    failed = push_failed_event("run-1", "backfill", run, failure=RuntimeError("boom"))
    assert failed is not None and failed["payload"]["failed_step"] == "owner-tasks"
    tasks = TaskOutcome(created=1, rejected=2, errors={"INVALID_CROSS_REFERENCE_KEY": 2})
    failed = push_failed_event("run-1", "backfill", _run(PushOutcome(), tasks, status="success"))
    assert failed is not None and failed["payload"]["failed_step"] is None
    assert failed["payload"]["tasks"] == {"rejected": 2, "errors": {"INVALID_CROSS_REFERENCE_KEY": 2}}
    # a failure before anything was scored is no push failure
    assert push_failed_event("run-1", "backfill", RunRecord(), failure=RuntimeError("extract")) is None


def test_no_secret_reaches_an_event() -> None:
    secret = "s3cr3t-client-value-0123456789"
    register_secret(secret)
    leaky = move(None, "Red", account_name=f"Acme {secret}", reasons=[f"token {secret}", "Bearer abc.def"])
    run = _run(
        PushOutcome(pending=1, updated=1, moves=[leaky]),
        message=f"TerminalError: login refused for client_secret={secret}, session 00D000000000001!AQ4xyz",
    )
    text = json.dumps(run_events("run-1", "nightly_sync", run, 3, failure=RuntimeError(secret)))
    assert secret not in text and "abc.def" not in text and "AQ4xyz" not in text
    assert "***" in text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_emitting_never_fails_the_run_when_the_prefect_api_refuses(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(warehouse_path=":memory:")
    ctx = RunContext("run-1", "nightly_sync", datetime.now(UTC), settings)
    run = _run(PushOutcome(pending=1, updated=1, moves=[move(None, "Red")]), status="success")
    url = f"http://127.0.0.1:{_closed_port()}/api"  # nothing listens there
    with (
        temporary_settings({PREFECT_API_URL: url, PREFECT_CLIENT_MAX_RETRIES: 0}),
        caplog.at_level(logging.WARNING, logger="flows.run_events"),
    ):
        assert emit_run_events(ctx, run, 3) == 0
    assert "run run-1: 0 of its Prefect events were emitted" in caplog.text


def test_an_account_refresh_emits_what_a_sync_emits_for_its_passes() -> None:
    one = RefreshOutcome(
        ["A"],
        extracted={"Case": 3},
        levels={"Red": 1},
        push=PushOutcome(pending=1, updated=1, raised=1, moves=[move("Amber", "Red", account_id="A")]),
        tasks=TaskOutcome(created=1),
    )
    two = RefreshOutcome(["B"], extracted={"Case": 2, "Task": 4}, levels={"Green": 1}, push=PushOutcome())
    rejected = PushOutcome(pending=2, updated=1, rejected=1, errors={"FIELD_INTEGRITY_EXCEPTION": 1})
    rejected.moves = [move(None, "Amber", account_id="C")]  # the pass failed, but this update was accepted
    errors = [PushRejectedError("1 of 2 rejected", outcome=rejected), RuntimeError("network")]
    run = refresh_record([one, two], "failed", "2 accounts: PushRejectedError: ...", errors)
    assert run.levels == {"Red": 1, "Green": 1} and run.extracted.rows == {"Case": 5, "Task": 4}
    assert run.push is not None and run.tasks is not None
    assert (run.push.pending, run.push.updated, run.push.rejected, run.push.raised) == (3, 2, 1, 1)
    assert run.push.errors == {"FIELD_INTEGRITY_EXCEPTION": 1} and run.tasks.created == 1
    events = run_events("r-1", "account_refresh", run, api_calls=9)
    assert [(e["event"], e["payload"].get("account_id")) for e in events] == [
        ("crm.risk.flag.raised", "A"),
        ("crm.risk.flag.changed", "A"),
        ("crm.risk.flag.raised", "C"),
        ("crm.risk.flag.changed", "C"),
        ("crm.push.failed", None),
        ("crm.sync.completed", None),
    ]
    assert events[-1]["resource"]["crm-risk.flow"] == "account_refresh"
    assert events[-1]["payload"]["status"] == "failed"
