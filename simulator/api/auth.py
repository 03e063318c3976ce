"""Auth of the simulated org: credentials, sessions and the OAuth 2.0 grants (the endpoints are in `oauth`).

Grants: `client_credentials` (Basic header or form), `password` (password, or password + security token),
`refresh_token` (rotation off by default; when on, each refresh returns a new token and the old one stops working)
and JWT bearer (RS256, verified against the certificate in the state dir; `iss` = client id, `sub` = username,
`aud` = the login URL or login/test.salesforce.com). Failures answer the way Salesforce does: 400
`invalid_grant` / `invalid_client_id` / `invalid_client`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from simulator.api.http import HttpError

__all__ = ["LOGIN_AUDIENCES", "Auth", "oauth_error"]

LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


def oauth_error(code: str, description: str) -> HttpError:
    """An OAuth failure as Salesforce answers it: 400 `{"error", "error_description"}`."""
    return HttpError(400, {"error": code, "error_description": description})


def _write_jwt_keypair(key_file: Path, cert_file: Path) -> None:
    """An RSA key and a self-signed certificate: the connected app's JWT signing pair."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crm-risk simulator JWT")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


class Auth:
    """Credentials (persisted in DIR/credentials.json) and live sessions (in memory, with a TTL)."""

    def __init__(
        self, state_dir: Path, *, organization_id: str, ttl_seconds: int, rotate_refresh: bool
    ) -> None:
        self.state_dir = state_dir
        self.ttl_seconds = ttl_seconds
        self.rotate_refresh = rotate_refresh
        self.key_file = state_dir / "jwt_private_key.pem"
        self.cert_file = state_dir / "jwt_certificate.pem"
        self._path = state_dir / "credentials.json"
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[str, float]] = {}
        self.on_change: Callable[[], None] | None = None  # called after a refresh-token rotation
        self.creds: dict[str, Any] = json.loads(self._path.read_text()) if self._path.exists() else {}
        self.creds.setdefault("organization_id", organization_id)
        self.creds.setdefault(
            "client_id", "3MVG9" + secrets.token_urlsafe(60).replace("-", "A").replace("_", "z")
        )
        self.creds.setdefault("client_secret", secrets.token_hex(32).upper())
        self.creds.setdefault("password", "Sim-" + secrets.token_urlsafe(12))
        self.creds.setdefault("security_token", secrets.token_hex(12))
        self.creds.setdefault("refresh_token", self._new_token("5Aep861"))
        self.creds.setdefault("access_token", self._new_token(self.creds["organization_id"][:15] + "!AQ"))
        if not (self.key_file.exists() and self.cert_file.exists()):
            _write_jwt_keypair(self.key_file, self.cert_file)
        cert = x509.load_pem_x509_certificate(self.cert_file.read_bytes())
        self._jwt_key: Any = cert.public_key()

    @staticmethod
    def _new_token(prefix: str) -> str:
        return prefix + secrets.token_urlsafe(72).replace("-", ".").replace("_", "0")

    def bind_user(self, user_id: str, username: str) -> None:
        """Set the integration user (from the org) and persist the credentials; the stored session is revived."""
        self.creds["user_id"] = user_id
        self.creds["username"] = username
        self.save()
        with self._lock:
            self._sessions[self.creds["access_token"]] = (user_id, time.monotonic())

    def save(self) -> None:
        """Persist the credentials (the same ones serve every restart)."""
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.creds, indent=2))
        tmp.replace(self._path)

    # --- sessions ---------------------------------------------------------------------------------
    def issue(self) -> str:
        """A new session (access token) for the integration user."""
        token = self._new_token(self.creds["organization_id"][:15] + "!AQ")
        with self._lock:
            self._sessions[token] = (self.creds["user_id"], time.monotonic())
        return token

    def user_for(self, token: str | None) -> str | None:
        """The user of a live session, or None when unknown or expired (expired sessions are forgotten)."""
        if not token:
            return None
        with self._lock:
            entry = self._sessions.get(token)
            if entry is None:
                return None
            if time.monotonic() - entry[1] > self.ttl_seconds:
                del self._sessions[token]
                return None
            return entry[0]

    def revoke(self, token: str | None) -> None:
        """End a session (the `expire` fault, logout)."""
        with self._lock:
            self._sessions.pop(token or "", None)

    def expire_all(self) -> None:
        """End every session (tests of the re-login path)."""
        with self._lock:
            self._sessions.clear()

    # --- OAuth ---------------------------------------------------------------------------------------
    def _check_client(self, client_id: str | None, secret: str | None, need_secret: bool = True) -> None:
        if client_id != self.creds["client_id"]:
            raise oauth_error("invalid_client_id", "client identifier invalid")
        if (need_secret or secret is not None) and secret != self.creds["client_secret"]:
            raise oauth_error("invalid_client", "invalid client credentials")

    def grant(self, form: dict[str, str], basic: tuple[str, str] | None, instance_url: str) -> dict[str, Any]:
        """Run one token request; returns the token JSON or raises HttpError (400, OAuth error body)."""
        grant_type = form.get("grant_type", "")
        client_id, secret = basic or (form.get("client_id"), form.get("client_secret"))
        extra: dict[str, Any] = {}
        if grant_type == "client_credentials":
            self._check_client(client_id, secret)
        elif grant_type == "password":
            self._check_client(client_id, secret)
            pw = form.get("password", "")
            good = (self.creds["password"], self.creds["password"] + self.creds["security_token"])
            if form.get("username") != self.creds["username"] or pw not in good:
                raise oauth_error("invalid_grant", "authentication failure")
        elif grant_type == "refresh_token":
            self._check_client(client_id, secret, need_secret=False)
            with self._lock:
                if form.get("refresh_token") != self.creds["refresh_token"]:
                    raise oauth_error("invalid_grant", "expired access/refresh token")
                if self.rotate_refresh:
                    self.creds["refresh_token"] = self._new_token("5Aep861")
                    extra["refresh_token"] = self.creds["refresh_token"]
            if extra:
                self.save()
                if self.on_change:
                    self.on_change()
        elif grant_type == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            self._check_jwt(form.get("assertion", ""), instance_url)
        else:
            raise oauth_error("unsupported_grant_type", "grant type not supported")
        return self.token_body(instance_url, self.issue(), extra)

    def _check_jwt(self, assertion: str, instance_url: str) -> None:
        try:
            claims = jwt.decode(
                assertion,
                self._jwt_key,
                algorithms=["RS256"],
                audience=[instance_url, *LOGIN_AUDIENCES],
                options={"require": ["exp", "iss", "sub", "aud"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise oauth_error("invalid_grant", "expired authorization code") from None
        except jwt.InvalidAudienceError:
            raise oauth_error("invalid_grant", "audience is invalid") from None
        except jwt.PyJWTError:
            raise oauth_error("invalid_grant", "invalid assertion") from None
        if claims.get("iss") != self.creds["client_id"]:
            raise oauth_error("invalid_client_id", "client identifier invalid")
        if claims.get("sub") != self.creds["username"]:
            raise oauth_error("invalid_grant", "user hasn't approved this consumer")

    def token_body(
        self, instance_url: str, access_token: str, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The token JSON Salesforce answers (instance_url without trailing slash)."""
        issued_at = str(int(time.time() * 1000))
        ident = f"{instance_url}/id/{self.creds['organization_id']}/{self.creds['user_id']}"
        sig = hmac.new(
            self.creds["client_secret"].encode(), (ident + issued_at).encode(), hashlib.sha256
        ).digest()
        return {
            "access_token": access_token,
            **(extra or {}),
            "signature": base64.b64encode(sig).decode(),
            "scope": "api refresh_token",
            "instance_url": instance_url.rstrip("/"),
            "id": ident,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }

    def soap_ok(self, username: str, password: str) -> bool:
        """SOAP login accepts the password with the security token appended (or alone, as from a trusted IP)."""
        good = (self.creds["password"] + self.creds["security_token"], self.creds["password"])
        return username == self.creds["username"] and password in good
