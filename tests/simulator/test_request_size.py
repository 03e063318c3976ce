"""The simulator caps request bodies: a larger one is refused 413 before a byte of it is read, session or not."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest

PATH = "/services/data/v59.0/composite/sobjects"


@pytest.fixture
def capped(simulator: Any) -> Iterator[Any]:
    """The session's simulator with a 1 kB body cap for the test."""
    before = simulator.max_body_bytes
    simulator.max_body_bytes = 1024
    yield simulator
    simulator.max_body_bytes = before


def _send(simulator: Any, ca_bundle: str, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send raw request bytes over TLS; the status and the whole answer (the server closes after a refusal)."""
    context = ssl.create_default_context(cafile=ca_bundle)
    with (
        socket.create_connection(("127.0.0.1", simulator.port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(head.encode() + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = tls.recv(65536)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


def test_an_announced_huge_body_is_refused_unread_and_unauthenticated(capped: Any, connection: dict) -> None:
    # 10 GB announced, none sent: had the server started reading, it would wait for it (and the test time out)
    head = f"PATCH {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000000\r\n\r\n"
    status, answer = _send(capped, connection["ca_bundle"], head)
    assert status == 413 and b"REQUEST_ENTITY_TOO_LARGE" in answer and b"Connection: close" in answer


def test_a_chunked_body_past_the_cap_is_refused(capped: Any, connection: dict) -> None:
    head = f"PATCH {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    status, _ = _send(capped, connection["ca_bundle"], head, b"800\r\n" + b"x" * 2048 + b"\r\n")
    assert status == 413


def test_a_body_within_the_cap_goes_on_to_the_session_check(capped: Any, connection: dict) -> None:
    body = b'{"allOrNone": false, "records": []}'
    head = f"PATCH {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    status, _ = _send(capped, connection["ca_bundle"], head, body)
    assert status == 401  # no session: refused by the session check, after the size check passed
