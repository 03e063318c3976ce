"""The schema's building blocks: `Field` and `SObject` (describe metadata) and helpers for the common fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["SOAP_TYPES", "Field", "SObject", "id_field", "picklist", "reference", "system_fields"]

# Field types are the standard describe types only (DESIGN.md: simulator).
SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "picklist": "xsd:string",
    "textarea": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "url": "xsd:string",
    "combobox": "xsd:string",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "boolean": "xsd:boolean",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "anyType": "xsd:anyType",
}


@dataclass(frozen=True)
class Field:
    """One field's describe metadata (the subset the simulator enforces; describe fills the rest)."""

    name: str
    type: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    custom: bool = False
    external_id: bool = False
    unique: bool = False
    calculated: bool = False
    defaulted_on_create: bool = False
    default: object = None
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    id_lookup: bool = False
    name_field: bool = False
    required: bool = False  # required on create (nillable False and not defaulted)
    label: str = ""


@dataclass(frozen=True)
class SObject:
    """One object's describe metadata and its fields in describe order."""

    name: str
    label: str
    fields: tuple[Field, ...]
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    replicateable: bool = True
    custom: bool = False
    by_name: dict[str, Field] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_name.update({f.name.lower(): f for f in self.fields})

    def field(self, name: str) -> Field | None:
        """The field of that name, case-insensitively (SOQL and REST bodies are case-insensitive)."""
        return self.by_name.get(name.lower())


def id_field() -> Field:
    """The `Id` field every object has."""
    return Field(
        "Id", "id", 18, nillable=False, createable=False, updateable=False, id_lookup=True, label="Record ID"
    )


def reference(name: str, to: str | tuple[str, ...], rel: str | None, **kw: Any) -> Field:
    """A reference (lookup) field to one object or, polymorphic, to several."""
    targets = (to,) if isinstance(to, str) else to
    return Field(name, "reference", 18, reference_to=targets, relationship_name=rel, **kw)


def system_fields(deletable: bool = True, modstamp: bool = True) -> tuple[Field, ...]:
    """IsDeleted (when deletable), then the created / last-modified stamps and SystemModstamp (when modstamp)."""
    out = [
        reference(
            "CreatedById",
            "User",
            "CreatedBy",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        ),
        Field(
            "CreatedDate",
            "datetime",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        ),
    ]
    if modstamp:
        out += [
            reference(
                "LastModifiedById",
                "User",
                "LastModifiedBy",
                nillable=False,
                createable=False,
                updateable=False,
                defaulted_on_create=True,
            ),
            Field(
                "LastModifiedDate",
                "datetime",
                nillable=False,
                createable=False,
                updateable=False,
                defaulted_on_create=True,
            ),
            Field(
                "SystemModstamp",
                "datetime",
                nillable=False,
                createable=False,
                updateable=False,
                defaulted_on_create=True,
            ),
        ]
    if deletable:
        out.insert(
            0,
            Field(
                "IsDeleted",
                "boolean",
                nillable=False,
                createable=False,
                updateable=False,
                defaulted_on_create=True,
                default=False,
            ),
        )
    return tuple(out)


def picklist(name: str, values: tuple[str, ...], restricted: bool = False, **kw: Any) -> Field:
    """A picklist field; a restricted one refuses values outside `values`."""
    return Field(
        name, "picklist", 255 if not restricted else 40, picklist=values, restricted=restricted, **kw
    )
