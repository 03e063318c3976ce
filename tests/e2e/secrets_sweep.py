"""After a fault case: look for every secret of the run in every store the run wrote (issue 14 item 4).

The secrets are the org's credentials (client secret, password, security token, refresh token, the stored access
token) and every session the simulator issued during the case. The stores: every file under the case's folders
(warehouse and its WAL, landing Parquet and manifests, Data Docs), Prefect's database (runs, parameters, logs,
artifacts, events), and the text the case logged or printed. Bytes are searched, so a secret inside a DuckDB page or
a Parquet column is found too.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["prefect_database", "run_secrets", "sweep"]

_CREDENTIALS = ("client_secret", "password", "security_token", "refresh_token", "access_token")


def run_secrets(sim: Any) -> set[str]:
    """The org's credentials and the sessions the simulator issued (read from its auth store)."""
    found = {str(sim.auth.creds[k]) for k in _CREDENTIALS if sim.auth.creds.get(k)}
    found |= set(sim.auth._sessions)  # every access token handed out while the case ran
    return {s for s in found if len(s) >= 8}


def prefect_database() -> Path | None:
    """The SQLite file of the Prefect server the tests talk to (the harness's), when it is one."""
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL

    url = str(PREFECT_API_DATABASE_CONNECTION_URL.value() or "")
    if "sqlite" not in url or ":///" not in url:
        return None
    path = Path(url.split(":///", 1)[1])
    return path if path.exists() else None


def _files(roots: Iterable[Path]) -> Iterable[Path]:
    for root in roots:
        if root.is_file():
            yield root
        elif root.is_dir():
            yield from (p for p in root.rglob("*") if p.is_file())


def sweep(secrets: set[str], roots: Iterable[Path], texts: Iterable[str] = ()) -> list[str]:
    """Where a secret was found: `path` or `text #i`, with the secret's first characters (never the whole)."""
    needles = {s: s.encode() for s in secrets}
    hits: list[str] = []
    for path in _files(roots):
        data = path.read_bytes()
        hits += [f"{path} holds {s[:4]}..." for s, b in needles.items() if b in data]
    for i, text in enumerate(texts):
        hits += [f"text #{i} holds {s[:4]}..." for s in secrets if s in text]
    return hits
