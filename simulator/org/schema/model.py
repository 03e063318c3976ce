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
    "address": "urn:address",
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
    compound: str | None = None  # compoundFieldName: the compound field this one is a component of
    precision: int = 0  # numeric precision / scale when not the type's usual (Latitude: 18, 15)
    scale: int = 0

    @property
    def stored(self) -> bool:
        """Whether the org stores the field (a compound `address` is read from its components instead)."""
        return self.type != "address"


@dataclass(frozen=True)
class SObject:
    """One object's describe metadata: `all_fields` in describe order, `fields` the stored ones among them.

    A compound address (`BillingAddress`) is in `all_fields` and found by `field()`, but not stored: every table,
    row and write iterates `fields`; describe and SOQL see the compound and read it from its components.
    """

    name: str
    label: str
    all_fields: tuple[Field, ...]
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    replicateable: bool = True
    custom: bool = False
    by_name: dict[str, Field] = field(default_factory=dict, init=False, compare=False, repr=False)
    fields: tuple[Field, ...] = field(default=(), init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_name.update({f.name.lower(): f for f in self.all_fields})
        object.__setattr__(self, "fields", tuple(f for f in self.all_fields if f.stored))

    def components(self, compound: str) -> tuple[Field, ...]:
        """The stored components of a compound field, in describe order."""
        return tuple(f for f in self.fields if f.compound == compound)

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
