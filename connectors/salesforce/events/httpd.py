"""The receiver's HTTP(S) mechanics: threads, the TLS handshake, body reads on request, one answer, then close.

What to answer is the `Responder`'s business (connectors.salesforce.events.receiver); this module only moves bytes:
it reads a body only when the responder asks for it, answers every request with `Connection: close`, turns protocol
errors (a bad request line, oversized headers) into the same one-line JSON answers, and logs through `redact`.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

__all__ = ["Answer", "PushServer", "Responder", "json_line"]

log = logging.getLogger(__name__)

_DRAIN_BYTES = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, body, content type."""

    status: int
    body: bytes
    content_type: str = "application/json"


def json_line(data: dict[str, Any]) -> bytes:
    """`data` as one compact JSON line."""
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


class Responder(Protocol):
    """What the server asks of the receiver."""

    def respond(self, method: str, path: str, headers: Message, read: Callable[[int], bytes]) -> Answer:
        """The answer to one request; `read(n)` reads n bytes of its body."""
        ...

    def body_acceptable(self, headers: Message) -> bool:
        """Whether a body announced by these headers would be read (for `Expect: 100-continue`)."""
        ...

    def note_refused(self, reason: str) -> None:
        """Count one refused request."""
        ...

    def redact(self, text: str) -> str:
        """`text` with anything secret (a token in a path) masked, for the access log."""
        ...


class _Handler(BaseHTTPRequestHandler):
    """Moves bytes between the socket and the responder: TLS handshake, body reads, one answer, close."""

    protocol_version = "HTTP/1.1"
    server_version = "crm-risk-receiver"
    sys_version = ""
    timeout = 10  # seconds a client may take for the TLS handshake, headers or body
    server: PushServer

    def setup(self) -> None:
        """Finish the TLS handshake in this connection's thread, not the accept loop."""
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()

    def handle_expect_100(self) -> bool:
        """Send `100 Continue` only for a body that would be read; otherwise the refusal comes straight away."""
        if self.server.responder.body_acceptable(self.headers):
            return super().handle_expect_100()
        return True

    def _serve(self) -> None:
        self._body_read = False
        answer = self.server.responder.respond(self.command, self.path, self.headers, self._read)
        self._answer(answer)
        if not self._body_read:
            self._drain()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def _read(self, n: int) -> bytes:
        self._body_read = True
        return self.rfile.read(n)

    def _answer(self, answer: Answer) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)
        self.wfile.flush()
        self.close_connection = True

    def _drain(self) -> None:
        """Drop a little of an unread body before closing: closing on unread data resets the connection, and a
        client still sending would lose our answer (a bounded 'lingering close'; the body is never looked at)."""
        try:
            self.connection.settimeout(0.5)
            left = _DRAIN_BYTES
            while left > 0:
                chunk = self.rfile.read1(min(left, 16384))
                if not chunk:
                    break
                left -= len(chunk)
        except (OSError, ValueError):
            pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors (bad request line, oversized headers) as one JSON line, like every other answer."""
        self.server.responder.note_refused("bad_request")
        self._answer(Answer(code, json_line({"error": "bad_request", "message": message or "bad request"})))

    def log_message(self, format: str, *args: Any) -> None:
        """Access log at debug level, through the responder's `redact` (a token may be in the path)."""
        log.debug("%s %s", self.address_string(), self.server.responder.redact(format % args))


class PushServer(ThreadingHTTPServer):
    """A threading HTTP(S) server for one responder; `server_close()` waits for the requests in flight."""

    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], responder: Responder, tls: ssl.SSLContext | None) -> None:
        self.responder, self._tls = responder, tls
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept a connection (wrapped in TLS without handshaking: the request thread does it)."""
        sock, addr = self.socket.accept()
        if self._tls is not None:
            sock = self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client disconnects and TLS failures are routine: log them quietly, without the request."""
        log.debug("receiver: connection error from %s", client_address[0], exc_info=True)
