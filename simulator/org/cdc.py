"""Change Data Capture events in Salesforce's Avro shape: one schema per object, payloads and field bitmaps.

`<Entity>ChangeEvent` (namespace `com.sforce.eventbus`): field 0 is `ChangeEventHeader` (record
`com.salesforce.eventbus.ChangeEventHeader`), then the object's fields in describe order, each an optional union
`["null", T]` with default null. As in Salesforce's change events, the record id travels in the header's
`recordIds`, not as a field, and `IsDeleted`, `SystemModstamp` and derived values (`LastActivityDate`, the
calculated `Name` of a person) are left out. Compound fields are nested records at the position of their first
component: `Name` (`Switchable_PersonName`: Salutation, FirstName, LastName, ...) on Contact and User, and each
address (`Address`: Street, City, ..., Country, ...: `BillingAddress`, `ShippingAddress`, `MailingAddress`, ...);
components the simulated org does not store (`StateCode`, `CountryCode`) are always null.

Types: text-like fields `string`, `boolean`, `double` (double, currency, percent), `int`, and datetimes and dates
as `long` epoch milliseconds (a date at 00:00 UTC), as the Pub/Sub API sends them ("Date fields are in Epoch time").

Bitmaps (`changedFields`, `nulledFields`, `diffFields`): hex strings whose bit i marks top-level schema field i
(`"0x0A"`: fields 1 and 3; the header is field 0), followed by `"<parentPos>-0x.."` for components of a compound
field (`"3-0x04"`: component 2 of the compound at position 3). The schema id is a stable hash of the schema JSON.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

import fastavro

from simulator.org.schema import SCHEMA, SObject

__all__ = [
    "CDC_OBJECTS",
    "CHANGE_TYPES",
    "EventSchema",
    "epoch_ms",
    "event_schema",
]

# The objects the pipeline reads: each has a `/data/<Entity>ChangeEvent` topic.
CDC_OBJECTS = ("Account", "Contact", "Opportunity", "Case", "Task", "Event", "User", "OpportunityContactRole")
CHANGE_TYPES = (
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
    "SNAPSHOT",
)
_HEADER: dict[str, Any] = {
    "type": "record",
    "name": "ChangeEventHeader",
    "namespace": "com.salesforce.eventbus",
    "fields": [
        {"name": "entityName", "type": "string"},
        {"name": "recordIds", "type": {"type": "array", "items": "string"}},
        {
            "name": "changeType",
            "type": {
                "type": "enum",
                "name": "ChangeType",
                "namespace": "com.salesforce.eventbus",
                "symbols": list(CHANGE_TYPES),
            },
        },
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
_LEFT_OUT = {"Id", "IsDeleted", "SystemModstamp", "LastActivityDate"}
_AVRO = {
    "boolean": "boolean",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "int": "int",
    "date": "long",
    "datetime": "long",
}
_PERSON_NAME = ("Salutation", "FirstName", "LastName", "MiddleName", "InformalName", "Suffix")
_ADDRESS = (
    "Street",
    "City",
    "State",
    "PostalCode",
    "Country",
    "StateCode",
    "CountryCode",
    "Latitude",
    "Longitude",
    "GeocodeAccuracy",
)


def _compound(obj: SObject, name: str) -> tuple[str, tuple[str, ...], dict[str, str]]:
    """A compound field's Avro record name, its components, and component -> the stored field holding it."""
    record, parts, prefix = (
        ("Switchable_PersonName", _PERSON_NAME, "")
        if name == "Name"
        else ("Address", _ADDRESS, name.removesuffix("Address"))
    )
    stored = {f.name for f in obj.components(name)}
    return record, parts, {p: prefix + p for p in parts if prefix + p in stored}


def epoch_ms(value: datetime | date) -> int:
    """Milliseconds since the epoch of a datetime (naive = UTC) or of a date at 00:00 UTC."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def _convert(kind: str, value: object) -> object:
    if value is None:
        return None
    if kind in ("date", "datetime"):
        return epoch_ms(value)  # type: ignore[arg-type]
    if kind == "boolean":
        return bool(value)
    if kind == "int":
        return int(value)  # type: ignore[call-overload]
    if _AVRO.get(kind) == "double":
        return float(value)  # type: ignore[arg-type]
    return str(value)


def _part_type(component: str) -> str:
    return "double" if component in ("Latitude", "Longitude") else "string"


def _bitmap(bits: set[int]) -> str:
    value = sum(1 << b for b in bits)
    digits = f"{value:X}"
    return "0x" + digits.rjust(len(digits) + len(digits) % 2, "0")


@dataclass
class EventSchema:
    """The change event schema of one object: Avro JSON, id, parsed form, and where each stored field sits."""

    entity: str
    schema_json: str
    schema_id: str
    parsed: Any
    # top-level fields after the header: (name, simulated field or None for a compound, its simulated type)
    slots: list[tuple[str, str | None, str]]
    # compound position -> its components as (name, simulated field or None)
    compounds: dict[int, list[tuple[str, str | None]]] = field(default_factory=dict)
    # simulated field -> (top-level position, component position or None)
    position: dict[str, tuple[int, int | None]] = field(default_factory=dict)

    def bitmaps(self, fields: list[str]) -> list[str]:
        """The bitmap strings naming these simulated fields (top level first, then `pos-0x..` per compound)."""
        top: set[int] = set()
        nested: dict[int, set[int]] = {}
        for name in fields:
            pos = self.position.get(name)
            if pos is None:
                continue
            if pos[1] is None:
                top.add(pos[0])
            else:
                nested.setdefault(pos[0], set()).add(pos[1])
        out = [_bitmap(top)] if top else []
        return out + [f"{p}-{_bitmap(bits)}" for p, bits in sorted(nested.items())]

    def encode(self, header: dict[str, Any], values: dict[str, object]) -> bytes:
        """The Avro payload: the header and the given simulated field values (every other field null)."""
        record: dict[str, object] = {"ChangeEventHeader": header}
        for i, (name, source, kind) in enumerate(self.slots, start=1):
            if source is not None:
                record[name] = _convert(kind, values.get(source))
                continue
            parts = {c: _convert(_part_type(c), values.get(s)) if s else None for c, s in self.compounds[i]}
            record[name] = parts if any(v is not None for v in parts.values()) else None
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, self.parsed, record)
        return buf.getvalue()


@cache
def event_schema(entity: str) -> EventSchema:
    """The change event schema of a CDC object (built once per process)."""
    obj = SCHEMA[entity]
    fields: list[dict[str, Any]] = [{"name": "ChangeEventHeader", "type": _HEADER}]
    slots: list[tuple[str, str | None, str]] = []
    compounds: dict[int, list[tuple[str, str | None]]] = {}
    position: dict[str, tuple[int, int | None]] = {}
    defined: set[str] = set()  # Avro named records already defined (a second address refers to `Address`)
    for f in obj.fields:
        if f.name in _LEFT_OUT or f.calculated:
            continue
        if f.compound is not None:
            if f.compound in {s[0] for s in slots}:
                continue  # the compound is already placed at its first component
            record_name, parts, sources = _compound(obj, f.compound)
            pos = len(slots) + 1
            compounds[pos] = [(c, sources.get(c)) for c in parts]
            for j, (_, source) in enumerate(compounds[pos]):
                if source:
                    position[source] = (pos, j)
            record: Any = f"com.sforce.eventbus.{record_name}"
            if record_name not in defined:
                defined.add(record_name)
                child = [{"name": c, "type": ["null", _part_type(c)], "default": None} for c in parts]
                record = {
                    "type": "record",
                    "name": record_name,
                    "namespace": "com.sforce.eventbus",
                    "fields": child,
                }
            fields.append({"name": f.compound, "type": ["null", record], "default": None})
            slots.append((f.compound, None, "compound"))
            continue
        position[f.name] = (len(slots) + 1, None)
        slots.append((f.name, f.name, f.type))
        fields.append({"name": f.name, "type": ["null", _AVRO.get(f.type, "string")], "default": None})
    schema = {
        "type": "record",
        "name": f"{entity}ChangeEvent",
        "namespace": "com.sforce.eventbus",
        "fields": fields,
    }
    text = json.dumps(schema, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).digest()[:16]
    schema_id = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    parsed = fastavro.parse_schema(json.loads(text))
    return EventSchema(entity, text, schema_id, parsed, slots, compounds, position)
