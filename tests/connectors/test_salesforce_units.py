"""Pure functions of the Salesforce connector: registry ∩ describe, typing, SOQL windows, error mapping, CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from connectors import warehouse
from connectors.salesforce import registry
from connectors.salesforce.errors import SessionExpired, classify_item, translate
from connectors.salesforce.extract import deleted_window
from connectors.salesforce.landing import ChunkWriter, column_array
from connectors.salesforce.values import to_csv
from connectors.salesforce.windows import build_soql, soql_datetime
from crm_risk.errors import ConfigError, QuotaExceeded, RecordError, TerminalError, TransientError
from crm_risk.secrets import mask, register_secret

UTC_TS = pa.timestamp("us", tz="UTC")


def _describe(*names: str, types: dict[str, str] | None = None) -> dict:
    return {"fields": [{"name": n, "type": (types or {}).get(n, "string")} for n in names]}


def test_registry_is_data_for_the_ten_objects() -> None:
    names = [e.name for e in registry.REGISTRY]
    assert names == [
        "User",
        "Account",
        "Contact",
        "Opportunity",
        "OpportunityHistory",
        "OpportunityContactRole",
        "Case",
        "Task",
        "Event",
        "AccountHistory",
    ]
    assert registry.entry("accounthistory").cursor_field == "CreatedDate"
    # the warehouse names the raw tables, once, for every object the registry extracts
    assert {e.name for e in registry.REGISTRY} <= set(warehouse.TABLES)
    assert warehouse.table_for("OpportunityContactRole") == 'raw."opportunity_contact_role"'
    assert not registry.entry("User").has_is_deleted
    assert all(e.cursor_field in e.fields and "Id" in e.required for e in registry.REGISTRY)
    assert all(set(e.required) <= set(e.fields) for e in registry.REGISTRY)


def test_a_runs_objects_are_selected_in_the_order_given_and_unknown_names_refused_together() -> None:
    assert [e.name for e in registry.select(["case", "Account"])] == ["Case", "Account"]
    assert registry.select(None) == list(registry.REGISTRY) == registry.select([])
    with pytest.raises(ConfigError, match=r"unknown object\(s\) \['Tasks', 'Cases'\]"):
        registry.select(["Case", "Tasks", "Cases"])
    assert {"Expected_Resolution_Days__c", "Key_Account__c"} <= set(registry.entry("Account").fields)
    assert "CSAT__c" in registry.entry("Case").fields
    assert "Left_Company__c" in registry.entry("Contact").fields
    assert "Risk_Task_Key__c" in registry.entry("Task").fields
    with pytest.raises(ConfigError, match="Lead"):
        registry.entry("Lead")


def test_fields_are_registry_intersect_describe_with_missing_reported() -> None:
    obj = registry.entry("Case")
    described = [f for f in obj.fields if f != "CSAT__c"]
    fields, missing = registry.resolve_fields(obj, _describe(*(n.lower() for n in described), "Extra__c"))
    assert missing == ["CSAT__c"]
    assert list(fields) == [n.lower() for n in described]  # the org's spelling, registry order
    lacking = [f for f in described if f != "AccountId"]
    with pytest.raises(TerminalError, match="AccountId"):
        registry.resolve_fields(obj, _describe(*lacking))


def test_compound_fields_are_never_selected() -> None:
    obj = replace(
        registry.entry("Account"),
        fields=("Id", "IsDeleted", "Name", "OwnerId", "CreatedDate", "SystemModstamp", "BillingAddress"),
    )
    fields, missing = registry.resolve_fields(
        obj, _describe(*obj.fields, types={"BillingAddress": "address"})
    )
    assert "BillingAddress" not in fields and missing == ["BillingAddress"]


def test_rest_json_and_bulk_csv_values_type_the_same() -> None:
    cases = [
        ("datetime", ["2024-01-02T03:04:05.000+0000", None, ""], ["2024-01-02T03:04:05.000+0000", "", ""]),
        ("date", ["2024-01-02", None], ["2024-01-02", ""]),
        ("boolean", [True, False, None], ["true", "false", ""]),
        ("double", [1.5, 2, None], ["1.5", "2", ""]),
        ("currency", [10.0, None], ["10.0", ""]),
        ("int", [12, None], ["12", ""]),
        ("picklist", ["NA", None, ""], ["NA", "", ""]),
        ("anyType", [True, 5, "x"], ["true", "5", "x"]),
    ]
    for sf_type, rest, bulk in cases:
        assert column_array(rest, sf_type).equals(column_array(bulk, sf_type)), sf_type
    ts = column_array(["2024-01-02T03:04:05.123+0100"], "datetime")
    assert ts.type == UTC_TS
    assert ts[0].as_py() == datetime(2024, 1, 2, 2, 4, 5, 123000, tzinfo=UTC)
    assert column_array(["NA"], "string").to_pylist() == ["NA"]  # never sniffed as null
    assert column_array(["2024-02-29"], "date").to_pylist() == [date(2024, 2, 29)]


def test_chunk_writer_rotates_files_and_types_columns(tmp_path) -> None:
    fields = {"Id": "id", "Amount": "currency", "CloseDate": "date", "IsWon": "boolean"}
    writer = ChunkWriter(tmp_path, fields, chunk_rows=5, group_rows=2)
    for i in range(12):
        writer.add([[f"006{i:015d}"], [str(i)], ["2024-01-01"], ["true" if i % 2 else "false"]])
    files = writer.close()
    assert files == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    tables = [pq.read_table(tmp_path / f) for f in files]
    assert [t.num_rows for t in tables] == [5, 5, 2]
    assert tables[0].schema.field("CloseDate").type == pa.date32()
    assert pa.concat_tables(tables).column("Amount").to_pylist() == [float(i) for i in range(12)]
    (tmp_path / "e").mkdir()
    assert ChunkWriter(tmp_path / "e", fields, chunk_rows=5).close() == ["part-00000.parquet"]
    assert pq.read_table(tmp_path / "e" / "part-00000.parquet").num_rows == 0


def test_soql_window_is_closed_open_unquoted_utc() -> None:
    start = datetime(2024, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    end = datetime(2024, 1, 2, tzinfo=UTC)
    soql = build_soql(registry.entry("Account"), ["Id", "Name"], start, end)
    assert soql == (
        "SELECT Id, Name FROM Account WHERE SystemModstamp >= 2024-01-01T00:00:00Z "
        "AND SystemModstamp < 2024-01-02T00:00:00Z ORDER BY SystemModstamp, Id"
    )
    with pytest.raises(ConfigError, match="timezone-aware"):
        soql_datetime(datetime(2024, 1, 1))


def test_deleted_window_is_clipped_to_fifteen_days_and_widened() -> None:
    now = datetime(2024, 6, 30, tzinfo=UTC)
    start, end, clipped = deleted_window(datetime(2024, 1, 1, tzinfo=UTC), now, now)
    assert clipped and end == now and now - start < timedelta(days=15)
    start, end, clipped = deleted_window(now - timedelta(seconds=10), now, now)
    assert not clipped and end - start == timedelta(minutes=2)


def test_errors_translate_in_one_place() -> None:
    url = "https://x/services/data/v62.0/query/"
    cases = [
        (
            SalesforceRefusedRequest(
                url, 403, "q", [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "x"}]
            ),
            QuotaExceeded,
        ),
        (
            SalesforceMalformedRequest(
                url, 400, "q", [{"errorCode": "INVALID_FIELD", "message": "No such column"}]
            ),
            TerminalError,
        ),
        (
            SalesforceMalformedRequest(url, 400, "q", [{"errorCode": "MALFORMED_QUERY", "message": "bad"}]),
            TerminalError,
        ),
        (SalesforceGeneralError(url, 503, "q", "<html>busy</html>"), TransientError),
        (
            SalesforceGeneralError(url, 500, "q", [{"errorCode": "UNABLE_TO_LOCK_ROW", "message": "x"}]),
            TransientError,
        ),
        (
            SalesforceMalformedRequest(url, 400, "x", [{"errorCode": "STRING_TOO_LONG", "message": "x"}]),
            RecordError,
        ),
        (
            SalesforceExpiredSession(url, 401, "q", [{"errorCode": "INVALID_SESSION_ID", "message": "x"}]),
            SessionExpired,
        ),
        (ConnectionResetError("reset"), TransientError),
    ]
    for exc, expected in cases:
        assert type(translate(exc, "call")) is expected, exc
    assert "field-level security" in str(translate(cases[1][0], "query"))
    assert classify_item("UNABLE_TO_LOCK_ROW") == "transient"
    assert classify_item("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST") == "record"
    assert classify_item("REQUEST_LIMIT_EXCEEDED") == "quota"


def test_secrets_are_masked() -> None:
    register_secret("s3cr3t-value-123")
    text = mask(
        "Authorization: Bearer 00Dxx0000001gPL!AQ4AQ.abc password=hunter22 s3cr3t-value-123 "
        '<sessionId>abc</sessionId> access_token": "tok123456"'
    )
    for leaked in ("00Dxx0000001gPL!AQ4AQ", "hunter22", "s3cr3t-value-123", "abc<", "tok123456"):
        assert leaked not in text


def test_bulk_upload_csv_uses_crlf_and_na_for_null() -> None:
    rows = [
        {"Id": "001A", "Risk_Level__c": "Red", "Risk_Score__c": None},
        {"Id": "001B", "Risk_Reasons__c": 'says "hi", twice\nnew line', "Key_Account__c": True},
    ]
    data = to_csv(rows).decode()
    assert data.startswith("Id,Risk_Level__c,Risk_Score__c,Risk_Reasons__c,Key_Account__c\r\n")
    parsed = list(csv.reader(io.StringIO(data, newline="")))
    assert parsed[1] == ["001A", "Red", "#N/A", "", ""]  # null -> #N/A; absent -> empty (unchanged)
    assert parsed[2] == ["001B", "", "", 'says "hi", twice\nnew line', "true"]


def test_limit_header_reads_org_usage_not_per_app_usage() -> None:
    from connectors.salesforce.client import _USAGE

    match = _USAGE.search("per-app-api-usage=17/250(appName=x); api-usage=25/5000")
    assert match is not None and match.groups() == ("25", "5000")
    assert _USAGE.search("per-app-api-usage=17/250(appName=x)") is None


def test_jwt_audience_follows_the_login_host() -> None:
    from connectors.salesforce.auth import jwt_audience

    assert jwt_audience("https://acme.my.salesforce.com") == "https://login.salesforce.com"
    assert jwt_audience("https://acme--uat.sandbox.my.salesforce.com/") == "https://test.salesforce.com"
    assert jwt_audience("https://test.salesforce.com") == "https://test.salesforce.com"
    assert jwt_audience("https://127.0.0.1:8443/") == "https://127.0.0.1:8443"


def test_a_bulk_job_of_known_size_is_asked_again_when_its_rate_says_it_ends() -> None:
    from connectors.salesforce.bulk import POLL_FIRST_SECONDS, _until_done

    # 2,000 of 8,000 rows in 2 s: the rest takes 6 s at that rate
    assert _until_done({"numberRecordsProcessed": 2000}, 8000, 2.0) == pytest.approx(6.0)
    # all but a few: never sooner than the first poll's delay
    assert _until_done({"numberRecordsProcessed": "7999"}, 8000, 2.0) == POLL_FIRST_SECONDS
    # nothing to go by: the backoff decides (a query job's size is unknown; no row processed yet; a bad count;
    # all processed but the job not yet final)
    for info, rows in [
        ({"numberRecordsProcessed": 2000}, None),
        ({"numberRecordsProcessed": 0}, 8000),
        ({}, 8000),
        ({"numberRecordsProcessed": "n/a"}, 8000),
        ({"numberRecordsProcessed": 8000}, 8000),
    ]:
        assert _until_done(info, rows, 2.0) == float("inf")
