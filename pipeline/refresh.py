"""Account refresh: pull some accounts' records, gate and load them, score those accounts, push their flags.

One pass (`refresh_accounts`) is the nightly's steps restricted to a set of accounts:

1. extract: every account-owned object's records of those accounts (`WHERE AccountId IN (...)`, chunked, REST
   queryAll), landed as the nightly's extracts are but marked `scope: accounts`, so loading them moves no watermark;
2. gate + load: the same data-quality gate and merge (a newer `SystemModstamp` wins, so a nightly batch loaded
   later never puts an older copy back);
3. score: the nightly's SQL over those accounts' rows only, merged back account by account (transforms/scoped.py);
4. push: the accounts' flags and owner Tasks, diff-only and logged as every push is; no other account is touched.

The warehouse is held in short windows only (load, score, push log), so a refresh running beside a nightly sync
waits at most for one of the nightly's windows, never for the whole run (docs/account-refresh.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors import warehouse
from connectors.salesforce.client import CrmClient
from connectors.salesforce.ids import normalize_id
from connectors.salesforce.registry import ACCOUNT_PATH, PULLED_WITH
from connectors.salesforce.scoped import extract_accounts
from crm_risk import landing as storage
from expectations.gate import save_rules
from pipeline.context import RunContext
from pipeline.extract import entries
from pipeline.load import load_gated
from pipeline.owner_tasks import TaskOutcome, push_tasks
from pipeline.push import PushOutcome, push_flags
from transforms.scoped import score_accounts

__all__ = ["RefreshOutcome", "objects_to_pull", "refresh_accounts"]

log = logging.getLogger(__name__)


@dataclass
class RefreshOutcome:
    """What one pass over a set of accounts did."""

    accounts: list[str]
    extracted: dict[str, int] = field(default_factory=dict)
    loaded: dict[str, dict[str, int]] = field(default_factory=dict)
    levels: dict[str, int] = field(default_factory=dict)
    scored_rows: int = 0
    push: PushOutcome | None = None
    tasks: TaskOutcome | None = None
    api_calls: int = 0

    def counts(self) -> dict[str, Any]:
        """JSON-ready counts (meta.runs, the flow's return value)."""
        return {
            "accounts": len(self.accounts),
            "extracted": self.extracted,
            "levels": self.levels,
            "raw_rows_scored": self.scored_rows,
            "push": self.push.__dict__ if self.push else None,
            "tasks": self.tasks.__dict__ if self.tasks else None,
            "api_calls": self.api_calls,
        }


def objects_to_pull(changed: Iterable[str] | None) -> set[str] | None:
    """The objects a pass pulls for changes to `changed` objects (with those Salesforce writes alongside, e.g. an
    Opportunity's history); None (every account-owned object) when the changes do not say."""
    names = set(changed or ())
    if not names or not names <= set(ACCOUNT_PATH):
        return None
    return names.union(*(PULLED_WITH.get(n, ()) for n in names))


def refresh_accounts(
    ctx: RunContext,
    client: CrmClient,
    account_ids: Iterable[str],
    objects: Iterable[str] | None = None,
    push: bool = True,
) -> RefreshOutcome:
    """One pass over `account_ids` (15- or 18-character ids): extract, gate + load, score, push; see module doc.

    `objects`: the objects whose changes the pass answers (their records are pulled again, with the objects
    Salesforce writes alongside them); None pulls every account-owned object. Scoring always reads every object:
    what was not pulled is the warehouse's copy.
    """
    ids = sorted({normalize_id(a, "account id") for a in account_ids})
    out = RefreshOutcome(accounts=ids)
    if not ids:
        return out
    calls_before = client.api_calls
    settings = ctx.settings
    pull = objects_to_pull(objects)
    wanted = [
        e for e in entries(settings, None) if e.name in ACCOUNT_PATH and (pull is None or e.name in pull)
    ]
    as_of = client.server_now()
    manifests: list[Path | str] = []
    for entry in wanted:
        manifest = extract_accounts(
            client, entry, ids, as_of, storage.landing(settings, verify=True).root, ctx.run_id, settings
        )
        assert manifest.path is not None
        save_rules(manifest.path, client.describe(entry.name))  # cached: no API call
        manifests.append(manifest.path)
        out.extracted[entry.name] = manifest.rows
    out.loaded = load_gated(settings, ctx.run_id, manifests, docs=False)
    with warehouse.open_for(settings) as con:
        scored = score_accounts(con, ids, as_of, ctx.run_id, loaded_objects=warehouse.loaded_objects(con))
    out.levels, out.scored_rows = scored.levels, scored.copied_rows
    if push:
        out.push = push_flags(ctx, client, ids)
        if not out.push.quota_stopped:
            out.tasks = push_tasks(ctx, client, ids)
    out.api_calls = client.api_calls - calls_before
    log.info(
        "refreshed %d accounts: %s rows, levels %s, %d pushed, %d API calls",
        len(ids),
        sum(out.extracted.values()),
        out.levels,
        out.push.updated if out.push else 0,
        out.api_calls,
    )
    return out
