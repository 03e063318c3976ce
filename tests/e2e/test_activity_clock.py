"""The activity clock end to end (issue 13): a touch counts on the day it happened, not the day it was logged.

A small generated org whose clock starts 400 days before ORG_DAY; three customer accounts of our own are created
in it as a rep would have created them, the org's clock moving on between the records (so every CreatedDate and
CompletedDateTime is the org's own stamp). Then one nightly sync, over HTTPS with the real client, into a DuckDB
file, and marts.account_risk is read.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors import warehouse
from flows.nightly import nightly_sync
from tests.e2e.orgclock import ORG_DAY, pin_org_clock
from transforms.runner import run_transforms

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

ORG_START = ORG_DAY - timedelta(days=400)
SEVEN_MONTHS_BACK = ORG_DAY - timedelta(days=213)
RENEWAL = ORG_DAY + timedelta(days=45)  # inside renewal_only_contact's renewal_within_days
EARLIER_CALL = ORG_START + timedelta(days=100)  # a call logged on its day, long before the back-dated one


@dataclass
class Planted:
    """Our accounts in the org, and the dates the reasons should name."""

    backdated_only: str  # renewing; its only recent log is a call seven months back, logged today
    real_call: str  # the same, plus a call made (and logged) last week
    champion: str  # main contact bounced this week; the other contacts' calls, logged lately, are months old
    bounced_at: date


def human(d: date) -> str:
    """A date as the reasons write it (meta.human_date): 26 Apr 2026."""
    return f"{d.day} {d:%b %Y}"


def _go_to(org: Any, day: date) -> None:
    """Move the org's clock forward to `day` (the time of day stays as it is)."""
    assert day >= org.clock.today(), "the org's clock only moves forward"
    org.clock.advance((day - org.clock.today()).days)


def _call(org: Any, owner: str, account: str, contact: str, on: date, subject: str) -> str:
    """A completed call, saved now by the owner, about a call held on `on` (ActivityDate)."""
    body = {
        "WhatId": account,
        "WhoId": contact,
        "Subject": subject,
        "Type": "Call",
        "TaskSubtype": "Call",
        "Status": "Completed",
        "ActivityDate": on.isoformat(),
        "OwnerId": owner,
    }
    return str(org.create("Task", body, user_id=owner))


def _customer(org: Any, owner: str, name: str, contacts: list[tuple[str, str]]) -> tuple[str, list[str]]:
    """A customer account won today, its contacts, the first contact the primary role of the win."""
    account = org.create(
        "Account", {"Name": name, "Type": "Customer - Direct", "OwnerId": owner}, user_id=owner
    )
    ids = [
        org.create(
            "Contact",
            {"AccountId": account, "FirstName": f, "LastName": ln, "Email": f"{f}.{ln}@example.com".lower()},
            user_id=owner,
        )
        for f, ln in contacts
    ]
    won = org.create(
        "Opportunity",
        {
            "AccountId": account,
            "Name": f"{name} first contract",
            "StageName": "Closed Won",
            "CloseDate": org.clock.today().isoformat(),
            "Type": "New Business",
            "Amount": 48000,
            "OwnerId": owner,
        },
        user_id=owner,
    )
    org.create(
        "OpportunityContactRole",
        {"OpportunityId": won, "ContactId": ids[0], "IsPrimary": True, "Role": "Decision Maker"},
        user_id=owner,
    )
    return str(account), [str(i) for i in ids]


def _plant(org: Any) -> Planted:
    soql = "SELECT Id FROM User WHERE Title = 'Account Executive' AND IsActive = true ORDER BY Id LIMIT 1"
    owner = next(iter(org.query(soql).records(0, 1)))["Id"]
    assert org.clock.today() == ORG_START
    renewing = {}
    for name, person in (
        ("Backdated Logistics", ("Morgan", "Vale")),
        ("Lastweek Logistics", ("Robin", "Ash")),
    ):
        account, (main,) = _customer(org, owner, name, [person])
        renewing[name] = (account, main)
    champion, (dana, *others) = _customer(
        org, owner, "Bounced Freight", [("Dana", "Reyes"), ("Eli", "Park"), ("Flo", "Quist"), ("Gus", "Hale")]
    )
    _go_to(org, EARLIER_CALL)
    for account, main in renewing.values():
        _call(org, owner, account, main, EARLIER_CALL, "Call: how the first months went")
    _go_to(org, ORG_DAY - timedelta(days=120))
    for name, (account, _main) in renewing.items():
        org.create(
            "Opportunity",
            {
                "AccountId": account,
                "Name": f"{name} renewal",
                "StageName": "Negotiation/Review",
                "CloseDate": RENEWAL.isoformat(),
                "Type": "Renewal",
                "Amount": 48000,
                "OwnerId": owner,
            },
            user_id=owner,
        )
    _go_to(org, ORG_DAY - timedelta(days=20))
    _call(org, owner, champion, dana, org.clock.today(), "Call: roadmap")  # the champion, logged on its day
    _go_to(org, ORG_DAY - timedelta(days=7))
    account, main = renewing["Lastweek Logistics"]
    _call(org, owner, account, main, org.clock.today(), "Call: renewal terms")  # a real call last week
    # The other contacts' calls happened seven to eight months ago; the rep logs them these last days. The
    # champion's email bounces this week.
    bounced_at = ORG_DAY - timedelta(days=2)
    for lag, contact in zip((3, 2, 1), others, strict=True):
        _go_to(org, ORG_DAY - timedelta(days=lag))
        _call(
            org, owner, champion, contact, ORG_DAY - timedelta(days=200 + 10 * lag), "Call: site visit notes"
        )
        if org.clock.today() == bounced_at:
            bounce = {
                "EmailBouncedDate": org.clock.now().isoformat(),
                "EmailBouncedReason": "550 unknown user",
            }
            org.update("Contact", dana, bounce)
    _go_to(org, ORG_DAY)
    for account, main in renewing.values():  # today, a call held seven months ago is logged on both
        _call(org, owner, account, main, SEVEN_MONTHS_BACK, "Call: check-in (logged late)")
    return Planted(
        backdated_only=renewing["Backdated Logistics"][0],
        real_call=renewing["Lastweek Logistics"][0],
        champion=champion,
        bounced_at=bounced_at,
    )


@pytest.fixture(scope="module")
def synced(
    tmp_path_factory: pytest.TempPathFactory, prefect_harness: None, pipeline_settings: Any
) -> Iterator[tuple[Planted, Path]]:
    """The org with our accounts planted, synced once; (planted, warehouse path)."""
    from simulator.server import Simulator

    org_dir = tmp_path_factory.mktemp("clock-org")
    pin_org_clock(org_dir, ORG_START)
    with Simulator(org_dir, accounts=20, seed=13) as sim:
        planted = _plant(sim.org)
        # Extract windows end on whole seconds (SOQL literals have no fractions): the calls logged in the second
        # the run starts would belong to the next run's window (seen as a flake under load). Let that second pass.
        time.sleep(1.1)
        settings = pipeline_settings(sim, tmp_path_factory.mktemp("clock-wh"))
        assert nightly_sync(settings=settings)["status"] == "success"
        yield planted, Path(settings["warehouse_path"])


def _risk(warehouse: Path, account: str) -> tuple[str, str, dict[str, str]]:
    """(level, reasons, {signal: severity}) of one account."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        level, reasons = con.execute(
            "select level, reasons from marts.account_risk where account_id = ?", [account]
        ).fetchone()
        signals = con.execute(
            "select signal_id, severity from marts.account_signals where account_id = ?",
            [account],
        ).fetchall()
    return level, reasons, dict(signals)


def test_a_call_logged_today_about_seven_months_ago_leaves_a_renewing_account_red(
    synced: tuple[Planted, Path],
) -> None:
    planted, warehouse = synced
    level, reasons, signals = _risk(warehouse, planted.backdated_only)
    assert level == "Red", reasons
    assert "renewal_only_contact" in signals
    assert (
        f"Renewal on {human(RENEWAL)}; the last contact from the account team was on {human(SEVEN_MONTHS_BACK)}."
        in reasons
    )


def test_the_same_account_with_a_real_call_last_week_is_not_red(synced: tuple[Planted, Path]) -> None:
    planted, warehouse = synced
    level, reasons, signals = _risk(warehouse, planted.real_call)
    assert level != "Red", reasons
    assert "renewal_only_contact" not in signals and "champion_gone" not in signals


def test_champion_bounced_while_the_other_contacts_calls_are_months_old_is_red(
    synced: tuple[Planted, Path],
) -> None:
    planted, warehouse = synced
    level, reasons, signals = _risk(warehouse, planted.champion)
    assert level == "Red", reasons
    assert signals.get("champion_gone") == "high"  # not mitigated: nobody else there heard from us lately
    assert f"Our main contact D. Reyes's email bounced on {human(planted.bounced_at)}." in reasons
    assert "still in touch" not in reasons


def test_as_of_an_earlier_date_a_call_logged_later_is_not_seen(
    synced: tuple[Planted, Path], tmp_path: Path
) -> None:
    """A backtest as of ten days ago does not know the call logged today: the last contact then was the earlier one."""
    planted, path = synced
    copy = tmp_path / "warehouse.duckdb"  # the other tests read the nightly marts: score a copy
    shutil.copy(path, copy)
    with warehouse.connect(copy) as con:
        as_of = con.execute("select max(computed_at) from marts.account_risk").fetchone()[0]
        run_transforms(con, as_of=as_of - timedelta(days=10), run_id="as-of-check", record_history=False)
        reason = con.execute(
            "select reason from marts.account_signals where account_id = ? and signal_id = 'renewal_only_contact'",
            [planted.backdated_only],
        ).fetchone()
    assert reason == (
        f"Renewal on {human(RENEWAL)}; the last contact from the account team was on {human(EARLIER_CALL)}.",
    )
