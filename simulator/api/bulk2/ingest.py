"""Bulk 2.0 ingest jobs: Open -> UploadComplete -> InProgress -> JobComplete, per-row results (wire §3, §9.3).

The registry's worker thread runs `process` on each job whose upload is complete. A job whose rows fail still ends
`JobComplete` with `numberRecordsFailed` > 0; `Failed` is only for whole-job failure (the `bulkfail` fault).
Upload CSV: an empty cell leaves a field unchanged, `#N/A` sets it to null. Rows are committed in chunks of 200,
each one set of org writes (`Org.write_many`) and one change-log transaction with `changeOrigin`
`com/salesforce/api/bulkapi/<version>`; an abort takes effect between chunks (a chunk is committed whole).
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from simulator.api.bulk2.registry import Bulk2Jobs, Job
from simulator.api.http import CSV_TYPE, Request, Response, error, json_response
from simulator.api.rest import sobject_name, write_fault
from simulator.org.clock import format_datetime
from simulator.org.errors import ApiError
from simulator.org.schema import sobject as schema_sobject
from simulator.org.session import Write

if TYPE_CHECKING:
    from simulator.api.context import ApiContext

__all__ = [
    "DELIMITERS",
    "create_ingest",
    "csv_line",
    "ingest_info",
    "parse_rows",
    "process",
    "results",
    "upload",
]

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
CHUNK = 200  # rows per transaction (one CDC transaction each)
OPERATIONS = {"insert", "update", "upsert", "delete", "hardDelete"}
_NUMBER_TYPES = {"double": float, "currency": float, "percent": float, "int": int}


def csv_line(values: list[str], delimiter: str = ",") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="").writerow(values)
    return buf.getvalue()


def _quoted(values: list[str], delimiter: str) -> str:
    return delimiter.join('"' + v.replace('"', '""') + '"' for v in values)


def _tail(original: str, delimiter: str) -> str:
    return delimiter + original if original else ""


def create_ingest(ctx: ApiContext, req: Request) -> Response:
    """POST jobs/ingest: a job in state Open with a relative contentUrl."""
    body = req.json() or {}
    op = body.get("operation")
    if op not in OPERATIONS:
        raise error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {op}")
    if schema_sobject(str(body.get("object", ""))) is None:
        raise error(400, "INVALIDJOB", f"InvalidJob : Unable to find object: {body.get('object')}")
    name = sobject_name(body["object"])
    ext = body.get("externalIdFieldName")
    if op == "upsert" and not ext:
        raise error(400, "INVALIDJOB", "InvalidJob : External ID was blank for upsert")
    delimiter = body.get("columnDelimiter", "COMMA")
    if delimiter not in DELIMITERS or body.get("lineEnding", "LF") not in ("LF", "CRLF"):
        raise error(400, "INVALIDJOB", "InvalidJob : invalid columnDelimiter or lineEnding")
    failed = bool(ctx.faults.check("bulk2.ingest.fail", req.path, {"bulkfail"}))
    job = ctx.bulk2.new(
        req,
        "V2Ingest",
        {
            "operation": op,
            "object": name,
            "state": "Open",
            "externalIdFieldName": ext,
            "lineEnding": body.get("lineEnding", "LF"),
            "columnDelimiter": delimiter,
            "_data": [],
            "_success": [],
            "_failed": [],
            "_unprocessed": [],
            "_header": [],
            "_fail": failed,
            "_user": req.user_id,
        },
        ctx.org.clock.now,
    )
    job["contentUrl"] = f"services/data/v{req.version}/jobs/ingest/{job['id']}/batches"
    return json_response(200, Bulk2Jobs.public(job))


def ingest_info(ctx: ApiContext, req: Request) -> Response:
    """GET jobs/ingest/{id}: the job with its counts."""
    job = ctx.bulk2.get(req, "V2Ingest")
    return json_response(200, _info(job))


def _info(job: Job) -> dict[str, Any]:
    return {
        **Bulk2Jobs.public(job),
        "numberRecordsProcessed": len(job["_success"]) + len(job["_failed"]),
        "numberRecordsFailed": len(job["_failed"]),
        "retries": 0,
        "totalProcessingTime": 10,
        "apiActiveProcessingTime": 5,
        "apexProcessingTime": 0,
    }


def upload(ctx: ApiContext, req: Request) -> Response:
    """PUT jobs/ingest/{id}/batches: the CSV data; exactly 201, no body."""
    job = ctx.bulk2.get(req, "V2Ingest")
    if job["state"] != "Open":
        raise error(
            409,
            "INVALIDJOB",
            f"InvalidJob : Found Job with state: {job['state']}; data can only be uploaded to an Open job",
        )
    job["_data"].append(req.body.decode("utf-8-sig"))
    return Response(201, b"", None)


def results(ctx: ApiContext, req: Request) -> Response:
    """GET jobs/ingest/{id}/successfulResults | failedResults | unprocessedrecords (either spelling)."""
    job = ctx.bulk2.get(req, "V2Ingest")
    which = req.groups["which"].lower()
    header, delimiter = job["_header"], DELIMITERS[job["columnDelimiter"]]
    if which == "successfulresults":
        head, rows = _quoted(["sf__Id", "sf__Created"], delimiter), job["_success"]
    elif which == "failedresults":
        head, rows = _quoted(["sf__Id", "sf__Error"], delimiter), job["_failed"]
    else:
        head, rows = "", job["_unprocessed"]
    cols = csv_line(header, delimiter) if header else ""
    lines = [head + _tail(cols, delimiter) if head else cols]
    lines.extend(rows)
    return Response(200, ("\n".join(lines) + "\n").encode("utf-8"), CSV_TYPE)


def parse_rows(job: Job) -> list[list[str]]:
    """The uploaded rows (the header goes to job["_header"]); the raw data is released."""
    delimiter = DELIMITERS[job["columnDelimiter"]]
    rows: list[list[str]] = []
    for chunk in job["_data"]:
        reader = csv.reader(io.StringIO(chunk, newline=""), delimiter=delimiter)
        head = next(reader, [])
        if not job["_header"]:
            job["_header"] = head
        rows.extend(r for r in reader if r)
    job["_data"] = []
    return rows


def process(ctx: ApiContext, job: Job) -> None:
    """Run an ingest job whose upload is complete, row by row (on the registry's worker thread)."""
    delimiter = DELIMITERS[job["columnDelimiter"]]
    with ctx.bulk2.lock:
        if job["state"] != "UploadComplete":
            return
        rows = parse_rows(job)
        job["state"] = "InProgress"
    header = job["_header"]
    obj = schema_sobject(job["object"])
    unknown = [h for h in header if "." not in h and obj is not None and obj.field(h) is None]
    if job["_fail"] or unknown:
        job["_unprocessed"] = [csv_line(r, delimiter) for r in rows]
        job["state"], job["errorMessage"] = (
            "Failed",
            (
                f"InvalidBatch : Field name not found : {unknown[0]}"
                if unknown
                else "InvalidBatch : the job failed (simulated fault)"
            ),
        )
        return
    origin = f"com/salesforce/api/bulkapi/{float(job['apiVersion']):.1f}"
    for start in range(0, len(rows), CHUNK):
        if job["state"] == "Aborted" or ctx.bulk2.stopping.is_set():
            job["_unprocessed"] = [csv_line(r, delimiter) for r in rows[start:]]
            return
        with ctx.org.changes.transaction(origin):  # Salesforce commits Bulk rows in chunks of 200
            _chunk(ctx, job, header, rows[start : start + CHUNK], delimiter)
    with ctx.bulk2.lock:
        if job["state"] == "InProgress":
            job["state"] = "JobComplete"
            job["systemModstamp"] = format_datetime(ctx.org.clock.now())


def _chunk(ctx: ApiContext, job: Job, header: list[str], raws: list[list[str]], delimiter: str) -> None:
    """One chunk as one set of org writes (simulator.org.write.write_many); deletes row by row."""
    if job["operation"] in ("delete", "hardDelete"):
        for raw in raws:
            _delete_row(ctx, job, header, raw, delimiter)
        return
    writes: list[tuple[str, str, Write | ApiError]] = []  # (original line, id given, the write or its error)
    for raw in raws:
        original = csv_line(raw, delimiter)
        record = dict(zip(header, raw, strict=False))
        rid = next((v for k, v in record.items() if k.lower() == "id"), "") or ""
        try:
            writes.append((original, rid, _write(ctx, job, record, rid)))
        except ApiError as exc:
            writes.append((original, rid, exc))
    done = iter(ctx.org.write_many([w for _, _, w in writes if isinstance(w, Write)], user_id=job["_user"]))
    for original, rid, w in writes:
        outcome = next(done) if isinstance(w, Write) else w
        if isinstance(outcome, ApiError):
            message = f"{outcome.error_code}:{outcome.message}:{','.join(outcome.fields)} --"
            job["_failed"].append(_quoted([rid, message], delimiter) + _tail(original, delimiter))
        else:
            new_id, created = outcome
            job["_success"].append(
                _quoted([new_id, str(created).lower()], delimiter) + _tail(original, delimiter)
            )


def _delete_row(ctx: ApiContext, job: Job, header: list[str], raw: list[str], delimiter: str) -> None:
    name, user = job["object"], job["_user"]
    original = csv_line(raw, delimiter)
    record = dict(zip(header, raw, strict=False))
    rid = next((v for k, v in record.items() if k.lower() == "id"), "") or ""
    try:
        _convert(name, {k: v for k, v in record.items() if k.lower() != "id"})
        if job["operation"] == "hardDelete":
            ctx.org.hard_delete(name, rid)
        else:
            fault = write_fault(ctx, name, rid or None)
            if fault:
                raise ApiError(400, fault[0], fault[1])
            ctx.org.delete(name, rid, user_id=user)
        job["_success"].append(_quoted([rid, "false"], delimiter) + _tail(original, delimiter))
    except ApiError as exc:
        message = f"{exc.error_code}:{exc.message}:{','.join(exc.fields)} --"
        job["_failed"].append(_quoted([rid, message], delimiter) + _tail(original, delimiter))


def _write(ctx: ApiContext, job: Job, record: dict[str, str], rid: str) -> Write:
    """The org write one CSV row asks for (ApiError for a value of the wrong type)."""
    name, op = job["object"], job["operation"]
    data = _convert(name, {k: v for k, v in record.items() if k.lower() != "id"})

    def guard(_: list[str]) -> None:
        fault = write_fault(ctx, name, rid or None)
        if fault:
            raise ApiError(400, fault[0], fault[1])

    if op == "insert":
        return Write("create", name, data, guard=guard)
    if op == "update":
        return Write("update", name, data, record_id=rid, guard=guard)
    if job["externalIdFieldName"].lower() == "id":
        if rid:
            return Write("update", name, data, record_id=rid, guard=guard)
        return Write("create", name, data, guard=guard)
    ext = job["externalIdFieldName"]
    value = next((v for k, v in record.items() if k.lower() == ext.lower()), "")
    data = {k: v for k, v in data.items() if k.lower() != ext.lower()}
    return Write("upsert", name, data, ext_field=ext, ext_value=value, guard=guard)


def _convert(name: str, record: dict[str, str]) -> dict[str, Any]:
    """CSV cells -> field values: empty = leave unchanged, `#N/A` = null, booleans and numbers typed."""
    obj = schema_sobject(name)
    out: dict[str, Any] = {}
    for key, value in record.items():
        if value == "":
            continue
        if value == "#N/A":
            out[key] = None
            continue
        f = obj.field(key) if obj else None
        try:
            if f is not None and f.type == "boolean":
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                out[key] = value.lower() in ("true", "1")
            elif f is not None and f.type in _NUMBER_TYPES:
                out[key] = _NUMBER_TYPES[f.type](float(value)) if f.type == "int" else float(value)
            else:
                out[key] = value
        except (ValueError, OverflowError):  # OverflowError: int('1e400')
            raise ApiError(
                400, "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{key}: value not of required type: {value}", [key]
            ) from None
    return out
