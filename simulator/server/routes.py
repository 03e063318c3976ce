"""The simulator's route table: every URL it serves, the handler, the `Simulator.calls` key and the route kind.

Order matters: the first route whose pattern matches the path wins, so fixed names (`describe`, `updated`,
`deleted`) come before the `{id}` and `{ExtField}/{value}` patterns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.api import auth
from simulator.api import composite as routes_composite
from simulator.api import describe as routes_describe
from simulator.api import rest as routes_rest
from simulator.api.http import Request, Response, Route, json_response, route

if TYPE_CHECKING:
    from simulator.server import Simulator

__all__ = ["build_routes"]

_OBJ = r"/sobjects/(?P<sobject>\w+)"
_JOB = r"/(?P<job>750\w+)"


def _bulk(method: str) -> object:
    def handler(sim: Simulator, req: Request) -> Response:
        return getattr(sim.bulk2, method)(req)  # type: ignore[no-any-return]

    handler.__doc__ = f"Bulk 2.0: {method}."
    return handler


def _advance(sim: Simulator, req: Request) -> Response:
    """POST /_simulator/advance?days=N: move the org's clock and business forward (not a Salesforce URL)."""
    days = int(req.params.get("days") or 1)
    return json_response(200, sim.advance_days(days))


def _calls(sim: Simulator, req: Request) -> Response:
    """GET /_simulator/calls: the per-endpoint call counter and the API usage (for out-of-process benchmarks)."""
    return json_response(
        200, {"calls": dict(sim.calls), "api_used": sim.api_used, "api_budget": sim.api_budget}
    )


def build_routes() -> list[Route]:
    """The route table, in match order."""
    r = routes_rest
    c = routes_composite
    d = routes_describe
    b = _bulk
    return [
        route("GET", "/services/data", r.versions, "versions", "open"),
        route("POST", "/services/oauth2/token", auth.token, "oauth.token", "auth"),
        route("POST", "/services/oauth2/revoke", auth.revoke, "oauth.revoke", "auth"),
        route(
            "POST", r"/services/Soap/u/(?P<version>\d{2}\.\d)(?:/\w+)?", auth.soap_login, "soap.login", "auth"
        ),
        route("POST", "/_simulator/advance", _advance, "simulator.advance", "admin"),
        route("GET", "/_simulator/calls", _calls, "simulator.calls", "admin"),
        route("GET", "{V}", r.resources, "resources"),
        route("GET", "{V}/query", r.query, "query"),
        route("GET", "{V}/queryAll", r.query, "queryAll"),
        route("GET", r"{V}/query/(?P<locator>01g\w+)-(?P<offset>\d+)", r.query_more, "query.more"),
        route("GET", r"{V}/queryAll/(?P<locator>01g\w+)-(?P<offset>\d+)", r.query_more, "queryAll.more"),
        route("GET", "{V}/limits", r.limits, "limits"),
        route("GET", "{V}/sobjects", d.describe_global, "describe.global"),
        route("GET", "{V}" + _OBJ, d.sobject_info, "sobject.info"),
        route("POST", "{V}" + _OBJ, r.record_create, "sobject.create"),
        route("GET", "{V}" + _OBJ + "/describe", d.describe, "describe"),
        route("GET", "{V}" + _OBJ + "/updated", r.sobject_updated, "sobject.updated"),
        route("GET", "{V}" + _OBJ + "/deleted", r.sobject_deleted, "sobject.deleted"),
        route("GET", "{V}" + _OBJ + r"/(?P<id>[^/]+)", r.record_get, "sobject.get"),
        route("PATCH", "{V}" + _OBJ + r"/(?P<id>[^/]+)", r.record_update, "sobject.update"),
        route("DELETE", "{V}" + _OBJ + r"/(?P<id>[^/]+)", r.record_delete, "sobject.delete"),
        route(
            "GET", "{V}" + _OBJ + r"/(?P<field>\w+)/(?P<value>[^/]+)", r.ext_get, "sobject.get_by_external_id"
        ),
        route("PATCH", "{V}" + _OBJ + r"/(?P<field>\w+)/(?P<value>[^/]+)", r.ext_upsert, "sobject.upsert"),
        route("POST", "{V}/composite/sobjects", c.create, "composite.create"),
        route("PATCH", "{V}/composite/sobjects", c.update, "composite.update"),
        route("DELETE", "{V}/composite/sobjects", c.delete, "composite.delete"),
        route("GET", r"{V}/composite/sobjects/(?P<sobject>\w+)", c.retrieve, "composite.retrieve"),
        route(
            "PATCH", r"{V}/composite/sobjects/(?P<sobject>\w+)/(?P<field>\w+)", c.upsert, "composite.upsert"
        ),
        route("POST", "{V}/jobs/query", b("create_query"), "bulk2.query.create"),  # type: ignore[arg-type]
        route("GET", "{V}/jobs/query", b("list_jobs"), "bulk2.query.list"),  # type: ignore[arg-type]
        route("GET", "{V}/jobs/query" + _JOB, b("query_info"), "bulk2.query.get"),  # type: ignore[arg-type]
        route("PATCH", "{V}/jobs/query" + _JOB, b("set_state"), "bulk2.query.abort"),  # type: ignore[arg-type]
        route("DELETE", "{V}/jobs/query" + _JOB, b("delete_job"), "bulk2.query.delete"),  # type: ignore[arg-type]
        route(
            "GET",
            "{V}/jobs/query" + _JOB + "/results",
            b("query_results"),  # type: ignore[arg-type]
            "bulk2.query.results",
        ),
        route("POST", "{V}/jobs/ingest", b("create_ingest"), "bulk2.ingest.create"),  # type: ignore[arg-type]
        route("GET", "{V}/jobs/ingest", b("list_jobs"), "bulk2.ingest.list"),  # type: ignore[arg-type]
        route("GET", "{V}/jobs/ingest" + _JOB, b("ingest_info"), "bulk2.ingest.get"),  # type: ignore[arg-type]
        route("PATCH", "{V}/jobs/ingest" + _JOB, b("set_state"), "bulk2.ingest.state"),  # type: ignore[arg-type]
        route("DELETE", "{V}/jobs/ingest" + _JOB, b("delete_job"), "bulk2.ingest.delete"),  # type: ignore[arg-type]
        route("PUT", "{V}/jobs/ingest" + _JOB + "/batches", b("upload"), "bulk2.ingest.upload"),  # type: ignore[arg-type]
        route(
            "GET",
            "{V}/jobs/ingest" + _JOB + "/(?P<which>successfulResults|failedResults|unprocessed[rR]ecords)",
            b("results"),
            "bulk2.ingest.results",
        ),  # type: ignore[arg-type]
    ]
