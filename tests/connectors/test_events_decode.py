"""Change event decoding: Avro payloads by schema id, the header's field bitmaps, and the replay-id store."""

from __future__ import annotations

import io
import json
from pathlib import Path

import fastavro
import pytest

from connectors.salesforce.events.decode import SchemaCache, decode_event, fields_from_bitmaps
from connectors.salesforce.events.replay import ReplayStore
from crm_risk.errors import ConfigError

HEADER = {
    "type": "record",
    "name": "ChangeEventHeader",
    "namespace": "com.salesforce.eventbus",
    "fields": [
        {"name": "entityName", "type": "string"},
        {"name": "recordIds", "type": {"type": "array", "items": "string"}},
        {"name": "changeType", "type": "string"},
        {"name": "changeOrigin", "type": "string"},
        {"name": "transactionKey", "type": "string"},
        {"name": "sequenceNumber", "type": "int"},
        {"name": "commitTimestamp", "type": "long"},
        {"name": "commitNumber", "type": "long"},
        {"name": "commitUser", "type": "string"},
        {"name": "nulledFields", "type": {"type": "array", "items": "string"}},
        {"name": "diffFields", "type": {"type": "array", "items": "string"}},
        {"name": "changedFields", "type": {"type": "array", "items": "string"}},
    ],
}
ADDRESS = {
    "type": "record",
    "name": "Address",
    "fields": [
        {"name": n, "type": ["null", "string"], "default": None} for n in ("Street", "City", "Country")
    ],
}
SCHEMA = {
    "type": "record",
    "name": "CaseChangeEvent",
    "namespace": "com.sforce.eventbus",
    "fields": [
        {"name": "ChangeEventHeader", "type": HEADER},
        {"name": "AccountId", "type": ["null", "string"], "default": None},
        {"name": "Status", "type": ["null", "string"], "default": None},
        {"name": "Priority", "type": ["null", "string"], "default": None},
        {"name": "Address", "type": ["null", ADDRESS], "default": None},
        {"name": "IsEscalated", "type": ["null", "boolean"], "default": None},
    ],
}


def _payload(header: dict, **values: object) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(SCHEMA), {"ChangeEventHeader": header, **values})
    return buf.getvalue()


def _header(**kw: object) -> dict:
    base = {
        "entityName": "Case",
        "recordIds": ["500000000000001AAA"],
        "changeType": "UPDATE",
        "changeOrigin": "com/salesforce/api/rest/62.0",
        "transactionKey": "0001-abc",
        "sequenceNumber": 1,
        "commitTimestamp": 1_767_225_600_000,
        "commitNumber": 42,
        "commitUser": "005000000000001AAA",
        "nulledFields": [],
        "diffFields": [],
        "changedFields": [],
    }
    return {**base, **kw}


def test_bitmaps_name_top_level_and_compound_fields():
    fields = SCHEMA["fields"]
    # bits 2 and 5 -> Status, IsEscalated; "4-0x02" -> Address.City (child bit 1)
    assert fields_from_bitmaps(["0x24"], fields) == ("Status", "IsEscalated")
    assert fields_from_bitmaps(["0x24", "4-0x02"], fields) == ("Status", "IsEscalated", "Address.City")
    assert fields_from_bitmaps(["0x0"], fields) == ()
    assert fields_from_bitmaps([], fields) == ()


def test_decode_fetches_each_schema_once_and_reads_values():
    fetched: list[str] = []

    def fetch(schema_id: str) -> str:
        fetched.append(schema_id)
        return json.dumps(SCHEMA)

    cache = SchemaCache(fetch)
    payload = _payload(
        _header(changedFields=["0x24"], nulledFields=["0x08"]), Status="Escalated", IsEscalated=True
    )
    first = decode_event(payload, "s1", cache, replay_id=b"\x00\x01")
    second = decode_event(payload, "s1", cache)
    assert fetched == ["s1"] and len(cache) == 1
    assert first == second.__class__(**{**second.__dict__, "replay_id": b"\x00\x01"})
    assert first.entity == "Case" and first.change_type == "UPDATE"
    assert first.changed_fields == ("Status", "IsEscalated") and first.nulled_fields == ("Priority",)
    assert first.values == {"Status": "Escalated", "IsEscalated": True}
    assert first.record_ids == ("500000000000001AAA",) and first.commit_number == 42
    assert not first.is_gap and decode_event(_payload(_header(changeType="GAP_UPDATE")), "s1", cache).is_gap


def test_replay_store_survives_a_new_process_and_forgets(tmp_path: Path):
    path = tmp_path / "state" / "replay.json"
    store = ReplayStore(path)
    assert store.get("/data/ChangeEvents") is None
    store.put("/data/ChangeEvents", b"\x00\x00\x00\x07")
    store.put("/data/CaseChangeEvent", b"\x01")
    again = ReplayStore(path)
    assert again.get("/data/ChangeEvents") == b"\x00\x00\x00\x07"
    assert again.stored_at("/data/CaseChangeEvent") is not None
    again.forget("/data/ChangeEvents")
    assert ReplayStore(path).get("/data/ChangeEvents") is None
    assert ReplayStore(path).get("/data/CaseChangeEvent") == b"\x01"
    assert [p.name for p in path.parent.iterdir()] == ["replay.json"]  # no temporary file left behind


@pytest.mark.parametrize("bad", ["", "{"])
def test_a_damaged_replay_file_is_a_clear_error(tmp_path: Path, bad: str):
    path = tmp_path / "replay.json"
    path.write_text(bad)
    if bad == "":
        assert ReplayStore(path).get("x") is None
    else:
        with pytest.raises(ConfigError, match=r"replay-id file .*replay.json is damaged"):
            ReplayStore(path)
