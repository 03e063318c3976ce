"""The backfill flow against the simulator: a window pulled again restores lost rows, doubles nothing, keeps the
watermark, and a bad window is refused before anything runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors import warehouse
from flows.backfill import backfill
from flows.nightly import nightly_sync
from shell.cli import main

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]


def _cases(path: str) -> tuple[int, int]:
    with duckdb.connect(path, read_only=True) as con:
        return con.execute('select count(*), count(distinct "Id") from raw."case"').fetchone()  # type: ignore[return-value]


def test_backfill_restores_a_window_without_doubling_or_moving_the_watermark(
    settings_for: dict[str, Any],
) -> None:
    assert nightly_sync(settings=settings_for)["status"] == "success"
    path = settings_for["warehouse_path"]
    full = _cases(path)
    with duckdb.connect(path) as con:
        mark = warehouse.get_watermark(con, "Case")
        first, last = con.execute(
            'select min("SystemModstamp"), max("SystemModstamp") from raw."case"'
        ).fetchone()
        # whole seconds, as the extract cuts its windows
        since = (first + (last - first) / 3).replace(microsecond=0)
        until = (first + 2 * (last - first) / 3).replace(microsecond=0)
        in_window = con.execute(
            'select count(*) from raw."case" where "SystemModstamp" >= $s and "SystemModstamp" < $u',
            {"s": since, "u": until},
        ).fetchone()[0]
        # rows lost from the warehouse: those the window covers, and one after it (the backfill must not bring it)
        con.execute(
            'delete from raw."case" where ("SystemModstamp" >= $s and "SystemModstamp" < $u) '
            'or "Id" = (select max("Id") from raw."case" where "SystemModstamp" >= $u)',
            {"s": since, "u": until},
        )
    assert in_window > 0 and _cases(path)[0] == full[0] - in_window - 1

    result = backfill(since=since, until=until, objects=["Case"], settings=settings_for)
    assert result["status"] == "success"
    assert result["extracted"] == {"Case": in_window}  # exactly the window, one object
    assert _cases(path) == (
        full[0] - 1,
        full[0] - 1,
    )  # restored, nothing doubled, the row after it still gone
    with duckdb.connect(path, read_only=True) as con:
        assert warehouse.get_watermark(con, "Case") == mark  # an older window never moves it back
        runs = con.execute("select flow, status from meta.runs order by started_at").fetchall()
    assert runs[-1] == ("backfill", "success")
    found = sorted((Path(settings_for["landing_dir"]) / result["run_id"]).glob("w*/Case/_manifest.json"))
    assert found  # one extract per window
    for landed in found:
        manifest = json.loads(landed.read_text())
        # Salesforce keeps hard deletes 15 days: a window that ended long ago does not ask for them
        assert manifest["deleted_file"] is None and "getDeleted skipped" in " ".join(manifest["notes"])
    # the same backfill again: every window is recorded as loaded, nothing is pulled
    again = backfill(since=since, until=until, objects=["Case"], settings=settings_for, push=False)
    assert again["status"] == "success" and again["extracted"] == {}
    # --restart: the same window pulled again, the rows merge by Id, no change anywhere
    again = backfill(
        since=since, until=until, objects=["Case"], settings=settings_for, push=False, restart=True
    )
    assert again["status"] == "success" and again["extracted"] == {"Case": in_window}
    assert _cases(path) == (full[0] - 1, full[0] - 1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--since", "2026-02-01", "--until", "2026-01-01"],
            "until (2026-01-01T00:00:00+00:00) must be after since",
        ),
        (["--since", "last tuesday"], "since 'last tuesday' is not a date or an ISO 8601 time"),
        (["--since", (datetime.now(UTC) + timedelta(days=2)).date().isoformat()], "is in the future"),
    ],
    ids=[
        "until-before-since",
        "not-a-date",
        "in-the-future",
    ],  # the same on every xdist worker, at midnight too
)
def test_a_bad_window_is_refused_with_the_setting_named(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backfill", *argv]) == 2
    assert message in capsys.readouterr().err
