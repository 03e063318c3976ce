"""Log in to Salesforce: the six auth modes, done with `requests` against the configured login host.

simple-salesforce only logs in against `https://{domain}.salesforce.com`, so the exchange happens here, against
`settings.sf_login_url` (production, sandbox, My Domain or the simulator), and simple-salesforce only ever sees the
resulting `instance_url` + `session_id`. Modes: client_credentials, jwt (RS256 bearer), refresh_token (a rotated
token is persisted at once, mode 0600, refreshes serialised by a file lock), password (OAuth password grant),
soap (partner `login()`), session (a given instance_url + session id; cannot be renewed).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jwt
import requests

from connectors.salesforce.errors import translate
from crm_risk.config import Settings
from crm_risk.errors import ConfigError, TerminalError, TransientError
from crm_risk.secrets import mask, register_secret

__all__ = ["Token", "can_relogin", "jwt_audience", "login", "read_token_store", "write_token_store"]

log = logging.getLogger(__name__)
_REFRESH_LOCK = threading.Lock()
_LATEST: dict[tuple[str, str], str] = {}  # rotated refresh tokens of this process, by (login url, client id)

# Which settings each mode needs, and which to check when the login is refused.
_NEEDS: dict[str, tuple[str, ...]] = {
    "client_credentials": ("sf_client_id", "sf_client_secret"),
    "jwt": ("sf_client_id", "sf_username", "sf_private_key_file"),
    "refresh_token": ("sf_client_id",),
    "password": ("sf_client_id", "sf_client_secret", "sf_username", "sf_password"),
    "soap": ("sf_username", "sf_password"),
    "session": ("sf_instance_url", "sf_session_id"),
}


@dataclass(frozen=True)
class Token:
    """A session: where the org lives and the bearer token for it (never shown in reprs)."""

    instance_url: str
    access_token: str = field(repr=False)
    mode: str = ""
    issued_at: float = field(default_factory=time.monotonic)


def _secret(value: Any) -> str | None:
    """The plain value of a SecretStr / str / None."""
    if value is None:
        return None
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)


def _env(name: str) -> str:
    return "CRM_RISK_" + name.upper()


def _check(settings: Settings, mode: str) -> None:
    """ConfigError naming every setting the mode needs but lacks."""
    missing = [_env(n) for n in _NEEDS[mode] if not _secret(getattr(settings, n, None))]
    if mode == "refresh_token" and not (_secret(settings.sf_refresh_token) or read_token_store(settings)):
        missing.append(_env("sf_refresh_token") + " (or a token in " + _env("sf_token_store") + ")")
    if missing:
        raise ConfigError(f"CRM_RISK_SF_AUTH={mode} needs {', '.join(missing)}")


def can_relogin(settings: Settings) -> bool:
    """Whether the mode can get a new session by itself (every mode but a given session)."""
    return settings.sf_auth != "session"


def _refused(mode: str, status: int, body: str) -> TerminalError:
    hint = ", ".join(_env(n) for n in (*_NEEDS[mode], "sf_login_url"))
    return TerminalError(
        mask(f"Salesforce login (CRM_RISK_SF_AUTH={mode}) refused: HTTP {status} {body[:300]}; check {hint}"),
        status=status,
        code="AUTH_REFUSED",
    )


def _post(
    session: requests.Session, url: str, mode: str, *, soap: bool = False, **kwargs: Any
) -> requests.Response:
    """POST to a login endpoint; network errors and 5xx are transient (a SOAP fault is a 500: the caller reads it)."""
    try:
        resp = session.post(url, **kwargs)
    except Exception as exc:  # translated in one place
        raise translate(exc, f"login ({mode}) POST {url}") from None
    if resp.status_code >= 500 and not (soap and b"Fault" in resp.content[:2000]):
        raise TransientError(f"login ({mode}) POST {url}: HTTP {resp.status_code}", status=resp.status_code)
    return resp


def _oauth(session: requests.Session, settings: Settings, mode: str, form: dict[str, str]) -> dict[str, Any]:
    """Run one OAuth token request and return its JSON (access_token, instance_url[, refresh_token])."""
    url = settings.sf_login_url.rstrip("/") + "/services/oauth2/token"
    resp = _post(session, url, mode, data=form, headers={"Accept": "application/json"})
    try:
        body = resp.json()
    except ValueError:
        body = {"error": resp.text[:200]}
    if resp.status_code != 200 or "access_token" not in body:
        detail = f"{body.get('error', '')}: {body.get('error_description', '')}"
        raise _refused(mode, resp.status_code, detail)
    if not body.get("instance_url"):
        raise _refused(mode, resp.status_code, "token response without instance_url")
    register_secret(body["access_token"])
    return body


def _jwt_assertion(settings: Settings) -> str:
    """An RS256 JWT: iss=client id, sub=username, aud=login URL, valid 3 minutes."""
    key_file = Path(str(settings.sf_private_key_file))
    try:
        key = key_file.read_text()
    except OSError as exc:
        raise ConfigError(
            f"CRM_RISK_SF_PRIVATE_KEY_FILE={key_file}: cannot read it ({exc.strerror})"
        ) from None
    claims = {
        "iss": settings.sf_client_id,
        "sub": settings.sf_username,
        "aud": jwt_audience(settings.sf_login_url),
        "exp": int(time.time()) + 180,
    }
    return jwt.encode(claims, key, algorithm="RS256")


def jwt_audience(login_url: str) -> str:
    """The JWT `aud`: Salesforce wants login/test.salesforce.com even when the token goes to a My Domain host."""
    host = (urlparse(login_url).hostname or "").lower()
    if host.endswith(".salesforce.com"):
        sandbox = host.startswith("test.") or ".sandbox." in host
        return "https://test.salesforce.com" if sandbox else "https://login.salesforce.com"
    return login_url.rstrip("/")  # a custom host (the simulator, an Experience Cloud site): itself


def read_token_store(settings: Settings) -> str | None:
    """The refresh token persisted in settings.sf_token_store, if any."""
    path = settings.sf_token_store
    if not path or not Path(path).exists():
        return None
    try:
        token = json.loads(Path(path).read_text()).get("refresh_token")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"CRM_RISK_SF_TOKEN_STORE={path}: unreadable ({type(exc).__name__})") from None
    register_secret(token)
    return token


def write_token_store(path: Path, refresh_token: str) -> None:
    """Persist a (rotated) refresh token atomically, readable by the owner only (0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"refresh_token": refresh_token, "saved_at": int(time.time())}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@contextlib.contextmanager
def _store_lock(settings: Settings) -> Iterator[None]:
    """Serialise refresh-token exchanges across threads and processes (a rotated token is single-use)."""
    with _REFRESH_LOCK:
        if not settings.sf_token_store:
            yield
            return
        lock_path = Path(str(settings.sf_token_store) + ".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _refresh_token_login(session: requests.Session, settings: Settings) -> dict[str, Any]:
    with _store_lock(settings):
        key = (settings.sf_login_url, str(settings.sf_client_id))
        current = read_token_store(settings) or _LATEST.get(key) or _secret(settings.sf_refresh_token) or ""
        form = {
            "grant_type": "refresh_token",
            "client_id": str(settings.sf_client_id),
            "refresh_token": current,
        }
        if _secret(settings.sf_client_secret):
            form["client_secret"] = _secret(settings.sf_client_secret) or ""
        body = _oauth(session, settings, "refresh_token", form)
        rotated = body.get("refresh_token")
        if rotated and rotated != current:
            register_secret(rotated)
            if settings.sf_token_store:
                write_token_store(Path(settings.sf_token_store), rotated)
                log.info("refresh token rotated; persisted to %s", settings.sf_token_store)
            else:
                log.warning(
                    "refresh token rotated but CRM_RISK_SF_TOKEN_STORE is not set: the next run will "
                    "fail with the old token; set it to persist rotated tokens"
                )
            _LATEST[key] = (
                rotated  # settings stay immutable; the store (or this cache) is the source of truth
            )
        return body


def _soap_login(session: requests.Session, settings: Settings) -> dict[str, Any]:
    """Partner SOAP login(): username + password + security token."""
    url = f"{settings.sf_login_url.rstrip('/')}/services/Soap/u/{settings.sf_api_version}"
    password = (_secret(settings.sf_password) or "") + (_secret(settings.sf_security_token) or "")
    envelope = (
        '<?xml version="1.0" encoding="utf-8" ?>'
        '<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:partner.soap.sforce.com">'
        '<env:Body><n1:login xmlns:n1="urn:partner.soap.sforce.com">'
        f"<n1:username>{escape(str(settings.sf_username))}</n1:username>"
        f"<n1:password>{escape(password)}</n1:password>"
        "</n1:login></env:Body></env:Envelope>"
    )
    headers = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "login"}
    resp = _post(session, url, "soap", soap=True, data=envelope.encode(), headers=headers)
    try:
        root = ET.fromstring(resp.content)
    except ET.ParseError:
        raise _refused("soap", resp.status_code, "response is not XML") from None
    found = {el.tag.rsplit("}", 1)[-1]: (el.text or "").strip() for el in root.iter()}
    if found.get("exceptionCode") in ("SERVER_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"):
        raise TransientError(f"login (soap): {found['exceptionCode']}", status=resp.status_code)
    if resp.status_code != 200 or not found.get("sessionId"):
        detail = f"{found.get('exceptionCode', '')} {found.get('faultstring') or found.get('exceptionMessage', '')}"
        raise _refused("soap", resp.status_code, detail)
    server = urlparse(found.get("serverUrl", ""))
    register_secret(found["sessionId"])
    return {"access_token": found["sessionId"], "instance_url": f"{server.scheme}://{server.netloc}"}


def login(settings: Settings, session: requests.Session) -> Token:
    """Get a session for settings.sf_auth; ConfigError if settings are missing, TerminalError if refused."""
    mode = settings.sf_auth
    _check(settings, mode)
    for name in ("sf_client_secret", "sf_password", "sf_security_token", "sf_refresh_token", "sf_session_id"):
        register_secret(_secret(getattr(settings, name, None)))
    if mode == "session":
        body = {"access_token": _secret(settings.sf_session_id), "instance_url": settings.sf_instance_url}
    elif mode == "client_credentials":
        body = _oauth(
            session,
            settings,
            mode,
            {
                "grant_type": "client_credentials",
                "client_id": str(settings.sf_client_id),
                "client_secret": _secret(settings.sf_client_secret) or "",
            },
        )
    elif mode == "jwt":
        body = _oauth(
            session,
            settings,
            mode,
            {
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": _jwt_assertion(settings),
            },
        )
    elif mode == "refresh_token":
        body = _refresh_token_login(session, settings)
    elif mode == "password":
        password = (_secret(settings.sf_password) or "") + (_secret(settings.sf_security_token) or "")
        body = _oauth(
            session,
            settings,
            mode,
            {
                "grant_type": "password",
                "client_id": str(settings.sf_client_id),
                "client_secret": _secret(settings.sf_client_secret) or "",
                "username": str(settings.sf_username),
                "password": password,
            },
        )
    elif mode == "soap":
        body = _soap_login(session, settings)
    else:  # pragma: no cover - Settings validates the literal
        raise ConfigError(f"CRM_RISK_SF_AUTH={mode}: unknown mode")
    instance_url = str(body["instance_url"]).rstrip("/")
    log.info("logged in to %s (auth=%s)", instance_url, mode)
    return Token(instance_url=instance_url, access_token=str(body["access_token"]), mode=mode)
