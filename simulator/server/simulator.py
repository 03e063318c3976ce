"""The simulator: a Salesforce-compatible HTTPS server over a persistent synthetic org.

`Simulator(state_dir, ...)` is a context manager. On start it opens (or generates) the org in the state dir,
issues a TLS certificate from a CA kept in the state dir (`ca.pem` is the bundle clients verify against), serves
REST, Bulk 2.0, OAuth and SOAP login on 127.0.0.1, and writes `connection.json` (contracts §1.3). Every API
request passes `dispatch`: route -> faults -> session -> daily API budget -> handler -> `Sforce-Limit-Info`.

Wire coverage (salesforce-wire.md). Served: REST query/queryAll with relative `nextRecordsUrl` cursors, record
CRUD, upsert and GET by external id (201/200/300), getUpdated/getDeleted, limits, global and sObject describe,
Collections create/update/upsert/retrieve/delete, Bulk 2.0 query and ingest jobs, OAuth token grants
(client_credentials, password, refresh_token with optional rotation, JWT bearer), SOAP partner `login`, session
TTL, a daily API budget, faults, outbound messages; API versions 20.0-66.0. Knowingly left out: Bulk API 1.0
(`/services/async`), SOSL search, composite/batch/tree/graph, SOAP calls other than `login`, Tooling/Metadata/
Apex REST, `If-Modified-Since` on describe, multipart ingest job creation, Bulk 2.0 query CSV with delimiters
other than COMMA/LF, true transactional `allOrNone` (rollback by compensation: stamps and history rows of the
undone writes stay), job persistence across restarts (jobs and query cursors live in memory).
"""

from __future__ import annotations

import inspect
import json
import logging
import ssl
import threading
import time
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

import trustme

from simulator.api.auth import Auth, session_error
from simulator.api.bulk2 import Bulk2
from simulator.api.http import HttpError, Request, Response, Route, SimHTTPServer, error
from simulator.api.rest import MAX_VERSION, MIN_VERSION, Cursors
from simulator.org.clock import Clock
from simulator.org.ids import make_id
from simulator.server.faults import FaultPlan
from simulator.server.outbound import Outbound
from simulator.server.routes import build_routes

__all__ = ["Simulator"]

log = logging.getLogger(__name__)
DEFAULT_API_VERSION = "62.0"
REQUEST_FAULTS = {"503", "500", "403", "timeout", "expire", "slow", "drop"}


class Simulator:
    """A Salesforce-compatible HTTPS server on 127.0.0.1 over the org in `state_dir`."""

    def __init__(
        self,
        state_dir: Path | str,
        *,
        port: int = 0,
        accounts: int = 2000,
        seed: int = 42,
        faults: str | None = None,
        outbound_url: str | None = None,
        api_budget: int = 1_000_000,
        session_ttl_seconds: int = 7200,
        dirty: bool = False,
        api_version: str = DEFAULT_API_VERSION,
        rotate_refresh_token: bool = False,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.port = port
        self.accounts = accounts
        self.seed = seed
        self.outbound_url = outbound_url
        self.api_budget = api_budget
        self.session_ttl_seconds = session_ttl_seconds
        self.api_version = api_version
        self.rotate_refresh_token = rotate_refresh_token
        self.faults = FaultPlan(seed=seed)
        if faults:
            self.faults.add(faults)
        self.dirty = dirty or self.faults.dirty
        self.calls: Counter[str] = Counter()
        self.api_used = 0
        self.url = ""
        self.connection: dict[str, Any] = {}
        self.ca_file = self.state_dir / "ca.pem"
        self.cursors = Cursors()
        self.bulk2 = Bulk2(self)
        self.outbound: Outbound | None = None
        self.org: Any = None
        self.auth: Auth
        self.routes: list[Route] = build_routes()
        self._lock = threading.Lock()
        self._usage_day: object = None
        self._closed = False
        self._httpd: SimHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------------
    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Simulator:
        """Open or generate the org, start serving, write connection.json; returns self."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        log.info("simulator serving %s (state %s)", self.url, self.state_dir)
        return self

    def _start(self) -> None:
        context = self._tls_context()
        self._open_org()
        self._httpd = SimHTTPServer(self.port, context, self)
        self.port = self._httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.bulk2.start()
        self.org.listen(self._on_change)
        self.set_outbound(self.outbound_url)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._write_connection()

    def stop(self) -> None:
        """Stop serving, close live connections, stop the workers, close the org."""
        if self._httpd is not None:
            if self._thread is not None:  # shutdown() waits for serve_forever: only when it runs
                self._httpd.shutdown()
            self._httpd.close_connections()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.bulk2.stop()
        if self.outbound is not None:
            self.outbound.stop()
            self.outbound = None
        if self.org is not None and not self._closed:
            self._closed = True
            self.org.close()

    def _tls_context(self) -> ssl.SSLContext:
        key_file = self.state_dir / "ca_key.pem"
        if self.ca_file.exists() and key_file.exists():
            ca = trustme.CA.from_pem(self.ca_file.read_bytes(), key_file.read_bytes())
        else:
            ca = trustme.CA(organization_name="crm-risk simulator")
            key_file.write_bytes(ca.private_key_pem.bytes())
            self.ca_file.write_bytes(ca.cert_pem.bytes())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        return context

    def _open_org(self) -> None:
        from simulator.org.store import Org

        clock = Clock(self.state_dir)
        creds_file = self.state_dir / "credentials.json"
        user_id = json.loads(creds_file.read_text()).get("user_id") if creds_file.exists() else None
        self.org = Org(self.state_dir, clock, integration_user_id=user_id)
        if self.org.is_empty():
            from simulator.generator import generate

            kwargs: dict[str, Any] = {}
            if "dirty" in inspect.signature(generate).parameters:
                kwargs["dirty"] = self.dirty
            elif self.dirty:
                log.warning("the generator has no dirty-data switch yet: generating a clean org")  # TODO
            t0 = time.monotonic()
            gen = generate(self.accounts, self.seed, clock.today(), **kwargs)
            self.org.load(gen.data)
            user_id = gen.integration_user_id
            if hasattr(self.org, "integration_user_id"):
                self.org.integration_user_id = user_id
            (self.state_dir / "ground_truth.json").write_text(
                json.dumps(gen.ground_truth, indent=1, default=str)
            )
            log.info("generated an org of %d accounts in %.1fs", self.accounts, time.monotonic() - t0)
        if not user_id:
            user_id = self.org.query("SELECT Id FROM User ORDER BY CreatedDate LIMIT 1").records(0, 1)[0][
                "Id"
            ]
        username = self.org.get("User", user_id, ["Username"]).get("Username") or "integration@crm-risk.sim"
        self.auth = Auth(
            self.state_dir,
            organization_id=make_id("Organization", 1),
            ttl_seconds=self.session_ttl_seconds,
            rotate_refresh=self.rotate_refresh_token,
        )
        self.auth.bind_user(user_id, username)
        self.auth.on_change = self._write_connection

    def _write_connection(self) -> None:
        creds = self.auth.creds
        self.connection = {
            "instance_url": self.url,
            "login_url": self.url,
            "api_version": self.api_version,
            "access_token": creds["access_token"],
            "token_url": f"{self.url}/services/oauth2/token",
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
            "username": creds["username"],
            "password": creds["password"],
            "security_token": creds["security_token"],
            "refresh_token": creds["refresh_token"],
            "organization_id": creds["organization_id"],
            "user_id": creds["user_id"],
            "ca_bundle": str(self.ca_file.resolve()),
            "private_key_file": str(self.auth.key_file.resolve()),
            "certificate_file": str(self.auth.cert_file.resolve()),
        }
        path = self.state_dir / "connection.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.connection, indent=2))
        tmp.replace(path)

    # --- run-time controls ----------------------------------------------------------------------------
    def advance_days(self, days: int) -> dict[str, int]:
        """Move the org forward `days` days of business (simulator.generator.business), or just its clock."""
        try:
            from simulator.generator.business import advance
        except ImportError:
            self.org.clock.advance(days)
            return {}
        return advance(self.org, days, self.seed + int(self.org.clock.offset.total_seconds()))

    def set_outbound(self, url: str | None) -> None:
        """Send outbound messages to `url` from now on (None stops sending)."""
        if self.outbound is not None:
            self.outbound.stop()
            self.outbound = None
        self.outbound_url = url
        if url:
            self.outbound = Outbound(self, url)
            self.outbound.start()

    def _on_change(self, sobject: str, record_id: str, kind: str) -> None:
        outbound = self.outbound
        if outbound is not None:
            outbound.on_change(sobject, record_id, kind)

    def expire_sessions(self) -> None:
        """End every live session (clients must log in again)."""
        self.auth.expire_all()

    def refresh_credentials(self) -> None:
        """Rewrite connection.json (e.g. after a rotated refresh token)."""
        self._write_connection()

    # --- request pipeline -------------------------------------------------------------------------------
    def _match(self, req: Request) -> Route | None:
        allowed = []
        for r in self.routes:
            m = r.pattern.match(req.path)
            if m is None:
                continue
            if r.method == req.method:
                req.groups = {k: v for k, v in m.groupdict().items() if v is not None}
                req.route = r
                return r
            allowed.append(r.method)
        if allowed:
            raise error(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{req.method}' not allowed. Allowed are {','.join(sorted(set(allowed)))}",
            )
        return None

    def _charge(self) -> None:
        with self._lock:
            today = self.org.clock.today()
            if today != self._usage_day:
                self._usage_day, self.api_used = today, 0
            if self.api_used >= self.api_budget:
                raise error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self.api_used += 1

    def dispatch(self, req: Request) -> tuple[Response, bool]:
        """Serve one request; returns the response and whether to drop the connection mid-body."""
        drop = False
        route: Route | None = None
        try:
            route = self._match(req)
            if route is None:
                raise error(404, "NOT_FOUND", "The requested resource does not exist")
            with self._lock:
                self.calls[route.name] += 1
            version = req.groups.get("version")
            if version and not MIN_VERSION <= float(version) <= MAX_VERSION:
                raise error(404, "NOT_FOUND", "The requested resource does not exist")
            fired = self.faults.check(route.name, req.path, REQUEST_FAULTS) if route.kind != "open" else []
            for f in fired:
                if f.kind == "slow":
                    time.sleep(f.delay)
                drop = drop or f.kind == "drop"
            if route.kind in ("rest", "admin"):
                token = self._token(req)
                if any(f.kind == "expire" for f in fired):
                    self.auth.revoke(token)
                req.user_id = self.auth.user_for(token)
                if req.user_id is None:
                    raise session_error()
                if route.kind == "rest":
                    self._charge()
            for f in fired:
                self._raise_fault(f.kind)
            resp = route.handler(self, req)
        except HttpError as exc:
            resp = exc.response()
        except Exception as exc:
            resp = self._exception_response(exc)
        if (route is not None and route.kind == "rest") or req.path.startswith("/services/data/v"):
            resp.headers.insert(0, ("Sforce-Limit-Info", f"api-usage={self.api_used}/{self.api_budget}"))
        return resp, drop

    @staticmethod
    def _token(req: Request) -> str | None:
        header = req.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("bearer", "oauth") and value.strip():
            return value.strip()
        return req.headers.get("X-SFDC-Session")

    @staticmethod
    def _raise_fault(kind: str) -> None:
        if kind == "503":
            raise error(503, "SERVER_UNAVAILABLE", "Server too busy")
        if kind == "500":
            raise error(
                500,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this ErrorId if "
                f"you contact support: {int(time.time() * 1000)}-4242 (-1)",
            )
        if kind == "403":
            raise error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if kind == "timeout":
            raise error(400, "QUERY_TIMEOUT", "Your query request was running for too long.")

    @staticmethod
    def _exception_response(exc: Exception) -> Response:
        code = getattr(exc, "error_code", None)
        if code is None:
            log.exception("simulator handler failed")
            return error(
                500,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this ErrorId "
                "if you contact support: sim-internal",
            ).response()
        status = int(getattr(exc, "status", 400))
        fields = getattr(exc, "fields", None)
        return error(
            status, code, getattr(exc, "message", str(exc)), list(fields) if fields is not None else None
        ).response()
