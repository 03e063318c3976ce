"""A new Prefect home's database comes from the migrated empty template (shell/prefect_db.py): built once per Prefect
version, copied into a home that has none, never over a database a home has; the temporary server started in a new
home uses it and answers. Real Prefect migrations, real SQLite files, a real server process on 127.0.0.1."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import prefect
import pytest
import requests

from shell.prefect_db import seed_database, sqlite_file, template_file
from shell.prefect_server import _start, _stop

ROOT = Path(__file__).resolve().parents[2]
MARK = 20261206  # SQLite's user_version header field, which Prefect and Alembic leave alone


def _revision(db: Path) -> list[tuple[str]]:
    con = sqlite3.connect(db)
    try:
        return con.execute("select version_num from alembic_version").fetchall()
    finally:
        con.close()


def _marked(db: Path) -> bool:
    con = sqlite3.connect(db)
    try:
        return bool(con.execute("pragma user_version").fetchone() == (MARK,))
    finally:
        con.close()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding this Prefect version's template, built by `python -m shell.prefect_db` (what `make setup`
    runs), then marked in its header: a database that carries the mark was copied, not migrated."""
    root = tmp_path_factory.mktemp("xdg-cache")
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_CONNECTION_URL")}
    env.update(XDG_CACHE_HOME=str(root), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    out = subprocess.run(
        [sys.executable, "-m", "shell.prefect_db"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    template = Path(out.stdout.strip())
    assert template == root / "crm-risk" / f"prefect-{prefect.__version__}.db"
    assert len(_revision(template)) == 1  # Alembic's head, recorded by Prefect's own migrations
    assert not Path(f"{template}-wal").exists()  # one self-contained file
    assert oct(template.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # as Prefect's own file would be
    con = sqlite3.connect(template)
    con.execute(f"pragma user_version = {MARK}")
    con.close()
    return root


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_new_home_gets_a_copy_and_an_existing_database_is_never_touched(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    template = template_file(prefect.__version__)
    db = tmp_path / "home" / "prefect.db"
    assert seed_database(f"sqlite+aiosqlite:///{db}", prefect.__version__)
    assert _marked(db) and _revision(db) == _revision(template)
    assert [p.name for p in db.parent.iterdir()] == ["prefect.db"]  # no temporary file left beside it
    assert db.stat().st_mode & 0o777 == 0o666 & ~_umask()

    # a deleted database's leftovers: SQLite would replay a stale WAL into the copy
    stale = tmp_path / "stale" / "prefect.db"
    stale.parent.mkdir()
    Path(f"{stale}-wal").write_bytes(b"\0" * 4096)
    assert seed_database(f"sqlite+aiosqlite:///{stale}", prefect.__version__)
    assert _marked(stale) and _revision(stale) == _revision(template)

    other = tmp_path / "other" / "prefect.db"
    other.parent.mkdir()
    other.write_bytes(b"not a template")
    assert not seed_database(f"sqlite+aiosqlite:///{other}", prefect.__version__)
    assert other.read_bytes() == b"not a template"
    assert not seed_database("postgresql+asyncpg://u@127.0.0.1/prefect", prefect.__version__)
    assert not seed_database("sqlite+aiosqlite:///:memory:", prefect.__version__)


def test_only_a_local_sqlite_file_is_seeded() -> None:
    assert sqlite_file("sqlite+aiosqlite:////var/prefect/prefect.db") == Path("/var/prefect/prefect.db")
    assert sqlite_file("sqlite+aiosqlite:///:memory:") is None
    assert sqlite_file("sqlite+aiosqlite:///file:x?mode=memory&cache=shared&uri=true") is None
    assert sqlite_file("postgresql+asyncpg://u:p@db:5432/prefect") is None


def test_the_temporary_server_of_a_new_home_starts_from_the_template(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    for name in ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    proc, url = _start(120)
    try:
        import httpx

        created = httpx.post(f"{url}/flows/", json={"name": "seeded-home"}, timeout=30)
        assert created.status_code in (200, 201), created.text
    finally:
        _stop(proc)
    db = tmp_path / "prefect" / "prefect.db"
    assert _marked(db)  # copied from the template, then migrated to head by the server's start (a no-op)
    assert _revision(db) == _revision(template_file(prefect.__version__))
    con = sqlite3.connect(db)
    try:
        assert con.execute("select count(*) from flow where name = 'seeded-home'").fetchone() == (1,)
    finally:
        con.close()


def test_with_no_template_a_new_home_migrates_and_keeps_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first new home on a machine (no `make setup`): Prefect's migrations run as before, and the result, still
    empty, becomes the template for the next one."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    for name in ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    proc, _url = _start(120)
    _stop(proc)
    template = tmp_path / "cache" / "crm-risk" / f"prefect-{prefect.__version__}.db"
    assert len(_revision(template)) == 1
    assert _revision(template) == _revision(tmp_path / "prefect" / "prefect.db")
    with sqlite3.connect(
        template
    ) as con:  # nothing of the server's start in it (its telemetry row came later)
        assert con.execute("select count(*) from flow").fetchone() == (0,)


def test_prefect_server_start_of_a_new_home_starts_from_the_template(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`running_prefect_server` (demo --live, the event loop's tests, the event benchmarks) runs Prefect's own
    `prefect server start`: its new home gets the copy before it starts, and the server runs on it."""
    from shell.service import running_prefect_server

    for name in ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    home = tmp_path / "served"
    with running_prefect_server(home) as url:
        created = requests.post(f"{url}/flows/", json={"name": "served-home"}, timeout=30)
        assert created.status_code in (200, 201), created.text
    db = home / "prefect.db"
    assert _marked(db)
    con = sqlite3.connect(db)
    try:
        assert con.execute("select count(*) from flow where name = 'served-home'").fetchone() == (1,)
    finally:
        con.close()


def test_copy_only_never_migrates_without_a_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A parent process seeding another process's home (migrate=False) leaves a home alone when there is no
    template: its own Prefect settings name another database, and the server migrates a missing one itself."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    db = tmp_path / "home" / "prefect.db"
    assert seed_database(f"sqlite+aiosqlite:///{db}", prefect.__version__, migrate=False) is False
    assert not db.exists() and not template_file(prefect.__version__).exists()
