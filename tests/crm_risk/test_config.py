"""Settings given as flow parameters: never a secret (Prefect stores parameters in clear)."""

from __future__ import annotations

import pytest

from crm_risk.errors import ConfigError


def test_flow_parameters_refuse_a_secret_by_its_type_and_take_the_rest() -> None:
    from crm_risk.config import SECRET_SETTINGS, settings_from_parameters

    assert {"sf_client_secret", "sf_password", "sf_refresh_token", "listen_webhook_secret"} <= SECRET_SETTINGS
    assert "sf_client_id" not in SECRET_SETTINGS and "sf_token_store" not in SECRET_SETTINGS
    with pytest.raises(
        ConfigError, match="carries sf_password: Prefect stores flow parameters in clear"
    ) as err:
        settings_from_parameters({"warehouse_path": "w.duckdb", "sf_password": "hunter2-long-enough"})
    assert "hunter2" not in str(err.value)
    assert settings_from_parameters({"warehouse_path": "w.duckdb"}).warehouse_path == "w.duckdb"
