"""The e2e orgs' date, pinned: a generated org depends on its "today" (its clock runs from noon of ORG_DAY)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from pathlib import Path

# A figure such as "at least one Red account" then holds on any calendar day.
ORG_DAY = date(2026, 11, 26)


def pin_org_clock(org_dir: Path, day: date = ORG_DAY) -> None:
    """Set the simulator's clock offset (its clock.json) so the org's today is `day`, at noon UTC."""
    org_dir.mkdir(parents=True, exist_ok=True)
    offset = datetime.combine(day, time(12), UTC) - datetime.now(UTC)
    (org_dir / "clock.json").write_text(json.dumps({"offset_seconds": offset.total_seconds()}))
