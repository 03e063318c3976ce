"""Bulk API 2.0: query jobs (results by locator + maxRecords, CSV with a header row on every page) and ingest
jobs (Open -> UploadComplete -> InProgress -> JobComplete, per-row results) (salesforce-wire.md §1.12, §3).

Ingest jobs are processed by one worker thread owned by the simulator. A job whose rows fail still ends
`JobComplete` with `numberRecordsFailed` > 0 (wire §9.3); `Failed` is only for whole-job failure (the
`bulkfail` fault). Upload CSV: an empty cell leaves a field unchanged, `#N/A` sets it to null.
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import queue
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from simulator.api.http import CSV_TYPE, Request, Response, error, json_response
from simulator.api.rest import sobject_name, write_fault
from simulator.org.clock import format_datetime
from simulator.org.ids import checksum
from simulator.org.schema import sobject as schema_sobject

if TYPE_CHECKING:
    from simulator.server import Simulator

__all__ = ["Bulk2"]

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
OPERATIONS = {"insert", "update", "upsert", "delete", "hardDelete"}
TERMINAL = {"JobComplete", "Aborted", "Failed"}
MAX_JOBS = 100  # terminal jobs beyond this are forgotten, oldest first (results live in memory)
_FROM_RE = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)
_OFFSET_RE = re.compile(r"\bOFFSET\s+\d+\s*$", re.IGNORECASE)
_NUMBER_TYPES = {"double": float, "currency": float, "percent": float, "int": int}


def _locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _offset(locator: str) -> int:
    try:
        return int(base64.b64decode(locator + "=" * (-len(locator) % 4)).decode())
    except ValueError:
        raise error(400, "INVALID_LOCATOR", f"Invalid locator: {locator}") from None


def _csv_line(values: list[str], delimiter: str = ",") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="").writerow(values)
    return buf.getvalue()


def _quoted(values: list[str], delimiter: str) -> str:
    return delimiter.join('"' + v.replace('"', '""') + '"' for v in values)


def _tail(original: str, delimiter: str) -> str:
    return delimiter + original if original else ""


class Bulk2:
    """The org's Bulk 2.0 jobs (in memory) and the worker thread that processes ingest jobs."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.jobs: dict[str, dict[str, Any]] = {}
        self._serial = int(time.time() * 10) % 10**9  # job ids stay unique across restarts
        self._lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._pool: ThreadPoolExecutor | None = None

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the ingest worker."""
        self._thread = threading.Thread(target=self._work, name="bulk2-ingest", daemon=True)
        self._thread.start()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bulk2-read-ahead")

    def stop(self) -> None:
        """Stop the ingest worker (the job in progress stops at its next row)."""
        self._stopping.set()
        if self._thread:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    # --- jobs ----------------------------------------------------------------------------------------
    def _new_job(self, req: Request, kind: str, extra: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._serial += 1
            id15 = f"7508d{self._serial:010d}"
            now = format_datetime(self.sim.org.clock.now())
            job = {
                "id": id15 + checksum(id15),
                "createdById": req.user_id,
                "createdDate": now,
                "systemModstamp": now,
                "concurrencyMode": "Parallel",
                "contentType": "CSV",
                "apiVersion": float(req.version),
                "jobType": kind,
                **extra,
            }
            self.jobs[job["id"]] = job
            if len(self.jobs) > MAX_JOBS:
                done = [
                    j for j, v in self.jobs.items() if v["state"] in TERMINAL or v["jobType"] == "V2Query"
                ]
                for old in done[: len(self.jobs) - MAX_JOBS]:
                    del self.jobs[old]
        return job

    def job(self, req: Request, kind: str) -> dict[str, Any]:
        """The job named in the URL, of the right kind; 404 NOT_FOUND otherwise."""
        job = self.jobs.get(req.groups.get("job", ""))
        if job is None or job["jobType"] != kind:
            raise error(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    @staticmethod
    def public(job: dict[str, Any]) -> dict[str, Any]:
        """The job JSON (internal keys start with `_`)."""
        return {k: v for k, v in job.items() if not k.startswith("_")}

    # --- query jobs ----------------------------------------------------------------------------------
    def create_query(self, req: Request) -> Response:
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
            raise error(
                400, "INVALIDJOB", "InvalidJob : OFFSET clause is not supported in Bulk API 2.0 query"
            )
        entity = _FROM_RE.search(soql)
        if entity and self.sim.faults.bulk_refused(
            entity.group(1)
        ):  # refused before the query runs, as Salesforce
            raise error(400, "INVALIDENTITY", f"Entity '{entity.group(1)}' is not supported by the Bulk API.")
        result = self.sim.org.query(soql, include_deleted=op == "queryAll")
        if result.is_count:
            raise error(400, "INVALIDJOB", "InvalidJob : Aggregate queries are not supported by Bulk API 2.0")
        failed = bool(self.sim.faults.check("bulk2.query.fail", req.path, {"bulkfail"}))
        job = self._new_job(
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
        )
        return json_response(200, self.public(job))

    def query_info(self, req: Request) -> Response:
        """GET jobs/query/{id}."""
        job = self.job(req, "V2Query")
        if job["state"] == "UploadComplete":
            job["state"] = job["_final"]
            job["systemModstamp"] = format_datetime(self.sim.org.clock.now())
            if job["state"] == "Failed":
                job["errorMessage"] = "InternalServerError : the query job failed (simulated fault)"
        info = {
            **self.public(job),
            "numberRecordsProcessed": job["_result"].total_size,
            "retries": 0,
            "totalProcessingTime": 10,
            "isPkChunkingSupported": True,
        }
        return json_response(200, info)

    def query_results(self, req: Request) -> Response:
        """GET jobs/query/{id}/results?locator=&maxRecords=: a CSV page with Sforce-Locator/NumberOfRecords."""
        job = self.job(req, "V2Query")
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
            body, headers = self._render(result, offset, limit, gz)
        end = offset + limit
        if end < result.total_size and self._pool is not None:
            # Read-ahead: render the next page while the client digests this one.
            job["_ahead"] = ((end, limit, gz), self._pool.submit(self._render, result, end, limit, gz))
        return Response(200, body, CSV_TYPE, headers)

    @staticmethod
    def _render(result: Any, offset: int, limit: int, gz: bool) -> tuple[bytes, list[tuple[str, str]]]:
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

    def delete_job(self, req: Request) -> Response:
        """DELETE jobs/query/{id} or jobs/ingest/{id}: 204; only terminal (or closed) jobs."""
        kind = "V2Query" if "/jobs/query/" in req.path else "V2Ingest"
        job = self.job(req, kind)
        if job["state"] in ("Open", "InProgress"):
            raise error(
                400, "API_ERROR", "Error encountered when deleting the job because the job is not terminated"
            )
        self.jobs.pop(job["id"], None)
        return Response(204, b"", None)

    def list_jobs(self, req: Request) -> Response:
        """GET jobs/query or jobs/ingest: every job of that kind."""
        kind = "V2Query" if req.path.rstrip("/").endswith("query") else "V2Ingest"
        records = [self.public(j) for j in self.jobs.values() if j["jobType"] == kind]
        return json_response(200, {"done": True, "records": records, "nextRecordsUrl": None})

    # --- ingest jobs ----------------------------------------------------------------------------------
    def create_ingest(self, req: Request) -> Response:
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
        failed = bool(self.sim.faults.check("bulk2.ingest.fail", req.path, {"bulkfail"}))
        job = self._new_job(
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
        )
        job["contentUrl"] = f"services/data/v{req.version}/jobs/ingest/{job['id']}/batches"
        return json_response(200, self.public(job))

    def ingest_info(self, req: Request) -> Response:
        """GET jobs/ingest/{id}: the job with its counts."""
        job = self.job(req, "V2Ingest")
        return json_response(200, self._info(job))

    def _info(self, job: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.public(job),
            "numberRecordsProcessed": len(job["_success"]) + len(job["_failed"]),
            "numberRecordsFailed": len(job["_failed"]),
            "retries": 0,
            "totalProcessingTime": 10,
            "apiActiveProcessingTime": 5,
            "apexProcessingTime": 0,
        }

    def upload(self, req: Request) -> Response:
        """PUT jobs/ingest/{id}/batches: the CSV data; exactly 201, no body."""
        job = self.job(req, "V2Ingest")
        if job["state"] != "Open":
            raise error(
                409,
                "INVALIDJOB",
                f"InvalidJob : Found Job with state: {job['state']}; data can only be "
                "uploaded to an Open job",
            )
        job["_data"].append(req.body.decode("utf-8-sig"))
        return Response(201, b"", None)

    def set_state(self, req: Request) -> Response:
        """PATCH jobs/ingest/{id} {"state": "UploadComplete"|"Aborted"} (query jobs: Aborted): the job JSON."""
        kind = "V2Query" if "/jobs/query/" in req.path else "V2Ingest"
        job = self.job(req, kind)
        state = (req.json() or {}).get("state")
        with self._lock:
            if kind == "V2Query" and job["state"] == "UploadComplete" and state == "Aborted":
                job["state"] = job["_final"] = "Aborted"
            elif state == "UploadComplete" and job["state"] == "Open" and kind == "V2Ingest":
                job["state"] = "UploadComplete"
                self._queue.put(job["id"])
            elif state == "Aborted" and job["state"] not in TERMINAL:
                if job["state"] in ("Open", "UploadComplete") and kind == "V2Ingest":
                    delimiter = DELIMITERS[job["columnDelimiter"]]
                    job["_unprocessed"] = [_csv_line(r, delimiter) for r in self._parse(job)]
                job["state"] = "Aborted"
            else:
                raise error(
                    400, "INVALIDJOB", f"InvalidJob : cannot change state from {job['state']} to {state}"
                )
            job["systemModstamp"] = format_datetime(self.sim.org.clock.now())
        return json_response(200, self.public(job))

    def results(self, req: Request) -> Response:
        """GET jobs/ingest/{id}/successfulResults | failedResults | unprocessedrecords (either spelling)."""
        job = self.job(req, "V2Ingest")
        which = req.groups["which"].lower()
        header, delimiter = job["_header"], DELIMITERS[job["columnDelimiter"]]
        if which == "successfulresults":
            head, rows = _quoted(["sf__Id", "sf__Created"], delimiter), job["_success"]
        elif which == "failedresults":
            head, rows = _quoted(["sf__Id", "sf__Error"], delimiter), job["_failed"]
        else:
            head, rows = "", job["_unprocessed"]
        cols = _csv_line(header, delimiter) if header else ""
        lines = [head + _tail(cols, delimiter) if head else cols]
        lines.extend(rows)
        return Response(200, ("\n".join(lines) + "\n").encode("utf-8"), CSV_TYPE)

    # --- processing ------------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            job = self.jobs.get(job_id)
            if job is not None:
                try:
                    self._process(job)
                except Exception as exc:  # a bug must fail the job, not kill the worker
                    job["state"], job["errorMessage"] = "Failed", f"InternalServerError : {exc}"

    @staticmethod
    def _parse(job: dict[str, Any]) -> list[list[str]]:
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

    def _process(self, job: dict[str, Any]) -> None:
        delimiter = DELIMITERS[job["columnDelimiter"]]
        with self._lock:
            if job["state"] != "UploadComplete":
                return
            rows = self._parse(job)
            job["state"] = "InProgress"
        header = job["_header"]
        obj = schema_sobject(job["object"])
        unknown = [h for h in header if "." not in h and obj is not None and obj.field(h) is None]
        if job["_fail"] or unknown:
            job["_unprocessed"] = [_csv_line(r, delimiter) for r in rows]
            job["state"], job["errorMessage"] = (
                "Failed",
                (
                    f"InvalidBatch : Field name not found : {unknown[0]}"
                    if unknown
                    else "InvalidBatch : the job failed (simulated fault)"
                ),
            )
            return
        for i, raw in enumerate(rows):
            if job["state"] == "Aborted" or self._stopping.is_set():
                job["_unprocessed"] = [_csv_line(r, delimiter) for r in rows[i:]]
                return
            self._row(job, header, raw, delimiter)
        with self._lock:
            if job["state"] == "InProgress":
                job["state"] = "JobComplete"
                job["systemModstamp"] = format_datetime(self.sim.org.clock.now())

    def _row(self, job: dict[str, Any], header: list[str], raw: list[str], delimiter: str) -> None:
        org, name, op, user = self.sim.org, job["object"], job["operation"], job["_user"]
        original = _csv_line(raw, delimiter)
        record = dict(zip(header, raw, strict=False))
        rid = next((v for k, v in record.items() if k.lower() == "id"), "") or ""
        try:
            data = _convert(name, {k: v for k, v in record.items() if k.lower() != "id"})
            fault = write_fault(self.sim, name, rid or None) if op != "hardDelete" else None
            if fault:
                raise _RowError(fault[0], fault[1], [])
            created = False
            if op == "insert":
                rid, created = org.create(name, data, user_id=user), True
            elif op == "update":
                org.update(name, rid, data, user_id=user)
            elif op == "delete":
                org.delete(name, rid, user_id=user)
            elif op == "hardDelete":
                org.hard_delete(name, rid)
            elif job["externalIdFieldName"].lower() == "id":
                if rid:
                    org.update(name, rid, data, user_id=user)
                else:
                    rid, created = org.create(name, data, user_id=user), True
            else:
                ext = job["externalIdFieldName"]
                value = next((v for k, v in record.items() if k.lower() == ext.lower()), "")
                data = {k: v for k, v in data.items() if k.lower() != ext.lower()}
                rid, created = org.upsert(name, ext, value, data, user_id=user)
            job["_success"].append(
                _quoted([rid, str(created).lower()], delimiter) + _tail(original, delimiter)
            )
        except Exception as exc:
            code = getattr(exc, "error_code", None)
            if code is None:
                raise
            fields = ",".join(getattr(exc, "fields", None) or [])
            message = f"{code}:{getattr(exc, 'message', str(exc))}:{fields} --"
            job["_failed"].append(_quoted([rid, message], delimiter) + _tail(original, delimiter))


class _RowError(Exception):
    def __init__(self, code: str, message: str, fields: list[str]) -> None:
        super().__init__(message)
        self.error_code, self.message, self.fields = code, message, fields


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
        except ValueError:
            raise _RowError(
                "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{key}: value not of required type: {value}", [key]
            ) from None
    return out
