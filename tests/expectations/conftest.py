"""Fixtures for the data-quality gate tests.

GX is imported once per session (it takes ~6 s) by the `gx_warm` fixture, so each test stays fast.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.expectations.helpers import case_frame, case_kwargs


@pytest.fixture(scope="session")
def gx_warm() -> None:
    """Import GX and build its context once for the session (the first validation pays ~6 s)."""
    from expectations import validate_batch

    validate_batch("Case", case_frame(5), **case_kwargs())


@pytest.fixture()
def cases(gx_warm: None) -> pd.DataFrame:
    """A clean 40-row Case batch (GX already warm)."""
    return case_frame(40)
