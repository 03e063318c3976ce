"""The HTTP shapes handlers work with: `Request`, `Response`, Salesforce-shaped errors and the `Route` type.

Handlers are plain functions `handler(ctx, req) -> Response` over an `ApiContext` (simulator.api.context); they
raise `HttpError` (or the org's `ApiError`) for Salesforce-shaped failures. The server (simulator.server.dispatch)
applies auth, the API budget, faults and the `Sforce-Limit-Info` header around them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from simulator.api.context import ApiContext

__all__ = [
    "CSV_TYPE",
    "JSON_TYPE",
    "VERSION_RE",
    "XML_TYPE",
    "Handler",
    "HttpError",
    "Request",
    "Response",
    "Route",
    "error",
    "json_response",
    "route",
]

JSON_TYPE = "application/json;charset=UTF-8"
CSV_TYPE = "text/csv"
XML_TYPE = "text/xml;charset=UTF-8"
VERSION_RE = r"/services/data/v(?P<version>\d{2}\.\d)"


@dataclass
class Request:
    """One parsed HTTP request as handlers see it."""

    method: str
    path: str
    params: dict[str, str]
    headers: Message
    body: bytes
    groups: dict[str, str] = field(default_factory=dict)
    route: Route | None = None
    user_id: str | None = None

    @property
    def version(self) -> str:
        """The API version of the URL (e.g. `59.0`), or the simulator's default."""
        return self.groups.get("version") or "62.0"

    def json(self) -> Any:
        """The body parsed as JSON; a 400 JSON_PARSER_ERROR when it is not."""
        try:
            return json.loads(self.body or b"null")
        except ValueError as exc:
            raise error(400, "JSON_PARSER_ERROR", f"Unexpected character in request body: {exc}") from None

    def form(self) -> dict[str, str]:
        """The body parsed as `application/x-www-form-urlencoded` (first value of each key)."""
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}


@dataclass
class Response:
    """What a handler answers; `headers` keep their order (Sforce-Limit-Info is inserted first)."""

    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)


class HttpError(Exception):
    """A Salesforce-shaped failure: status + body (a JSON list for REST, anything for OAuth/SOAP)."""

    def __init__(
        self,
        status: int,
        payload: Any,
        content_type: str = JSON_TYPE,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(f"{status}: {payload!r:.200}")
        self.status = status
        self.payload = payload
        self.content_type = content_type
        self.headers = headers or []

    def response(self) -> Response:
        """The error as a response."""
        body = self.payload if isinstance(self.payload, bytes) else json.dumps(self.payload).encode()
        return Response(self.status, body, self.content_type, list(self.headers))


def error(status: int, code: str, message: str, fields: list[str] | None = None) -> HttpError:
    """The REST error shape: a JSON array `[{"message","errorCode","fields"}]`."""
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = fields
    return HttpError(status, [item])


def json_response(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    """A JSON response (compact encoding: Salesforce ignores X-PrettyPrint for clients that parse)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(status, body, JSON_TYPE, headers or [])


Handler = Callable[["ApiContext", Request], Response]


@dataclass(frozen=True)
class Route:
    """A method + path pattern -> handler; `name` keys the call counter (`Usage.calls`); `kind` selects auth and budget."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    name: str
    kind: str = (
        "rest"  # rest (auth + budget + limit header) | auth (no session) | open (no session, no budget)
    )


def route(method: str, pattern: str, handler: Handler, name: str, kind: str = "rest") -> Route:
    """Build a route; `{V}` in the pattern stands for the `/services/data/vXX.X` prefix."""
    return Route(method, re.compile("^" + pattern.replace("{V}", VERSION_RE) + "/?$"), handler, name, kind)
