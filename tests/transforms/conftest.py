"""Fixtures for the SQL transform tests: an in-memory warehouse and a CRM row writer."""

from __future__ import annotations

import duckdb
import pytest

from connectors.warehouse import connect
from tests.transforms.helpers import Crm
from transforms.inputs import ensure_raw_inputs


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse with every raw input table present."""
    c = connect(":memory:")
    ensure_raw_inputs(c)
    yield c
    c.close()


@pytest.fixture
def crm(con: duckdb.DuckDBPyConnection) -> Crm:
    """A row writer on the test warehouse, with the default owner as a user."""
    writer = Crm(con)
    writer.user()
    return writer
