"""Bulk 2.0 job endpoints shared by query and ingest jobs: list, change state (upload complete, abort), delete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.api.bulk2.ingest import DELIMITERS, csv_line, parse_rows
from simulator.api.bulk2.registry import TERMINAL, Bulk2Jobs
from simulator.api.http import Request, Response, error, json_response
from simulator.org.clock import format_datetime

if TYPE_CHECKING:
    from simulator.api.context import ApiContext

__all__ = ["delete_job", "list_jobs", "set_state"]


def delete_job(ctx: ApiContext, req: Request) -> Response:
    """DELETE jobs/query/{id} or jobs/ingest/{id}: 204; only terminal (or closed) jobs."""
    kind = "V2Query" if "/jobs/query/" in req.path else "V2Ingest"
    job = ctx.bulk2.get(req, kind)
    if job["state"] in ("Open", "InProgress"):
        raise error(
            400, "API_ERROR", "Error encountered when deleting the job because the job is not terminated"
        )
    ctx.bulk2.jobs.pop(job["id"], None)
    return Response(204, b"", None)


def list_jobs(ctx: ApiContext, req: Request) -> Response:
    """GET jobs/query or jobs/ingest: every job of that kind."""
    kind = "V2Query" if req.path.rstrip("/").endswith("query") else "V2Ingest"
    records = [Bulk2Jobs.public(j) for j in ctx.bulk2.jobs.values() if j["jobType"] == kind]
    return json_response(200, {"done": True, "records": records, "nextRecordsUrl": None})


def set_state(ctx: ApiContext, req: Request) -> Response:
    """PATCH jobs/ingest/{id} {"state": "UploadComplete"|"Aborted"} (query jobs: Aborted): the job JSON."""
    kind = "V2Query" if "/jobs/query/" in req.path else "V2Ingest"
    job = ctx.bulk2.get(req, kind)
    state = (req.json() or {}).get("state")
    with ctx.bulk2.lock:
        if kind == "V2Query" and job["state"] == "UploadComplete" and state == "Aborted":
            job["state"] = job["_final"] = "Aborted"
        elif state == "UploadComplete" and job["state"] == "Open" and kind == "V2Ingest":
            job["state"] = "UploadComplete"
            ctx.bulk2.enqueue(job["id"])
        elif state == "Aborted" and job["state"] not in TERMINAL:
            if job["state"] in ("Open", "UploadComplete") and kind == "V2Ingest":
                delimiter = DELIMITERS[job["columnDelimiter"]]
                job["_unprocessed"] = [csv_line(r, delimiter) for r in parse_rows(job)]
            job["state"] = "Aborted"
        else:
            raise error(400, "INVALIDJOB", f"InvalidJob : cannot change state from {job['state']} to {state}")
        job["systemModstamp"] = format_datetime(ctx.org.clock.now())
    return json_response(200, Bulk2Jobs.public(job))
