"""Settings: one object, read from `CRM_RISK_*` environment variables (or `.env`), resolved at run time.

Secrets are `SecretStr`: they print as `**********` in logs, reprs and artifacts.
A simulator's `connection.json` (`CRM_RISK_SF_CONNECTION_FILE`) fills every `sf_*` setting not given explicitly.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from crm_risk.errors import ConfigError
from crm_risk.fields import PUSH_FIELDS
from crm_risk.secrets import mask, register_settings

__all__ = [
    "SECRET_SETTINGS",
    "SIZE_PATTERN",
    "WINDOW_PATTERN",
    "AuthMode",
    "Settings",
    "load_settings",
    "refuse_secret_parameters",
    "settings_from_parameters",
]

# a DuckDB size ('1GB', '512MB'): checked here for the setting and by the warehouse before it is formatted into SQL
# a backfill window's length: a whole number of days, hours or minutes ('7d', '12h', '30m')
WINDOW_PATTERN = r"^\s*[1-9]\d*\s*[dhm]\s*$"
SIZE_PATTERN = r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|b|kb|mb|gb|tb)\s*$"

AuthMode = Literal["client_credentials", "jwt", "refresh_token", "password", "soap", "session"]


class Settings(BaseSettings):
    """Every knob of the pipeline. Environment variable = `CRM_RISK_` + the upper-cased name."""

    model_config = SettingsConfigDict(env_prefix="CRM_RISK_", env_file=".env", extra="ignore")

    # --- warehouse -------------------------------------------------------------------------------
    warehouse_path: str = Field("warehouse.duckdb", description="DuckDB file (or connection string)")
    landing_dir: str = Field(
        "landing",
        description="where extracts land as Parquet before loading: a folder, or an fsspec URL such as "
        "s3://bucket/prefix (needs s3fs: the `s3` extra), file:///path, memory://name",
    )
    landing_endpoint_url: str | None = Field(
        None,
        description="an S3-compatible endpoint for an s3:// landing area (MinIO, Ceph...); unset: AWS_ENDPOINT_URL "
        "or AWS itself",
    )
    landing_key_id: str | None = Field(
        None,
        description="access key id of an s3:// landing area; unset: AWS_ACCESS_KEY_ID, ~/.aws, the instance role",
    )
    landing_secret_key: SecretStr | None = Field(
        None, description="secret access key of an s3:// landing area; unset: AWS_SECRET_ACCESS_KEY, ~/.aws"
    )
    warehouse_lock_wait_seconds: float = Field(
        600.0,
        ge=0,
        description="how long a run waits for another process holding the warehouse read-write (one writer)",
    )
    landing_keep_runs: int = Field(
        10, ge=1, description="landing files of this many recent runs are kept; older runs' are deleted"
    )
    warehouse_memory_limit: str | None = Field(
        None,
        pattern=SIZE_PATTERN,
        description="DuckDB's memory cap for the warehouse file (e.g. 1GB, 512MB); past it DuckDB spills to disk. "
        "Unset: what is left of CRM_RISK_MEMORY_BUDGET when the warehouse opens",
    )
    # 800MB (was 1GB): the 50,000-account run peaks at 758 MB, as the 10,000-account one does, not 934 MB; its
    # transform takes ~1 s longer with DuckDB at 256MB instead of ~420MB (docs/scale-out.md). 1GB: the faster one
    memory_budget: str = Field(
        "800MB",
        pattern=SIZE_PATTERN,
        description="the peak memory a run aims at: DuckDB is given what the process does not already hold "
        "(at least 256MB, at most 512MB), so a big org spills to disk instead of growing the process",
    )

    # --- Salesforce connection -------------------------------------------------------------------
    sf_connection_file: Path | None = Field(
        None, description="a simulator's connection.json: fills the sf_* settings"
    )
    sf_auth: AuthMode = "client_credentials"
    sf_login_url: str = Field(
        "https://login.salesforce.com", description="token host: My Domain, sandbox or simulator"
    )
    sf_instance_url: str | None = Field(
        None, description="needed for auth=session; learned from the token otherwise"
    )
    sf_api_version: str = "62.0"
    sf_client_id: str | None = None
    sf_client_secret: SecretStr | None = None
    sf_username: str | None = None
    sf_password: SecretStr | None = None
    sf_security_token: SecretStr | None = None
    sf_private_key_file: Path | None = Field(None, description="PEM key for auth=jwt")
    sf_refresh_token: SecretStr | None = None
    sf_session_id: SecretStr | None = None
    sf_ca_bundle: Path | None = Field(None, description="CA bundle to verify the CRM's TLS certificate")
    sf_token_store: Path | None = Field(None, description="where a rotated refresh token is persisted")
    sf_timeout_seconds: float = 60.0
    sf_max_retries: int = Field(
        8,
        ge=0,
        description="retries of one failed call (connectors/salesforce/retry.py): a call costs at most 1 + this; "
        "8 rides out about 45-90 s of a busy server (503s) at the default backoff",
    )
    sf_retry_backoff_seconds: float = Field(
        0.5, ge=0, description="first retry's wait; doubles per retry, jittered"
    )
    sf_retry_backoff_max_seconds: float = Field(
        30.0, ge=0, description="cap on any one retry wait, a Retry-After header included"
    )
    sf_session_refresh_seconds: int = Field(
        3600, description="refresh the session proactively after this long"
    )

    # --- extract ---------------------------------------------------------------------------------
    extract_objects: Annotated[list[str] | None, NoDecode] = Field(
        None, description="limit the run to these objects (default: registry): Case,Task or a JSON list"
    )
    extract_lookback_seconds: int = 600
    extract_safety_seconds: int = 0
    extract_bulk_threshold: int = Field(
        2000, description="objects with more changed records than this use Bulk 2.0"
    )
    extract_page_size: int = 2000
    extract_chunk_rows: int = Field(50_000, description="rows per landing Parquet file")
    extract_bulk_concurrency: int = Field(
        3,
        ge=1,
        le=16,
        description="Bulk 2.0 result pages of one job downloaded at once (1: one after another)",
    )
    extract_object_concurrency: int = Field(
        3,
        ge=1,
        le=16,
        description="objects extracted at the same time, each its own COUNT(), query (a Bulk 2.0 job or REST pages) "
        "and getDeleted (1: one after another)",
    )
    api_call_budget: int | None = Field(None, description="stop the run cleanly after this many API calls")

    # --- backfill (docs/backfill.md) ----------------------------------------------------------------
    backfill_window: str = Field(
        "7d",
        pattern=WINDOW_PATTERN,
        description="a backfill's [since, until) is cut into windows this long ('7d', '12h', '30m'), each extracted "
        "as its own task and recorded once loaded (a rerun skips it)",
    )
    backfill_concurrency: int = Field(
        4, ge=1, le=64, description="windows extracted at the same time (the loads stay one at a time)"
    )
    dask_address: str = Field(
        "",
        description="a Dask scheduler (tcp://host:8786) to run a backfill's window extracts on (needs the 'dask' "
        "extra; the workers must see the landing area); empty: threads in the flow's process",
    )

    # --- push ------------------------------------------------------------------------------------
    push_enabled: bool = True
    push_bulk_threshold: int = 2000
    push_reject_threshold: float = Field(
        0.05, ge=0, le=1, description="fail the run above this rejected share"
    )
    push_rejected_retry_hours: float = Field(
        6.0,
        ge=0,
        description="an Account update the CRM rejected is sent again, unchanged, after this long (e.g. a "
        "validation rule since fixed); at once when its value or the Account changes",
    )
    push_rejected_max_attempts: int = Field(
        3, ge=1, description="sends of the same rejected value by the retry interval, the first included"
    )
    push_fields: dict[str, str] = Field(
        default_factory=lambda: dict(PUSH_FIELDS),
        description="pipeline value -> Account field it is written to (default: the package's, crm_risk/fields.py)",
    )

    # --- account refresh (the event path) ------------------------------------------------------------
    refresh_settle_seconds: float = Field(
        6.0,
        ge=0,
        description="an account refresh reads change events this long after its window closed: the Prefect "
        "server stores events in batches (PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL, 5 s by default)",
    )
    refresh_window_seconds: float | None = Field(
        None,
        gt=0,
        description="`crm-risk serve`: account-refresh's window instead of prefect.yaml's (the trigger's `within` and "
        "the run's window_seconds, kept equal)",
    )
    refresh_poll_seconds: float = Field(
        0.2, gt=0, description="how often an account refresh asks the Prefect API for new change events"
    )

    # --- data-quality gate (None: the gate's default, see expectations.model.GateSettings) -----------
    dq_enabled: bool = Field(
        True, description="validate every extract and the push payload (Great Expectations)"
    )
    dq_chunk_rows: int | None = Field(
        None, description="rows validated at once (bounds memory); default 100000"
    )
    dq_sql_min_rows: int | None = Field(
        None,
        description="extracts of at least this many rows are validated by DuckDB (same rules, no Data Docs); "
        "default 50000",
    )
    dq_max_row_drop: float | None = Field(
        None, description="full snapshots: critical above this drop; default 0.5"
    )
    dq_max_empty_ref_share: float | None = Field(
        None, description="critical when more of a batch lacks a required reference; default 0.5"
    )
    dq_min_rows_for_share: int | None = Field(
        None, description="share checks need this many rows; default 20"
    )
    dq_docs_keep_runs: int = Field(
        30, ge=1, description="Data Docs keep the validation results of this many runs"
    )

    # --- change events (crm-risk listen) ------------------------------------------------------------
    sf_pubsub_url: str = Field(
        "api.pubsub.salesforce.com:7443", description="the Pub/Sub API's gRPC endpoint (host:port, TLS)"
    )
    sf_org_id: str | None = Field(
        None, description="the org (tenant) id for the Pub/Sub API; learned from the login when not set"
    )
    listen_topic: str = Field(
        "/data/ChangeEvents", description="the Change Data Capture channel the listener subscribes to"
    )
    listen_start: Literal["LATEST", "EARLIEST"] = Field(
        "LATEST", description="where a listener with no stored replay id starts"
    )
    listen_batch: int = Field(500, ge=1, le=10_000, description="events requested at a time (flow control)")
    listen_replay_file: Path | None = Field(
        None,
        description="where the last handled replay id is kept; default <warehouse dir>/listener-replay.json",
    )
    listen_receiver: bool = Field(
        False, description="also serve the push receiver (Outbound Messages, signed webhooks) beside CDC"
    )
    listen_receiver_host: str = Field("127.0.0.1", description="address the receiver binds (0.0.0.0: all)")
    listen_receiver_port: int = Field(
        8088, ge=0, le=65535, description="the receiver's port (0: any free one)"
    )
    listen_outbound_token: SecretStr | None = Field(
        None, description="secret path part of POST /salesforce/outbound/<token> (24+ URL-safe characters)"
    )
    listen_webhook_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key of POST /webhook's X-CRM-Signature (24+ characters)"
    )
    listen_receiver_max_bytes: int = Field(
        1_048_576, ge=1024, description="largest request body accepted (413 above, before reading it)"
    )
    listen_receiver_tls_cert: Path | None = Field(None, description="PEM certificate chain: serve HTTPS")
    listen_receiver_tls_key: Path | None = Field(None, description="PEM private key of that certificate")
    listen_receiver_seen_file: Path | None = Field(
        None,
        description="ids acknowledged in the last 24 h (dropped when re-sent); default <warehouse dir>/receiver-seen.json",
    )

    # --- schedule --------------------------------------------------------------------------------
    schedule_timezone: str = "UTC"

    def state_file(self, configured: Path | None, name: str) -> Path:
        """A small state file of the event path: `configured` when set, else `name` beside the warehouse file (the
        current folder for a warehouse that is not a local file)."""
        if configured:
            return Path(configured)
        target = str(self.warehouse_path)
        local = "://" not in target and target != ":memory:" and not target.startswith("md:")
        return (Path(target).parent if local else Path(".")) / name

    @field_validator("extract_objects", mode="before")
    @classmethod
    def _objects_list(cls, value: Any) -> Any:
        """`Case,Task`, `Case Task` or a JSON list: a list of names either way."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [p for p in text.replace(",", " ").split() if p] or None
        return value

    @model_validator(mode="before")
    @classmethod
    def _fill_from_connection_file(cls, data: Any) -> Any:
        path = data.get("sf_connection_file") if isinstance(data, dict) else None
        if not path:
            return data
        try:
            conn = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"sf_connection_file {path}: cannot read it ({exc})") from exc
        mapping = {
            "sf_login_url": conn.get("login_url") or conn.get("instance_url"),
            "sf_instance_url": conn.get("instance_url"),
            "sf_api_version": conn.get("api_version"),
            "sf_client_id": conn.get("client_id"),
            "sf_client_secret": conn.get("client_secret"),
            "sf_username": conn.get("username"),
            "sf_password": conn.get("password"),
            "sf_security_token": conn.get("security_token"),
            "sf_refresh_token": conn.get("refresh_token"),
            "sf_ca_bundle": conn.get("ca_bundle"),
            "sf_private_key_file": conn.get("private_key_file"),
            "sf_session_id": conn.get("access_token"),
            "sf_pubsub_url": conn.get("pubsub_url"),
            "sf_org_id": conn.get("organization_id"),
        }
        return {**{k: v for k, v in mapping.items() if v is not None}, **data}


def unknown_variables(environ: dict[str, str] | None = None) -> list[str]:
    """One line per CRM_RISK_ variable that names no setting (a typo is otherwise silently ignored), with the
    closest known name."""
    env = os.environ if environ is None else environ
    known = {f"CRM_RISK_{name.upper()}" for name in Settings.model_fields}
    lines = []
    for var in sorted(v for v in env if v.startswith("CRM_RISK_") and v not in known):
        close = difflib.get_close_matches(var, known, n=1, cutoff=0.6)
        lines.append(f"{var} is not a setting" + (f": did you mean {close[0]}?" if close else " (ignored)"))
    return lines


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in get_args(annotation)


# the settings that are secrets, by type (SecretStr), not by name
SECRET_SETTINGS = frozenset(name for name, f in Settings.model_fields.items() if _is_secret(f.annotation))


def refuse_secret_parameters(
    parameters: Mapping[str, Any] | None, where: str = "the flow parameter `settings`"
) -> None:
    """ConfigError when `parameters` carries a secret setting: Prefect stores flow parameters in clear (its
    database, the UI, events), so a secret must come from the environment, a .env or connection file, or a Prefect
    Secret block."""
    secret = sorted(k for k in parameters or {} if k in SECRET_SETTINGS)
    if secret:
        raise ConfigError(
            f"{where} carries {', '.join(secret)}: Prefect stores flow parameters in clear (database, UI, events). "
            f"Set CRM_RISK_{secret[0].upper()} in the environment of the process that runs the flow (or in .env, or "
            "the connection file CRM_RISK_SF_CONNECTION_FILE names) and leave it out of the parameters"
        )


def settings_from_parameters(parameters: Mapping[str, Any] | None) -> Settings:
    """The settings of a flow run: the environment, overridden by the flow's `settings` parameter (never a secret)."""
    refuse_secret_parameters(parameters)
    return load_settings(**(parameters or {}))


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; a bad value raises ConfigError naming the variable and how to fix it."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "settings"
            secret = any(w in name for w in ("secret", "password", "token", "session"))
            # a whole-model error's input is every setting, secrets included: never echo it
            shown = "***" if secret or not err["loc"] else mask(f"{err.get('input')!r:.60}")
            lines.append(f"CRM_RISK_{name.upper()}: {err['msg']} (got {shown})")
        joined = lines[0] if len(lines) == 1 else "\n  " + "\n  ".join(lines)
        raise ConfigError(f"invalid configuration: {joined}") from None
    register_settings(settings)
    return settings
