"""Bulk API 2.0, done directly on the client's session: query jobs (queryAll, paged CSV) and update ingest jobs.

simple-salesforce's bulk2 sleeps 5 s before the first poll, buffers whole results, has no gzip or abort-on-error and
raises exceptions outside its own tree; this module polls with a backoff starting at 0.2 s, downloads each result page
by locator (`maxRecords`, gzip) into a spooled temp file so memory stays flat, and aborts the job whenever it gives up.
It does not retry by itself: every request is one client call under the retry policy (retry.py), a result page is
downloaded whole inside that call (so a page cut off half-way is asked for again by its stable locator), and job
creation is declared safe to repeat (a duplicate would only be an idle job). A job that ends Failed is not created
again: the query raises TransientError (the extract reads the object through REST instead), an update's rows go
back to the pusher.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import io
import logging
import math
import queue
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from connectors.salesforce.client import CrmClient
from crm_risk.errors import ConnectorError, TerminalError, TransientError
from crm_risk.secrets import mask

__all__ = ["BulkUnsupported", "IngestOutcome", "ingest", "query_pages"]

log = logging.getLogger(__name__)

POLL_FIRST_SECONDS = 0.2
POLL_MAX_SECONDS = 5.0
POLL_TIMEOUT_SECONDS = 6 * 3600
_CSV_HEADERS = {"Accept": "text/csv", "Accept-Encoding": "gzip"}
_TERMINAL_STATES = ("JobComplete", "Failed", "Aborted")


class BulkUnsupported(TerminalError):
    """The object cannot be queried through Bulk 2.0 (INVALIDENTITY): use REST instead."""


def _abort(client: CrmClient, kind: str, job_id: str) -> None:
    """Abort a job that is still running; never raises (we are already failing)."""
    try:
        info = client.request("GET", f"jobs/{kind}/{job_id}").json()
        if info.get("state") not in _TERMINAL_STATES:
            client.request("PATCH", f"jobs/{kind}/{job_id}", json={"state": "Aborted"})
            log.warning("bulk %s job %s aborted", kind, job_id)
    except Exception as exc:  # the original failure matters more than this one
        log.warning("could not abort bulk %s job %s: %s", kind, job_id, mask(exc))


def _create_job(client: CrmClient, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """POST a job; safe to repeat after a transient failure (a duplicate would only be an idle job)."""
    job: dict[str, Any] = client.request("POST", f"jobs/{kind}", json=spec, idempotent=True).json()
    return job


def _wait(client: CrmClient, kind: str, job_id: str, rows: int | None = None) -> dict[str, Any]:
    """Poll a job until it is terminal (backoff 0.2 s x1.5 up to 5 s); returns the final job info.

    A job of known size (`rows`, an ingest job) that reports progress (`numberRecordsProcessed`) is asked again when
    its rate so far says it ends, if that comes before the backoff's next poll (never sooner than 0.2 s): a job
    ending just after a poll is no longer seen up to 5 s late, and no poll is added before then.
    """
    delay, started = POLL_FIRST_SECONDS, time.monotonic()
    while True:
        info: dict[str, Any] = client.request("GET", f"jobs/{kind}/{job_id}").json()
        if info.get("state") in _TERMINAL_STATES:
            return info
        elapsed = time.monotonic() - started
        if elapsed > POLL_TIMEOUT_SECONDS:
            raise TransientError(
                f"bulk {kind} job {job_id} still {info.get('state')} after {POLL_TIMEOUT_SECONDS} s",
                code="JOB_TIMEOUT",
            )
        time.sleep(min(delay, _until_done(info, rows, elapsed)))
        delay = min(delay * 1.5, POLL_MAX_SECONDS)


def _until_done(info: dict[str, Any], rows: int | None, elapsed: float) -> float:
    """Seconds until a job of `rows` ends at the rate it processed rows so far (inf when it cannot tell)."""
    try:
        done = int(info.get("numberRecordsProcessed") or 0)
    except (TypeError, ValueError):
        return math.inf
    if not rows or done <= 0 or done >= rows or elapsed <= 0:
        return math.inf
    return max(POLL_FIRST_SECONDS, (rows - done) * elapsed / done)


_Page = tuple["tempfile.SpooledTemporaryFile[bytes]", str | None]


def _spool(resp: requests.Response) -> tempfile.SpooledTemporaryFile[bytes]:
    """A response body, gunzipped, in a spooled temp file (in memory up to 16 MB), rewound."""
    spool: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(max_size=16 << 20)  # noqa: SIM115 (returned open)
    try:
        for block in resp.iter_content(1 << 20):
            spool.write(block)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def _download(client: CrmClient, url: str, params: dict[str, Any]) -> tempfile.SpooledTemporaryFile[bytes]:
    """One whole response body (an ingest job's results) into a spooled temp file inside one client call."""
    return client.fetch(
        "GET", url, _spool, params=params, headers=_CSV_HEADERS, stream=True, what=f"bulk results {url}"
    )


class _Pages:
    """Result pages fetched ahead, in order: a page's successor is requested (by the `Sforce-Locator` it answered
    with) as soon as the page is downloaded whole, so the download of the next pages overlaps the caller's reading
    of this one, up to `ahead` pages held. Locators are opaque: a job's pages can only be chained, never guessed.
    A successor is not asked for before its predecessor arrived whole, so a page failing past the retries costs
    no call for the pages after it (each page is one client call under the retry policy); the failure is raised
    in page order and ends the chain."""

    def __init__(self, client: CrmClient, job_id: str, page_rows: int, ahead: int) -> None:
        self.client, self.url, self.page_rows = client, f"jobs/query/{job_id}/results", page_rows
        self.slots = threading.BoundedSemaphore(max(1, ahead))  # pages fetched but not yet read by the caller
        # one more worker than pages: the successor's submission waits for a slot on a worker of its own
        self.pool = ThreadPoolExecutor(max_workers=max(1, ahead) + 1, thread_name_prefix="bulk-page")
        self.order: queue.Queue[Future[_Page]] = queue.Queue()
        self.stopped = threading.Event()

    def _submit(self, locator: str | None) -> bool:
        """Queue the page at `locator` once a slot is free; False when the chain was stopped meanwhile."""
        while not self.slots.acquire(timeout=0.2):
            if self.stopped.is_set():
                return False
        if self.stopped.is_set():
            self.slots.release()
            return False
        # the page's call counts for the object's extract (client.tally): run in a copy of this context
        self.order.put(self.pool.submit(contextvars.copy_context().run, self._fetch, locator))
        return True

    def _fetch(self, locator: str | None) -> _Page:
        started = False

        def read(resp: requests.Response) -> _Page:
            nonlocal started
            following = resp.headers.get("Sforce-Locator")
            following = None if following in (None, "", "null") else following
            spool = _spool(resp)
            if following and not started:  # this page is whole: its successor downloads while it is read
                started = True
                self.pool.submit(contextvars.copy_context().run, self._submit, following)
            return spool, following

        params: dict[str, Any] = {"maxRecords": self.page_rows}
        if locator:
            params["locator"] = locator
        return self.client.fetch(
            "GET",
            self.url,
            read,
            params=params,
            headers=_CSV_HEADERS,
            stream=True,
            what=f"bulk result page {self.url}",
        )

    def __iter__(self) -> Iterator[tempfile.SpooledTemporaryFile[bytes]]:
        self._submit(None)
        try:
            while True:
                spool, following = self.order.get().result()
                try:
                    yield spool
                finally:
                    spool.close()
                    self.slots.release()
                if not following:
                    return
        finally:
            self.stopped.set()
            self.pool.shutdown(wait=True, cancel_futures=True)
            while not self.order.empty():  # pages fetched ahead of a failure: close their files
                with contextlib.suppress(Exception):
                    self.order.get_nowait().result()[0].close()


def query_pages(
    client: CrmClient, soql: str, *, page_rows: int, operation: str = "queryAll", ahead: int = 1
) -> Iterator[tempfile.SpooledTemporaryFile[bytes]]:
    """Each result page of a Bulk 2.0 query job as a CSV file (header row first), in order; `ahead` pages are
    fetched concurrently (see _Pages). The file is closed once the caller asks for the next page.

    Raises BulkUnsupported when the object is not supported by Bulk 2.0 (the caller falls back to REST).
    """
    try:
        spec = {"operation": operation, "query": soql, "contentType": "CSV", "columnDelimiter": "COMMA"}
        job = _create_job(client, "query", {**spec, "lineEnding": "LF"})
    except ConnectorError as exc:
        if exc.code == "INVALIDENTITY" or "not supported by the Bulk API" in str(exc):
            raise BulkUnsupported(str(exc), status=exc.status, code="INVALIDENTITY") from None
        raise
    job_id = str(job["id"])
    done = False
    try:
        info = _wait(client, "query", job_id)
        if info["state"] != "JobComplete":
            message = str(info.get("errorMessage") or info["state"])
            if "INVALIDENTITY" in message or "not supported by the Bulk API" in message:
                raise BulkUnsupported(f"bulk query job {job_id}: {message}", code="INVALIDENTITY")
            raise TransientError(
                mask(f"bulk query job {job_id} ended {info['state']}: {message}"),
                code=str(info["state"]).upper(),
            )
        log.info("bulk query job %s complete: %s records", job_id, info.get("numberRecordsProcessed"))
        pages = 0
        for spool in _Pages(client, job_id, page_rows, ahead):
            pages += 1
            yield spool
        done = True
        log.info("bulk query job %s: %d result pages downloaded (%d ahead)", job_id, pages, ahead)
    finally:
        if not done:
            _abort(client, "query", job_id)


@dataclass
class IngestOutcome:
    """What one Bulk 2.0 ingest job did: per-row successes, failures (with sf__Error) and unprocessed rows."""

    job_id: str
    state: str
    error_message: str = ""
    successful: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    unprocessed: list[dict[str, str]] = field(default_factory=list)


def _results(client: CrmClient, job_id: str, which: str) -> list[dict[str, str]]:
    spool = _download(client, f"jobs/ingest/{job_id}/{which}", {})
    with spool, io.TextIOWrapper(spool, encoding="utf-8", newline="") as text:
        return list(csv.DictReader(text))


def ingest(
    client: CrmClient,
    sobject: str,
    csv_bytes: bytes,
    *,
    operation: str = "update",
    external_id_field: str | None = None,
    rows: int | None = None,
) -> IngestOutcome:
    """Run one Bulk 2.0 ingest job (CSV with CRLF line endings) to the end and collect its per-row results.
    `rows`: how many records the CSV holds (its polls then follow the job's progress, see _wait)."""
    spec: dict[str, Any] = {
        "object": sobject,
        "operation": operation,
        "contentType": "CSV",
        "columnDelimiter": "COMMA",
        "lineEnding": "CRLF",
    }
    if external_id_field:
        spec["externalIdFieldName"] = external_id_field
    job = _create_job(client, "ingest", spec)
    job_id = str(job["id"])
    finished = False
    try:
        client.request(
            "PUT",
            f"jobs/ingest/{job_id}/batches",
            data=csv_bytes,
            ok=(201,),
            headers={"Content-Type": "text/csv"},
        )
        client.request("PATCH", f"jobs/ingest/{job_id}", json={"state": "UploadComplete"})
        info = _wait(client, "ingest", job_id, rows)
        finished = True
    finally:
        if not finished:
            _abort(client, "ingest", job_id)
    out = IngestOutcome(job_id, str(info["state"]), str(info.get("errorMessage") or ""))
    out.successful = _results(client, job_id, "successfulResults")
    out.failed = _results(client, job_id, "failedResults")
    if out.state != "JobComplete":
        out.unprocessed = _results(client, job_id, "unprocessedrecords")
    log.info(
        "bulk ingest job %s %s: %d ok, %d failed, %d unprocessed",
        job_id,
        out.state,
        len(out.successful),
        len(out.failed),
        len(out.unprocessed),
    )
    return out
