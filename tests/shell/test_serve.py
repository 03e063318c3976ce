"""prefect.yaml's deployments as `crm-risk serve` builds them: what `prefect deploy --all` would register."""

from __future__ import annotations

import inspect

from shell.serve import deployment_of, deployment_specs, with_window


def test_every_deployment_of_prefect_yaml_builds_with_its_triggers_and_schedules() -> None:
    specs = deployment_specs()
    built = {name: deployment_of(spec) for name, spec in specs.items()}
    assert {"nightly", "backfill", "resync", "account-refresh", "change-watch"} <= set(built)
    assert built["nightly"].schedules[0].schedule.cron == "0 2 * * *"
    assert built["change-watch"].schedules in (
        None,
        [],
    )  # inactive in prefect.yaml: not scheduled when served


def test_the_refresh_trigger_window_is_the_flows_window_and_its_parameters_exist() -> None:
    spec = deployment_specs()["account-refresh"]
    trigger = spec["triggers"][0]
    assert (
        trigger["within"] == spec["parameters"]["window_seconds"]
    )  # the run drains exactly what the trigger skips
    assert trigger["posture"] == "Reactive" and trigger["threshold"] == 1
    assert trigger["match"]["prefect.resource.id"] == "salesforce.account.*"
    from flows.refresh import account_refresh

    accepted = set(inspect.signature(account_refresh.fn).parameters)
    assert set(trigger["parameters"]) | set(spec["parameters"]) <= accepted


def test_a_shorter_window_moves_the_trigger_and_the_run_together() -> None:
    spec = with_window(deployment_specs()["account-refresh"], 15)
    built = deployment_of(spec)
    assert built.parameters["window_seconds"] == 15
    assert built.triggers[0].within.total_seconds() == 15
    assert with_window(deployment_specs()["account-refresh"], None) == deployment_specs()["account-refresh"]


def test_a_deployment_passing_a_secret_as_a_parameter_is_refused_before_it_is_stored() -> None:
    import pytest

    from crm_risk.errors import ConfigError

    spec = {**deployment_specs()["nightly"], "parameters": {"settings": {"sf_client_secret": "s3cr3t-value"}}}
    with pytest.raises(ConfigError, match=r"'nightly': parameters' settings carries sf_client_secret") as err:
        deployment_of(spec)
    assert "s3cr3t-value" not in str(err.value) and "CRM_RISK_SF_CLIENT_SECRET in the environment" in str(
        err.value
    )
