"""A new Prefect home's database, copied from a migrated empty one instead of migrated again each time.

Prefect's temporary server creates its SQLite database (PREFECT_HOME/prefect.db) on its first start by running
every Alembic migration of its history: 4-5 s of a 7 s start on 2 cores (a home that has a database starts in 2.4 s;
measured with `shell.prefect_server._start`, Prefect 3.8.8). A run in a new home (the demo, a new worker, each
benchmark run, a container) paid that every time. The migrated empty database is the same file for every home of
one Prefect version, so it is built once (by the call the server's start makes, `create_db()`) into a cache and
copied into a home that has none. The server then still checks the copy's revision on its start
(Alembic finds it at head: ~0.1 s), so a stale or foreign template could not go unnoticed.

The cache: `$XDG_CACHE_HOME/crm-risk` (else ~/.cache/crm-risk), one file per Prefect version,
`prefect-<version>.db`. `make setup` builds it; a server that finds none migrates its new home's database as
before and keeps a copy of it, still empty, as the template (once per machine and version). Anything that goes wrong here (an unwritable cache, a database that is not a local SQLite file) leaves
Prefect to create its database itself, as before.

    python -m shell.prefect_db            # build the template (if missing) and print its path
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import sys
import tempfile
from pathlib import Path

from crm_risk.cache import cache_dir

__all__ = ["seed_database", "sqlite_file", "template_file"]

log = logging.getLogger(__name__)

_URL_VARIABLES = ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL")


def template_file(version: str) -> Path:
    return cache_dir() / f"prefect-{version}.db"


def sqlite_file(connection_url: str) -> Path | None:
    """The file of a file-based SQLite URL (`sqlite+aiosqlite:////home/x/prefect.db`), else None."""
    from sqlalchemy.engine import make_url

    url = make_url(connection_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    if url.database.startswith("file:") or url.query.get("mode") == "memory":
        return None
    return Path(url.database)


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def _migrated(path: Path, empty: bool = False) -> bool:
    """Whether `path` is a database Alembic has migrated (one revision recorded); `empty`: and nothing else in it
    (a server started on it meanwhile would have written its rows)."""
    try:
        with contextlib.closing(_read_only(path)) as con:
            if len(con.execute("select version_num from alembic_version").fetchall()) != 1:
                return False
            if not empty:
                return True
            tables = con.execute(
                "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' "
                "and name != 'alembic_version'"
            ).fetchall()
            return not any(con.execute(f'select 1 from "{t}" limit 1').fetchall() for (t,) in tables)
    except sqlite3.Error:
        return False


def _snapshot(source: Path, target: Path) -> None:
    """A consistent single-file copy of `source` (its WAL included), written under a temporary name, then moved."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        # the mode a file Prefect created would have (mkstemp's is 0600): the umask's say
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        src = _read_only(source)
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
            # one file, no -wal beside it (Prefect sets WAL when it connects)
            dst.execute("pragma journal_mode=delete")
        finally:
            dst.close()
            src.close()
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _usable(template: Path) -> bool:
    return template.exists() and _migrated(template, empty=True)


def _save_template(migrated: Path, version: str) -> Path | None:
    """Keep a copy of a just-migrated, still empty database as this version's template."""
    template = template_file(version)
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        _snapshot(migrated, template)
    except (OSError, sqlite3.Error) as exc:
        log.warning(
            "could not keep Prefect's migrated database as a template in %s (%s)", template.parent, exc
        )
        return None
    return template


def seed_database(connection_url: str, version: str, migrate: bool = True) -> bool:
    """Give a new Prefect home its database, for the URL the current Prefect settings name. When its SQLite file
    does not exist yet: the template copied there (True), or, with no template yet, the migrations run here (as the
    server's start would) and the result kept as the template for the next new home (False). An existing database
    is never touched. `migrate=False`: copy only (a process whose own Prefect settings name another database, such
    as the one that starts `prefect server start` for a home: the server migrates a missing database itself)."""
    target = sqlite_file(connection_url)
    if target is None or target.exists():
        return False
    template = template_file(version)
    if not _usable(template):
        if not migrate:
            return False
        _migrate()
        if _migrated(target, empty=True):
            _save_template(target, version)
        return False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in ("-wal", "-shm", "-journal"):  # left by a deleted database: SQLite would replay them
            Path(f"{target}{stale}").unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        try:
            _snapshot(template, Path(tmp))
            os.link(tmp, target)  # never over a database another process created meanwhile
        finally:
            Path(tmp).unlink(missing_ok=True)
    except FileExistsError:
        return False
    except (OSError, sqlite3.Error) as exc:
        log.warning(
            "could not copy Prefect's database template to %s (%s); Prefect creates it itself", target, exc
        )
        return False
    return True


def _migrate() -> None:
    """Run Prefect's migrations on the database its settings name (the call its server makes on its start)."""
    import asyncio

    from prefect.server.database import provide_database_interface

    async def create() -> None:
        db = provide_database_interface()
        await db.create_db()
        await (await db.engine()).dispose()

    asyncio.run(create())


def main() -> int:
    """Build this Prefect version's template (if the cache has none) and print its path."""
    with tempfile.TemporaryDirectory(prefix="crm-risk-prefect-db-") as build:
        db = Path(build) / "prefect.db"
        for name in _URL_VARIABLES:  # before Prefect is imported: its settings are read once
            os.environ.pop(name, None)
        os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{db}"
        import prefect

        template = template_file(prefect.__version__)
        if not _usable(template):
            _migrate()
            if not _migrated(db, empty=True) or _save_template(db, prefect.__version__) is None:
                return 1
    print(template)
    return 0


if __name__ == "__main__":
    sys.exit(main())
