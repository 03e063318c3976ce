"""SOQL subset: parsing, Salesforce-shaped errors, and query semantics against a planted DuckDB org."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from simulator.org.clock import Clock
from simulator.org.errors import ApiError
from simulator.org.ids import make_id
from simulator.org.store import Org
from simulator.soql import Cond, Logic, decode_string, located, parse, parse_datetime_literal

U1, U2 = make_id("User", 1), make_id("User", 2)
A1, A2, A3, A4 = (make_id("Account", i) for i in range(1, 5))
C1, C2 = make_id("Contact", 1), make_id("Contact", 2)
K1 = make_id("Case", 1)
T0 = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def _sys(created: datetime) -> dict:
    return {
        "CreatedDate": created,
        "LastModifiedDate": created,
        "SystemModstamp": created,
        "CreatedById": U1,
        "LastModifiedById": U1,
    }


def _org_data() -> dict[str, list[dict]]:
    users = [
        {
            "Id": U1,
            "Username": "ana@x.test",
            "FirstName": "Ana",
            "LastName": "Admin",
            "Name": "Ana Admin",
            "Email": "ana@x.test",
            "IsActive": True,
            **_sys(T0),
        },
        {
            "Id": U2,
            "Username": "bo@x.test",
            "FirstName": "Bo",
            "LastName": "Seller",
            "Name": "Bo Seller",
            "Email": "bo@x.test",
            "IsActive": True,
            **_sys(T0),
        },
    ]
    accounts = [
        {
            "Id": A1,
            "IsDeleted": False,
            "Name": "Acme",
            "Type": "Customer - Direct",
            "AnnualRevenue": 100.5,
            "NumberOfEmployees": 10,
            "OwnerId": U1,
            "Key_Account__c": True,
            **_sys(T0),
        },
        {
            "Id": A2,
            "IsDeleted": False,
            "Name": "Beta 50% Off",
            "Type": None,
            "AnnualRevenue": 200.0,
            "NumberOfEmployees": 20,
            "OwnerId": U2,
            "Key_Account__c": False,
            **_sys(T0 + timedelta(days=1)),
        },
        {
            "Id": A3,
            "IsDeleted": False,
            "Name": "o'Brien_Co",
            "Type": "Prospect",
            "AnnualRevenue": None,
            "NumberOfEmployees": 30,
            "OwnerId": U2,
            "Key_Account__c": False,
            **_sys(datetime(2024, 1, 2, 8, 4, 5, tzinfo=UTC)),
        },
        {
            "Id": A4,
            "IsDeleted": True,
            "Name": "Gone",
            "Type": "Other",
            "AnnualRevenue": 1.0,
            "NumberOfEmployees": 1,
            "OwnerId": U1,
            "Key_Account__c": False,
            **_sys(T0),
        },
    ]
    contacts = [
        {
            "Id": C1,
            "IsDeleted": False,
            "AccountId": A1,
            "FirstName": "Cy",
            "LastName": "One",
            "Name": "Cy One",
            "OwnerId": U1,
            **_sys(T0),
        },
        {
            "Id": C2,
            "IsDeleted": False,
            "AccountId": None,
            "FirstName": None,
            "LastName": "Two",
            "Name": "Two",
            "OwnerId": U2,
            **_sys(T0),
        },
    ]
    cases = [
        {
            "Id": K1,
            "IsDeleted": False,
            "CaseNumber": "00000007",
            "AccountId": A1,
            "Status": "New",
            "IsClosed": False,
            "OwnerId": U1,
            **_sys(T0),
        }
    ]
    tasks = [
        {
            "Id": make_id("Task", i),
            "IsDeleted": False,
            "WhatId": what,
            "WhoId": who,
            "Status": "Not Started",
            "Priority": "Normal",
            "IsClosed": False,
            "IsArchived": False,
            "OwnerId": U1,
            **_sys(T0),
        }
        for i, what, who in ((1, A2, C1), (2, K1, None), (3, None, None))
    ]
    return {"User": users, "Account": accounts, "Contact": contacts, "Case": cases, "Task": tasks}


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    """A small org with planted rows (read-only for these tests)."""
    d: Path = tmp_path_factory.mktemp("org")
    o = Org(d, Clock(d), U1)
    o.load(_org_data())
    yield o
    o.close()


def ids(org: Org, soql: str, **kw: bool) -> list[str]:
    """The Ids a query returns, in order."""
    return [r["Id"] for r in org.query(soql, **kw).records(0, 100)]


def err(soql: str) -> ApiError:
    """The ApiError a query raises at parse time."""
    with pytest.raises(ApiError) as exc:
        parse(soql)
    return exc.value


# -- literals --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5)),
        ("2024-01-02T03:04:05+00:00", datetime(2024, 1, 2, 3, 4, 5)),
        ("2024-01-02T03:04:05-05:00", datetime(2024, 1, 2, 8, 4, 5)),
        ("2024-01-02T03:04:05.000+0000", datetime(2024, 1, 2, 3, 4, 5)),
        ("2024-01-02T03:04:05.123Z", datetime(2024, 1, 2, 3, 4, 5, 123000)),
        ("2024-01-02T03:04:05.5+0130", datetime(2024, 1, 2, 1, 34, 5, 500000)),
    ],
)
def test_datetime_literal_forms(raw: str, expected: datetime) -> None:
    assert parse_datetime_literal(raw) == expected
    q = parse(f"SELECT Id FROM Account WHERE CreatedDate >= {raw}")
    assert isinstance(q.where, Cond) and q.where.value.value == expected  # type: ignore[union-attr]


def test_string_escapes_and_like_pattern() -> None:
    q = parse(r"SELECT Id FROM Account WHERE Name = 'o\'Brien \\ \n'")
    assert q.where.value.value == "o'Brien \\ \n"  # type: ignore[union-attr]
    assert decode_string(r"50\% a\_b%", like=True) == r"50\% a\_b%"
    assert decode_string(r"a\\b", like=True) == r"a\\b"


def test_structure_of_a_full_query() -> None:
    q = parse(
        "select id, NAME, owner.name from ACCOUNT where (Type = 'Prospect' or not Name like 'A%') "
        "and AnnualRevenue >= 10.5 order by Name desc nulls last, CreatedDate limit 5 offset 2"
    )
    assert q.sobject.name == "Account"
    assert [f.name for f in q.fields] == ["Id", "Name", "Owner.Name"]
    assert isinstance(q.where, Logic) and q.where.op == "AND"
    assert isinstance(q.where.items[0], Logic) and q.where.items[0].op == "OR"
    assert [(o.ref.name, o.desc, o.nulls_first) for o in q.order] == [
        ("Name", True, False),
        ("CreatedDate", False, None),
    ]
    assert (q.limit, q.offset) == (5, 2)


def test_count_query() -> None:
    q = parse("SELECT COUNT() FROM Contact WHERE LastName != null")
    assert q.is_count and q.fields == []


# -- error shapes ---------------------------------------------------------------------------------------
def test_unknown_field_message_shape() -> None:
    e = err("SELECT Id, Foo FROM Account")
    assert (e.status, e.error_code) == (400, "INVALID_FIELD")
    assert e.message == (
        "\nSELECT Id, Foo FROM Account\n           ^\nERROR at Row:1:Column:12\nNo such column 'Foo' on entity "
        "'Account'. If you are attempting to use a custom field, be sure to append the '__c' after the custom "
        "field name. Please reference your WSDL or the describe call for the appropriate names."
    )


def test_unknown_parent_field_and_relationship() -> None:
    assert "No such column 'Nope' on entity 'User'" in err("SELECT Owner.Nope FROM Account").message
    e = err("SELECT Boss.Name FROM Account")
    assert e.error_code == "INVALID_FIELD" and "Didn't understand relationship 'Boss'" in e.message


def test_unknown_object() -> None:
    e = err("SELECT Id FROM Foo")
    assert (e.status, e.error_code) == (400, "INVALID_TYPE")
    assert "ERROR at Row:1:Column:16\nsObject type 'Foo' is not supported." in e.message


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT FROM Account",
        "SELECT Id Account",
        "SELECT Id FROM Account WHERE",
        "SELECT Id FROM Account WHERE Name",
        "SELECT Id FROM Account WHERE Name = ",
        "SELECT Id FROM Account LIMIT x",
        "SELECT Id FROM Account ORDER Name",
        "SELECT Id FROM Account WHERE (Name = 'a'",
        "SELECT Id FROM Account WHERE Name = 'a' extra",
        "",
        "SELECT Id FROM Account WHERE Name = 'unterminated",
        "SELECT Id, Id FROM Account",
    ],
)
def test_malformed(soql: str) -> None:
    e = err(soql)
    assert (e.status, e.error_code) == (400, "MALFORMED_QUERY")


def test_located_reports_row_and_column_on_multiline_queries() -> None:
    text = "SELECT Id\nFROM Account\nWHERE Bad = 1"
    assert located(text, text.index("Bad"), "x") == "\nWHERE Bad = 1\n      ^\nERROR at Row:3:Column:7\nx"
    e = err(text)
    assert "ERROR at Row:3:Column:7" in e.message


def test_quoted_date_is_refused() -> None:
    e = err("SELECT Id FROM Account WHERE CreatedDate > '2024-01-01'")
    assert e.error_code == "INVALID_FIELD" and "should not be enclosed in quotes" in e.message


# -- semantics against the planted org --------------------------------------------------------------------
def test_records_shape_and_parent_nesting(org: Org) -> None:
    org.api_version = "59.0"
    recs = org.query(
        "SELECT Name, Account.Name, Account.Type, CreatedDate, Owner.Name FROM Contact ORDER BY LastName"
    ).records(0, 10)
    assert recs == [
        {
            "attributes": {"type": "Contact", "url": f"/services/data/v59.0/sobjects/Contact/{C1}"},
            "Name": "Cy One",
            "Account": {
                "attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{A1}"},
                "Name": "Acme",
                "Type": "Customer - Direct",
            },
            "CreatedDate": "2024-01-02T03:04:05.000+0000",
            "Owner": {
                "attributes": {"type": "User", "url": f"/services/data/v59.0/sobjects/User/{U1}"},
                "Name": "Ana Admin",
            },
        },
        {
            "attributes": {"type": "Contact", "url": f"/services/data/v59.0/sobjects/Contact/{C2}"},
            "Name": "Two",
            "Account": None,
            "CreatedDate": "2024-01-02T03:04:05.000+0000",
            "Owner": {
                "attributes": {"type": "User", "url": f"/services/data/v59.0/sobjects/User/{U2}"},
                "Name": "Bo Seller",
            },
        },
    ]


def test_types_in_json(org: Org) -> None:
    rec = org.query(
        f"SELECT Id, AnnualRevenue, NumberOfEmployees, Key_Account__c, Type, LastActivityDate "
        f"FROM Account WHERE Id = '{A1}'"
    ).records(0, 1)[0]
    assert list(rec) == [
        "attributes",
        "Id",
        "AnnualRevenue",
        "NumberOfEmployees",
        "Key_Account__c",
        "Type",
        "LastActivityDate",
    ]
    assert (
        rec["AnnualRevenue"],
        rec["NumberOfEmployees"],
        rec["Key_Account__c"],
        rec["LastActivityDate"],
    ) == (100.5, 10, True, None)


def test_deleted_rows_only_in_query_all(org: Org) -> None:
    assert ids(org, "SELECT Id FROM Account") == [A1, A2, A3]
    assert ids(org, "SELECT Id FROM Account", include_deleted=True) == [A1, A2, A3, A4]
    assert ids(org, "SELECT Id FROM Account WHERE IsDeleted = true", include_deleted=True) == [A4]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name = 'acme'", [A1]),  # text compares case-insensitively
        ("Name != 'Acme'", [A2, A3]),
        ("Name <> 'Acme'", [A2, A3]),
        ("Type = null", [A2]),
        ("Type != null", [A1, A3]),
        ("Type != 'Prospect'", [A1, A2]),  # != keeps nulls, as SOQL does
        ("AnnualRevenue > 100.5", [A2]),
        ("AnnualRevenue >= 100.5", [A1, A2]),
        ("NumberOfEmployees < 20", [A1]),
        ("NumberOfEmployees <= 20", [A1, A2]),
        ("Type IN ('Prospect', 'customer - direct')", [A1, A3]),
        ("Type NOT IN ('Prospect')", [A1, A2]),
        ("Type IN ('Prospect', null)", [A2, A3]),
        ("Name LIKE 'a%'", [A1]),
        ("Name LIKE '%50\\% off'", [A2]),
        ("Name LIKE 'o\\'Brien\\_C_'", [A3]),
        ("Name LIKE 'o_Brien%'", [A3]),
        ("Key_Account__c = true", [A1]),
        ("Key_Account__c = false", [A2, A3]),
        ("NOT Key_Account__c = true", [A2, A3]),
        ("(Type = 'Prospect' OR Key_Account__c = true) AND NumberOfEmployees > 10", [A3]),
        ("Type = 'Prospect' OR Key_Account__c = true AND NumberOfEmployees > 10", [A3]),  # AND binds tighter
        ("Owner.Name = 'Bo Seller'", [A2, A3]),
        (f"OwnerId = '{U2[:15]}'", [A2, A3]),  # 15-character ids match their 18-char form
        ("CreatedDate = 2024-01-02T03:04:05Z", [A1]),
        ("CreatedDate > 2024-01-02T03:04:05+00:00", [A2, A3]),
        ("CreatedDate = 2024-01-02T03:04:05-05:00", [A3]),
        ("CreatedDate < 2024-01-02T03:04:05.001+0000", [A1]),
        ("CreatedDate >= 2024-01-03T00:00:00.000Z", [A2]),
        ("SystemModstamp > 2024-01-02", [A1, A2, A3]),  # a date on a datetime field: midnight UTC
    ],
)
def test_where(org: Org, where: str, expected: list[str]) -> None:
    assert ids(org, f"SELECT Id FROM Account WHERE {where}") == expected


def test_order_by_limit_offset(org: Org) -> None:
    assert ids(org, "SELECT Id FROM Account ORDER BY Type") == [A2, A1, A3]  # nulls first
    assert ids(org, "SELECT Id FROM Account ORDER BY Type NULLS LAST") == [A1, A3, A2]
    assert ids(org, "SELECT Id FROM Account ORDER BY Type DESC") == [A3, A1, A2]
    assert ids(org, "SELECT Id FROM Account ORDER BY Type DESC NULLS FIRST") == [A2, A3, A1]
    assert ids(org, "SELECT Id FROM Account ORDER BY OwnerId DESC, Name ASC") == [A2, A3, A1]
    assert ids(org, "SELECT Id FROM Account ORDER BY Owner.Name DESC, NumberOfEmployees DESC") == [A3, A2, A1]
    assert ids(org, "SELECT Id FROM Account ORDER BY Name LIMIT 2") == [A1, A2]
    assert ids(org, "SELECT Id FROM Account ORDER BY Name LIMIT 2 OFFSET 1") == [A2, A3]


def test_count(org: Org) -> None:
    r = org.query("SELECT COUNT() FROM Account WHERE NumberOfEmployees > 10")
    assert (r.is_count, r.total_size, r.records(0, 10)) == (True, 2, [])
    assert org.query("SELECT COUNT() FROM Account", include_deleted=True).total_size == 4


def test_date_literals(tmp_path: Path) -> None:
    clock = Clock(tmp_path)
    today = clock.today()
    o = Org(tmp_path, clock, U1)
    rows = [
        {
            "Id": make_id("Account", i),
            "IsDeleted": False,
            "Name": f"A{i}",
            "OwnerId": U1,
            **_sys(
                datetime.combine(today - timedelta(days=d), datetime.min.time(), UTC) + timedelta(hours=12)
            ),
        }
        for i, d in ((1, 0), (2, 1), (3, 10), (4, 40))
    ]
    o.load({"User": _org_data()["User"], "Account": rows})
    a = [make_id("Account", i) for i in range(1, 5)]
    assert ids(o, "SELECT Id FROM Account WHERE CreatedDate = TODAY") == [a[0]]
    assert ids(o, "SELECT Id FROM Account WHERE CreatedDate = YESTERDAY") == [a[1]]
    assert ids(o, "SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS:30") == a[:3]
    assert ids(o, "SELECT Id FROM Account WHERE CreatedDate < LAST_N_DAYS:30") == [a[3]]
    assert ids(o, "SELECT Id FROM Account WHERE CreatedDate > YESTERDAY") == [a[0]]
    o.close()


def test_csv_page(org: Org) -> None:
    r = org.query(
        "SELECT Id, Name, Owner.Name, AnnualRevenue, Key_Account__c, Type FROM Account ORDER BY Name"
    )
    assert r.columns == ["Id", "Name", "Owner.Name", "AnnualRevenue", "Key_Account__c", "Type"]
    header = '"Id","Name","Owner.Name","AnnualRevenue","Key_Account__c","Type"\n'
    assert r.csv(0, 2) == (
        header + f'"{A1}","Acme","Ana Admin","100.5","true","Customer - Direct"\n'
        f'"{A2}","Beta 50% Off","Bo Seller","200","false",\n'
    )
    assert r.csv(2, 2) == header + f'"{A3}","o\'Brien_Co","Bo Seller",,"false","Prospect"\n'
    assert r.csv(3, 2) == header


def test_paging_slices(org: Org) -> None:
    r = org.query("SELECT Id FROM Account ORDER BY Name", include_deleted=True)
    assert r.total_size == 4
    pages = [[x["Id"] for x in r.records(off, 3)] for off in (0, 3, 6)]
    assert pages == [[A1, A2, A4], [A3], []]


def test_today_is_a_date_literal_not_a_field() -> None:
    q = parse("SELECT Id FROM Opportunity WHERE CloseDate >= NEXT_N_DAYS:7 AND CloseDate < LAST_YEAR")
    assert isinstance(q.where, Logic)
    assert [c.value.kind for c in q.where.items] == ["dateliteral", "dateliteral"]  # type: ignore[union-attr]
    assert date(2024, 1, 1) < date(2025, 1, 1)


@pytest.mark.parametrize(
    ("soql", "message"),
    [
        (
            "SELECT Id FROM Account WHERE AnnualRevenue = '5'",
            "value of filter criterion for field 'AnnualRevenue' must be of type currency and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE Key_Account__c = 'true'",
            "value of filter criterion for field 'Key_Account__c' must be of type boolean and should not be enclosed in "
            "quotes",
        ),
        (
            "SELECT Id FROM Account WHERE Name = 5",
            "value of filter criterion for field 'Name' must be of type string and should be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate = 5",
            "value of filter criterion for field 'CloseDate' must be of type date and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE NumberOfEmployees LIKE '1%'",
            "invalid operator on field 'NumberOfEmployees': LIKE",
        ),
    ],
)
def test_literal_type_mismatch_is_invalid_field(soql: str, message: str) -> None:
    e = err(soql)
    assert e.error_code == "INVALID_FIELD" and e.message.endswith("\n" + message)


def test_polymorphic_what_name(org: Org) -> None:
    recs = org.query("SELECT What.Name, Who.Name, Account.Name FROM Task ORDER BY Id").records(0, 10)
    v = org.api_version
    assert [(r["What"], r["Who"]) for r in recs] == [
        (
            {
                "attributes": {"type": "Account", "url": f"/services/data/v{v}/sobjects/Account/{A2}"},
                "Name": "Beta 50% Off",
            },
            {
                "attributes": {"type": "Contact", "url": f"/services/data/v{v}/sobjects/Contact/{C1}"},
                "Name": "Cy One",
            },
        ),
        (
            {
                "attributes": {"type": "Case", "url": f"/services/data/v{v}/sobjects/Case/{K1}"},
                "Name": "00000007",
            },
            None,
        ),
        (None, None),
    ]
    assert ids(org, "SELECT Id FROM Task WHERE What.Name LIKE 'beta%' OR What.Name = '00000007'") == [
        make_id("Task", 1),
        make_id("Task", 2),
    ]
    assert (
        org.query("SELECT What.Name FROM Task ORDER BY Id").csv(0, 3)
        == '"What.Name"\n"Beta 50% Off"\n"00000007"\n\n'
    )
    assert "No such column 'Nope' on entity 'Name'" in err("SELECT What.Nope FROM Task").message


def test_malformed_id_in_filter() -> None:
    e = err("SELECT Id FROM Contact WHERE AccountId IN ('001000000000001', 'nope')")
    assert (e.status, e.error_code) == (400, "INVALID_QUERY_FILTER_OPERATOR")
    assert e.message.endswith("ERROR at Row:1:Column:63\ninvalid ID field: nope")
    assert parse("SELECT Id FROM Contact WHERE AccountId LIKE '001%' AND OwnerId != ''").where is not None
