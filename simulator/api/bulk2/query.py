"""Bulk 2.0 query jobs: the query runs at creation; results are CSV pages by locator + maxRecords, with a header
row on every page and the next page rendered ahead while the client reads this one (salesforce-wire.md §3)."""

from __future__ import annotations

import base64
import gzip
import re
from typing import TYPE_CHECKING

from simulator.api.bulk2.registry import Bulk2Jobs
from simulator.api.http import CSV_TYPE, Request, Response, error, json_response
from simulator.org.clock import format_datetime
from simulator.org.result import QueryResult

if TYPE_CHECKING:
    from simulator.api.context import ApiContext

__all__ = ["COMPOUND_REFUSED", "create_query", "query_info", "query_results"]

COMPOUND_REFUSED = "Selecting compound data not supported in Bulk Query"
_FROM_RE = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)
_OFFSET_RE = re.compile(r"\bOFFSET\s+\d+\s*$", re.IGNORECASE)


def _locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _offset(locator: str) -> int:
    try:
        return int(base64.b64decode(locator + "=" * (-len(locator) % 4)).decode())
    except ValueError:
        raise error(400, "INVALID_LOCATOR", f"Invalid locator: {locator}") from None


def create_query(ctx: ApiContext, req: Request) -> Response:
    """POST jobs/query: the query runs at once; the job answers UploadComplete, then JobComplete."""
    body = req.json() or {}
    op, soql = body.get("operation", "query"), body.get("query")
    if op not in ("query", "queryAll") or not soql:
        raise error(
            400, "INVALIDJOB", "InvalidJob : operation must be query or queryAll and query is required"
        )
    delimiter = body.get("columnDelimiter", "COMMA")
    if delimiter != "COMMA" or body.get("lineEnding", "LF") != "LF":
        raise error(
            400, "INVALIDJOB", "InvalidJob : the simulator serves columnDelimiter COMMA, lineEnding LF"
        )
    if _OFFSET_RE.search(soql):
        raise error(400, "INVALIDJOB", "InvalidJob : OFFSET clause is not supported in Bulk API 2.0 query")
    entity = _FROM_RE.search(soql)
    if entity and ctx.faults.bulk_refused(entity.group(1)):  # refused before the query runs, as Salesforce
        raise error(400, "INVALIDENTITY", f"Entity '{entity.group(1)}' is not supported by the Bulk API.")
    result = ctx.org.query(soql, include_deleted=op == "queryAll", user_id=req.user_id)
    if result.is_count:
        raise error(400, "INVALIDJOB", "InvalidJob : Aggregate queries are not supported by Bulk API 2.0")
    if result.has_compound:
        raise error(400, "API_ERROR", COMPOUND_REFUSED)
    failed = bool(ctx.faults.check("bulk2.query.fail", req.path, {"bulkfail"}))
    job = ctx.bulk2.new(
        req,
        "V2Query",
        {
            "operation": op,
            "object": result.sobject,
            "state": "UploadComplete",
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
            "_result": result,
            "_final": "Failed" if failed else "JobComplete",
        },
        ctx.org.clock.now,
    )
    return json_response(200, Bulk2Jobs.public(job))


def query_info(ctx: ApiContext, req: Request) -> Response:
    """GET jobs/query/{id}."""
    job = ctx.bulk2.get(req, "V2Query")
    if job["state"] == "UploadComplete":
        job["state"] = job["_final"]
        job["systemModstamp"] = format_datetime(ctx.org.clock.now())
        if job["state"] == "Failed":
            job["errorMessage"] = "InternalServerError : the query job failed (simulated fault)"
    info = {
        **Bulk2Jobs.public(job),
        "numberRecordsProcessed": job["_result"].total_size,
        "retries": 0,
        "totalProcessingTime": 10,
        "isPkChunkingSupported": True,
    }
    return json_response(200, info)


def query_results(ctx: ApiContext, req: Request) -> Response:
    """GET jobs/query/{id}/results?locator=&maxRecords=: a CSV page with Sforce-Locator/NumberOfRecords."""
    job = ctx.bulk2.get(req, "V2Query")
    if job["state"] != "JobComplete":
        status = "JOB_COMPLETE" if job["state"] == "UploadComplete" else job["state"].upper()
        raise error(
            412,
            "JOB_NOT_COMPLETE",
            "can only download query results of successfully completed bulk "
            f"job with status: JOB_COMPLETE. Current status: {status}",
        )
    result = job["_result"]
    offset = _offset(req.params["locator"]) if req.params.get("locator") else 0
    limit = int(req.params.get("maxRecords") or 100_000)
    if limit <= 0:
        raise error(400, "INVALIDJOB", "maxRecords must be a positive integer")
    gz = "gzip" in (req.headers.get("Accept-Encoding") or "")
    ahead = job.pop("_ahead", None)
    if ahead is not None and ahead[0] == (offset, limit, gz):
        body, headers = ahead[1].result(timeout=120)
    else:
        body, headers = _render(result, offset, limit, gz)
    end = offset + limit
    if end < result.total_size and ctx.bulk2.pool is not None:
        # Read-ahead: render the next page while the client digests this one.
        job["_ahead"] = ((end, limit, gz), ctx.bulk2.pool.submit(_render, result, end, limit, gz))
    return Response(200, body, CSV_TYPE, headers)


def _render(result: QueryResult, offset: int, limit: int, gz: bool) -> tuple[bytes, list[tuple[str, str]]]:
    """One results page: CSV bytes (gzip-compressed when asked) and its Sforce-* headers."""
    count = max(0, min(limit, result.total_size - offset))
    end = offset + count
    body = result.csv(offset, limit).encode("utf-8")
    headers = [
        ("Sforce-Locator", _locator(end) if end < result.total_size else "null"),
        ("Sforce-NumberOfRecords", str(count)),
    ]
    if gz and len(body) > 1024:
        body = gzip.compress(body, compresslevel=1)
        headers.append(("Content-Encoding", "gzip"))
    return body, headers
