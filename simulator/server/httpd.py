"""The threading HTTPS server: parses requests, hands them to the dispatcher, writes responses (keep-alive,
Content-Length, gzip, the org's `Date`); it only moves bytes."""

from __future__ import annotations

import contextlib
import email.utils
import gzip
import logging
import socket
import ssl
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from simulator.api.http import Request, Response, error

__all__ = ["MAX_BODY", "Dispatch", "SimHTTPServer"]

log = logging.getLogger(__name__)

MAX_BODY = (
    160 * 1024 * 1024
)  # Bulk 2.0 accepts 150 MB uploads: a larger body is refused 413 before it is read
Dispatch = Callable[
    [Request], tuple[Response, bool]
]  # a response, and whether to drop the connection mid-body


class _Handler(BaseHTTPRequestHandler):
    """Parses requests, hands them to the dispatcher, writes responses (keep-alive, Content-Length, gzip)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "SFDC"
    sys_version = ""
    timeout = 60

    server: SimHTTPServer

    def setup(self) -> None:
        """Finish the TLS handshake in this connection's thread, not the accept loop."""
        super().setup()
        self.server.track(self.request, True)
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()

    def finish(self) -> None:
        """Forget the socket once the connection ends."""
        try:
            super().finish()
        finally:
            self.server.track(self.request, False)

    def log_message(self, format: str, *args: Any) -> None:
        """Access log at debug level (the stdlib writes to stderr)."""
        log.debug("%s " + format, self.address_string(), *args)

    def _handle(self) -> None:
        split = urlsplit(self.path)
        limit = self.server.max_body
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunked = self._read_chunked(limit)
            if chunked is None:
                return self._refuse(413, "REQUEST_ENTITY_TOO_LARGE", f"Request body exceeds {limit} bytes")
            body = chunked
        else:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                return self._refuse(400, "BAD_REQUEST", "Invalid Content-Length")
            if length > limit:  # refused before reading a byte of it, and before any session check
                return self._refuse(413, "REQUEST_ENTITY_TOO_LARGE", f"Request body exceeds {limit} bytes")
            body = self.rfile.read(length) if length > 0 else b""
        params = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        method = self.command
        if method == "POST" and params.get("_HttpMethod"):
            method = params.pop("_HttpMethod").upper()
        req = Request(method, split.path, params, self.headers, body)
        resp, drop = self.server.dispatch(req)
        self._write(resp, drop)

    def _read_chunked(self, limit: int) -> bytes | None:
        """The chunked body, or None (nothing more read) once it would pass `limit` bytes."""
        parts: list[bytes] = []
        size = 0
        while True:
            n = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if n == 0:
                for _ in range(100):  # trailers, up to the blank line
                    if self.rfile.readline(1024) in (b"\r\n", b"\n", b""):
                        break
                break
            size += n
            if size > limit:
                return None
            parts.append(self.rfile.read(n))
            self.rfile.readline(1024)
        return b"".join(parts)

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer without reading the body, then close: the unread body would be taken for the next request."""
        resp = error(status, code, message).response()
        resp.headers.append(("Connection", "close"))
        self._write(resp, False)
        self.close_connection = True

    def _write(self, resp: Response, drop: bool) -> None:
        body = resp.body
        headers = list(resp.headers)
        if (
            len(body) > 1024
            and "gzip" in (self.headers.get("Accept-Encoding") or "")
            and resp.status not in (204, 304)
            and not any(h[0] == "Content-Encoding" for h in headers)
        ):
            body = gzip.compress(body, compresslevel=1)
            headers.append(("Content-Encoding", "gzip"))
        self.log_request(resp.status)
        self.send_response_only(resp.status)
        for name, value in headers:  # Sforce-Limit-Info leads, as on Salesforce
            self.send_header(name, value)
        # The org's clock, not the wall clock: after "advance days" clients must see the org's time.
        self.send_header("Date", email.utils.formatdate(self.server.now().timestamp(), usegmt=True))
        if resp.content_type and resp.status != 204:
            self.send_header("Content-Type", resp.content_type)
        if resp.status not in (204, 304):  # no body, and RFC 9110 forbids Content-Length on a 204
            self.send_header("Content-Length", str(len(body)))
        else:
            body = b""
        if drop:
            self.end_headers()
            # Fault: the connection dies half-way through the body.
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.request.shutdown(socket.SHUT_RDWR)
            return
        # Headers and body leave in one write: no small-segment + delayed-ACK stall per response.
        buffer: list[bytes] = self._headers_buffer  # type: ignore[attr-defined]  # stdlib internals
        buffer.append(b"\r\n")
        if self.command != "HEAD":
            buffer.append(body)
        self.flush_headers()

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _handle


class SimHTTPServer(ThreadingHTTPServer):
    """A threading HTTPS server bound to 127.0.0.1 that knows its live connections (to close them on stop)."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self, port: int, context: ssl.SSLContext, dispatch: Dispatch, now: Callable[[], datetime]
    ) -> None:
        self.dispatch = dispatch
        self.now = now  # the org's clock, for the Date header
        self.max_body = MAX_BODY  # request bodies larger than this are refused 413 unread
        self._context = context
        self._live: set[socket.socket] = set()
        super().__init__(("127.0.0.1", port), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept a connection and wrap it in TLS without handshaking yet (the handler thread does it)."""
        sock, addr = self.socket.accept()
        return self._context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def track(self, sock: socket.socket, live: bool) -> None:
        """Remember or forget an open connection."""
        if live:
            self._live.add(sock)
        else:
            self._live.discard(sock)

    def close_connections(self) -> None:
        """Shut every open keep-alive connection so its thread ends."""
        for sock in list(self._live):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client disconnects and TLS failures are routine: log them quietly."""
        log.debug("connection error from %s", client_address, exc_info=True)
