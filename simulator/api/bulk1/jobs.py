"""Bulk 1.0 endpoints: create / get / close a job, add / list / get batches, the result list and result files.

A query batch runs when it is added and answers `Queued`; its first status read answers `Completed` (or `Failed`
with Salesforce's `stateMessage`), so a client polling with a wait never waits. Results are split into files of
`RESULT_SIZE` records (Salesforce splits by size and processing time; the client reads every file either way).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from simulator.api.bulk1.registry import Bulk1Jobs, Job
from simulator.api.bulk1.wire import bulk_error, info_response, result_csv, result_json
from simulator.api.bulk2.query import COMPOUND_REFUSED
from simulator.api.http import CSV_TYPE, JSON_TYPE, HttpError, Request, Response
from simulator.org.clock import format_datetime
from simulator.org.errors import ApiError
from simulator.org.ids import checksum
from simulator.org.schema import sobject

if TYPE_CHECKING:
    from simulator.api.context import ApiContext

__all__ = [
    "RESULT_SIZE",
    "add_batch",
    "batch_info",
    "batch_request",
    "batch_result",
    "create_job",
    "job_info",
    "list_batches",
    "result_file",
    "set_job_state",
    "wants_xml",
]

RESULT_SIZE = 10_000  # records per result file (Salesforce: up to 1 GB; smaller here so clients read several)
_FROM_RE = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)
_XML_TAG = re.compile(r"<(\w+)>([^<]*)</\1>")
_FAILED = "InvalidBatch : Failed to process query: "


def wants_xml(req: Request) -> bool:
    """Whether the caller speaks XML (job created in XML, or a CSV/XML body): errors and infos answer in kind."""
    ctype = (req.headers.get("Content-Type") or "").lower()
    return "json" not in ctype


def _body(req: Request) -> dict[str, str]:
    """A jobInfo request body, JSON or XML."""
    if not wants_xml(req):
        data = req.json()
        if not isinstance(data, dict):
            raise bulk_error(400, "InvalidJob", "Unable to parse job", False)
        return {k: str(v) for k, v in data.items() if v is not None}
    return dict(_XML_TAG.findall(req.body.decode("utf-8", "replace")))


def _job(ctx: ApiContext, req: Request) -> Job:
    job = ctx.bulk1.get(req.groups.get("job", ""))
    if job is None:
        raise bulk_error(400, "InvalidJob", f"Unable to find object: {req.groups.get('job')}", wants_xml(req))
    return job


def _batch(ctx: ApiContext, req: Request) -> tuple[Job, dict[str, Any]]:
    job = _job(ctx, req)
    batch = job["_batches"].get(req.groups.get("batch", ""))
    if batch is None:
        raise bulk_error(400, "InvalidBatch", f"Unable to find batch: {req.groups.get('batch')}", job["_xml"])
    return job, batch


def _job_info(job: Job) -> dict[str, Any]:
    batches = list(job["_batches"].values())

    def count(state: str) -> int:
        return sum(1 for b in batches if b["state"] == state)

    return {
        "apexProcessingTime": 0,
        "apiActiveProcessingTime": 0,
        "apiVersion": job["apiVersion"],
        "assignmentRuleId": None,
        "concurrencyMode": job["concurrencyMode"],
        "contentType": job["contentType"],
        "createdById": job["createdById"],
        "createdDate": job["createdDate"],
        "externalIdFieldName": None,
        "fastPathEnabled": False,
        "id": job["id"],
        "numberBatchesCompleted": count("Completed"),
        "numberBatchesFailed": count("Failed"),
        "numberBatchesInProgress": 0,
        "numberBatchesQueued": count("Queued"),
        "numberBatchesTotal": len(batches),
        "numberRecordsFailed": 0,
        "numberRecordsProcessed": sum(len(b["_result"]) for b in batches if b["state"] == "Completed"),
        "numberRetries": 0,
        "object": job["object"],
        "operation": job["operation"],
        "state": job["state"],
        "systemModstamp": job["systemModstamp"],
        "totalProcessingTime": 0,
    }


def _batch_info(batch: dict[str, Any]) -> dict[str, Any]:
    result = batch.get("_result")
    info = {
        "apexProcessingTime": 0,
        "apiActiveProcessingTime": 0,
        "createdDate": batch["createdDate"],
        "id": batch["id"],
        "jobId": batch["jobId"],
        "numberRecordsFailed": 0,
        "numberRecordsProcessed": len(result) if result is not None and batch["state"] == "Completed" else 0,
        "state": batch["state"],
        "systemModstamp": batch["systemModstamp"],
        "totalProcessingTime": 0,
    }
    if batch.get("stateMessage"):
        info["stateMessage"] = batch["stateMessage"]
    return info


def create_job(ctx: ApiContext, req: Request) -> Response:
    """POST job: `{"operation": "query"|"queryAll", "object", "contentType": "JSON"|"CSV"}` -> jobInfo, Open."""
    as_xml = wants_xml(req)
    body = _body(req)
    op, name = body.get("operation", ""), body.get("object", "")
    content = body.get("contentType", "XML" if as_xml else "JSON").upper()
    if op not in ("query", "queryAll"):
        raise bulk_error(
            400, "InvalidJob", f"The simulator serves query and queryAll Bulk 1.0 jobs, not '{op}'", as_xml
        )
    obj = sobject(name)
    if obj is None or ctx.faults.bulk_refused(name):
        raise bulk_error(400, "InvalidEntity", f"Entity '{name}' is not supported by the Bulk API.", as_xml)
    if content not in ("JSON", "CSV"):
        raise bulk_error(
            400, "InvalidJob", f"The simulator serves contentType JSON and CSV, not '{content}'", as_xml
        )
    mode = body.get("concurrencyMode", "Parallel")  # simple-salesforce sends 1 (serial) / 0 (parallel)
    job = ctx.bulk1.new(
        req.user_id,
        ctx.org.clock.now(),
        {
            "operation": op,
            "object": obj.name,
            "contentType": content,
            "concurrencyMode": "Serial" if mode in ("1", "Serial") else "Parallel",
            "apiVersion": float(req.version),
            "_xml": as_xml,
        },
    )
    return info_response("jobInfo", _job_info(job), as_xml, 201)


def job_info(ctx: ApiContext, req: Request) -> Response:
    """GET job/{id}: jobInfo."""
    job = _job(ctx, req)
    return info_response("jobInfo", _job_info(job), job["_xml"])


def set_job_state(ctx: ApiContext, req: Request) -> Response:
    """POST job/{id} `{"state": "Closed"|"Aborted"}`: jobInfo."""
    job = _job(ctx, req)
    state = _body(req).get("state", "")
    if state not in ("Closed", "Aborted") or job["state"] != "Open":
        raise bulk_error(
            400, "InvalidJobState", f"Job state cannot change from {job['state']} to {state}", job["_xml"]
        )
    job["state"] = state
    Bulk1Jobs.touch(job, ctx.org.clock.now)
    return info_response("jobInfo", _job_info(job), job["_xml"])


def add_batch(ctx: ApiContext, req: Request) -> Response:
    """POST job/{id}/batch with the SOQL text as the body: batchInfo, Queued (the query has run)."""
    job = _job(ctx, req)
    if job["state"] != "Open":
        raise bulk_error(400, "InvalidJobState", f"Job not open: {job['id']}", job["_xml"])
    soql = req.body.decode("utf-8", "replace").strip()
    stamp = ctx.org.clock.now()
    batch: dict[str, Any] = {
        "id": ctx.bulk1.mint("751"),
        "jobId": job["id"],
        "state": "Queued",
        "_soql": soql,
    }
    batch["createdDate"] = batch["systemModstamp"] = format_datetime(stamp)
    try:
        batch["_result"] = _run(ctx, req, job, soql)
    except ApiError as exc:
        batch["_final"], batch["_message"] = "Failed", f"{_FAILED}{exc.error_code}: {exc.message}"
    except HttpError as exc:
        batch["_final"], batch["_message"] = "Failed", str(exc.payload)
    else:
        batch["_final"] = "Completed"
    job["_batches"][batch["id"]] = batch
    return info_response("batchInfo", _batch_info(batch), job["_xml"], 201)


def _run(ctx: ApiContext, req: Request, job: Job, soql: str) -> Any:
    """Run a batch's query for its job (entity must match; compound fields and aggregates refused)."""
    entity = _FROM_RE.search(soql)
    if entity and entity.group(1).lower() != job["object"].lower():
        raise ApiError(400, "INVALID_TYPE", f"Entity in query '{entity.group(1)}' does not match job object")
    if ctx.faults.check("bulk1.batch.fail", req.path, {"bulkfail"}):
        raise ApiError(500, "UNKNOWN_EXCEPTION", "the query batch failed (simulated fault)")
    result = ctx.org.query(soql, include_deleted=job["operation"] == "queryAll", user_id=req.user_id)
    if result.is_count:
        raise ApiError(400, "FUNCTIONALITY_NOT_ENABLED", "Aggregate queries are not supported in Bulk Query")
    if result.has_compound:
        raise ApiError(400, "FUNCTIONALITY_NOT_ENABLED", COMPOUND_REFUSED)
    return result


def _settle(ctx: ApiContext, batch: dict[str, Any]) -> None:
    """The first status read after a batch was queued finds it done (Completed or Failed)."""
    if batch["state"] == "Queued":
        batch["state"] = batch["_final"]
        if batch["_final"] == "Failed":
            batch["stateMessage"] = batch["_message"]
        batch["systemModstamp"] = format_datetime(ctx.org.clock.now())


def list_batches(ctx: ApiContext, req: Request) -> Response:
    """GET job/{id}/batch: every batch's info."""
    job = _job(ctx, req)
    for batch in job["_batches"].values():
        _settle(ctx, batch)
    infos = [_batch_info(b) for b in job["_batches"].values()]
    return info_response("batchInfoList", {"batchInfo": infos}, job["_xml"])


def batch_info(ctx: ApiContext, req: Request) -> Response:
    """GET job/{id}/batch/{bid}: batchInfo."""
    job, batch = _batch(ctx, req)
    _settle(ctx, batch)
    return info_response("batchInfo", _batch_info(batch), job["_xml"])


def batch_request(ctx: ApiContext, req: Request) -> Response:
    """GET job/{id}/batch/{bid}/request: the SOQL the batch was given."""
    _, batch = _batch(ctx, req)
    return Response(200, batch["_soql"].encode("utf-8"), "text/plain")


def _result_ids(batch: dict[str, Any]) -> list[str]:
    ids = batch.setdefault("_files", [])
    if not ids:
        n = max(1, -(-len(batch["_result"]) // RESULT_SIZE))
        for i in range(n):
            id15 = f"752{batch['id'][3:12]}{i:03d}"
            ids.append(id15 + checksum(id15))
    return list(ids)


def batch_result(ctx: ApiContext, req: Request) -> Response:
    """GET job/{id}/batch/{bid}/result: the result file ids of a completed query batch."""
    job, batch = _batch(ctx, req)
    _settle(ctx, batch)
    if batch["state"] != "Completed":
        raise bulk_error(
            400, "InvalidBatch", f"Batch not completed: {batch['id']} is {batch['state']}", job["_xml"]
        )
    return info_response("result-list", {"result": _result_ids(batch)}, job["_xml"])


def result_file(ctx: ApiContext, req: Request) -> Response:
    """GET job/{id}/batch/{bid}/result/{rid}: one result file, JSON records or CSV."""
    job, batch = _batch(ctx, req)
    ids = _result_ids(batch) if batch["state"] == "Completed" else []
    rid = req.groups.get("result", "")
    if rid not in ids:
        raise bulk_error(400, "InvalidBatch", f"Unable to find result: {rid}", job["_xml"])
    offset = ids.index(rid) * RESULT_SIZE
    if job["contentType"] == "CSV":
        return Response(200, result_csv(batch["_result"], offset, RESULT_SIZE, req.version), CSV_TYPE)
    return Response(200, result_json(batch["_result"], offset, RESULT_SIZE, req.version), JSON_TYPE)
