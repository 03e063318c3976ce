"""The nightly sync flow: extract -> gate + load -> transform -> push -> summary artifact."""

from __future__ import annotations

from typing import Any

from prefect import flow

from crm_risk.config import settings_from_parameters
from flows.sync import sync_once

__all__ = ["nightly_sync"]


@flow(name="nightly-sync", log_prints=False)
def nightly_sync(
    objects: list[str] | None = None,
    push: bool = True,
    settings: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Pull what changed in the CRM, rebuild account history and risk, write changed flags back (`dry_run`: list
    what would be written instead, write nothing to the CRM)."""
    return sync_once(settings_from_parameters(settings), "nightly_sync", objects, push, dry_run=dry_run)
