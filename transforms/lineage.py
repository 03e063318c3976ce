"""Which raw tables each signal reads, traced through the SQL files themselves (no hand-kept list to drift).

    reads = signal_reads(sql_files())   # {"champion_gone": {"contact", "opportunity", "task", ...}, ...}

Every file of order.txt creates one model (`create or replace table|view schema.name`); a model reads the
`staging.*` / `marts.*` / `raw.*` names in its SQL (comments stripped). Following a signal's model down to the
`raw.*` tables gives the objects it rests on: the runner uses it to leave a signal "not scored" while one of those
objects was never loaded (a first sync of some objects must not read "no activity" where activities were never
pulled).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

__all__ = ["model_reads", "signal_reads"]

_CREATES = re.compile(r"create\s+or\s+replace\s+(?:table|view)\s+([a-z_]+\.[a-z_]+)", re.IGNORECASE)
_NAME = re.compile(r'\b(raw|staging|marts)\.("?)([a-z_]+)\2', re.IGNORECASE)


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


def model_reads(files: Iterable[Path]) -> dict[str, set[str]]:
    """Each model a file creates -> the models and raw tables its SQL names (itself excluded)."""
    reads: dict[str, set[str]] = {}
    for path in files:
        sql = _strip_comments(path.read_text())
        made = _CREATES.search(sql)
        if made is None:
            continue
        model = made.group(1).lower()
        names = {f"{schema.lower()}.{name.lower()}" for schema, _, name in _NAME.findall(sql)}
        reads.setdefault(model, set()).update(names - {model})
    return reads


def signal_reads(files: Iterable[Path]) -> dict[str, set[str]]:
    """Each signal (`marts.sig_<id>`) -> the raw tables (`task`, `case`, ...) it reads, directly or through models.

    A name that no file creates and that is not `raw.*` (e.g. a table a later file builds) adds nothing."""
    reads = model_reads(files)
    out: dict[str, set[str]] = {}
    for model in reads:
        if not model.startswith("marts.sig_"):
            continue
        seen: set[str] = set()
        stack = [model]
        raw: set[str] = set()
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            if name.startswith("raw."):
                raw.add(name.removeprefix("raw."))
            stack.extend(reads.get(name, ()))
        out[model.removeprefix("marts.sig_")] = raw
    return out
