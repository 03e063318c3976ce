"""`crm-risk backtest` against simulated orgs, and what a rep reads (reasons, Tasks) on the demo-size org."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from flows.nightly import nightly_sync
from shell.backtest import run_backtest
from shell.cli import main
from tests.e2e.orgclock import ORG_DAY, pin_org_clock
from transforms.rules import load_rules

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

# an 18- or 15-character Salesforce id of the objects the reasons could name
SF_ID = re.compile(r"\b(?:001|003|005|006|500|00T|00U)[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?\b")
CODE = re.compile(r"\b[a-z]+_[a-z_]+\b")  # snake_case: a signal id or a column name
# A sentence: a capital letter, a numeral (the catalogue's "3 escalations in the last 90 days.") or a quoted
# opportunity name first; a full stop (or a question mark: "Did everything go as expected?") last.
SENTENCE_START = re.compile(r"^(?:[A-Z0-9]|'[A-Z0-9])")


# The org is generated relative to its "today", and the renewal lift moves by about +-0.2 with the date (session 2
# measured 2.14-2.58 over ten dates): the tests pin the org's date so they pass or fail on any calendar day.
# 2026-11-26 measured Red lift 2.54 / 2.36 / 2.17 at 30 / 60 / 90 days (bench/backtest_dates.py); 2.53 / 2.29 / 2.15
# since the generator logs part of the activity late and through a capture tool (docs/simulator-org.md).


def _state(tmp: Path, accounts: int, seed: int) -> Iterator[Path]:
    """A demo-layout state dir (org/ with ground_truth.json, warehouse.duckdb) after one nightly sync."""
    from simulator.server import Simulator

    state = tmp / "state"
    pin_org_clock(state / "org")
    with Simulator(state / "org", accounts=accounts, seed=seed):
        result = nightly_sync(
            settings={
                "sf_connection_file": str(state / "org" / "connection.json"),
                "sf_auth": "client_credentials",
                "warehouse_path": str(state / "warehouse.duckdb"),
                "landing_dir": str(state / "landing"),
            }
        )
        assert result["status"] == "success"
        yield state


@pytest.fixture(scope="module")
def small_state(tmp_path_factory: pytest.TempPathFactory, prefect_harness: None) -> Iterator[Path]:
    """A small org (60 accounts) synced once."""
    yield from _state(tmp_path_factory.mktemp("small"), 60, 5)


@pytest.fixture(scope="module")
def demo_state(tmp_path_factory: pytest.TempPathFactory, prefect_harness: None) -> Iterator[Path]:
    """The default demo org (2,000 accounts, seed 42) synced once."""
    yield from _state(tmp_path_factory.mktemp("demo"), 2000, 42)


def _history_rows(state: Path) -> tuple[int, Any]:
    with duckdb.connect(str(state / "warehouse.duckdb"), read_only=True) as con:
        n = con.execute("select count(*) from marts.account_risk_history").fetchone()[0]
        at = con.execute("select max(computed_at), count(*) from marts.account_risk").fetchone()
    return n, at


def test_backtest_json_shape_on_a_small_org(small_state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _history_rows(small_state)
    assert main(["backtest", "--state-dir", str(small_state), "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert set(got) == {"signals", "renewal", "model_version"}
    truth = json.loads((small_state / "org" / "ground_truth.json").read_text())
    assert set(got["signals"]) == set(truth["signals"])
    for sid, m in got["signals"].items():
        assert set(m) == {"precision", "recall", "support"}, sid
        assert 0 <= m["precision"] <= 1 and 0 <= m["recall"] <= 1
        assert m["support"] == len(truth["signals"][sid])
    assert set(got["renewal"]) == {"30", "60", "90"}
    for n, m in got["renewal"].items():
        assert set(m) == {"precision", "recall", "lift"}, n
        assert 0 <= m["precision"] <= 1 and 0 <= m["recall"] <= 1 and m["lift"] >= 0
    assert got["model_version"] == load_rules().model_version
    assert _history_rows(small_state) == before  # the nightly marts and their history are left alone


def test_backtest_table_and_html_report(small_state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--state-dir", str(small_state)]) == 0
    table = capsys.readouterr().out
    assert "precision" in table and "repeat_issue" in table and "lift" in table
    assert "Each signal 60 days before a renewal" in table
    assert main(["backtest", "--state-dir", str(small_state), "--format", "html"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == small_state / "backtest.html"
    html = path.read_text()
    assert (
        html.count("<svg") >= 4 and "Signals against the planted scenarios" in html and "<script" not in html
    )
    assert "Each signal before a renewal" in html


def test_backtest_without_a_warehouse_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", "--state-dir", str(tmp_path)]) == 2
    assert "crm-risk demo" in capsys.readouterr().err


def _rep_text_problems(text: str, limit: int) -> list[str]:
    problems = []
    if len(text) > limit:
        problems.append(f"{len(text)} characters")
    if SF_ID.search(text):
        problems.append(f"internal id {SF_ID.search(text).group(0)}")
    if CODE.search(text):
        problems.append(f"internal code {CODE.search(text).group(0)}")
    for sentence in text.split("\n"):
        if sentence and (not SENTENCE_START.match(sentence) or not sentence.endswith((".", "?"))):
            problems.append(f"not a sentence: {sentence[:80]!r}")
    return problems


@pytest.mark.slow
def test_every_reason_on_the_demo_org_fits_names_and_reads_as_sentences(demo_state: Path) -> None:
    with duckdb.connect(str(demo_state / "warehouse.duckdb"), read_only=True) as con:
        reasons = con.execute("select account_id, reasons from marts.account_risk").fetchall()
        sentences = con.execute(
            "select account_id, signal_id, reason, action from marts.account_signals"
        ).fetchall()
        tasks = con.execute("select task_key, payload from sync.owner_tasks").fetchall()
    assert len(reasons) > 1000 and len(sentences) > 500 and tasks
    bad = {a: p for a, r in reasons if (p := _rep_text_problems(str(r), 1000))}
    bad |= {f"{a} {s}": p for a, s, r, act in sentences if (p := _rep_text_problems(f"{r}\n{act}", 1000))}
    for key, payload in tasks:
        task = json.loads(payload)
        subject_problems = (
            [] if len(task["Subject"]) <= 255 and not CODE.search(task["Subject"]) else ["subject"]
        )
        body = [line for line in task["Description"].split("\n") if line]
        if p := subject_problems + _rep_text_problems("\n".join(body), 32000):
            bad[key] = p
    assert bad == {}


@pytest.mark.slow
def test_done_when_targets_on_the_demo_org(demo_state: Path) -> None:
    truth = json.loads((demo_state / "org" / "ground_truth.json").read_text())
    assert (
        truth["today"] == ORG_DAY.isoformat()
    )  # the org's date is pinned: the figures below hold on any day
    result = run_backtest(demo_state)
    low = {sid: m for sid, m in result.signals.items() if m["recall"] < 1.0 or m["precision"] < 0.9}
    assert low == {}
    # Issue 5: Red 60 days before a renewal has a lift of at least 2 over the base rate of lost renewals. The org
    # depends on its "today" (the monthly as-of dates fall elsewhere in each history): over ten generation dates
    # (bench/backtest_dates.py, anchored at ORG_DAY) models risk-2026.11.2 and risk-2026.12.1 measured 2.14-2.58 at
    # 60 days (mean 2.35), 2.00-2.79 at 30 and 2.05-2.51 at 90.
    assert result.renewal["60"]["lift"] >= 2.0, result.renewal
    assert result.renewal["30"]["lift"] >= 1.5, result.renewal
    assert result.renewal["90"]["lift"] >= 1.5, result.renewal
    # the mitigation is backed by the outcomes: a lost champion while the team talks to 3+ other contacts there
    # precedes fewer lost renewals than a lost champion on a thinly covered account (all ten org dates measured)
    per_signal = result.renewal_signals
    mitigated, unmitigated = per_signal.get("champion_gone (mitigated)"), per_signal.get("champion_gone")
    assert mitigated and unmitigated, f"champion_gone should fire both ways on the demo org: {per_signal}"
    assert mitigated["lift"] < unmitigated["lift"], per_signal
    for m in per_signal.values():
        assert 0 <= m["lost"] <= m["fired"] and 0 <= m["precision"] <= 1
