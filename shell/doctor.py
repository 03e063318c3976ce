"""`crm-risk doctor`: can tonight's run succeed? One pass/fail line per check, each failure with its fix.

Checks, in order: the warehouse (writable, not locked; its watermarks say what tonight pulls), the login and its
host, the landing area when it is object storage (reachable, its bucket there), the API version, the daily API budget against a nightly run's cost, every extracted object and field
readable, every pushed field present / of the right type / updateable, owner Tasks creatable, change events (when
the event path is enabled), Prefect and prefect.yaml's deployments (when PREFECT_API_URL is set). The CRM checks live
in connectors/salesforce/doctor.py, the warehouse's in connectors/warehouse/doctor.py; Prefect's here.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from typing import Any

import requests

from connectors.salesforce import doctor as crm
from connectors.salesforce.client import CrmClient
from connectors.warehouse.doctor import warehouse_check
from crm_risk import landing as storage
from crm_risk.checks import Check, failed, passed, skipped
from crm_risk.config import Settings
from crm_risk.errors import ConfigError, QuotaExceeded
from pipeline.extract import entries as extract_entries
from pipeline.owner_tasks import TASK_FIELDS
from shell.serve import PREFECT_YAML, deployment_specs

__all__ = ["as_json", "as_text", "cdc_in_use", "run_doctor"]


def cdc_in_use(settings: Settings) -> bool:
    """Whether Change Data Capture is in use here: a listener has kept a replay id beside the warehouse."""
    return settings.state_file(settings.listen_replay_file, "listener-replay.json").exists()


def _crm_checks(
    client: CrmClient, settings: Settings, marks: dict[str, datetime | None], cdc: bool
) -> list[Check]:
    """The checks that need a logged-in client; a spent daily budget ends them (the rest cannot be asked)."""
    wanted = extract_entries(settings, None)
    lookback = timedelta(seconds=settings.extract_lookback_seconds)
    since = {name: (mark - lookback if mark else None) for name, mark in marks.items()}
    out: list[Check] = []
    steps: list[tuple[str, Any]] = [
        ("API version", lambda: [crm.api_version_check(client)]),
        ("API budget", lambda: [crm.budget_check(client, wanted, since, settings)]),
        ("read", lambda: crm.extract_checks(client, wanted)),
        ("push fields", lambda: [crm.push_fields_check(client, settings)]),
        ("owner tasks", lambda: [crm.task_check(client, TASK_FIELDS)]),
        (
            "change events",
            lambda: (
                [crm.events_check(settings, client, cdc=cdc)]
                if cdc or settings.listen_receiver
                else [
                    skipped(
                        "change events", "the event path is not enabled (no receiver, no listener replay id)"
                    )
                ]
            ),
        ),
    ]
    for i, (name, step) in enumerate(steps):
        try:
            out.extend(step())
        except QuotaExceeded as exc:
            out = [c for c in out if c.name != "API budget"] + [crm.budget_spent(exc)]
            out += [skipped(n, "not checked: the daily API budget is spent") for n, _ in steps[i + 1 :]]
            break
        except Exception as exc:  # one check's unexpected failure must not hide the others
            out.append(failed(name, f"could not check: {type(exc).__name__}: {exc}", "run with --debug"))
    return out


def _prefect_check() -> Check:
    """Prefect's API reachable and prefect.yaml's deployments registered on it (when PREFECT_API_URL is set)."""
    api = os.environ.get("PREFECT_API_URL")
    if not api:
        return skipped("prefect", "PREFECT_API_URL is not set: runs use a temporary local server")
    api = api.rstrip("/")
    try:
        requests.get(f"{api}/health", timeout=5).raise_for_status()
        body = {"deployments": {"name": {"any_": list(deployment_specs(PREFECT_YAML))}}}
        found = requests.post(f"{api}/deployments/filter", json=body, timeout=10).json()
    except (requests.RequestException, ValueError) as exc:
        return failed(
            "prefect",
            f"{api} does not answer: {type(exc).__name__}",
            "start it (prefect server start) or fix PREFECT_API_URL",
        )
    have = {str(d.get("name")) for d in found if isinstance(d, dict)}
    missing = [n for n in deployment_specs(PREFECT_YAML) if n not in have]
    if missing:
        return failed(
            "prefect",
            f"{api} reachable; deployments missing: {', '.join(missing)}",
            f"prefect deploy {' '.join('-n ' + n for n in missing)} (README: Run it for real), or crm-risk serve",
        )
    return passed("prefect", f"{api} reachable; deployments {', '.join(sorted(have))} present")


def _landing_check(settings: Settings) -> Check | None:
    """A landing area on object storage (an fsspec URL): reachable, its bucket there; None for a local folder (the
    warehouse check covers it)."""
    if storage.is_local(settings.landing_dir):
        return None
    try:
        area = storage.landing(settings, verify=True)
    except ConfigError as exc:
        detail, _, fix = str(exc).rpartition("; ")
        return failed("landing", detail or str(exc), fix)
    return passed("landing", f"{area.root} reachable")


def run_doctor(settings: Settings, *, cdc: bool | None = None) -> list[Check]:
    """Every check against the configured org, warehouse and Prefect. `cdc`: check the Change Data Capture channel
    (default: when a listener has run here); the receiver's settings are checked when CRM_RISK_LISTEN_RECEIVER is on."""
    quick = settings.model_copy(update={"sf_max_retries": min(settings.sf_max_retries, 1)})
    objects = [e.name for e in extract_entries(settings, None)]
    store, marks = warehouse_check(str(settings.warehouse_path), str(settings.landing_dir), objects)
    login, client = crm.login_check(quick)
    checks = [login]
    if client is None:
        checks.append(skipped("CRM", "the other CRM checks need a login"))
    else:
        with client:
            checks += _crm_checks(client, quick, marks, cdc_in_use(settings) if cdc is None else cdc)
    landing = _landing_check(settings)
    return [*checks, store, *([landing] if landing else []), _prefect_check()]


_MARK = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}


def as_text(checks: list[Check]) -> str:
    """One line per check; a failure's line ends with its fix; a last line says whether a nightly run can succeed."""
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        fix = f"  -> fix: {c.fix}" if c.status == "fail" else ""
        lines.append(f"{_MARK[c.status]}  {c.name.ljust(width)}  {c.detail}{fix}")
    bad = [c for c in checks if not c.ok]
    verdict = (
        "a nightly run can succeed" if not bad else f"{len(bad)} check(s) failed: a nightly run would fail"
    )
    return "\n".join([*lines, "", f"crm-risk doctor: {verdict}"])


def as_json(checks: list[Check]) -> str:
    """For monitoring: {"ok": bool, "checks": [{name, status, detail, fix}]}."""
    return json.dumps({"ok": all(c.ok for c in checks), "checks": [c.to_dict() for c in checks]}, indent=2)
