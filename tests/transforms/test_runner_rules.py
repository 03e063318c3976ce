"""The runner (order, parameters, atomicity, missing inputs) and the rules file validation."""

from __future__ import annotations

import tomllib
from pathlib import Path

import duckdb
import pytest

from connectors.warehouse import connect
from crm_risk.errors import ConfigError
from tests.transforms.helpers import AS_OF, ago, coverage, fired, run
from transforms.rules import DEFAULT_RULES, load_rules
from transforms.runner import check_rule_references, run_transforms, signal_files, sql_files


def rules_data() -> dict:
    """The default rules file, parsed."""
    return tomllib.loads(DEFAULT_RULES.read_text())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["signals"]["repeat_issue"].update(severity="urgent"),
            "[signals.repeat_issue] severity must be",
        ),
        (lambda d: d["signals"]["repeat_issue"].update(min_count=-1), "min_count must not be negative"),
        (lambda d: d["signals"]["repeat_issue"].update(window_days="ninety"), "window_days must be a number"),
        (lambda d: d["signals"]["aging_open_cases"].pop("action"), "[signals.aging_open_cases] action"),
        (lambda d: d["risk"].pop("amber_min_score"), "[risk] amber_min_score is missing"),
        (lambda d: d["risk"].update(reasons_max_chars=2000), "must not exceed 1000"),
        (lambda d: d["model"].update(version=""), "[model] version"),
        (
            lambda d: d["signals"]["aging_open_cases"]["onboarding"].update(max_days=3),
            "max_days overrides nothing",
        ),
        (
            lambda d: d["signals"]["champion_gone"].update(mitigated_severity="high"),
            "[signals.champion_gone] mitigated_severity must be a risk severity below 'high'",
        ),
        (
            lambda d: d["signals"]["champion_gone"].update(mitigated_severity="positive"),
            "mitigated_severity must be a risk severity below",
        ),
    ],
)
def test_invalid_rules_are_refused_with_the_key_named(edit, message):
    data = rules_data()
    edit(data)
    with pytest.raises(ConfigError) as err:
        load_rules(data=data)
    assert message in str(err.value)


def test_default_rules_cover_every_rule_the_sql_reads():
    rules = load_rules()
    check_rule_references(rules)
    data = rules_data()
    del data["signals"]["repeat_issue"]["reopen_within_days"]
    with pytest.raises(ConfigError, match=r"repeat_issue.sql reads rule \[repeat_issue\] reopen_within_days"):
        check_rule_references(load_rules(data=data))


def test_mitigated_severity_needs_the_column_in_the_signal_sql():
    data = rules_data()
    data["signals"]["repeat_issue"]["mitigated_severity"] = "medium"  # repeat_issue.sql has no `mitigated`
    with pytest.raises(
        ConfigError, match=r"\[signals.repeat_issue\] sets mitigated_severity, but .*repeat_issue"
    ):
        check_rule_references(load_rules(data=data))


def test_bad_toml_file_is_a_config_error(tmp_path: Path):
    bad = tmp_path / "rules.toml"
    bad.write_text("[model\nversion = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_rules(bad)


def test_thresholds_come_from_the_rules(con, crm):
    crm.account("A")
    crm.case("A", "00000031", ago(20))  # 20 days open: fine with the default 30
    data = rules_data()
    data["signals"]["aging_open_cases"]["max_age_days"] = 10
    run_transforms(con, as_of=AS_OF, run_id="r", rules=load_rules(data=data))
    assert set(fired(con, "aging_open_cases")) == {"A"}
    data["signals"]["aging_open_cases"]["enabled"] = False
    run_transforms(con, as_of=AS_OF, run_id="r", rules=load_rules(data=data))
    assert fired(con, "aging_open_cases") == {}
    assert coverage(con, "aging_open_cases")[0] == "disabled"


def test_missing_raw_tables_and_optional_columns_are_added_as_null():
    con = connect(":memory:")
    con.execute('create table raw.account ("Id" varchar, "Name" varchar, "Type" varchar, _deleted boolean)')
    con.execute("insert into raw.account values ('A', 'Acme', 'Customer - Direct', false)")
    result = run_transforms(con, as_of=AS_OF)
    assert "account.Expected_Resolution_Days__c" in result.added_inputs
    assert result.levels == {"Green": 1}
    assert "missed_customer_yardstick" in result.not_scored
    assert con.execute('select count(*) from raw."case"').fetchall() == [(0,)]


def test_order_file_naming_a_missing_file_fails(tmp_path: Path):
    order = tmp_path / "order.txt"
    order.write_text("# comment\nmarts/nope.sql\n")
    with pytest.raises(FileNotFoundError, match=r"nope\.sql"):
        sql_files(order)


def test_a_failing_model_leaves_the_previous_marts(con, crm, tmp_path: Path):
    crm.account("A")
    run(con)
    before = con.execute("select * from marts.account_risk").fetchall()
    crm.account("B")
    order = tmp_path / "order.txt"  # every model, then one that fails
    order.write_text("\n".join(str(p) for p in [*sql_files(), Path(__file__).parent / "bad.sql"]))
    with pytest.raises(duckdb.Error, match=r"bad\.sql"):
        run_transforms(con, as_of=AS_OF, run_id="run-2", order_file=order)
    assert con.execute("select * from marts.account_risk").fetchall() == before
    assert con.execute(
        "select count(*) from marts.account_risk_history where run_id = 'run-2'"
    ).fetchall() == [(0,)]


def test_backtest_runs_can_leave_the_history_alone(con, crm):
    crm.account("A")
    run(con, run_id="nightly")
    run_transforms(con, as_of=ago(30), run_id="backtest", record_history=False)
    assert con.execute("select run_id from marts.account_risk_history").fetchall() == [("nightly",)]


def test_a_misspelt_key_is_refused_naming_it_and_the_table():
    data = rules_data()
    data["risk"]["amber_min_scor"] = 25
    with pytest.raises(ConfigError, match=r"\[risk\] amber_min_scor is not a known key"):
        load_rules(data=data)
    data = rules_data()
    data["modle"] = {"version": "x"}
    with pytest.raises(ConfigError, match=r"\[modle\] is not a known key"):
        load_rules(data=data)
    data = rules_data()
    data["signals"]["repeat_issue"]["window_dayz"] = 90
    with pytest.raises(ConfigError, match=r"\[signals.repeat_issue\] window_dayz is read by no SQL file"):
        check_rule_references(load_rules(data=data))


def test_a_signal_is_its_sql_file_plus_its_rules_table(tmp_path: Path):
    rules = load_rules()
    files = sql_files()
    assert set(signal_files(rules, files)) == set(rules.signals)  # the glob in order.txt finds every signal
    data = rules_data()
    data["signals"]["brand_new"] = {"severity": "low", "points": 5, "action": "Look."}
    with pytest.raises(
        ConfigError, match=r"brand_new without SQL: add transforms/marts/signals/brand_new.sql"
    ):
        signal_files(load_rules(data=data), files)
    data = rules_data()
    del data["signals"]["case_spike"]
    with pytest.raises(ConfigError, match=r"signals/case_spike.sql has no \[signals.<id>\] table"):
        signal_files(load_rules(data=data), files)
