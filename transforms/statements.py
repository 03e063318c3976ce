"""Named SQL statements that the pipeline runs outside the transform chain (e.g. the owner-Task ledger's updates).

`statement("sync/owner_tasks/adopt")` is the text of `transforms/sync/owner_tasks/adopt.sql`: one statement per
file, values as named parameters (`$run_id`), read once per process.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

__all__ = ["statement"]

ROOT = Path(__file__).parent


@cache
def statement(name: str) -> str:
    """The SQL of `transforms/<name>.sql`; FileNotFoundError names the file when it is missing."""
    path = (ROOT / f"{name}.sql").resolve()
    if ROOT.resolve() not in path.parents:
        raise ValueError(f"statement {name!r} is outside transforms/")
    return path.read_text()
