"""The account-change event is valid Prefect `Event` JSON, its id derived from what it says."""

from __future__ import annotations

from prefect.events.schemas.events import Event

from flows.events import account_change_event
from pipeline.changes import AccountChange


def test_the_event_json_is_a_prefect_event_with_a_stable_id():
    change = AccountChange("001A", "Case", "UPDATE", ("500B",), ("Status",), 1_767_225_600_000, "0a")
    data = account_change_event(change)
    event = Event.model_validate(data)
    assert event.resource.id == "salesforce.account.001A"
    assert [r.id for r in event.related] == ["salesforce.case.500B"] and event.related[0].role == "record"
    assert event.payload["changed_fields"] == ["Status"]
    assert str(event.id) == data["id"] == account_change_event(change)["id"]  # re-emitted = the same event
    other = AccountChange("001A", "Case", "UPDATE", ("500C",), ("Status",), 1_767_225_600_000, "0a")
    assert account_change_event(other)["id"] != data["id"]
