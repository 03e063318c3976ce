"""Decode Change Data Capture events: Avro payloads (schemas fetched by id and cached) and the header's bitmaps.

A change event's payload is Avro, written with the schema whose id the event carries (`ProducerEvent.schema_id`).
Its `ChangeEventHeader` names the changed, nulled and diffed fields as *bitmaps* over the schema's top-level fields:
a string such as ``"0x7E02"`` is a big-endian hex number whose bit *i* marks field *i*; a string
``"3-0x04"`` marks fields of the compound field at position 3 (e.g. ``BillingAddress.City``). Field names in a
record id list and the header are Salesforce's own (PascalCase).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fastavro

__all__ = ["ChangeEvent", "SchemaCache", "decode_event", "fields_from_bitmaps"]


@dataclass(frozen=True)
class ChangeEvent:
    """One decoded change: what changed in which records of which object, and the changed values."""

    entity: str
    change_type: str  # CREATE, UPDATE, DELETE, UNDELETE, GAP_*, GAP_OVERFLOW
    record_ids: tuple[str, ...]
    changed_fields: tuple[str, ...]
    nulled_fields: tuple[str, ...] = ()
    diff_fields: tuple[str, ...] = ()
    commit_timestamp_ms: int = 0
    commit_number: int = 0
    transaction_key: str = ""
    sequence_number: int = 0
    change_origin: str = ""
    commit_user: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    replay_id: bytes = b""

    @property
    def is_gap(self) -> bool:
        """A gap event (GAP_CREATE ... GAP_OVERFLOW): the change is known to have happened, not its values."""
        return self.change_type.startswith("GAP_")


class SchemaCache:
    """Parsed Avro schemas by id; `fetch(schema_id) -> schema JSON` is called once per id (GetSchema)."""

    def __init__(self, fetch: Callable[[str], str]) -> None:
        self._fetch = fetch
        self._parsed: dict[str, Any] = {}
        self._fields: dict[str, list[dict[str, Any]]] = {}

    def get(self, schema_id: str) -> tuple[Any, list[dict[str, Any]]]:
        """The parsed schema and its top-level field list."""
        if schema_id not in self._parsed:
            raw = json.loads(self._fetch(schema_id))
            self._fields[schema_id] = list(raw.get("fields") or [])
            self._parsed[schema_id] = fastavro.parse_schema(raw)
        return self._parsed[schema_id], self._fields[schema_id]

    def __len__(self) -> int:
        return len(self._parsed)


def _bits(hex_bitmap: str) -> list[int]:
    value = int(hex_bitmap, 16)
    return [i for i in range(value.bit_length()) if value >> i & 1]


def _record_fields(avro_type: Any) -> list[dict[str, Any]]:
    """The fields of a record type, or of the record in an optional union (["null", {...record...}])."""
    types = avro_type if isinstance(avro_type, list) else [avro_type]
    for t in types:
        if isinstance(t, dict) and t.get("type") == "record":
            return list(t.get("fields") or [])
    return []


def fields_from_bitmaps(bitmaps: list[str], schema_fields: list[dict[str, Any]]) -> tuple[str, ...]:
    """Field names from the header's bitmap strings (top level, and `parentPos-bitmap` for compound fields)."""
    names: list[str] = []
    for bitmap in bitmaps:
        if not bitmap:
            continue
        if "-" in bitmap:
            pos, child = bitmap.split("-", 1)
            parent = schema_fields[int(pos)]
            children = _record_fields(parent.get("type"))
            names += [f"{parent['name']}.{children[i]['name']}" for i in _bits(child) if i < len(children)]
        elif bitmap.startswith("0x"):
            names += [schema_fields[i]["name"] for i in _bits(bitmap) if i < len(schema_fields)]
        else:  # already a field name (some events list names, not bitmaps)
            names.append(bitmap)
    return tuple(names)


def decode_event(payload: bytes, schema_id: str, schemas: SchemaCache, replay_id: bytes = b"") -> ChangeEvent:
    """Decode one event's Avro payload into a ChangeEvent (changed values keyed by field name)."""
    parsed, schema_fields = schemas.get(schema_id)
    record = fastavro.schemaless_reader(io.BytesIO(payload), parsed)
    assert isinstance(record, dict)
    header = record.get("ChangeEventHeader") or {}
    changed = fields_from_bitmaps(list(header.get("changedFields") or []), schema_fields)
    nulled = fields_from_bitmaps(list(header.get("nulledFields") or []), schema_fields)
    diffed = fields_from_bitmaps(list(header.get("diffFields") or []), schema_fields)
    values = {k: v for k, v in record.items() if k != "ChangeEventHeader" and v is not None}
    return ChangeEvent(
        entity=str(header.get("entityName") or ""),
        change_type=str(header.get("changeType") or ""),
        record_ids=tuple(header.get("recordIds") or ()),
        changed_fields=changed,
        nulled_fields=nulled,
        diff_fields=diffed,
        commit_timestamp_ms=int(header.get("commitTimestamp") or 0),
        commit_number=int(header.get("commitNumber") or 0),
        transaction_key=str(header.get("transactionKey") or ""),
        sequence_number=int(header.get("sequenceNumber") or 0),
        change_origin=str(header.get("changeOrigin") or ""),
        commit_user=str(header.get("commitUser") or ""),
        values=values,
        replay_id=replay_id,
    )
