"""The org's Bulk 1.0 jobs and batches, in memory (ids `750` job, `751` batch, `752` result file)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from simulator.org.clock import format_datetime
from simulator.org.ids import checksum

__all__ = ["MAX_JOBS", "Bulk1Jobs", "Job"]

MAX_JOBS = 50  # closed jobs beyond this are forgotten, oldest first (results live in memory)
Job = dict[str, Any]


class Bulk1Jobs:
    """Jobs by id, each with its batches by id; thread-safe id minting and eviction."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self._serial = int(time.time() * 10) % 10**9  # ids stay unique across restarts

    def mint(self, prefix: str) -> str:
        """A new 18-character id with that key prefix."""
        with self.lock:
            self._serial += 1
            id15 = f"{prefix}8d{self._serial:010d}"
        return id15 + checksum(id15)

    def new(self, user_id: str | None, now: datetime, extra: dict[str, Any]) -> Job:
        """Register an Open job."""
        stamp = format_datetime(now)
        job: Job = {
            "id": self.mint("750"),
            "createdById": user_id,
            "createdDate": stamp,
            "systemModstamp": stamp,
            "state": "Open",
            "_batches": {},
            **extra,
        }
        with self.lock:
            self.jobs[job["id"]] = job
            if len(self.jobs) > MAX_JOBS:
                done = [j for j, v in self.jobs.items() if v["state"] != "Open"]
                for old in done[: len(self.jobs) - MAX_JOBS]:
                    del self.jobs[old]
        return job

    def get(self, job_id: str) -> Job | None:
        """The job of that id, or None."""
        return self.jobs.get(job_id)

    @staticmethod
    def touch(job: Job, now: Callable[[], datetime]) -> None:
        """Stamp a change of the job."""
        job["systemModstamp"] = format_datetime(now())
