"""Which accounts a refresh pass takes, and which announced changes its earlier pulls already hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flows.inbox import Change
from flows.refresh import ALL, Pending, _already_pulled

T = datetime(2026, 11, 26, 12, tzinfo=UTC)


def test_pending_accounts_pull_what_their_changes_name() -> None:
    pending = Pending()
    pending.add("A", "Case")
    pending.add("B", "Contact")
    pending.add("A", "Case")
    assert pending.take() == (["A", "B"], ["Case", "Contact"])
    assert not pending
    pending.add("A", "Case")
    pending.add("B", None)  # an event that does not say: every object
    assert pending.take() == (["A", "B"], None)


def _change(obj: str | None, at: datetime) -> Change:
    return Change("e", "A", obj, at)


def test_a_pull_holds_only_the_changes_of_the_objects_it_pulled_before_it_started() -> None:
    pulled = {("A", "Contact"): T}
    assert _already_pulled(_change("Contact", T - timedelta(seconds=5)), pulled)
    assert not _already_pulled(
        _change("Contact", T - timedelta(milliseconds=500)), pulled
    )  # too close to call
    assert not _already_pulled(_change("Case", T - timedelta(seconds=5)), pulled)  # Cases were not pulled
    assert not _already_pulled(
        _change(None, T - timedelta(seconds=5)), pulled
    )  # unknown object: not all pulled
    everything = {("A", ALL): T}
    assert _already_pulled(_change("Case", T - timedelta(seconds=5)), everything)
    assert _already_pulled(_change(None, T - timedelta(seconds=5)), everything)
