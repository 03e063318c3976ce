"""The request pipeline: route -> faults -> session -> daily API budget -> handler -> `Sforce-Limit-Info`.

A REST write request (any method but GET) runs inside one change-log transaction of the org: its change events
share a transaction key and carry `changeOrigin` `com/salesforce/api/rest/<version>` (simulator.org.changes).
"""

from __future__ import annotations

import json
import logging
import time

from simulator.api.bulk1.jobs import wants_xml
from simulator.api.bulk1.wire import bulk_error
from simulator.api.context import ApiContext
from simulator.api.http import HttpError, Request, Response, Route, error
from simulator.api.oauth import session_error
from simulator.api.rest import MAX_VERSION, MIN_VERSION
from simulator.org.errors import ApiError
from simulator.server.faults import FaultPlan

__all__ = ["REQUEST_FAULTS", "Dispatcher", "change_origin"]

log = logging.getLogger(__name__)
REQUEST_FAULTS = {"503", "500", "403", "timeout", "expire", "slow", "drop", "noasync"}


class Dispatcher:
    """Serves one parsed request through the route table, with the server's faults, sessions and API budget."""

    def __init__(self, routes: list[Route], faults: FaultPlan, ctx: ApiContext) -> None:
        self.routes = routes
        self.faults = faults
        self.ctx = ctx

    def __call__(self, req: Request) -> tuple[Response, bool]:
        """Serve one request; returns the response and whether to drop the connection mid-body."""
        ctx = self.ctx
        drop = False
        route: Route | None = None
        try:
            route = self._match(req)
            if route is None:
                raise error(404, "NOT_FOUND", "The requested resource does not exist")
            ctx.usage.count(route.name)
            version = req.groups.get("version")
            if version and not MIN_VERSION <= float(version) <= MAX_VERSION:
                raise error(404, "NOT_FOUND", "The requested resource does not exist")
            fired = self.faults.check(route.name, req.path, REQUEST_FAULTS) if route.kind != "open" else []
            for f in fired:
                if f.kind == "slow":
                    time.sleep(f.delay)
                drop = drop or f.kind == "drop"
            if route.kind in ("rest", "admin", "async"):
                token = _token(req)
                if any(f.kind == "expire" for f in fired):
                    ctx.auth.revoke(token)
                req.user_id = ctx.auth.user_for(token)
                if req.user_id is None:
                    raise session_error()
                if route.kind in ("rest", "async"):
                    ctx.usage.charge(ctx.org.clock.today())
            for f in fired:
                if f.kind != "noasync" or route.kind == "async":
                    _raise_fault(f.kind)
            if route.kind == "rest" and req.method != "GET":
                with ctx.org.changes.transaction(change_origin(req)):  # one request = one CDC transaction
                    resp = route.handler(ctx, req)
            else:
                resp = route.handler(ctx, req)
        except HttpError as exc:
            resp = exc.response()
        except Exception as exc:
            resp = _exception_response(exc)
        if route is not None and route.kind == "async" and resp.status >= 400:
            resp = async_error(resp, wants_xml(req))
        if (route is not None and route.kind == "rest") or req.path.startswith("/services/data/v"):
            resp.headers.insert(0, ("Sforce-Limit-Info", ctx.usage.limit_info()))
        return resp, drop

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


def change_origin(req: Request) -> str:
    """`changeOrigin` of a REST write: `com/salesforce/api/rest/<version>`, `;client=<id>` from Sforce-Call-Options."""
    origin = f"com/salesforce/api/rest/{req.version}"
    options = req.headers.get("Sforce-Call-Options") or ""
    client = next(
        (p.split("=", 1)[1].strip() for p in options.split(",") if p.strip().startswith("client=")), ""
    )
    return f"{origin};client={client}" if client else origin


def _token(req: Request) -> str | None:
    header = req.headers.get("Authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    return req.headers.get("X-SFDC-Session")


# REST error code -> Bulk 1.0 (status, exceptionCode)
_ASYNC_CODES = {
    "INVALID_SESSION_ID": (400, "InvalidSessionId"),
    "REQUEST_LIMIT_EXCEEDED": (403, "ExceededQuota"),
    "SERVER_UNAVAILABLE": (503, "ServerUnavailable"),
    "UNKNOWN_EXCEPTION": (500, "Unknown"),
    "QUERY_TIMEOUT": (400, "Timeout"),
    "NOT_FOUND": (404, "InvalidUrl"),
    "METHOD_NOT_ALLOWED": (405, "InvalidUrl"),
}


def async_error(resp: Response, as_xml: bool) -> Response:
    """A REST-shaped error (auth, budget, faults) in Bulk 1.0's shape; Bulk 1.0 handlers' own errors pass as they are."""
    try:
        item = json.loads(resp.body)[0]
        code, message = item["errorCode"], item["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return resp
    status, exception = _ASYNC_CODES.get(code, (resp.status, code))
    if code == "INVALID_SESSION_ID":
        message = "Invalid session id"
    out = bulk_error(status, exception, message, as_xml).response()
    out.headers = resp.headers
    return out


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
    if kind == "noasync":
        raise error(400, "FeatureNotEnabled", "Async API not enabled")


def _exception_response(exc: Exception) -> Response:
    """The org's ApiError (status, error_code, message, fields) as a REST error; anything else a 500."""
    if not isinstance(exc, ApiError):
        log.exception("simulator handler failed")
        return error(
            500,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact support: sim-internal",
        ).response()
    return error(exc.status, exc.error_code, exc.message, list(exc.fields)).response()
