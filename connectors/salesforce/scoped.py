"""Extract the records of a set of accounts (an account refresh): one object's rows whose account is in the set.

    landing/<run_id>/<Object>/part-NNNNN.parquet   the accounts' records (queryAll: soft deletes are tombstones)
    landing/<run_id>/<Object>/_manifest.json       `scope: "accounts"`: loading it never moves the watermark

The accounts are named in the query (`WHERE AccountId IN (...)`, or a parent path such as `Opportunity.AccountId`),
`chunk` ids a query so it stays far below the REST URL limit: one query (plus its queryMore pages) per object and
chunk, no COUNT() and no getDeleted (hard deletes are the org's, found by the nightly sync). The manifest's window is
empty (`window_start` = `window_end` = the org's time of the pull), so the gate never takes it for a full snapshot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from connectors.salesforce.client import CrmClient
from connectors.salesforce.extract import ExtractManifest, clear_landing, landing_dir
from connectors.salesforce.ids import normalize_id
from connectors.salesforce.landing import ChunkWriter, write_json_atomic
from connectors.salesforce.registry import ACCOUNT_PATH, ObjectEntry, resolve_fields
from crm_risk import landing as storage
from crm_risk.config import Settings
from crm_risk.errors import ConfigError

__all__ = ["IDS_PER_QUERY", "SCOPE", "build_scoped_soql", "extract_accounts"]

log = logging.getLogger(__name__)

SCOPE = "accounts"
IDS_PER_QUERY = 300  # 300 quoted 18-character ids are ~6.6 KB of SOQL: well inside REST's ~16 KB URL


def build_scoped_soql(entry: ObjectEntry, fields: Sequence[str], account_ids: Sequence[str]) -> str:
    """SELECT fields FROM obj WHERE <path to the account> IN (ids) ORDER BY Id."""
    path = ACCOUNT_PATH.get(entry.name)
    if path is None:
        raise ConfigError(f"{entry.name} belongs to no account: an account refresh cannot pull it by account")
    quoted = ", ".join(f"'{normalize_id(a)}'" for a in account_ids)
    return f"SELECT {', '.join(fields)} FROM {entry.name} WHERE {path} IN ({quoted}) ORDER BY Id"


def extract_accounts(
    client: CrmClient,
    entry: ObjectEntry,
    account_ids: Sequence[str],
    as_of: datetime,
    landing: Path | str,
    run_id: str,
    settings: Settings,
) -> ExtractManifest:
    """Land every record of `entry` that belongs to one of `account_ids`; see the module doc."""
    started, calls0 = time.monotonic(), client.api_calls
    ids = sorted({normalize_id(a) for a in account_ids})
    out = landing_dir(landing, run_id, entry.name)
    clear_landing(out)
    fields, missing = resolve_fields(entry, client.describe(entry.name))
    names = list(fields)
    writer = ChunkWriter(out, fields, chunk_rows=settings.extract_chunk_rows)
    for chunk in (ids[i : i + IDS_PER_QUERY] for i in range(0, len(ids), IDS_PER_QUERY)):
        soql = build_scoped_soql(entry, names, chunk)
        for page in client.query_pages(soql, include_deleted=True, batch_size=settings.extract_page_size):
            records = page.get("records") or []
            if records:
                writer.add([[rec.get(n) for rec in records] for n in names])
    files = writer.close()
    at = as_of.astimezone(UTC).replace(microsecond=0).isoformat()
    manifest = ExtractManifest(
        object=entry.name,
        run_id=run_id,
        fields=fields,
        rows=writer.rows,
        files=files,
        deleted_file=None,
        window_start=at,
        window_end=at,
        cursor_field=entry.cursor_field,
        api="rest",
        api_calls=client.api_calls - calls0,
        missing_fields=missing,
        seconds=round(time.monotonic() - started, 3),
        extracted_at=datetime.now(UTC).isoformat(),
        notes=[f"{SCOPE}: {len(ids)}"],
        path=out,
    )
    data = manifest.to_dict() | {"scope": SCOPE, "accounts": len(ids)}
    write_json_atomic(storage.join(out, "_manifest.json"), data)
    log.info(
        "%s: %d rows of %d accounts, %d API calls", entry.name, writer.rows, len(ids), manifest.api_calls
    )
    return manifest
