"""Secrets are masked by type (every SecretStr setting), and a bad setting never echoes the others' values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crm_risk.config import load_settings
from crm_risk.errors import ConfigError
from crm_risk.secrets import mask


def test_every_secret_setting_is_masked_whatever_its_name(tmp_path: Path):
    settings = load_settings(
        sf_auth="session", sf_session_id="00Dxx-session-value-123", sf_client_secret="s3cr3t-XYZ"
    )
    text = f"login failed for {settings.sf_client_secret.get_secret_value()} and 00Dxx-session-value-123"
    assert mask(text) == "login failed for *** and ***"


def test_a_bad_connection_file_does_not_echo_secrets_from_the_environment(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("CRM_RISK_SF_CLIENT_SECRET", "env-secret-value-77")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError) as err:
        load_settings(sf_connection_file=str(broken))
    assert "env-secret-value-77" not in str(err.value) and "broken.json" in str(err.value)
    conn = tmp_path / "connection.json"
    conn.write_text(
        json.dumps({"instance_url": "https://x", "client_secret": "very-secret-value-42", "api_version": []})
    )
    with pytest.raises(ConfigError) as err:
        load_settings(sf_connection_file=str(conn))
    assert "very-secret-value-42" not in str(err.value)
    assert "CRM_RISK_SF_API_VERSION" in str(err.value)


def test_the_secret_sweep_finds_a_secret_in_a_binary_file_and_in_text(tmp_path) -> None:
    import duckdb

    from tests.e2e.secrets_sweep import sweep

    secret = "Sim-0123456789abcdefXYZ"
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create table t as select ? as v", [f"prefix {secret} suffix"])
    (tmp_path / "clean.txt").write_text("nothing here")
    hits = sweep({secret}, [tmp_path], ["a log line", f"oops {secret}"])
    assert any("w.duckdb" in h for h in hits) and "text #1 holds Sim-..." in hits
    assert not any("clean.txt" in h for h in hits) and all(secret not in h for h in hits)
