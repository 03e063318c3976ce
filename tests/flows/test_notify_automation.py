"""automations/red_flag_notify.yaml: the README shows it as it is, and its trigger picks exactly the Red key accounts."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import yaml
from prefect.events import DeploymentTriggerTypes
from prefect.server.events.schemas.automations import EventTrigger
from prefect.server.events.schemas.events import ReceivedEvent
from pydantic import TypeAdapter

from flows.run_events import flag_events

ROOT = Path(__file__).resolve().parents[2]
AUTOMATION_FILE = ROOT / "automations" / "red_flag_notify.yaml"


def _spec() -> dict[str, Any]:
    [deployment] = yaml.safe_load(AUTOMATION_FILE.read_text())["deployments"]
    return dict(deployment)


def test_the_readme_shows_the_file_that_is_deployed() -> None:
    text = AUTOMATION_FILE.read_text()
    shown = text[text.index("deployments:") :]
    assert f"```yaml\n{shown}```" in (ROOT / "README.md").read_text()
    assert _spec()["entrypoint"] == "flows/notify.py:notify_flag"


def test_the_trigger_fires_for_a_key_account_turning_red_only() -> None:
    [spec] = _spec()["triggers"]
    deployment_trigger = TypeAdapter(DeploymentTriggerTypes).validate_python(
        dict(spec)
    )  # as prefect deploy does
    deployment_trigger.set_deployment_id(uuid.uuid4())
    automation = deployment_trigger.as_automation()  # what the server is sent
    assert automation.name == "red-flag-on-key-account"
    trigger = EventTrigger.model_validate(automation.trigger.model_dump(mode="json"))

    def fires(previous: str | None, level: str, key: bool) -> list[str]:
        move = {
            "account_id": "001000000000001AAA",
            "account_name": "Acme Corp",
            "is_key_account": key,
            "level": level,
            "previous_level": previous,
            "score": 80.0,
            "reasons": ["Our main contact is gone."],
            "model_version": "risk-2026.11.2",
        }
        events = [ReceivedEvent.model_validate(e) for e in flag_events("run-1", [move])]
        return [e.event for e in events if trigger.covers(e)]

    assert fires(None, "Red", key=True) == ["crm.risk.flag.raised"]
    assert fires("Amber", "Red", key=True) == ["crm.risk.flag.raised"]
    assert fires("Green", "Red", key=False) == []
    assert fires("Green", "Amber", key=True) == []
    assert fires("Red", "Green", key=True) == []
    # every parameter the trigger passes is one the flow takes
    from flows.notify import notify_flag

    assert set(spec["parameters"]) | set(_spec()["parameters"]) <= set(notify_flag.parameters.properties)
