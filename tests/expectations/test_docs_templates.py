"""Data Docs' Jinja templates compiled once per machine (expectations/gx_tuning.cached_templates): a build keeps
them in the tool's cache folder, the next process's build loads them and writes the same pages; a torn cache file
or a cache folder that cannot be written only means compiling again. Each build is a process of its own (the
cache is installed once per process), as a run is."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BUILD = r"""
import sys
from datetime import datetime, UTC
import pandas as pd
from expectations import build_data_docs, validate_payload

payload = validate_payload(
    pd.DataFrame({"Id": ["001000000000001AAA"], "Risk_Level__c": ["Crimson"], "Risk_Score__c": [90.0]}),
    now=datetime(2026, 12, 1, tzinfo=UTC),
    run_name="run-7",
)
index = build_data_docs([payload], sys.argv[1], run_name="run-7", run_time=datetime(2026, 12, 1, tzinfo=UTC))
print(index)
"""


def _build(site: Path, cache: Path) -> str:
    """Build the site in a new process with `cache` as XDG_CACHE_HOME; the validation page's HTML."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", BUILD, str(site)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    index = Path(out.stdout.strip().splitlines()[-1])
    pages = list((index.parent / "validations").rglob("*.html"))
    assert len(pages) == 1
    # what differs between two builds of the same results: GX's generated element ids and the build's clock
    return re.sub(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{8}T\d{6}\.\d+Z",
        "x",
        pages[0].read_text(),
    )


def test_compiled_templates_are_kept_and_reused_with_the_same_pages(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _build(tmp_path / "a", cache)
    (folder,) = (cache / "crm-risk").glob("jinja-*-gx-*")
    assert folder.stat().st_mode & 0o777 == 0o700  # compiled templates are code: this user's only
    compiled = sorted(folder.glob("__jinja2_*.cache"))
    assert len(compiled) >= 5  # page, sections, components...
    stamps = {p: p.stat().st_mtime_ns for p in compiled}
    second = _build(tmp_path / "b", cache)
    assert second == first and "Crimson" in second
    assert {p: p.stat().st_mtime_ns for p in compiled} == stamps  # loaded, not compiled and written again

    from jinja2.bccache import bc_magic

    for p in compiled:  # torn files past a valid header (a cut pickle): compiled again, the same pages
        p.write_bytes(p.read_bytes()[: len(bc_magic) + 2])
    assert _build(tmp_path / "c", cache) == first


def test_a_folder_others_may_write_is_not_used(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _build(tmp_path / "a", cache)
    (folder,) = (cache / "crm-risk").glob("jinja-*-gx-*")
    for p in folder.iterdir():
        p.unlink()
    folder.chmod(0o777)
    assert "Crimson" in _build(tmp_path / "b", cache)
    assert not list(folder.iterdir())  # nothing read from it, nothing written to it


def test_a_cache_that_cannot_be_written_only_compiles_again(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be")
    page = _build(tmp_path / "site", blocked)
    assert "Crimson" in page
