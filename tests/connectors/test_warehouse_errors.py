"""The warehouse's storage failures as one line naming the place, the cause and the setting that moves it."""

from __future__ import annotations

import errno

import duckdb
import pytest

from connectors.warehouse.errors import explain
from crm_risk.errors import ConfigError, WarehouseError

W = "/data/warehouse.duckdb"


@pytest.mark.parametrize(
    ("exc", "start", "cause"),
    [
        (
            duckdb.TransactionException(
                'TransactionContext Error: Failed to commit: Could not write file "/data/warehouse.duckdb.wal": '
                "No space left on device"
            ),
            f"the disk holding the warehouse {W} is full",
            "(No space left on device)",
        ),
        (
            duckdb.IOException('IO Error: Could not write file "/data/warehouse.duckdb": File too large'),
            f"the disk holding the warehouse {W} is full",
            "(File too large)",
        ),
        (OSError(errno.ENOSPC, "No space left on device"), f"the disk holding the warehouse {W} is full", ""),
        (
            duckdb.IOException('IO Error: Cannot open file "/data/warehouse.duckdb": Read-only file system'),
            f"cannot write the warehouse {W}",
            "(Read-only file system)",
        ),
        (
            duckdb.IOException('IO Error: Cannot open file "/data/warehouse.duckdb":\nPermission denied'),
            f"cannot write the warehouse {W}",
            "(Permission denied)",
        ),
        (PermissionError(errno.EACCES, "Permission denied", "/data"), f"cannot write the warehouse {W}", ""),
    ],
)
def test_storage_failures_read_as_one_line_with_the_fix(exc: BaseException, start: str, cause: str) -> None:
    explained = explain(exc, W)
    assert isinstance(explained, WarehouseError)
    text = str(explained)
    assert text.startswith(start) and cause in text and "\n" not in text
    assert "CRM_RISK_WAREHOUSE_PATH" in text


def test_the_landing_area_names_its_own_setting() -> None:
    explained = explain(
        OSError(errno.ENOSPC, "No space left on device"),
        "landing",
        "the landing area",
        "CRM_RISK_LANDING_DIR",
    )
    assert str(explained).startswith("the disk holding the landing area landing is full")
    assert "CRM_RISK_LANDING_DIR" in str(explained)


@pytest.mark.parametrize(
    "exc",
    [
        duckdb.CatalogException("Catalog Error: Table with name foo does not exist!"),
        duckdb.BinderException('Binder Error: Referenced column "x" not found'),
        ValueError("something else"),
        ConfigError("already one line"),
    ],
)
def test_other_failures_are_kept_as_they_are(exc: BaseException) -> None:
    assert explain(exc, W) is None
