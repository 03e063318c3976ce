"""The parsed SOQL query: a `Query` with resolved field references, a WHERE tree and ORDER BY keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.org.schema import Field, SObject

__all__ = ["Cond", "FieldRef", "Literal", "Logic", "OrderItem", "Query"]


@dataclass(frozen=True)
class Literal:
    """A literal value; kind is string, number, bool, null, date, datetime or dateliteral (name + n)."""

    kind: str
    value: object
    raw: str = ""
    n: int = 0


@dataclass(frozen=True)
class FieldRef:
    """A resolved field: own field (`rel` None) or a parent's field reached through the reference field `rel`."""

    name: str  # canonical, dotted for parent fields ("Account.Name")
    field: Field  # the field read (on the root object or on the parent)
    rel: Field | None = None  # the root object's reference field (AccountId) for parent fields
    parent: str | None = None  # the parent object's name (None for a polymorphic relationship)
    sources: tuple[tuple[str, str | None], ...] = ()  # polymorphic: (object, its field or None) per target


@dataclass(frozen=True)
class Cond:
    """One comparison: ref op value (value is a tuple of literals for IN / NOT IN)."""

    ref: FieldRef
    op: str
    value: Literal | tuple[Literal, ...]


@dataclass(frozen=True)
class Logic:
    """AND / OR over items, or NOT over one item."""

    op: str
    items: tuple[Cond | Logic, ...]


@dataclass(frozen=True)
class OrderItem:
    """One ORDER BY key."""

    ref: FieldRef
    desc: bool = False
    nulls_first: bool | None = None


@dataclass
class Query:
    """A parsed, name-resolved SOQL query."""

    text: str
    sobject: SObject
    fields: list[FieldRef] = field(default_factory=list)
    is_count: bool = False
    where: Cond | Logic | None = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
