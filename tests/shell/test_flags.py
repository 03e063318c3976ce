"""`crm-risk flags`: a header with counts and the level rule, then accounts; an account by its 15- or 18-char Id."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.warehouse import connect
from crm_risk.config import load_settings
from crm_risk.errors import ConfigError
from shell.flags import explain_account, list_flags
from tests.transforms.helpers import Crm, ago, day, run
from transforms.inputs import ensure_raw_inputs

RED, GREEN, PROSPECT = "001000000000001AAA", "001000000000002AAA", "001000000000003AAA"


@pytest.fixture
def settings(tmp_path: Path):
    path = tmp_path / "warehouse.duckdb"
    con = connect(path)
    ensure_raw_inputs(con)
    crm = Crm(con)
    crm.user()
    for account in (RED, GREEN):
        crm.account(account, name=f"Acct {account[-4]}")
        won = crm.opportunity(account, "First", "Closed Won", day(200))
        crm.history(won, "Closed Won", ago(200), close=day(200))
        for first in ("Jane", "Tom"):
            crm.task(account, ago(10), who=crm.contact(account, first, "Smith"))
    crm.account(PROSPECT, name="Prospect Ltd", type="Prospect")
    for i, (opened, closed) in enumerate(((80, 70), (60, 55), (50, 45))):  # repeat_issue: high severity
        crm.case(RED, f"0000060{i}", ago(opened), ago(closed))
    run(con)
    con.close()
    return load_settings(sf_auth="session", warehouse_path=str(path))


def test_the_list_says_how_many_and_what_the_levels_mean(settings):
    text = list_flags(settings, limit=1)
    lines = text.splitlines()
    assert lines[0].startswith(
        "1 Red, 0 Amber, 1 Green of 2 customer accounts scored (1 other accounts not scored"
    )
    assert lines[1].startswith("Red: at least one high-severity signal. Amber: score >= 25 without one.")
    # the org lacks optional inputs (CSAT values, expectations, events, field history): said once, with the reasons
    assert lines[2].startswith("not scored: expansion_ready (no Case has a value in CSAT__c); ")
    assert "; owner_changed (no AccountHistory rows" in lines[2]
    assert lines[3] == "showing 1 of 2, highest score first:"
    assert lines[6].startswith("Red ") and RED in lines[6]
    assert "showing 0 of 0 Amber" in list_flags(settings, level="Amber")


def test_an_account_by_the_15_character_id_of_its_url(settings):
    by_url = explain_account(settings, RED[:15])
    assert by_url == explain_account(settings, RED)
    assert by_url.splitlines()[1].startswith("  level Red")
    with pytest.raises(ConfigError, match=r"Prospect Ltd.* is not scored"):
        explain_account(settings, PROSPECT[:15])
    with pytest.raises(ConfigError, match="not a Salesforce id"):
        explain_account(settings, "Acme")


def test_a_quarantined_account_says_why_it_is_not_scored(settings):
    quarantined = "001000000000009AAA"
    with connect(settings.warehouse_path) as con:
        con.execute(
            "insert into meta.quarantine (run_id, object, record_id, failed, record, quarantined_at) "
            "values ('r1', 'Account', ?, '{\"name_present\": \"Name is empty\"}', '{}', now())",
            [quarantined],
        )
    with pytest.raises(
        ConfigError, match=r"quarantined by the quality gate \(name_present\); fix it in the CRM"
    ):
        explain_account(settings, quarantined)
