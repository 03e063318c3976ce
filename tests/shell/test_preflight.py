"""A bad setting or object name fails `crm-risk sync` at once: one line, exit 2, nothing created, no Prefect."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shell.cli import main


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for var in [v for v in os.environ if v.startswith("CRM_RISK_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("CRM_RISK_SF_AUTH", "session")
    return tmp_path


@pytest.mark.parametrize(
    ("env", "argv", "message"),
    [
        (
            {"CRM_RISK_SF_TIMEOUT_SECONDS": "soon"},
            ["sync"],
            "CRM_RISK_SF_TIMEOUT_SECONDS: Input should be a valid number",
        ),
        ({"CRM_RISK_SF_AUTH": "magic"}, ["sync"], "CRM_RISK_SF_AUTH: Input should be"),
        ({}, ["sync", "--objects", "Case", "Tasks"], "unknown object(s) ['Tasks']"),
        ({}, ["sync"], "no CRM configured: set CRM_RISK_SF_LOGIN_URL and the login of your auth mode"),
        ({}, ["refresh", "--account", "001000000000000AAA"], "no CRM configured"),
        ({"CRM_RISK_EXTRACT_OBJECTS": "Case,Cases"}, ["sync"], "unknown object(s) ['Cases']"),
        ({}, ["backfill", "--since", "tomorrowish"], "backfill: since 'tomorrowish' is not a date"),
        ({}, ["refresh", "--account", "001nonsense"], "--account '001nonsense' is not a Salesforce id"),
        (
            {"CRM_RISK_REFRESH_WINDOW_SECONDS": "-5"},
            ["serve"],
            "CRM_RISK_REFRESH_WINDOW_SECONDS: Input should be",
        ),
    ],
)
def test_a_bad_setting_is_one_line_and_creates_nothing(workdir, monkeypatch, capsys, env, argv, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("crm-risk: ")
    assert "Traceback" not in "\n".join(err)
    assert list(workdir.iterdir()) == []  # no warehouse, no landing, no Prefect home


def test_a_misspelt_variable_is_named_with_the_closest_setting(workdir, monkeypatch, capsys):
    monkeypatch.setenv("CRM_RISK_WAREHOUSE_PATHH", "elsewhere.duckdb")
    monkeypatch.setenv("CRM_RISK_SF_TIMEOUT_SECONDS", "soon")  # stop before anything runs
    assert main(["sync"]) == 2
    assert (
        "crm-risk: warning: CRM_RISK_WAREHOUSE_PATHH is not a setting: did you mean CRM_RISK_WAREHOUSE_PATH?"
        in capsys.readouterr().err
    )


def test_flags_after_the_demo_reads_the_demos_warehouse_and_says_so(workdir, capsys):
    from connectors.warehouse import connect

    assert main(["flags"]) == 2
    assert "no warehouse at warehouse.duckdb: run `make demo`" in capsys.readouterr().err
    assert list(workdir.iterdir()) == []
    connect(workdir / ".demo" / "warehouse.duckdb").close()  # what `make demo` leaves (empty here)
    assert main(["flags"]) == 0
    out = capsys.readouterr()
    assert "reading the demo's warehouse .demo/warehouse.duckdb" in out.err
    assert "no accounts scored yet" in out.out


def test_a_refused_login_is_one_line_before_prefect_and_creates_nothing(
    workdir, monkeypatch, capsys, simulator, tmp_path_factory
):
    import json

    conn = dict(simulator.connection)
    secret = "not-the-secret-" + "x" * 20
    conn["client_secret"] = secret
    path = tmp_path_factory.mktemp("conn") / "connection.json"
    path.write_text(json.dumps(conn))
    monkeypatch.setenv("CRM_RISK_SF_CONNECTION_FILE", str(path))
    monkeypatch.setenv("CRM_RISK_SF_AUTH", "client_credentials")
    assert main(["sync"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("crm-risk: ") and "invalid_client" in err[-1], err
    assert "Traceback" not in "\n".join(err) and secret not in "\n".join(err)
    assert list(workdir.iterdir()) == []  # no warehouse, no landing, no Prefect home
