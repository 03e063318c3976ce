"""A warm runner for the account-refresh deployment: its flow runs execute in this long-lived process.

Prefect's runner (`serve`, a process worker) starts a new Python process per flow run; importing Prefect, DuckDB and
Great Expectations there costs 9-15 s on this machine, which every change arriving after a quiet minute would wait
for. `crm-risk serve` registers account-refresh as Prefect's `serve` does (its trigger, parameters), then runs its
scheduled flow runs here, one at a time, with the imports and the Great Expectations context already loaded: a run
is claimed (Pending, as Prefect's runner does), then executed by Prefect's flow engine, so its states, logs, task
runs and artifacts are the same as a served run's. A run that raises fails alone; the runner goes on.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect.client.orchestration import get_client
from prefect.flow_engine import run_flow
from prefect.states import Pending
from prefect.utilities.engine import propose_state_sync

__all__ = ["WarmRunner"]

log = logging.getLogger(__name__)


class WarmRunner:
    """Runs the scheduled flow runs of one deployment in this process (see module doc)."""

    def __init__(self, deployment: Any, poll_seconds: float = 0.5) -> None:
        self.deployment = deployment
        self.poll_seconds = poll_seconds
        self.stop = threading.Event()

    def register(self) -> Any:
        """Create or update the deployment (and its triggers) on the server; its id."""
        return self.deployment.apply()

    def run(self, flow: Any) -> None:
        """Register, then claim and execute the deployment's due flow runs until `stop` is set."""
        from expectations.gate import warm_up

        deployment_id = self.register()
        warm_up()  # the Great Expectations context, before the first change needs it
        print(f"{self.deployment.name}: registered; its runs execute in this process (warm)", flush=True)
        with get_client(sync_client=True) as client:
            while not self.stop.is_set():
                due = client.get_scheduled_flow_runs_for_deployments(
                    deployment_ids=[deployment_id],
                    scheduled_before=datetime.now(UTC) + timedelta(seconds=1),
                    limit=5,
                )
                if not due:
                    self.stop.wait(self.poll_seconds)
                    continue
                for flow_run in due:
                    if self.stop.is_set():
                        break
                    claimed = propose_state_sync(client, Pending(), flow_run_id=flow_run.id)
                    if not claimed.is_pending():
                        continue  # another runner took it, or it was cancelled
                    run = client.read_flow_run(flow_run.id)  # as claimed (Pending)
                    state = run_flow(flow, flow_run=run, parameters=run.parameters, return_type="state")
                    log.info("warm runner: flow run %s %s", flow_run.name, getattr(state, "name", state))
