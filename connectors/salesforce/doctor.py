"""`crm-risk doctor`'s CRM checks: login, API version, what the extract reads, what the push writes, owner Tasks,
the daily API budget against a nightly run's cost, change events. Each returns `crm_risk.checks.Check`s.

`require_push_fields` is the push's pre-flight: the same check, raised before anything is sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.salesforce.client import CrmClient, connect
from connectors.salesforce.events.connect import pubsub_client
from connectors.salesforce.extract import BULK_MAX_PAGE
from connectors.salesforce.registry import ObjectEntry, resolve_fields
from connectors.salesforce.windows import count_changes
from crm_risk.checks import Check, failed, passed, skipped
from crm_risk.config import Settings
from crm_risk.errors import ConfigError, ConnectorError, QuotaExceeded, TerminalError, TransientError
from crm_risk.fields import ACCOUNT_RISK, TASK_KEY, CrmField, describe_types

__all__ = [
    "DEPLOY_FIX",
    "PERMSET_FIX",
    "api_version_check",
    "budget_check",
    "budget_spent",
    "events_check",
    "extract_checks",
    "login_check",
    "nightly_cost",
    "push_fields_check",
    "require_push_fields",
    "task_check",
]

DEPLOY_FIX = (
    "deploy the crm-risk package (from salesforce/: sf project deploy start --source-dir force-app) and assign "
    "the CRM_Risk_Integration permission set to the integration user"
)
PERMSET_FIX = "assign the CRM_Risk_Integration permission set to the integration user (it grants the access)"
EPOCH_START = datetime(1970, 1, 1, tzinfo=UTC)  # an object never extracted: all of it is a first run's change
BUDGET_FIX = (
    "wait for the org's rolling 24-hour API window to free requests, raise the org's API limit, or stop other "
    "integrations using it; the run's own cap is CRM_RISK_API_CALL_BUDGET"
)


def login_check(settings: Settings) -> tuple[Check, CrmClient | None]:
    """Log in with the configured auth mode at the configured login host; the client when it worked."""
    where = f"CRM_RISK_SF_AUTH={settings.sf_auth} at {settings.sf_login_url}"
    try:
        client = connect(settings)
    except ConfigError as exc:
        return failed("login", f"{where}: {exc}", "set the missing settings in .env (see .env.example)"), None
    except TerminalError as exc:
        return (
            failed(
                "login",
                f"{settings.sf_login_url}: {exc}",
                "check the credentials of the auth mode and CRM_RISK_SF_LOGIN_URL (your My Domain URL, or "
                "https://test.salesforce.com for a sandbox); a connected app must allow this grant",
            ),
            None,
        )
    except ConnectorError as exc:
        return (
            failed(
                "login",
                f"{where}: cannot reach the login host ({exc})",
                "check CRM_RISK_SF_LOGIN_URL, the network (proxy, firewall) and CRM_RISK_SF_CA_BUNDLE for TLS",
            ),
            None,
        )
    return passed("login", f"{where}: logged in, instance {client.instance_url}"), client


def api_version_check(client: CrmClient) -> Check:
    """The configured API version is one the org serves."""
    wanted = client.settings.sf_api_version
    versions = [str(v.get("version")) for v in client.request("GET", "/services/data/").json()]
    newest = max(versions, key=float) if versions else "?"
    if wanted in versions:
        return passed("API version", f"v{wanted} (the org serves up to v{newest})")
    return failed(
        "API version",
        f"the org does not serve v{wanted} (it serves v{min(versions, key=float)} to v{newest})",
        f"set CRM_RISK_SF_API_VERSION={newest}",
    )


def extract_checks(client: CrmClient, entries: Iterable[ObjectEntry]) -> list[Check]:
    """One check per extracted object: describable, queryable, every required field visible (the others noted)."""
    out = []
    for entry in entries:
        name = f"read {entry.name}"
        try:
            described = client.describe(entry.name)
        except QuotaExceeded:
            raise
        except ConnectorError as exc:
            out.append(failed(name, f"{entry.name} cannot be described: {exc}", PERMSET_FIX))
            continue
        if not described.get("queryable", True):
            out.append(failed(name, f"{entry.name} is not queryable for the integration user", PERMSET_FIX))
            continue
        try:
            selected, missing = resolve_fields(entry, described)
        except TerminalError as exc:
            out.append(
                failed(name, str(exc).split(": grant")[0], f"grant read access to them: {PERMSET_FIX}")
            )
            continue
        note = (
            f"; not visible (optional, the signals using them are skipped): {', '.join(missing)}"
            if missing
            else ""
        )
        out.append(passed(name, f"{len(selected)} fields readable{note}"))
    return out


def _field_problem(spec: CrmField | None, found: dict[str, Any] | None, flag: str) -> str | None:
    """What is wrong with one field the pipeline writes (None: nothing)."""
    if found is None:
        return "missing (not deployed, or hidden from the integration user)"
    if spec is not None and str(found.get("type")) not in describe_types(spec):
        return f"is a {found.get('type')}, the package's is a {spec.type}"
    if not found.get(flag, False):
        return f"read-only for the integration user (not {flag})"
    if spec is not None and spec.values:
        values = {str(v.get("value")) for v in found.get("picklistValues") or [] if v.get("active", True)}
        lacking = [v for v in spec.values if v not in values]
        if lacking:
            return f"its picklist lacks {', '.join(lacking)}"
    if spec is not None and spec.length and int(found.get("length") or 0) < spec.length:
        return f"holds {found.get('length')} characters, the pipeline writes up to {spec.length}"
    return None


def _problems(
    client: CrmClient, sobject: str, wanted: Sequence[tuple[str, CrmField | None]], flag: str
) -> list[tuple[str, str]]:
    by_name = {str(f["name"]).lower(): f for f in client.describe(sobject).get("fields", [])}
    out = []
    for field, spec in wanted:
        problem = _field_problem(spec, by_name.get(field.lower()), flag)
        if problem:
            out.append((f"{sobject}.{field}", problem))
    return out


def _fix(problems: list[tuple[str, str]], other: str = "") -> str:
    if any(p.startswith("missing") or " is a " in f" {p}" or "lacks" in p for _, p in problems):
        return DEPLOY_FIX + other
    return PERMSET_FIX + " (edit access on these fields)"


def push_fields_check(client: CrmClient, settings: Settings) -> Check:
    """Every Account field the push writes: present, of the package's type, updateable (picklist values, length)."""
    wanted = [(name, ACCOUNT_RISK.get(key)) for key, name in settings.push_fields.items()]
    problems = _problems(client, "Account", wanted, "updateable")
    if problems:
        detail = "; ".join(f"{f} {p}" for f, p in problems)
        return failed(
            "push fields", detail, _fix(problems, " (or point CRM_RISK_PUSH_FIELDS at your own fields)")
        )
    return passed("push fields", f"{len(wanted)} Account fields present, of the right type, updateable")


def require_push_fields(client: CrmClient, settings: Settings) -> None:
    """The push's pre-flight: TerminalError with doctor's message when a pushed field is missing or read-only."""
    check = push_fields_check(client, settings)
    if not check.ok:
        raise TerminalError(
            f"push refused before sending anything: {check.detail}; fix: {check.fix}", code="INVALID_FIELD"
        )


def task_check(client: CrmClient, task_fields: Sequence[str]) -> Check:
    """Owner Tasks: Task createable, its key an external id, every field the pipeline sets createable."""
    described = client.describe("Task")
    if not described.get("createable", False):
        return failed("owner tasks", "Task is not createable for the integration user", PERMSET_FIX)
    wanted = [(f, TASK_KEY if f == TASK_KEY.name else None) for f in task_fields]
    problems = _problems(client, "Task", wanted, "createable")
    key = next((f for f in described.get("fields", []) if f["name"].lower() == TASK_KEY.name.lower()), None)
    if key is not None and not key.get("externalId", False):
        problems.append((TASK_KEY.qualified, "is not an external id (upserts need it)"))
    if problems:
        return failed("owner tasks", "; ".join(f"{f} {p}" for f, p in problems), _fix(problems))
    return passed(
        "owner tasks", f"Task createable; {len(task_fields)} fields createable, upsert key {TASK_KEY.name}"
    )


def nightly_cost(
    client: CrmClient, entries: Iterable[ObjectEntry], since: dict[str, datetime | None], settings: Settings
) -> tuple[int, dict[str, int]]:
    """(API requests a nightly run will spend, changed records per object): per object a describe, a COUNT(), its
    pages (REST) or job calls (Bulk 2.0) and getDeleted; then the push (Account and Task describes, Collections of
    200). An estimate: the push sends only accounts whose flag changed, here bounded by the accounts changed."""
    calls, changes = 0, {}
    for entry in entries:
        n = count_changes(client, entry, since.get(entry.name) or EPOCH_START)
        changes[entry.name] = n
        if n > settings.extract_bulk_threshold:
            pages = 3 + math.ceil(n / BULK_MAX_PAGE)  # create, poll, results pages
        else:
            pages = max(1, math.ceil(n / settings.extract_page_size))
        calls += 2 + pages + (1 if entry.tracks_hard_deletes else 0)
    pushed = changes.get("Account", 0)
    calls += 2 + 2 * math.ceil(pushed / 200) + 1  # describes, flags and tasks, the tasks' key lookup
    return calls, changes


def budget_check(
    client: CrmClient, entries: Sequence[ObjectEntry], since: dict[str, datetime | None], settings: Settings
) -> Check:
    """DailyApiRequests left against what a nightly run will cost (QuotaExceeded when none is left at all)."""
    daily = client.request("GET", "limits/").json().get("DailyApiRequests") or {}
    left, cap = int(daily.get("Remaining", 0)), int(daily.get("Max", 0))
    cost, changes = nightly_cost(client, entries, since, settings)
    detail = (
        f"{left} of {cap} daily API requests left; a nightly run needs about {cost} "
        f"({sum(changes.values())} changed records in {len(changes)} objects)"
    )
    run_cap = settings.api_call_budget
    if left < cost:
        return failed("API budget", detail, BUDGET_FIX)
    if run_cap is not None and run_cap < cost:
        return failed(
            "API budget",
            f"{detail}, but CRM_RISK_API_CALL_BUDGET={run_cap} stops it first",
            f"raise CRM_RISK_API_CALL_BUDGET to {cost} or more",
        )
    return passed("API budget", detail)


def budget_spent(exc: QuotaExceeded) -> Check:
    """The budget check when the org refused a call for lack of API requests."""
    return failed("API budget", f"no daily API requests left: the org answered {exc.code or exc}", BUDGET_FIX)


def events_check(settings: Settings, client: CrmClient, *, cdc: bool) -> Check:
    """The event path: the Change Data Capture channel subscribable (cdc), the receiver's secrets (when enabled).

    Which objects are selected for Change Data Capture is not readable over the APIs used here (Tooling API's
    PlatformEventChannelMember): the line says so."""
    notes = []
    if cdc:
        try:
            with pubsub_client(settings, client) as pubsub:
                topic = pubsub.topic(settings.listen_topic)
        except ConfigError as exc:
            return failed("change events", str(exc), "set CRM_RISK_SF_ORG_ID")
        except (TerminalError, TransientError) as exc:
            return failed(
                "change events",
                f"Pub/Sub API {settings.sf_pubsub_url}: {settings.listen_topic}: {exc}",
                "check CRM_RISK_SF_PUBSUB_URL and that Change Data Capture is enabled (Setup > Change Data "
                "Capture); the integration user needs View All Data or the objects' read access",
            )
        if not topic.can_subscribe:
            return failed(
                "change events",
                f"{settings.listen_topic}: the integration user may not subscribe",
                PERMSET_FIX,
            )
        notes.append(
            f"{settings.listen_topic} subscribable on {settings.sf_pubsub_url} (the objects selected in Setup > "
            "Change Data Capture are not checked: Account, Contact, Opportunity, Case, Task, Event)"
        )
    if settings.listen_receiver:
        if settings.listen_outbound_token is None and settings.listen_webhook_secret is None:
            return failed(
                "change events",
                "the receiver is on (CRM_RISK_LISTEN_RECEIVER) with neither an Outbound Message token nor a "
                "webhook secret: it would accept nothing",
                "set CRM_RISK_LISTEN_OUTBOUND_TOKEN (24+ URL-safe characters) or CRM_RISK_LISTEN_WEBHOOK_SECRET",
            )
        if (settings.listen_receiver_tls_cert is None) != (settings.listen_receiver_tls_key is None):
            return failed(
                "change events",
                "the receiver has a TLS certificate without its key (or a key without its certificate)",
                "set both CRM_RISK_LISTEN_RECEIVER_TLS_CERT and CRM_RISK_LISTEN_RECEIVER_TLS_KEY, or neither",
            )
        notes.append(f"receiver on {settings.listen_receiver_host}:{settings.listen_receiver_port}")
    if not notes:
        return skipped("change events", "the event path is not enabled")
    return passed("change events", "; ".join(notes))
