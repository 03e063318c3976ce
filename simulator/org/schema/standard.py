"""Completes the simulator's object definitions with Salesforce's standard field lists (`reference_fields`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from simulator.org.schema.model import Field, SObject
from simulator.org.schema.reference_fields import REFERENCE

__all__ = ["complete", "parse_fields"]

_FLAGS = {
    "C": "createable",
    "U": "updateable",
    "N": "nillable",
    "D": "defaulted_on_create",
    "R": "restricted",
    "X": "calculated",
    "Q": "unique",
    "I": "id_lookup",
    "M": "name_field",
}
_GEO_PRECISION = {"Latitude": (18, 15), "Longitude": (18, 15)}


def _field(line: str) -> Field:
    head, _, pick = line.partition(" pick:")
    name, ftype, length, flags, *extra = head.split()
    props: dict[str, Any] = dict.fromkeys(_FLAGS.values(), False)
    for flag in flags.strip("-"):
        props[_FLAGS[flag]] = True
    opts = dict(item.split(":", 1) for item in extra)
    precision, scale = next((v for k, v in _GEO_PRECISION.items() if name.endswith(k)), (0, 0))
    return Field(
        name,
        ftype,
        int(length),
        reference_to=tuple(opts["to"].split(",")) if "to" in opts else (),
        relationship_name=opts.get("rel"),
        compound=opts.get("of"),
        picklist=tuple(pick.split(";")) if pick else (),
        precision=precision if ftype == "double" else 0,
        scale=scale if ftype == "double" else 0,
        **props,
    )


def parse_fields(text: str) -> list[Field]:
    """The fields of one object's reference text, in order."""
    return [_field(line.strip()) for line in text.splitlines() if line.strip()]


def complete(obj: SObject) -> SObject:
    """The object with every reference field in reference order; its own definitions win, custom fields last."""
    own = {f.name: f for f in obj.all_fields}
    out: list[Field] = []
    for ref in parse_fields(REFERENCE[obj.name]):
        mine = own.pop(ref.name, None)
        if mine is None:
            out.append(ref)
        else:
            out.append(replace(mine, compound=mine.compound or ref.compound))
    out += own.values()
    return replace(obj, all_fields=tuple(out))
