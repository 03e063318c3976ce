"""sync.account_flag_moves: which pending updates move a level, from the last pushed level or the CRM's own."""

from __future__ import annotations

from datetime import timedelta

from pipeline.moves import accepted_moves, read_moves
from tests.transforms.helpers import AS_OF, Crm, ago, run
from tests.transforms.test_push_pending import push_all, setup_org


def test_a_first_push_moves_from_the_crms_value_and_green_from_nothing_is_no_move(con, crm: Crm):
    setup_org(crm)  # A Red (repeat issue), B and C Green; the CRM holds no level yet
    con.execute(
        """update raw.account set "Risk_Level__c" = 'Red', "Key_Account__c" = true where "Id" = 'C'"""
    )
    run(con, run_id="run-1")
    moves = read_moves(con)
    assert set(moves) == {"A", "C"}  # B: none -> Green is not a move
    a, c = moves["A"], moves["C"]
    assert (a["previous_level"], a["level"], a["is_key_account"]) == (None, "Red", False)
    assert (c["previous_level"], c["level"], c["is_key_account"]) == ("Red", "Green", True)
    assert a["account_name"] == "Acme" and a["model_version"]
    assert isinstance(a["reasons"], list) and len(a["reasons"]) == 1
    assert (
        a["reasons"][0].endswith(".")
        and a["reasons"][0]
        in con.execute("select reasons from marts.account_risk where account_id = 'A'").fetchone()[0]
    )
    assert c["reasons"] == ["No relationship risk signals."]


def test_after_a_push_the_previous_level_is_the_last_one_pushed(con, crm: Crm):
    setup_org(crm)
    run(con, run_id="run-1")
    push_all(con, "run-1", rejected=("A",))  # A's Red never reached the CRM
    for i, d in enumerate((60, 45, 35)):
        crm.case("B", f"B-{i}", ago(d), Priority="High")
    crm.case("A", "00000009", ago(20), Priority="High")  # a new value for A (no longer dead-lettered)
    # someone types a level into the CRM by hand: the last push, not the CRM, is what B moves from
    con.execute("""update raw.account set "Risk_Level__c" = 'Red' where "Id" = 'B'""")
    run(con, as_of=AS_OF + timedelta(hours=1), run_id="run-2")
    moves = read_moves(con)
    assert {k: (m["previous_level"], m["level"]) for k, m in moves.items()} == {
        "A": (None, "Red"),  # the rejected push moved nothing: still from the CRM's own (empty) value
        "B": ("Green", "Amber"),
    }


def test_only_accepted_updates_are_moves():
    class Result:
        def __init__(self, record_id: str, ok: bool) -> None:
            self.record_id, self.ok = record_id, ok

    moves = {"A": {"account_id": "A"}, "B": {"account_id": "B"}}
    results = [Result("B", True), Result("A", False), Result("C", True)]
    assert accepted_moves(moves, results) == [{"account_id": "B"}]


def test_a_warehouse_from_before_the_view_gets_it_and_a_broken_one_only_loses_the_events(
    con, crm: Crm, caplog
):
    setup_org(crm)
    run(con, run_id="run-1")
    con.execute(
        "drop view sync.account_flag_moves"
    )  # as an account refresh finds a warehouse of the last version
    assert set(read_moves(con)) == {"A"}
    con.execute("drop view sync.account_flag_moves")
    con.execute("alter table marts.account_risk drop column reason_list")  # and no full run to add the column
    assert read_moves(con) == {}
    assert "no flag events this run" in caplog.text
