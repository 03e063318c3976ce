"""The CRM client: one hardened `requests.Session` under a simple-salesforce `Salesforce`, and the call wrapper.

The session: `trust_env=False` (REQUESTS_CA_BUNDLE must not override `verify`), `verify` = the CA bundle, a timeout on
every request, no transport retries, and a response hook that counts every API call (each retry included) and reads
`Sforce-Limit-Info: api-usage=USED/MAX` and `Retry-After`.
Every call goes through `CrmClient.call` / `CrmClient.request` / `CrmClient.fetch`, each attempt through the one
retry policy (retry.py): the run's call budget is checked, the session is renewed proactively after
`sf_session_refresh_seconds`, exceptions are translated once (errors.py), transient failures are retried within
`sf_max_retries`, and a 401 INVALID_SESSION_ID gets exactly one re-login and re-send (simple-salesforce's own retry
drops caller headers). Logins are POSTs: retried only when nothing was sent.
"""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce

from connectors.salesforce.auth import Token, can_relogin, login
from connectors.salesforce.errors import SessionExpired, error_from_response
from connectors.salesforce.retry import (
    IDEMPOTENT_METHODS,
    Budget,
    RetryPolicy,
    retry_after_seconds,
    transport_retry,
)
from crm_risk.config import Settings
from crm_risk.errors import ConnectorError, QuotaExceeded, TerminalError

__all__ = ["CrmClient", "build_session", "connect"]

log = logging.getLogger(__name__)
T = TypeVar("T")
_USAGE = re.compile(r"(?<![\w-])api-usage=(\d+)/(\d+)")  # not per-app-api-usage


class _TimeoutAdapter(HTTPAdapter):
    """An HTTPAdapter that puts a default timeout on every request and never retries by itself (retry.py does)."""

    def __init__(self, timeout: float, connections: int = 8) -> None:
        super().__init__(max_retries=transport_retry(), pool_connections=4, pool_maxsize=connections)
        self._timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Send with the default timeout unless the caller gave one."""
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


def build_session(settings: Settings) -> requests.Session:
    """A requests.Session with TLS verification and timeouts; it does not retry (CrmClient does, through retry.py)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(settings.sf_ca_bundle) if settings.sf_ca_bundle else True
    # a connection kept per thread that may call at once: objects extracted together, each with its result pages
    # fetched ahead (and one more for the page being read); fewer would open and drop TLS connections
    connections = max(8, settings.extract_object_concurrency * (settings.extract_bulk_concurrency + 1))
    adapter = _TimeoutAdapter(settings.sf_timeout_seconds, connections)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "crm-risk/0.1"
    return session


# the calls made in one context (an object's extract, its result-page threads started with a copy of it): see tally()
_TALLY: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("crm_risk_call_tally", default=None)


class CrmClient:
    """A logged-in Salesforce org: `sf` (simple-salesforce), `request()` for raw calls, API call accounting."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.retry = RetryPolicy.from_settings(settings)
        self.session = build_session(settings)
        self.session.hooks["response"].append(self._on_response)
        self._auth_session = build_session(settings)  # logins are not API calls: no counting hook
        self.api_calls = 0
        self._count_lock = threading.Lock()
        self.api_usage: tuple[int, int] | None = None
        self._server_clock: tuple[datetime, float] | None = (
            None  # (server Date, local monotonic) of the last answer
        )
        self.relogins = 0
        # the last answer's Retry-After, in seconds, per thread (objects and result pages are fetched from several)
        self._answers = threading.local()
        self._describes: dict[str, dict[str, Any]] = {}
        self._login_lock = (
            threading.Lock()
        )  # one new session at a time, whichever thread finds the old one stale
        self._token: Token = self._login()
        self.sf = self._build(self._token)

    # --- session -----------------------------------------------------------------------------------
    def _build(self, token: Token) -> Salesforce:
        return Salesforce(
            instance_url=token.instance_url,
            session_id=token.access_token,
            version=self.settings.sf_api_version,
            session=self.session,
        )

    def _login(self) -> Token:
        """One login (a POST: retried by the policy only when nothing was sent)."""
        return self.retry.run(
            f"login ({self.settings.sf_auth})",
            lambda: login(self.settings, self._auth_session),
            idempotent=False,
        )

    def relogin(self, stale: Token | None = None) -> None:
        """Get a new session (and instance URL) and rebuild the simple-salesforce client on it. `stale`: the
        session the caller found expired; when another thread has replaced it meanwhile, that one is used."""
        if not can_relogin(self.settings):
            raise TerminalError(
                "the given session expired and CRM_RISK_SF_AUTH=session cannot renew it; "
                "set a fresh CRM_RISK_SF_SESSION_ID or use an OAuth mode",
                code="INVALID_SESSION_ID",
            )
        with self._login_lock:
            if stale is not None and self._token is not stale:
                return
            self._token = self._login()
            self.sf = self._build(self._token)
            self.relogins += 1

    @contextlib.contextmanager
    def tally(self) -> Iterator[list[int]]:
        """Count the calls made in this context, and in threads run with a copy of it (`contextvars.copy_context`):
        `[n]`, for one object's extract while others run beside it on the same client."""
        counter = [0]
        token = _TALLY.set(counter)
        try:
            yield counter
        finally:
            _TALLY.reset(token)

    def server_now(self) -> datetime:
        """The org's current time as its last answer's `Date` header tells (whole seconds); local UTC before any call.

        Extract windows end at the org's time, not ours: a skewed local clock must not hide changes.
        """
        if self._server_clock is None:
            return datetime.now(UTC)
        stamp, seen = self._server_clock
        return stamp + timedelta(seconds=time.monotonic() - seen)

    def _before_call(self) -> None:
        budget = self.settings.api_call_budget
        if budget is not None and self.api_calls >= budget:
            raise QuotaExceeded(
                f"the run's API call budget is spent ({self.api_calls}/{budget} calls; "
                "CRM_RISK_API_CALL_BUDGET): stopping cleanly",
                code="RUN_BUDGET",
            )
        token = self._token
        age = time.monotonic() - token.issued_at
        if can_relogin(self.settings) and age > self.settings.sf_session_refresh_seconds:
            log.info("session is %.0f s old: refreshing proactively", age)
            self.relogin(stale=token)

    def _on_response(self, resp: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Response hook: count the call, note the server's clock, its Retry-After and the org's API usage."""
        with self._count_lock:  # objects and Bulk result pages are fetched from several threads
            self.api_calls += 1
            tally = _TALLY.get()
            if tally is not None:
                tally[0] += 1
        stamp = resp.headers.get("Date")
        answered: datetime | None = None
        if stamp:
            with contextlib.suppress(
                TypeError, ValueError
            ):  # a malformed Date header: keep the last good one
                answered = email.utils.parsedate_to_datetime(stamp).astimezone(UTC)
                self._server_clock = (answered, time.monotonic())
        # An HTTP-date Retry-After is read against the server's own clock: a skewed local clock must not stretch it.
        self._answers.retry_after = retry_after_seconds(resp.headers.get("Retry-After"), answered)
        match = _USAGE.search(resp.headers.get("Sforce-Limit-Info", ""))
        if match:
            used, limit = int(match.group(1)), int(match.group(2))
            self.api_usage = (used, limit)
            if limit and used >= 0.9 * limit and used % 100 == 0:
                log.warning("org API usage at %d/%d", used, limit)

    @property
    def instance_url(self) -> str:
        """The org's instance URL (changes only on re-login)."""
        return self._token.instance_url

    @property
    def access_token(self) -> str:
        """The current session's bearer token (for the Pub/Sub API's metadata; never log it)."""
        return self._token.access_token

    @property
    def base_url(self) -> str:
        """`https://<instance>/services/data/vXX.X/`."""
        return str(self.sf.base_url)

    # --- calls -------------------------------------------------------------------------------------
    def call(
        self,
        what: str,
        fn: Callable[[Salesforce], T],
        *,
        idempotent: bool = True,
        budget: Budget | None = None,
    ) -> T:
        """Run `fn(sf)` through the retry policy: budget check, error translation, bounded retries of transient
        failures (a non-idempotent one only when nothing was sent), one re-login + re-send on INVALID_SESSION_ID.

        `budget` lets a caller share one retry budget across several calls (a Collections chunk and its re-sends).
        """
        relogged = False
        used: Token | None = None  # the session the last attempt was sent with

        def before() -> None:
            nonlocal used
            self._before_call()
            used = self._token
            self._answers.retry_after = (
                None  # a network error has no answer: never reuse an older Retry-After
            )

        def recover(err: ConnectorError) -> bool:
            nonlocal relogged
            if not isinstance(err, SessionExpired) or relogged:
                return False
            log.info("%s: session expired; logging in again once", what)
            self.relogin(stale=used)  # another thread may have renewed it already
            relogged = True
            return True

        return self.retry.run(
            what,
            lambda: fn(self.sf),
            idempotent=idempotent,
            budget=budget,
            before=before,
            recover=recover,
            retry_after=lambda: getattr(self._answers, "retry_after", None),
        )

    def fetch(
        self,
        method: str,
        path: str,
        read: Callable[[requests.Response], T],
        *,
        ok: tuple[int, ...] = (200, 201, 202, 204),
        what: str | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
        budget: Budget | None = None,
        **kwargs: Any,
    ) -> T:
        """A raw call against `base_url + path` (or an absolute /services/... path) whose answer `read` consumes
        inside the retried unit, so a body cut off half-way (`stream=True`) is asked for again; raises on non-`ok`.

        `idempotent` defaults from the method (POST is not); say True for a POST that is safe to repeat.
        """
        label = what or f"{method} {path.split('?')[0]}"

        def send(sf: Salesforce) -> T:
            url = f"https://{sf.sf_instance}{path}" if path.startswith("/") else sf.base_url + path
            resp = self.session.request(
                method, url, headers={"Authorization": "Bearer " + sf.session_id, **(headers or {})}, **kwargs
            )
            with resp:
                if resp.status_code not in ok:
                    raise error_from_response(resp, label)
                return read(resp)

        if idempotent is None:
            idempotent = method.upper() in IDEMPOTENT_METHODS
        return self.call(label, send, idempotent=idempotent, budget=budget)

    def request(
        self,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...] = (200, 201, 202, 204),
        what: str | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
        budget: Budget | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """A raw call (see `fetch`) returning the response, its body already read."""
        return self.fetch(
            method,
            path,
            lambda resp: resp,
            ok=ok,
            what=what,
            headers=headers,
            idempotent=idempotent,
            budget=budget,
            **kwargs,
        )

    def describe(self, sobject: str) -> dict[str, Any]:
        """The object's describe (cached for the life of this client, i.e. one run)."""
        if sobject not in self._describes:
            self._describes[sobject] = self.call(
                f"describe {sobject}", lambda sf: getattr(sf, sobject).describe()
            )
        return self._describes[sobject]

    def query_pages(
        self, soql: str, *, include_deleted: bool = True, batch_size: int = 2000
    ) -> Iterator[dict[str, Any]]:
        """Each page (JSON: records, done, nextRecordsUrl, totalSize) of a REST query / queryAll."""
        headers = {"Sforce-Query-Options": f"batchSize={max(200, min(2000, batch_size))}"}
        page = self.call("query", lambda sf: sf.query(soql, include_deleted=include_deleted, headers=headers))
        yield page
        while not page.get("done", True):
            next_url = str(page["nextRecordsUrl"])

            def more(sf: Salesforce, url: str = next_url) -> Any:
                return sf.query_more(url, identifier_is_url=True, headers=headers)

            page = self.call("queryMore", more)
            yield page

    def close(self) -> None:
        """Close both HTTP sessions."""
        self.session.close()
        self._auth_session.close()

    def __enter__(self) -> CrmClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CrmClient(instance_url={self.instance_url!r}, auth={self.settings.sf_auth!r}, calls={self.api_calls})"


def connect(settings: Settings) -> CrmClient:
    """Log in with settings.sf_auth and return a ready client (ConfigError / TerminalError say what to fix)."""
    return CrmClient(settings)
