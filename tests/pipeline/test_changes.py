"""Which CRM changes matter to the risk model, and which account each belongs to."""

from __future__ import annotations

from connectors.salesforce.events.decode import ChangeEvent
from crm_risk.config import load_settings
from pipeline.changes import attribute, watched_fields

WATCHED = watched_fields(load_settings(sf_auth="session"))


def _event(
    entity: str, change_type: str, ids: tuple[str, ...], fields: tuple[str, ...] = (), **values: object
):
    return ChangeEvent(
        entity=entity,
        change_type=change_type,
        record_ids=ids,
        changed_fields=fields,
        commit_timestamp_ms=1,
        values=dict(values),
        replay_id=b"\x07",
    )


def test_our_own_risk_fields_and_bookkeeping_are_not_significant():
    assert "Risk_Level__c" not in WATCHED["Account"] and "SystemModstamp" not in WATCHED["Case"]
    assert {"Status", "IsEscalated", "Priority"} <= WATCHED["Case"]
    found = attribute(
        [_event("Account", "UPDATE", ("001A",), ("Risk_Level__c", "Risk_Score__c", "SystemModstamp"))],
        WATCHED,
        lambda obj, ids: {},
    )
    assert found.changes == [] and found.ignored == {"Account: only untracked fields changed": 1}


def test_each_change_goes_to_its_account_with_one_lookup_per_object():
    lookups: list[tuple[str, list[str]]] = []

    def lookup(obj: str, ids: list[str]) -> dict[str, str]:
        lookups.append((obj, ids))
        return {"500B": "001B", "500C": "001C"}

    found = attribute(
        [
            _event("Account", "UPDATE", ("001A",), ("OwnerId",)),
            _event("Case", "CREATE", ("500N",), ("Status",), AccountId="001N"),  # a create names its account
            _event("Case", "UPDATE", ("500B",), ("Status",)),
            _event("Case", "DELETE", ("500C",)),
            _event("Case", "UPDATE", ("500X",), ("Status",)),  # no account: counted, not guessed
            _event("User", "UPDATE", ("005A",), ("Email",)),
            _event("Task", "GAP_UPDATE", ("00TA",)),
        ],
        WATCHED,
        lookup,
    )
    assert lookups == [("Case", ["500B", "500C", "500X"])]
    assert [(c.account_id, c.sobject, c.record_ids) for c in found.changes] == [
        ("001A", "Account", ("001A",)),
        ("001N", "Case", ("500N",)),
        ("001B", "Case", ("500B",)),
        ("001C", "Case", ("500C",)),
    ]
    assert found.resync == {"Task"}
    assert found.ignored == {"Case: no account": 1, "User: not read by the risk model": 1}
    assert found.changes[2].payload() == {
        "object": "Case",
        "change_type": "UPDATE",
        "record_ids": ["500B"],
        "changed_fields": ["Status"],
        "commit_timestamp_ms": 1,
        "replay_id": "07",
    }


def test_compound_components_count_as_the_fields_the_registry_reads():
    found = attribute(
        [
            _event("Account", "UPDATE", ("001A",), ("BillingAddress.City",)),
            _event("Contact", "UPDATE", ("003B",), ("Name.FirstName",), AccountId="001B"),
            _event("Account", "UPDATE", ("001C",), ("BillingAddress.GeocodeAccuracy",)),
        ],
        WATCHED,
        lambda obj, ids: {},
    )
    assert [(c.account_id, c.changed_fields) for c in found.changes] == [
        ("001A", ("BillingCity",)),
        ("001B", ("FirstName",)),
    ]
    assert found.ignored == {"Account: only untracked fields changed": 1}


def test_an_owner_task_the_pipeline_created_does_not_wake_it_up_but_a_reps_task_does():
    ours = _event(
        "Task", "CREATE", ("00TA",), ("Subject",), AccountId="001A", Risk_Task_Key__c="001A:repeat_issue:1"
    )
    reps = _event("Task", "CREATE", ("00TB",), ("Subject",), AccountId="001A")
    found = attribute([ours, reps], WATCHED, lambda obj, ids: {})
    assert [c.record_ids for c in found.changes] == [("00TB",)]
    assert found.ignored == {"Task: an owner Task the pipeline created": 1}
