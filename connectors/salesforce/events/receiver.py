"""The HTTP(S) receiver: changes pushed by the CRM (Outbound Messages, signed webhooks) handed over as ChangeEvents.

    with Receiver(settings, on_events, SeenIds(path)) as receiver:
        ...                       # serves on receiver.url until the block ends

Endpoints: `POST /salesforce/outbound/<token>` (a Salesforce Outbound Message; answered `<Ack>true</Ack>`),
`POST /webhook` (JSON signed with `X-CRM-Signature`), `GET /health` (counts). A notification is acknowledged only
after `on_events` returned, so a failure (503) makes the sender retry; ids acknowledged before (SeenIds) are
dropped, and a delivery whose notifications were all seen is acknowledged without calling `on_events`: one
emission per notification. Deliveries are handed over one at a time (a lock), which is what makes that exact.

The request body is read only once its route, token and size are accepted: `Content-Length` is required (411) and
bounded (413); every error is one JSON line, never a stack trace; the path's token and the secrets are never logged.
"""

from __future__ import annotations

import hmac
import logging
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from email.message import Message
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from connectors.salesforce.events.decode import ChangeEvent
from connectors.salesforce.events.httpd import Answer, PushServer, json_line
from connectors.salesforce.events.inbound import (
    ACK,
    SIGNATURE_TOLERANCE_SECONDS,
    Pushed,
    Refused,
    parse_outbound,
    parse_webhook,
    verify_signature,
)
from connectors.salesforce.events.seen import SeenIds
from crm_risk.config import Settings
from crm_risk.errors import ConfigError

__all__ = ["OUTBOUND_PATH", "WEBHOOK_PATH", "Receiver"]

log = logging.getLogger(__name__)

OUTBOUND_PATH = "/salesforce/outbound/"
WEBHOOK_PATH = "/webhook"
_SECRET_MIN = 24
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9._~-]+$")
_ORG_ID = re.compile(r"^00D[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$")
_LENGTH = re.compile(
    r"^\s*[0-9]{1,15}\s*$"
)  # ASCII digits only: str.isdigit() admits "²", which int() refuses
_MASK = re.compile(re.escape(OUTBOUND_PATH) + r"[^\s?\"]*")


def _refusal(exc: Refused) -> Answer:
    return Answer(exc.status, json_line({"error": exc.answered, "message": exc.message}))


class Receiver:
    """Serves the push endpoints on `listen_receiver_host:listen_receiver_port` (TLS when a cert and key are set)."""

    def __init__(
        self, settings: Settings, on_events: Callable[[list[ChangeEvent]], None], seen: SeenIds
    ) -> None:
        # an empty variable (`CRM_RISK_LISTEN_WEBHOOK_SECRET=` in .env) means "not set", not a secret of length 0
        token = settings.listen_outbound_token.get_secret_value() if settings.listen_outbound_token else ""
        secret = settings.listen_webhook_secret.get_secret_value() if settings.listen_webhook_secret else ""
        if not token and not secret:
            raise ConfigError(
                "CRM_RISK_LISTEN_RECEIVER is on but neither CRM_RISK_LISTEN_OUTBOUND_TOKEN nor "
                "CRM_RISK_LISTEN_WEBHOOK_SECRET is set: set one (or both) to a long random string, e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        self._token = token.encode() if token else None
        self._secret = secret or None
        if self._token is not None and (
            len(self._token) < _SECRET_MIN or not _TOKEN_CHARS.match(self._token.decode())
        ):
            raise ConfigError(
                f"CRM_RISK_LISTEN_OUTBOUND_TOKEN must be at least {_SECRET_MIN} characters of A-Z a-z 0-9 . _ ~ - "
                "(it is the secret part of the Outbound Message endpoint URL)"
            )
        if self._secret is not None and len(self._secret) < _SECRET_MIN:
            raise ConfigError(f"CRM_RISK_LISTEN_WEBHOOK_SECRET must be at least {_SECRET_MIN} characters")
        self._org_id = settings.sf_org_id or ""
        if self._token is not None and not _ORG_ID.match(self._org_id):
            raise ConfigError(
                "CRM_RISK_SF_ORG_ID must be the org id (15 or 18 characters starting 00D) when "
                "CRM_RISK_LISTEN_OUTBOUND_TOKEN is set: Outbound Messages from any other org are refused"
            )
        self._tls = self._tls_context(settings)
        self.host, self.port = settings.listen_receiver_host, settings.listen_receiver_port
        self.max_bytes = settings.listen_receiver_max_bytes
        self._on_events, self.seen = on_events, seen
        self._deliver_lock = threading.Lock()  # one delivery at a time: duplicate check, hand-over, remember
        self._count_lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._refused: Counter[str] = Counter()
        self._signatures: dict[str, float] = {}  # accepted webhook signature -> when it is stale anyway
        self._server: PushServer | None = None
        self._thread: threading.Thread | None = None

    @staticmethod
    def _tls_context(settings: Settings) -> ssl.SSLContext | None:
        cert, key = settings.listen_receiver_tls_cert, settings.listen_receiver_tls_key
        if cert is None and key is None:
            return None
        if cert is None or key is None:
            raise ConfigError(
                "CRM_RISK_LISTEN_RECEIVER_TLS_CERT and CRM_RISK_LISTEN_RECEIVER_TLS_KEY go together: set both"
            )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"CRM_RISK_LISTEN_RECEIVER_TLS_CERT / _TLS_KEY ({cert}, {key}): cannot load them ({exc})"
            ) from None
        return context

    # --- lifecycle ------------------------------------------------------------------------------------------
    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Receiver:
        """Bind and serve from a background thread; returns self (`port` is the bound one)."""
        self._server = PushServer((self.host, self.port), self, self._tls)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="receiver", daemon=True
        )
        self._thread.start()
        log.info("receiver serving %s (outbound: %s, webhook: %s)", self.url, *self._enabled())
        return self

    def stop(self) -> None:
        """Stop accepting, wait for the requests in flight, close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()  # joins the request threads
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        log.info("receiver stopped: %s", self.health())

    @property
    def url(self) -> str:
        """The base URL the receiver serves on."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self._tls else 'http'}://{host}:{self.port}"

    def _enabled(self) -> tuple[str, str]:
        return ("on" if self._token else "off", "on" if self._secret else "off")

    def health(self) -> dict[str, Any]:
        """Counts since start: requests, notifications received / emitted / duplicate, refusals by reason."""
        with self._count_lock:
            return {
                "status": "ok",
                "requests": self._counts["requests"],
                "received": self._counts["received"],
                "emitted": self._counts["emitted"],
                "duplicates": self._counts["duplicates"],
                "replayed": self._counts["replayed"],
                "refused": dict(sorted(self._refused.items())),
            }

    def _count(self, **n: int) -> None:
        with self._count_lock:
            self._counts.update(n)

    def note_refused(self, reason: str) -> None:
        """Count one refused request (shown by /health)."""
        with self._count_lock:
            self._refused[reason] += 1

    # --- requests -------------------------------------------------------------------------------------------
    def respond(self, method: str, path: str, headers: Message, read: Callable[[int], bytes]) -> Answer:
        """The answer to one request; `read(n)` reads the body, called only once the request passed its checks."""
        self._count(requests=1)
        route = urlsplit(path).path
        try:
            if route == "/health" and method == "GET":
                return Answer(200, json_line(self.health()))
            if route.startswith(OUTBOUND_PATH) and self._token is not None and method == "POST":
                given = route[len(OUTBOUND_PATH) :].encode()
                if not hmac.compare_digest(given, self._token):  # answered as an unknown path would be
                    raise Refused(404, "bad_token", "no such path", answered="not_found")
                pushed = parse_outbound(self._body(headers, read), self._org_id)
                self._deliver("outbound", pushed)
                return Answer(200, ACK, "text/xml; charset=utf-8")
            if route == WEBHOOK_PATH and self._secret is not None:
                if method != "POST":
                    raise Refused(405, "method_not_allowed", "POST only")
                return self._webhook(headers, self._body(headers, read))
            raise Refused(404, "not_found", "no such path")
        except Refused as exc:
            self.note_refused(exc.reason)
            log.warning(
                "receiver refused a %s request: %d %s (%s)", method, exc.status, exc.reason, exc.message
            )
            return _refusal(exc)
        except Exception:  # a bug of ours: logged with its trace here, one line to the caller
            log.exception("receiver: unexpected error on a %s request", method)
            return _refusal(Refused(500, "internal_error", "internal error"))

    def redact(self, text: str) -> str:
        """`text` with the Outbound Message token of any path in it masked."""
        return _MASK.sub(OUTBOUND_PATH + "***", text)

    def body_acceptable(self, headers: Message) -> bool:
        """Whether a body announced by these headers would be read (for `Expect: 100-continue`)."""
        length = headers.get("Content-Length") or ""
        return (
            not headers.get("Transfer-Encoding")
            and bool(_LENGTH.match(length))
            and int(length) <= self.max_bytes
        )

    def _body(self, headers: Message, read: Callable[[int], bytes]) -> bytes:
        if headers.get("Transfer-Encoding"):
            raise Refused(411, "length_required", "send a Content-Length; chunked bodies are not accepted")
        lengths = headers.get_all("Content-Length") or []
        if not lengths:
            raise Refused(411, "length_required", "Content-Length is required")
        if len(lengths) > 1 or not _LENGTH.match(lengths[0]):
            raise Refused(400, "bad_request", "Content-Length must be one number")
        length = int(lengths[0])
        if length > self.max_bytes:
            raise Refused(413, "too_large", f"body over {self.max_bytes} bytes")
        try:
            body = read(length)
        except TimeoutError:
            raise Refused(408, "timeout", "the body did not arrive in time") from None
        if len(body) != length:
            raise Refused(400, "bad_request", "the body is shorter than its Content-Length")
        return body

    def _webhook(self, headers: Message, body: bytes) -> Answer:
        assert self._secret is not None
        now = time.time()
        sig = verify_signature(headers.get("X-CRM-Signature"), body, self._secret, now)
        with self._deliver_lock:
            self._signatures = {s: until for s, until in self._signatures.items() if until > now}
            if sig in self._signatures:
                self._count(replayed=1)
                log.info("receiver: webhook request replayed (same signature): nothing emitted")
                return Answer(
                    200, json_line({"received": 0, "emitted": 0, "duplicates": 0, "replayed": True})
                )
        pushed = parse_webhook(body)
        emitted = self._deliver("webhook", pushed)
        with self._deliver_lock:
            self._signatures[sig] = now + 2 * SIGNATURE_TOLERANCE_SECONDS
        answer = {"received": len(pushed), "emitted": emitted, "duplicates": len(pushed) - emitted}
        return Answer(200, json_line(answer))

    def _deliver(self, source: str, pushed: list[Pushed]) -> int:
        """Hand over the notifications not seen before, then remember them; returns how many were handed over."""
        with self._deliver_lock:
            fresh: dict[str, Pushed] = {}
            for item in pushed:
                if item.key not in self.seen and item.key not in fresh:
                    fresh[item.key] = item
            self._count(received=len(pushed), duplicates=len(pushed) - len(fresh))
            if fresh:
                try:
                    self._on_events([item.event for item in fresh.values()])
                except Exception:
                    log.exception("receiver: handing over %d %s notification(s) failed", len(fresh), source)
                    raise Refused(
                        503, "unavailable", "the change could not be handed over; retry later"
                    ) from None
                self._count(emitted=len(fresh))
                try:
                    self.seen.add(fresh.keys())  # remembered in memory even when the file cannot be written
                except OSError:
                    log.exception(
                        "receiver: could not write %s; after a restart these %d notification(s) would be emitted "
                        "again if re-sent (with the same event ids)",
                        self.seen.path,
                        len(fresh),
                    )
        log.info(
            "receiver: %s: %d received, %d emitted, %d duplicate(s)",
            source,
            len(pushed),
            len(fresh),
            len(pushed) - len(fresh),
        )
        return len(fresh)
