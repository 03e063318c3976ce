"""Data Docs for a run: `build_data_docs(validations, target_dir, run_name=...) -> index.html path`.

A GX file context rooted at `target_dir` (e.g. `<warehouse dir>/data_docs`) keeps every run's validation
results under `gx/uncommitted/validations/` and renders the static site to
`gx/uncommitted/data_docs/local_site/index.html`; each call adds the run's results and rebuilds the site,
so the index lists past runs too. The suites are stored beside them (`gx/expectations/`).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from expectations.model import BatchValidation

__all__ = ["build_data_docs", "prune_runs"]

INDEX = Path("gx/uncommitted/data_docs/local_site/index.html")
_RUN_TIME = re.compile(r"\d{8}T\d{6}\.\d+Z")


def build_data_docs(
    validations: Iterable[BatchValidation | Any],
    target_dir: Path | str,
    *,
    run_name: str | None = None,
    run_time: datetime | None = None,
    keep_runs: int | None = None,
) -> Path:
    """Write the run's validation results and the Data Docs site under `target_dir`; return index.html.

    Only this run's pages are rendered; the index lists every stored run. `keep_runs`: keep the results (and
    pages) of only the newest N runs, this one included, so the folder and the index stay bounded.
    """
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    from expectations.gx_tuning import cached_templates

    cached_templates()
    target = Path(target_dir)
    target.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(target))
    run_time = run_time or datetime.now(UTC)
    suites: dict[str, Any] = {}
    keys: list[Any] = []
    for n, result in enumerate(_results(validations)):
        meta = result.meta.get("crm_risk", {})
        name = run_name or meta.get("run_name") or f"run-{run_time:%Y%m%dT%H%M%SZ}"
        run_id = RunIdentifier(run_name=_safe(name), run_time=run_time)
        batch = f"{n:03d}-{_safe(meta.get('label') or result.suite_name)}"
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=result.suite_name),
            run_id=run_id,
            batch_identifier=batch,
        )
        context.validation_results_store.set(key, result)
        keys.append(key)
        suites.setdefault(result.suite_name, result)
    for suite_name, result in suites.items():
        _store_suite(context, suite_name, result)
    if keep_runs:
        prune_runs(target, keep_runs)
    # Render only this run's pages (earlier runs' pages are on disk already); the index lists every stored run.
    context.build_data_docs(
        resource_identifiers=[*keys, *(ExpectationSuiteIdentifier(name=n) for n in suites)]
    )
    return target / INDEX


def prune_runs(target_dir: Path | str, keep: int) -> list[str]:
    """Delete stored results and rendered pages of all but the newest `keep` runs; returns the runs dropped.

    Results live at `<root>/<suite path>/<run_name>/<run_time>/<batch>` under both the validations store and the
    rendered site; a run's age is its newest run_time.
    """
    roots = [Path(target_dir) / "gx/uncommitted/validations", Path(target_dir) / INDEX.parent / "validations"]
    newest: dict[str, str] = {}
    dirs: dict[str, list[Path]] = {}
    for root in roots:
        for stamp in root.rglob("*") if root.exists() else []:
            if stamp.is_dir() and _RUN_TIME.fullmatch(stamp.name):
                run = stamp.parent
                newest[run.name] = max(newest.get(run.name, ""), stamp.name)
                dirs.setdefault(run.name, []).append(run)
    dropped = sorted(newest, key=lambda r: newest[r], reverse=True)[max(1, keep) :]
    for run_name in dropped:
        for path in dirs[run_name]:
            shutil.rmtree(path, ignore_errors=True)
    return dropped


def _results(validations: Iterable[BatchValidation | Any]) -> Iterable[Any]:
    for v in validations:
        if isinstance(v, BatchValidation):
            yield from v.docs_results
        else:
            yield v


def _store_suite(context: Any, name: str, result: Any) -> None:
    """Keep the suite as JSON beside the results so the site shows the expectations too (best effort).

    Written as GX's `suites.add_or_update` writes it, without its search for the stored twin of each
    expectation: that compares every pair of pydantic models (about 0.6 s a run for the demo org's suites)
    to carry over their ids, and ours never match (they carry no id), so every expectation gets a new id
    either way.
    """
    import great_expectations as gx
    from great_expectations.exceptions import DataContextError

    try:
        suite = gx.ExpectationSuite(
            name=name, expectations=[r.expectation_config.to_domain_obj() for r in result.results]
        )
        try:
            suite.id = context.suites.get(name).id
        except DataContextError:
            context.suites.add(suite)
            return
        store = context.expectations_store
        store.update(key=store.get_key(name=name, id=suite.id), value=suite)
    except Exception:  # a suite page is a nicety; the validation pages are what counts
        return


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "batch"
