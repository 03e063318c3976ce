"""The Salesforce package (salesforce/, sfdx source format) against the one place the pipeline's field names live
(crm_risk/fields.py): type, length, picklist values, permission sets, help text; the simulator's schema agrees; the
Salesforce CLI converts the project (skipped where `sf` is absent: `make test-sf` installs it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from connectors.salesforce import push as sf_push
from connectors.salesforce.registry import entry
from crm_risk.config import Settings
from crm_risk.fields import (
    ACCOUNT_INPUTS,
    ACCOUNT_RISK,
    PACKAGE,
    PUSH_FIELDS,
    TASK_KEY,
    CrmField,
    describe_types,
)
from pipeline.owner_tasks import TASK_FIELDS
from shell.live import RISK_FIELDS
from simulator.org.schema import PACKAGE_FIELDS, sobject
from transforms.rules import load_rules

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "salesforce"
SRC = PROJECT / "force-app/main/default"
NS = {"m": "http://soap.sforce.com/2006/04/metadata"}
ROLLUPS = {
    "Account.Next_Renewal_Date__c"
}  # kept by Salesforce for the list views; the pipeline never writes it


def _xml(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def _text(node: ET.Element, tag: str) -> str | None:
    found = node.find(f"m:{tag}", NS)
    return found.text if found is not None else None


def _field_file(f: CrmField) -> Path:
    return SRC / "objects" / f.sobject / "fields" / f"{f.name}.field-meta.xml"


def _package_fields() -> set[str]:
    return {f"{p.parts[-3]}.{p.name.split('.')[0]}" for p in SRC.glob("objects/*/fields/*.field-meta.xml")}


def test_every_package_field_is_in_the_one_place_and_back():
    assert _package_fields() == {f.qualified for f in PACKAGE} | ROLLUPS


@pytest.mark.parametrize("field", PACKAGE, ids=lambda f: f.qualified)
def test_each_field_matches_its_xml(field: CrmField):
    node = _xml(_field_file(field))
    assert _text(node, "fullName") == field.name
    assert _text(node, "type") == field.type
    if field.length is not None:
        assert int(_text(node, "length") or 0) == field.length
    if field.precision is not None:
        assert (int(_text(node, "precision") or 0), int(_text(node, "scale") or 0)) == (
            field.precision,
            field.scale,
        )
    values = tuple(v.text for v in node.findall("m:valueSet/m:valueSetDefinition/m:value/m:fullName", NS))
    assert values == field.values
    if field.values:
        assert _text(node.find("m:valueSet", NS), "restricted") == "true"
    assert (_text(node, "externalId") == "true") == field.external_id
    assert (_text(node, "unique") == "true") == field.unique


def test_the_pipeline_writes_the_fields_of_the_one_place():
    assert Settings().push_fields == PUSH_FIELDS
    assert tuple(PUSH_FIELDS.values()) == RISK_FIELDS
    assert TASK_KEY.name == sf_push.TASK_KEY and TASK_FIELDS[0] == TASK_KEY.name
    sql = (ROOT / "transforms/sync/account_push_pending.sql").read_text()
    assert re.findall(r'as "(\w+__c)"', sql) == list(PUSH_FIELDS.values())
    assert set(entry("Account").fields) >= {f.name for f in (*ACCOUNT_RISK.values(), *ACCOUNT_INPUTS)}
    assert TASK_KEY.name in entry("Task").fields


@pytest.mark.parametrize("field", PACKAGE, ids=lambda f: f.qualified)
def test_the_simulator_describes_each_field_as_salesforce_would(field: CrmField):
    obj = sobject(field.sobject)
    described = obj.field(field.name) if obj else None
    assert described is not None and described.custom
    assert described.type in describe_types(field)
    if field.length:
        assert described.length == field.length
    assert described.picklist == field.values and described.restricted == bool(field.values)
    assert field.qualified in PACKAGE_FIELDS


def _permissions(name: str) -> tuple[dict[str, tuple[bool, bool]], dict[str, dict[str, bool]], set[str]]:
    node = _xml(SRC / "permissionsets" / f"{name}.permissionset-meta.xml")
    fields = {
        str(_text(p, "field")): (_text(p, "readable") == "true", _text(p, "editable") == "true")
        for p in node.findall("m:fieldPermissions", NS)
    }
    objects = {
        str(_text(p, "object")): {
            c.tag.split("}")[1]: c.text == "true" for c in p if c.tag.split("}")[1] != "object"
        }
        for p in node.findall("m:objectPermissions", NS)
    }
    users = {
        str(_text(p, "name")) for p in node.findall("m:userPermissions", NS) if _text(p, "enabled") == "true"
    }
    return fields, objects, users


def test_the_integration_permission_set_grants_what_a_run_needs_and_no_more():
    fields, objects, users = _permissions("CRM_Risk_Integration")
    for f in (*ACCOUNT_RISK.values(), TASK_KEY):
        assert fields[f.qualified] == (True, True), f.qualified
    for f in ACCOUNT_INPUTS:
        assert fields[f.qualified] == (True, False), f.qualified  # written by people only
    assert fields["Account.Next_Renewal_Date__c"] == (True, False)  # a roll-up is read-only
    assert objects["Account"]["allowRead"] and objects["Account"]["allowEdit"]
    for name in ("Account", "Contact", "Opportunity", "Case"):
        assert objects[name]["allowRead"] and objects[name]["viewAllRecords"], name
        assert not objects[name]["allowDelete"] and not objects[name]["modifyAllRecords"], name
        assert not objects[name]["allowCreate"], name  # the pipeline never creates Accounts (invariant 3)
    assert not any(objects[n]["allowEdit"] for n in ("Contact", "Opportunity", "Case"))
    assert {"ApiEnabled", "EditTask"} <= users


def test_the_reader_permission_set_lets_reps_read_the_risk_fields_only():
    fields, objects, _ = _permissions("CRM_Risk_Reader")
    for f in ACCOUNT_RISK.values():
        assert fields[f.qualified] == (True, False), f.qualified
    assert objects == {"Account": objects["Account"]} and objects["Account"]["allowRead"]
    assert not objects["Account"]["allowEdit"]


def _referenced_fields() -> set[str]:
    names: set[str] = set()
    for path in SRC.glob("objects/Account/listViews/*.xml"):
        node = _xml(path)
        names |= {c.text or "" for c in node.findall("m:columns", NS)}
        names |= {_text(f, "field") or "" for f in node.findall("m:filters", NS)}
    for path in SRC.glob("objects/Account/compactLayouts/*.xml"):
        names |= {c.text or "" for c in _xml(path).findall("m:fields", NS)}
    for path in SRC.glob("layouts/Account-*.xml"):
        names |= {f.text or "" for f in _xml(path).iter(f"{{{NS['m']}}}field")}
    return {n for n in names if n.endswith("__c")}


def test_views_and_layouts_show_the_package_fields():
    account = {f.split(".")[1] for f in _package_fields() if f.startswith("Account.")}
    assert _referenced_fields() <= account
    labels = {_text(_xml(p), "label") for p in SRC.glob("objects/Account/listViews/*.xml")}
    assert labels == {"My Red accounts", "Red accounts renewing within 120 days", "Risk rising this week"}
    compact = {
        c.text for c in _xml(next(SRC.glob("objects/Account/compactLayouts/*.xml"))).findall("m:fields", NS)
    }
    assert {"Risk_Level__c", "Risk_Score__c", "Risk_Trend__c"} <= compact
    layout = _xml(next(SRC.glob("layouts/Account-*.xml")))
    section = next(
        s for s in layout.findall("m:layoutSections", NS) if _text(s, "label") == "Relationship Risk"
    )
    shown = {f.text for f in section.iter(f"{{{NS['m']}}}field")}
    assert set(PUSH_FIELDS.values()) <= shown


@pytest.mark.parametrize("qualified", sorted(_package_fields()))
def test_every_field_has_help_text_for_a_rep(qualified: str):
    sobject_name, name = qualified.split(".")
    help_text = _text(
        _xml(SRC / "objects" / sobject_name / "fields" / f"{name}.field-meta.xml"), "inlineHelpText"
    )
    assert help_text and len(help_text) <= 510
    assert "__c" not in help_text  # written for a rep: no API names


def test_the_new_help_texts_state_the_rules_file():
    rules = load_rules()

    def help_of(name: str) -> str:
        return _text(_xml(SRC / "objects/Account/fields" / f"{name}.field-meta.xml"), "inlineHelpText") or ""

    assert f"rose by {rules.risk['trend_min_delta']:g} points or more" in help_of("Risk_Trend__c")
    review = rules.signals["no_business_review"].params
    assert f"every {review['key_account_days']:g} days instead of every {review['other_days']:g}" in help_of(
        "Key_Account__c"
    )
    yardstick = rules.signals["missed_customer_yardstick"].params
    assert yardstick["max_late_share"] == 0.2 and "more than a fifth" in help_of(
        "Expected_Resolution_Days__c"
    )
    assert f"in the last {yardstick['window_days']:g} days" in help_of("Expected_Resolution_Days__c")


def _sf() -> list[str] | None:
    """How to run the Salesforce CLI: `make test-sf`'s local install (with its Node 22), or `sf` on PATH."""
    run = ROOT / ".tools/sf/node_modules/@salesforce/cli/bin/run.js"
    nodes = sorted((ROOT / ".tools/sf/node_modules").glob("node-*/bin/node"))
    if run.exists() and nodes:
        return [str(nodes[0]), str(run)]
    found = shutil.which("sf")
    return [found] if found else None


def test_the_salesforce_cli_converts_the_project(tmp_path: Path):
    sf = _sf()
    if sf is None:
        pytest.skip(
            "the Salesforce CLI (sf) is not installed: `make test-sf` installs it into .tools/sf (npm, 60-100 s)"
        )
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),  # sf writes its config and logs under HOME
        "SF_DISABLE_TELEMETRY": "true",
        "SF_AUTOUPDATE_DISABLE": "true",
        "SF_SKIP_NEW_VERSION_CHECK": "true",
    }
    out = tmp_path / "mdapi"
    done = subprocess.run(
        [*sf, "project", "convert", "source", "--root-dir", "force-app", "--output-dir", str(out), "--json"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    package = _xml(out / "package.xml")
    members = {
        _text(t, "name"): {m.text for m in t.findall("m:members", NS)} for t in package.findall("m:types", NS)
    }
    assert members["CustomField"] == _package_fields()
    assert members["PermissionSet"] == {"CRM_Risk_Integration", "CRM_Risk_Reader"}
    assert len(members["ListView"]) == 3 and members["CompactLayout"] == {"Account.Relationship_Risk"}
    assert members["Layout"] == {"Account-Relationship Risk Layout"}
