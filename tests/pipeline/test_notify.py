"""The notification: its message, and a webhook post whose errors never show the URL (a secret)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pipeline.notify import flag_message, post_webhook


def test_the_message_names_the_account_its_levels_and_reasons() -> None:
    reasons = ["Case 00001 has been open since 1 Jun 2026.", "Our main contact is gone."]
    assert flag_message("001000000000001AAA", "Acme Corp", "Red", "Amber", reasons) == (
        "Acme Corp (001000000000001AAA) is Red, was Amber: Case 00001 has been open since 1 Jun 2026. "
        "Our main contact is gone."
    )
    assert flag_message("001000000000001AAA", None, "Red", None, []) == (
        "001000000000001AAA is Red, was no level: No reasons given."
    )


@pytest.fixture
def hook() -> Iterator[tuple[str, list[Any]]]:
    """A real HTTP server on 127.0.0.1: POST /ok answers 200 and keeps the body, anything else 500."""
    received: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            ok = self.path.endswith("/ok")
            if ok:
                received.append(json.loads(body))
            self.send_response(200 if ok else 500)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0", received
    finally:
        server.shutdown()
        server.server_close()


def test_the_webhook_gets_the_text_and_its_errors_never_show_the_url(hook: tuple[str, list[Any]]) -> None:
    base, received = hook
    post_webhook(f"{base}/ok", "Acme Corp is Red")
    assert received == [{"text": "Acme Corp is Red"}]
    with pytest.raises(RuntimeError, match="answered HTTP 500") as refused:
        post_webhook(f"{base}/secret-path", "x")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/services/T0/B0/secret-path"
    with pytest.raises(RuntimeError, match="could not be reached") as unreachable:
        post_webhook(closed, "x", timeout=2)
    for failure in (refused.value, unreachable.value):
        assert "secret-path" not in str(failure) and failure.__cause__ is None
