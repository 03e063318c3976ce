"""The simulator's route table: every URL it serves, the handler, the call-counter key and the route kind.

Order matters: the first route whose pattern matches the path wins, so fixed names (`describe`, `updated`,
`deleted`) come before the `{id}` and `{ExtField}/{value}` patterns. Kinds: `rest` (session, API budget,
`Sforce-Limit-Info`), `async` (Bulk 1.0: session from `X-SFDC-Session`, API budget, Bulk 1.0 error shape),
`admin` (session only), `auth` (no session), `open` (no session, no budget, no faults).
"""

from __future__ import annotations

from simulator.api import admin, composite, describe, oauth, rest
from simulator.api.bulk1 import jobs as bulk1
from simulator.api.bulk2 import ingest, lifecycle, query
from simulator.api.http import Route, route

__all__ = ["build_routes"]

_OBJ = r"/sobjects/(?P<sobject>\w+)"
_JOB = r"/(?P<job>750\w+)"
_ASYNC = r"/services/async/(?P<version>\d{2}\.\d)/job"
_BATCH = _ASYNC + _JOB + r"/batch/(?P<batch>751\w+)"


def build_routes() -> list[Route]:
    """The route table, in match order."""
    r, c, d = rest, composite, describe
    return [
        route("GET", "/services/data", r.versions, "versions", "open"),
        route("POST", "/services/oauth2/token", oauth.token, "oauth.token", "auth"),
        route("POST", "/services/oauth2/revoke", oauth.revoke, "oauth.revoke", "auth"),
        route(
            "POST",
            r"/services/Soap/u/(?P<version>\d{2}\.\d)(?:/\w+)?",
            oauth.soap_login,
            "soap.login",
            "auth",
        ),
        route("POST", "/_simulator/advance", admin.advance, "simulator.advance", "admin"),
        route("GET", "/_simulator/calls", admin.calls, "simulator.calls", "admin"),
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
        route("POST", "{V}/jobs/query", query.create_query, "bulk2.query.create"),
        route("GET", "{V}/jobs/query", lifecycle.list_jobs, "bulk2.query.list"),
        route("GET", "{V}/jobs/query" + _JOB, query.query_info, "bulk2.query.get"),
        route("PATCH", "{V}/jobs/query" + _JOB, lifecycle.set_state, "bulk2.query.abort"),
        route("DELETE", "{V}/jobs/query" + _JOB, lifecycle.delete_job, "bulk2.query.delete"),
        route("GET", "{V}/jobs/query" + _JOB + "/results", query.query_results, "bulk2.query.results"),
        route("POST", "{V}/jobs/ingest", ingest.create_ingest, "bulk2.ingest.create"),
        route("GET", "{V}/jobs/ingest", lifecycle.list_jobs, "bulk2.ingest.list"),
        route("GET", "{V}/jobs/ingest" + _JOB, ingest.ingest_info, "bulk2.ingest.get"),
        route("PATCH", "{V}/jobs/ingest" + _JOB, lifecycle.set_state, "bulk2.ingest.state"),
        route("DELETE", "{V}/jobs/ingest" + _JOB, lifecycle.delete_job, "bulk2.ingest.delete"),
        route("PUT", "{V}/jobs/ingest" + _JOB + "/batches", ingest.upload, "bulk2.ingest.upload"),
        route("POST", _ASYNC, bulk1.create_job, "bulk1.job.create", "async"),
        route("GET", _ASYNC + _JOB, bulk1.job_info, "bulk1.job.get", "async"),
        route("POST", _ASYNC + _JOB, bulk1.set_job_state, "bulk1.job.state", "async"),
        route("POST", _ASYNC + _JOB + "/batch", bulk1.add_batch, "bulk1.batch.create", "async"),
        route("GET", _ASYNC + _JOB + "/batch", bulk1.list_batches, "bulk1.batch.list", "async"),
        route("GET", _BATCH, bulk1.batch_info, "bulk1.batch.get", "async"),
        route("GET", _BATCH + "/request", bulk1.batch_request, "bulk1.batch.request", "async"),
        route("GET", _BATCH + "/result", bulk1.batch_result, "bulk1.batch.result", "async"),
        route("GET", _BATCH + r"/result/(?P<result>752\w+)", bulk1.result_file, "bulk1.result", "async"),
        route(
            "GET",
            "{V}/jobs/ingest" + _JOB + "/(?P<which>successfulResults|failedResults|unprocessed[rR]ecords)",
            ingest.results,
            "bulk2.ingest.results",
        ),
    ]
