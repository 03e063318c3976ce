"""From landed Parquet extracts (only the fields the org has) through load_manifest and the transforms."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from connectors import warehouse as wh
from tests.connectors.test_warehouse import write_extract
from tests.transforms.helpers import AS_OF, ago, fired, run

ACCOUNT = {
    "Id": "id",
    "IsDeleted": "boolean",
    "Name": "string",
    "Type": "picklist",
    "OwnerId": "reference",
    "CreatedDate": "datetime",
    "SystemModstamp": "datetime",
}  # no Expected_Resolution_Days__c in this org
CASE = {
    "Id": "id",
    "IsDeleted": "boolean",
    "CaseNumber": "string",
    "AccountId": "reference",
    "Status": "picklist",
    "IsClosed": "boolean",
    "ClosedDate": "datetime",
    "Priority": "picklist",
    "Type": "picklist",
    "Reason": "picklist",
    "IsEscalated": "boolean",
    "CreatedDate": "datetime",
    "SystemModstamp": "datetime",
}


def case(cid: str, number: str, opened_days_ago: float, **kw: object) -> dict:
    """An open medium case row as the extractor lands it."""
    row = {
        "Id": cid,
        "IsDeleted": False,
        "CaseNumber": number,
        "AccountId": "001A",
        "Status": "Working",
        "IsClosed": False,
        "ClosedDate": None,
        "Priority": "Medium",
        "Type": "Mechanical",
        "Reason": "Breakdown",
        "IsEscalated": False,
        "CreatedDate": ago(opened_days_ago),
        "SystemModstamp": ago(opened_days_ago),
    }
    return {**row, **kw}


def test_loaded_extracts_score_and_deleted_records_drop_out(tmp_path: Path):
    con = wh.connect(tmp_path / "wh.duckdb")
    for fields_types in (ACCOUNT, CASE):
        for name, t in fields_types.items():
            if t in ("picklist", "reference"):
                fields_types[name] = "string"
    acct = {
        "Id": "001A",
        "IsDeleted": False,
        "Name": "Acme",
        "Type": "Customer - Direct",
        "OwnerId": "005U",
        "CreatedDate": ago(900),
        "SystemModstamp": ago(900),
    }
    wh.load_manifest(con, write_extract(tmp_path, "r1", [[acct]], fields=ACCOUNT), "r1")
    wh.load_manifest(
        con, write_extract(tmp_path, "r1", [[case("500A", "00000001", 41)]], fields=CASE, obj="Case"), "r1"
    )
    result = run(con, run_id="run-1")
    assert fired(con, "aging_open_cases")["001A"][0] == "Case 00000001 has been open since 20 May 2026."
    assert "missed_customer_yardstick" in result.not_scored
    # the case is deleted in the CRM (hard delete): the next run drops the flag
    d = write_extract(
        tmp_path,
        "r2",
        [],
        fields=CASE,
        obj="Case",
        window_end="2026-06-30T13:00:00Z",
        deleted=[{"Id": "500A", "deletedDate": AS_OF}],
    )
    wh.load_manifest(con, d, "r2")
    run(con, as_of=AS_OF + timedelta(hours=2), run_id="run-2")
    assert fired(con, "aging_open_cases") == {}
    con.close()
