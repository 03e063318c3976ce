"""The org's Bulk 2.0 jobs, in memory: the job table, the ingest queue and its worker thread, the read-ahead pool."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from simulator.api.http import Request, error
from simulator.org.clock import format_datetime
from simulator.org.ids import checksum

__all__ = ["MAX_JOBS", "TERMINAL", "Bulk2Jobs", "Job"]

TERMINAL = {"JobComplete", "Aborted", "Failed"}
MAX_JOBS = 100  # terminal jobs beyond this are forgotten, oldest first (results live in memory)
Job = dict[str, Any]


class Bulk2Jobs:
    """The jobs by id, and the worker thread that runs ingest jobs queued by `enqueue` (shared by the handlers)."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self._serial = int(time.time() * 10) % 10**9  # job ids stay unique across restarts
        self.lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.pool: ThreadPoolExecutor | None = None

    def start(self, process: Callable[[Job], None]) -> None:
        """Start the ingest worker; it calls `process(job)` for each job queued by `enqueue`."""
        self._thread = threading.Thread(target=self._work, args=(process,), name="bulk2-ingest", daemon=True)
        self._thread.start()
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bulk2-read-ahead")

    def stop(self) -> None:
        """Stop the ingest worker (the job in progress stops at its next row)."""
        self.stopping.set()
        if self._thread:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def new(self, req: Request, kind: str, extra: dict[str, Any], now: Callable[[], datetime]) -> Job:
        """Register a new job of `kind` (`V2Query` | `V2Ingest`) created by the request, stamped `now()`."""
        with self.lock:
            self._serial += 1
            id15 = f"7508d{self._serial:010d}"
            stamp = format_datetime(now())
            job = {
                "id": id15 + checksum(id15),
                "createdById": req.user_id,
                "createdDate": stamp,
                "systemModstamp": stamp,
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

    def get(self, req: Request, kind: str) -> Job:
        """The job named in the URL, of the right kind; 404 NOT_FOUND otherwise."""
        job = self.jobs.get(req.groups.get("job", ""))
        if job is None or job["jobType"] != kind:
            raise error(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    @staticmethod
    def public(job: Job) -> dict[str, Any]:
        """The job JSON (internal keys start with `_`)."""
        return {k: v for k, v in job.items() if not k.startswith("_")}

    def enqueue(self, job_id: str) -> None:
        """Queue an ingest job for the worker (its upload is complete)."""
        self._queue.put(job_id)

    def _work(self, process: Callable[[Job], None]) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            job = self.jobs.get(job_id)
            if job is not None:
                try:
                    process(job)
                except Exception as exc:  # a bug must fail the job, not kill the worker
                    job["state"], job["errorMessage"] = "Failed", f"InternalServerError : {exc}"
