"""What a salesperson reads on hover (the Account fields' help text) says what the rules file does."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from transforms.rules import load_rules

FIELDS = Path(__file__).resolve().parents[2] / "salesforce/force-app/main/default/objects/Account/fields"
NS = {"m": "http://soap.sforce.com/2006/04/metadata"}
WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}


def help_text(field: str) -> str:
    node = ET.parse(FIELDS / f"{field}.field-meta.xml").getroot().find("m:inlineHelpText", NS)
    assert node is not None and node.text, f"{field} has help text"
    assert len(node.text) <= 510, "Salesforce caps help text at 510 characters"
    return node.text


@pytest.fixture(scope="module")
def risk() -> dict[str, float]:
    return {k: float(v) for k, v in load_rules().risk.items() if isinstance(v, int | float)}


def test_the_level_help_states_the_level_rule_of_the_rules_file(risk: dict[str, float]) -> None:
    text = help_text("Risk_Level__c")
    assert "Red: at least one high-severity" in text
    assert f"risk score {risk['amber_min_score']:g} or more without one" in text
    assert f"Green: below {risk['amber_min_score']:g}" in text
    assert f"no deal won in the last {risk['contract_days']:g} days" in text


def test_the_score_help_states_the_renewal_weight_and_the_red_floor(risk: dict[str, float]) -> None:
    text = help_text("Risk_Score__c")
    assert (
        f"times {risk['renewal_weight']:g} while a renewal closes within {risk['renewal_window_days']:g} days"
        in text
    )
    assert f"A Red account scores at least {risk['red_min_score']:g}" in text


def test_the_reasons_help_counts_the_reasons_shown(risk: dict[str, float]) -> None:
    assert f"The top {WORDS[int(risk['reasons_count'])]} reasons" in help_text("Risk_Reasons__c")
