"""The simulator: a Salesforce-compatible HTTPS server over a persistent synthetic org.

`Simulator(state_dir, ...)` is a context manager. On start it opens (or generates) the org in the state dir,
issues a TLS certificate from a CA kept in the state dir (`ca.pem` is the bundle clients verify against), serves
REST, Bulk 2.0, OAuth and SOAP login on 127.0.0.1, serves the Pub/Sub API (gRPC, Change Data Capture) with the
same certificate on another port (simulator.server.pubsub), and writes `connection.json` (contracts §1.3). Every
API request passes the dispatcher (simulator.server.dispatch): route -> faults -> session -> daily API budget ->
handler -> `Sforce-Limit-Info`; handlers see an `ApiContext` (simulator.api.context), not this object.

Wire coverage (salesforce-wire.md). Served: REST query/queryAll with relative `nextRecordsUrl` cursors, record
CRUD, upsert and GET by external id (201/200/300), getUpdated/getDeleted, limits, global and sObject describe,
Collections create/update/upsert/retrieve/delete, Bulk 2.0 query and ingest jobs, OAuth token grants
(client_credentials, password, refresh_token with optional rotation, JWT bearer), SOAP partner `login`, session
TTL, a daily API budget, faults, outbound messages, field-level security of the integration user
(`hidden_fields` / `read_only_fields`, `sim.field_access` at run time: simulator.org.schema.access); API versions 20.0-66.0; the Pub/Sub API's GetTopic, GetSchema
and Subscribe over Change Data Capture events of every committed write (simulator.api.pubsub). Knowingly left
out: Pub/Sub Publish/PublishStream/ManagedSubscribe, platform events, Bulk API 1.0
(`/services/async`), SOSL search, composite/batch/tree/graph, SOAP calls other than `login`, Tooling/Metadata/
Apex REST, `If-Modified-Since` on describe, multipart ingest job creation, Bulk 2.0 query CSV with delimiters
other than COMMA/LF, true transactional `allOrNone` (rollback by compensation: stamps and history rows of the
undone writes stay), job persistence across restarts (jobs and query cursors live in memory).
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections import Counter
from datetime import timedelta
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

import trustme

from simulator.api.auth import Auth
from simulator.api.bulk1.registry import Bulk1Jobs
from simulator.api.bulk2 import ingest
from simulator.api.bulk2.registry import Bulk2Jobs
from simulator.api.context import ApiContext
from simulator.api.cursors import Cursors
from simulator.api.http import Request, Response, Route
from simulator.api.usage import Usage
from simulator.generator import generate
from simulator.generator.business import advance
from simulator.org.changes import DEFAULT_RETENTION
from simulator.org.clock import Clock
from simulator.org.ids import make_id
from simulator.org.schema import FieldAccess
from simulator.org.store import Org
from simulator.server.dispatch import Dispatcher
from simulator.server.faults import FaultPlan
from simulator.server.httpd import SimHTTPServer
from simulator.server.outbound import Outbound
from simulator.server.pubsub import PubSubServer
from simulator.server.routes import build_routes

__all__ = ["Simulator"]

log = logging.getLogger(__name__)
DEFAULT_API_VERSION = "62.0"


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
        pubsub_port: int = 0,
        keepalive_seconds: float = 270.0,
        retention_hours: float = DEFAULT_RETENTION.total_seconds() / 3600,
        hidden_fields: tuple[str, ...] = (),
        read_only_fields: tuple[str, ...] = (),
    ) -> None:
        self.state_dir = Path(state_dir)
        # the integration user's field-level security (`Object.Field`s; PACKAGE_FIELDS: an org without the package)
        self.field_access = FieldAccess(hidden_fields, read_only_fields)
        self.port = port
        self.pubsub_port = pubsub_port
        self.keepalive_seconds = keepalive_seconds
        self.retention_hours = retention_hours
        self.accounts = accounts
        self.seed = seed
        self.outbound_url = outbound_url
        self.session_ttl_seconds = session_ttl_seconds
        self.api_version = api_version
        self.rotate_refresh_token = rotate_refresh_token
        self.faults = FaultPlan(seed=seed)
        if faults:
            self.faults.add(faults)
        self.dirty = dirty or self.faults.dirty
        self.usage = Usage(api_budget)
        self.url = ""
        self.pubsub_url = ""  # 127.0.0.1:PORT of the Pub/Sub API (gRPC), once started
        self.connection: dict[str, Any] = {}
        self.ca_file = self.state_dir / "ca.pem"
        self.cursors = Cursors()
        self.bulk2 = Bulk2Jobs()
        self.bulk1 = Bulk1Jobs()
        self.outbound: Outbound | None = None
        self.org: Org | None = None
        self.auth: Auth
        self.ctx: ApiContext | None = None  # what handlers see; built once the port and the org are known
        self.routes: list[Route] = build_routes()
        self._dispatcher: Dispatcher | None = None
        self._closed = False
        self._httpd: SimHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._leaf: trustme.LeafCert | None = None
        self.pubsub: PubSubServer | None = None

    # --- API usage (shared with the handlers through `usage`) ---------------------------------------------
    @property
    def calls(self) -> Counter[str]:
        """API calls per endpoint name (the route names of simulator.server.routes)."""
        return self.usage.calls

    @property
    def api_used(self) -> int:
        """API requests spent today."""
        return self.usage.used

    @api_used.setter
    def api_used(self, value: int) -> None:
        self.usage.used = value

    @property
    def api_budget(self) -> int:
        """The daily API request budget (403 REQUEST_LIMIT_EXCEEDED past it)."""
        return self.usage.budget

    @api_budget.setter
    def api_budget(self, value: int) -> None:
        self.usage.budget = value

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
        org = self._open_org()
        self._httpd = SimHTTPServer(self.port, context, self.dispatch, org.clock.now)
        self.port = self._httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.ctx = ApiContext(
            org=org,
            auth=self.auth,
            faults=self.faults,
            usage=self.usage,
            cursors=self.cursors,
            bulk2=self.bulk2,
            bulk1=self.bulk1,
            instance_url=self.url,
            advance=self.advance_days,
        )
        self._dispatcher = Dispatcher(self.routes, self.faults, self.ctx)
        self.bulk2.start(partial(ingest.process, self.ctx))
        org.listen(self._on_change)
        org.changes.retention = timedelta(hours=self.retention_hours)
        org.changes.faults = self.faults
        org.changes.purge()
        self._start_pubsub(self.ctx)
        self.set_outbound(self.outbound_url)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._write_connection()

    def _start_pubsub(self, ctx: ApiContext) -> None:
        leaf = self._leaf
        assert leaf is not None  # issued by _tls_context
        self.pubsub = PubSubServer(
            ctx,
            cert_chain_pem=b"".join(pem.bytes() for pem in leaf.cert_chain_pems),
            private_key_pem=leaf.private_key_pem.bytes(),
            port=self.pubsub_port,
            keepalive_seconds=self.keepalive_seconds,
        ).start()
        self.pubsub_port = self.pubsub.port
        self.pubsub_url = self.pubsub.address

    def stop(self) -> None:
        """Stop serving, close live connections, stop the workers, close the org."""
        if self.pubsub is not None:
            self.pubsub.stop()
            self.pubsub = None
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
        self._leaf = ca.issue_cert("127.0.0.1", "localhost")  # the Pub/Sub API serves the same certificate
        self._leaf.configure_cert(context)
        return context

    def _open_org(self) -> Org:
        clock = Clock(self.state_dir)
        creds_file = self.state_dir / "credentials.json"
        user_id = json.loads(creds_file.read_text()).get("user_id") if creds_file.exists() else None
        self.org = org = Org(self.state_dir, clock, integration_user_id=user_id)
        org.access = self.field_access
        if org.is_empty():
            t0 = time.monotonic()
            gen = generate(self.accounts, self.seed, clock.today(), dirty=self.dirty)
            org.load(gen.data)
            user_id = org.integration_user_id = gen.integration_user_id
            (self.state_dir / "ground_truth.json").write_text(
                json.dumps(gen.ground_truth, indent=1, default=str)
            )
            log.info("generated an org of %d accounts in %.1fs", self.accounts, time.monotonic() - t0)
        if not user_id:
            user_id = org.query("SELECT Id FROM User ORDER BY CreatedDate LIMIT 1").records(0, 1)[0]["Id"]
        username = org.get("User", user_id, ["Username"]).get("Username") or "integration@crm-risk.sim"
        self.auth = Auth(
            self.state_dir,
            organization_id=make_id("Organization", 1),
            ttl_seconds=self.session_ttl_seconds,
            rotate_refresh=self.rotate_refresh_token,
        )
        self.auth.bind_user(user_id, username)
        self.auth.on_change = self._write_connection
        return org

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
            "pubsub_url": self.pubsub_url,
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
        """Move the org forward `days` days of business (simulator.generator.business)."""
        org = self._context().org
        return advance(org, days, self.seed + int(org.clock.offset.total_seconds()))

    def set_outbound(self, url: str | None) -> None:
        """Send outbound messages to `url` from now on (None stops sending)."""
        if self.outbound is not None:
            self.outbound.stop()
            self.outbound = None
        self.outbound_url = url
        if url and self.ctx is not None:  # before start: remembered, started with the server
            self.outbound = Outbound(
                url,
                self.ctx.org,
                ca_file=self.ca_file,
                instance_url=self.url,
                organization_id=self.auth.creds["organization_id"],
                api_version=self.api_version,
            )
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

    # --- requests -------------------------------------------------------------------------------------
    def dispatch(self, req: Request) -> tuple[Response, bool]:
        """Serve one request; returns the response and whether to drop the connection mid-body."""
        if self._dispatcher is None:
            raise RuntimeError("the simulator is not started")
        return self._dispatcher(req)

    def _context(self) -> ApiContext:
        if self.ctx is None:
            raise RuntimeError("the simulator is not started")
        return self.ctx
