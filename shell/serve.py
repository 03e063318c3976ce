"""`crm-risk serve`: run prefect.yaml's deployments from one long-lived process (Prefect's `serve`), no work pool.

The deployments (schedules, triggers, parameters, concurrency) are read from prefect.yaml, the same file
`prefect deploy --all` reads, so a served deployment and a deployed one behave alike. A flow run still starts in a
process of its own (Prefect's runner), so a crashed run never takes the service down.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import yaml

from crm_risk.errors import ConfigError

__all__ = ["PREFECT_YAML", "deployment_of", "deployment_specs", "run_serve", "with_window"]

PREFECT_YAML = Path(__file__).resolve().parents[1] / "prefect.yaml"
_TRIGGER_KEYS = ("match", "match_related", "after", "expect", "for_each", "posture", "threshold", "within")


def deployment_specs(path: Path = PREFECT_YAML) -> dict[str, dict[str, Any]]:
    """prefect.yaml's deployments by name."""
    return {d["name"]: d for d in yaml.safe_load(path.read_text())["deployments"]}


def _flow(entrypoint: str) -> Any:
    """`flows/refresh.py:account_refresh` -> the flow object."""
    file, name = entrypoint.split(":")
    module = importlib.import_module(file.removesuffix(".py").replace("/", "."))
    return getattr(module, name)


def deployment_of(spec: dict[str, Any]) -> Any:
    """A RunnerDeployment of one prefect.yaml deployment: its parameters, active schedules, triggers, limit."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig
    from prefect.events import DeploymentEventTrigger
    from prefect.schedules import Cron, Interval

    triggers = [
        DeploymentEventTrigger.model_validate(
            {k: t[k] for k in (*_TRIGGER_KEYS, "enabled", "parameters") if k in t}
        )
        for t in spec.get("triggers") or []
    ]
    schedules = [
        Cron(s["cron"], timezone=s.get("timezone")) if "cron" in s else Interval(s["interval"])
        for s in spec.get("schedules") or []
        if s.get("active", True)
    ]
    from crm_risk.config import refuse_secret_parameters

    for where, params in [
        ("parameters", spec.get("parameters")),
        *(("a trigger", t.get("parameters")) for t in spec.get("triggers") or []),
    ]:
        refuse_secret_parameters(
            (params or {}).get("settings"), f"deployment {spec['name']!r}: {where}' settings"
        )
    limit = spec.get("concurrency_limit")
    return _flow(spec["entrypoint"]).to_deployment(
        name=spec["name"],
        description=spec.get("description"),
        parameters=spec.get("parameters"),
        schedules=schedules or None,
        triggers=triggers or None,
        concurrency_limit=ConcurrencyLimitConfig(**limit) if isinstance(limit, dict) else limit,
    )


WARM = "account-refresh"  # runs in this process (shell/warm.py): its latency is the product's promise


def with_window(spec: dict[str, Any], seconds: float | None) -> dict[str, Any]:
    """The account-refresh spec with another window: its trigger's `within` and the run's `window_seconds` (equal)."""
    if seconds is None:
        return spec
    triggers = [{**t, "within": seconds} for t in spec.get("triggers") or []]
    return {
        **spec,
        "parameters": {**spec.get("parameters", {}), "window_seconds": seconds},
        "triggers": triggers,
    }


def run_serve(names: list[str] | None = None, path: Path = PREFECT_YAML) -> None:
    """Serve `names` (default: every deployment of prefect.yaml) until interrupted; account-refresh's runs execute
    in this process, warm (shell/warm.py), the others in a process each as Prefect's `serve` runs them."""
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "1")
    import signal
    import threading

    from prefect import serve

    from shell.warm import WarmRunner

    specs = deployment_specs(path)
    wanted = names or list(specs)
    unknown = [n for n in wanted if n not in specs]
    if unknown:
        raise ConfigError(f"prefect.yaml has no deployment {', '.join(unknown)}; it has: {', '.join(specs)}")
    others = [deployment_of(specs[n]) for n in wanted if n != WARM]
    if WARM not in wanted:
        serve(*others, print_starting_message=True)
        return
    from crm_risk.config import load_settings

    window = load_settings().refresh_window_seconds
    warm = WarmRunner(deployment_of(with_window(specs[WARM], window)))
    flow = _flow(specs[WARM]["entrypoint"])
    if not others:
        signal.signal(signal.SIGTERM, lambda *_: warm.stop.set())
        try:
            warm.run(flow)
        except KeyboardInterrupt:
            warm.stop.set()
        return
    thread = threading.Thread(target=warm.run, args=(flow,), daemon=True, name="warm-runner")
    thread.start()
    try:
        serve(*others, print_starting_message=True)
    finally:
        warm.stop.set()
        thread.join(30)
