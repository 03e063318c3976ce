"""SOQL subset parser: a hand-written recursive-descent parser resolving names against `simulator.org.schema`.

Grammar (keywords and names case-insensitive):

    query   := SELECT (COUNT '(' ')' | field (',' field)*) FROM object [WHERE expr]
               [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST] (',' ...)*] [LIMIT n] [OFFSET n]
    field   := Name | Relationship '.' Name           (one level of child-to-parent)
    expr    := term (OR term)* ; term := factor (AND factor)* ; factor := NOT factor | '(' expr ')' | cond
    cond    := field (= | != | <> | < | <= | > | >= | LIKE) literal | field [NOT] IN '(' literal, ... ')'
    literal := 'string' | number | true | false | null | 2024-01-02 | 2024-01-02T03:04:05[.sss](Z|+hh:mm|+hhmm)
               | TODAY | YESTERDAY | TOMORROW | LAST_N_DAYS:n | NEXT_N_DAYS:n | ...

Errors use Salesforce's shapes: MALFORMED_QUERY, INVALID_FIELD and INVALID_TYPE with the query echoed,
a caret line and "ERROR at Row:r:Column:c". `simulator.org.sql` translates the tree to DuckDB SQL.
"""

from __future__ import annotations

import re
from datetime import date

from simulator.org.errors import ApiError
from simulator.org.schema import SCHEMA, Field, SObject, sobject
from simulator.org.schema.access import FieldAccess
from simulator.soql.lexer import (
    DATE_LITERALS,
    DATE_N_LITERALS,
    KEYWORDS,
    Tok,
    decode_string,
    located,
    parse_datetime_literal,
    tokenize,
)
from simulator.soql.query import Cond, FieldRef, Literal, Logic, OrderItem, Query

__all__ = ["LIKE_TYPES", "parse"]

_CUSTOM_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom field "
    "name. Please reference your WSDL or the describe call for the appropriate names."
)
_TYPE_HINT = (
    "If you are attempting to use a custom object, be sure to append the '__c' after the entity name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)
_REL_HINT = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the custom "
    "relationship name. Please reference your WSDL or the describe call for the appropriate names."
)
# Literal kinds each field type admits in a filter (anything else is INVALID_FIELD, as in Salesforce).
_TEMPORAL = ("date", "datetime", "dateliteral")
_ALLOWED = {
    "date": _TEMPORAL,
    "datetime": _TEMPORAL,
    "boolean": ("bool",),
    "double": ("number",),
    "currency": ("number",),
    "percent": ("number",),
    "int": ("number",),
}
_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
LIKE_TYPES = {"string", "picklist", "textarea", "email", "phone", "url", "combobox", "id", "reference"}


class _Parser:
    """Recursive descent over the token list; resolves names once FROM is known."""

    def __init__(self, text: str, access: FieldAccess | None = None) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.obj: SObject | None = None
        self.access = access  # the querying user's field-level security (None: the org's own query)

    def visible(self, obj: SObject, f: Field | None) -> Field | None:
        """The field, or None when field-level security hides it from the querying user."""
        if f is None or self.access is None or not self.access.hidden(obj.name, f.name):
            return f
        return None

    # -- token helpers ----------------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Tok:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def take(self) -> Tok:
        tok = self.peek()
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def is_kw(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "name" and tok.upper in words

    def expect_kw(self, word: str) -> Tok:
        if not self.is_kw(word):
            self.fail(self.peek())
        return self.take()

    def expect(self, text: str) -> Tok:
        if self.peek().text != text:
            self.fail(self.peek())
        return self.take()

    def fail(self, tok: Tok, message: str | None = None) -> None:
        msg = message or (
            f"unexpected token: '{tok.text}'" if tok.kind != "eof" else "unexpected end of query"
        )
        raise ApiError(400, "MALFORMED_QUERY", located(self.text, tok.pos, msg))

    # -- grammar ----------------------------------------------------------------------------------------
    def query(self) -> Query:
        self.expect_kw("SELECT")
        raw_fields: list[Tok] = []
        is_count = False
        if self.is_kw("COUNT") and self.peek(1).text == "(":
            self.take()
            self.expect("(")
            self.expect(")")
            is_count = True
        else:
            raw_fields.append(self.name_tok())
            while self.peek().text == ",":
                self.take()
                raw_fields.append(self.name_tok())
        self.expect_kw("FROM")
        obj_tok = self.take()
        if obj_tok.kind != "name" or "." in obj_tok.text or obj_tok.upper in KEYWORDS:
            self.fail(obj_tok)
        obj = sobject(obj_tok.text)
        if obj is None:
            raise ApiError(
                400,
                "INVALID_TYPE",
                located(
                    self.text, obj_tok.pos, f"sObject type '{obj_tok.text}' is not supported. {_TYPE_HINT}"
                ),
            )
        self.obj = obj
        q = Query(self.text, obj, [self.resolve(t) for t in raw_fields], is_count)
        seen: set[str] = set()
        for ref, tok in zip(q.fields, raw_fields, strict=True):
            if ref.name.lower() in seen:
                self.fail(tok, f"duplicate field selected: {ref.name}")
            seen.add(ref.name.lower())
        if self.is_kw("WHERE"):
            self.take()
            q.where = self.expr()
        if self.is_kw("ORDER"):
            self.take()
            self.expect_kw("BY")
            q.order.append(self.order_item())
            while self.peek().text == ",":
                self.take()
                q.order.append(self.order_item())
        if self.is_kw("LIMIT"):
            self.take()
            q.limit = self.int_value()
        if self.is_kw("OFFSET"):
            self.take()
            q.offset = self.int_value()
        if self.peek().kind != "eof":
            self.fail(self.peek())
        return q

    def name_tok(self) -> Tok:
        tok = self.take()
        if tok.kind != "name" or tok.upper in {"FROM", "WHERE", "SELECT"}:
            self.fail(tok)
        return tok

    def int_value(self) -> int:
        tok = self.take()
        if tok.kind != "number" or not tok.text.isdigit():
            self.fail(tok)
        return int(tok.text)

    def resolve(self, tok: Tok) -> FieldRef:
        """Resolve a (possibly dotted) field name against the FROM object."""
        assert self.obj is not None
        parts = tok.text.split(".")
        if len(parts) > 1 and parts[0].lower() == self.obj.name.lower():
            parts = parts[1:]  # "Account.Name" FROM Account is Name qualified by the object
        if len(parts) == 1:
            f = self.visible(self.obj, self.obj.field(parts[0]))
            if f is None:
                raise ApiError(
                    400,
                    "INVALID_FIELD",
                    located(
                        self.text,
                        tok.pos,
                        f"No such column '{parts[0]}' on entity '{self.obj.name}'. {_CUSTOM_HINT}",
                    ),
                )
            return FieldRef(f.name, f)
        if len(parts) > 2:
            raise ApiError(
                400,
                "INVALID_FIELD",
                located(
                    self.text,
                    tok.pos,
                    f"Didn't understand relationship '{'.'.join(parts[:-1])}' in field path. {_REL_HINT}",
                ),
            )
        rel = next(
            (
                f
                for f in self.obj.fields
                if f.relationship_name and f.relationship_name.lower() == parts[0].lower()
            ),
            None,
        )
        if rel is None:
            raise ApiError(
                400,
                "INVALID_FIELD",
                located(
                    self.text,
                    tok.pos,
                    f"Didn't understand relationship '{parts[0]}' in field path. {_REL_HINT}",
                ),
            )
        if len(rel.reference_to) > 1:
            return self.polymorphic(tok, rel, parts[1])
        parent = SCHEMA.get(rel.reference_to[0])
        if parent is None:  # a standard lookup to an object the simulated org does not have (DandBCompany)
            raise ApiError(
                400,
                "INVALID_FIELD",
                located(
                    self.text, tok.pos, f"No such column '{parts[1]}' on entity '{rel.reference_to[0]}'."
                ),
            )
        f = self.visible(parent, parent.field(parts[1]))
        if f is None:
            raise ApiError(
                400,
                "INVALID_FIELD",
                located(
                    self.text,
                    tok.pos,
                    f"No such column '{parts[1]}' on entity '{parent.name}'. {_CUSTOM_HINT}",
                ),
            )
        return FieldRef(f"{rel.relationship_name}.{f.name}", f, rel, parent.name)

    def polymorphic(self, tok: Tok, rel: Field, name: str) -> FieldRef:
        """What.Name and the like: the field on whichever target the id names (Name falls back to the name field)."""
        sources: list[tuple[str, str | None]] = []
        chosen: Field | None = None
        for target in rel.reference_to:
            f = SCHEMA[target].field(name)
            if f is None and name.lower() == "name":
                f = next((x for x in SCHEMA[target].fields if x.name_field), None)
            sources.append((target, f.name if f else None))
            chosen = chosen or f
        if chosen is None:
            raise ApiError(
                400,
                "INVALID_FIELD",
                located(self.text, tok.pos, f"No such column '{name}' on entity 'Name'. {_CUSTOM_HINT}"),
            )
        canonical = "Name" if name.lower() == "name" else chosen.name
        return FieldRef(f"{rel.relationship_name}.{canonical}", chosen, rel, None, tuple(sources))

    def compound_refused(self, tok: Tok, ref: FieldRef, verb: str) -> None:
        """A compound address cannot be filtered or sorted (only DISTANCE() reads it, not served here)."""
        if ref.field.type == "address":
            raise ApiError(
                400,
                "INVALID_FIELD",
                located(self.text, tok.pos, f"field '{ref.field.name}' can not be {verb} in a query call"),
            )

    def order_item(self) -> OrderItem:
        tok = self.name_tok()
        ref = self.resolve(tok)
        self.compound_refused(tok, ref, "sorted")
        desc = False
        nulls_first: bool | None = None
        if self.is_kw("ASC", "DESC"):
            desc = self.take().upper == "DESC"
        if self.is_kw("NULLS"):
            self.take()
            if not self.is_kw("FIRST", "LAST"):
                self.fail(self.peek())
            nulls_first = self.take().upper == "FIRST"
        return OrderItem(ref, desc, nulls_first)

    def expr(self) -> Cond | Logic:
        items = [self.term()]
        while self.is_kw("OR"):
            self.take()
            items.append(self.term())
        return items[0] if len(items) == 1 else Logic("OR", tuple(items))

    def term(self) -> Cond | Logic:
        items = [self.factor()]
        while self.is_kw("AND"):
            self.take()
            items.append(self.factor())
        return items[0] if len(items) == 1 else Logic("AND", tuple(items))

    def factor(self) -> Cond | Logic:
        if self.is_kw("NOT"):
            self.take()
            return Logic("NOT", (self.factor(),))
        if self.peek().text == "(":
            self.take()
            inner = self.expr()
            self.expect(")")
            return inner
        return self.cond()

    def cond(self) -> Cond:
        tok = self.name_tok()
        ref = self.resolve(tok)
        self.compound_refused(tok, ref, "filtered")
        op_tok = self.peek()
        if op_tok.kind == "op":
            self.take()
            op = "!=" if op_tok.text == "<>" else op_tok.text
            return Cond(ref, op, self.literal(ref, ids=True))
        if self.is_kw("LIKE"):
            self.take()
            if ref.field.type not in LIKE_TYPES:
                raise ApiError(
                    400,
                    "INVALID_FIELD",
                    located(self.text, op_tok.pos, f"invalid operator on field '{ref.field.name}': LIKE"),
                )
            return Cond(ref, "LIKE", self.literal(ref))
        negate = False
        if self.is_kw("NOT"):
            self.take()
            negate = True
        if self.is_kw("IN"):
            self.take()
            self.expect("(")
            values = [self.literal(ref, ids=True)]
            while self.peek().text == ",":
                self.take()
                values.append(self.literal(ref, ids=True))
            self.expect(")")
            return Cond(ref, "NOT IN" if negate else "IN", tuple(values))
        self.fail(self.peek())
        raise AssertionError  # unreachable

    def literal(self, ref: FieldRef, *, ids: bool = False) -> Literal:
        """A literal checked against the field's type (ids=True: id fields need well-formed ids)."""
        tok = self.peek()
        lit = self.raw_literal()
        if (
            ids
            and ref.field.type in ("id", "reference")
            and lit.kind == "string"
            and lit.value
            and not _ID.fullmatch(str(lit.value))
        ):
            raise ApiError(
                400,
                "INVALID_QUERY_FILTER_OPERATOR",
                located(self.text, tok.pos, f"invalid ID field: {lit.value}"),
            )
        ftype = ref.field.type
        allowed = _ALLOWED.get(ftype, ("string",))
        if lit.kind != "null" and lit.kind not in allowed:
            quoted = (
                "should be enclosed in quotes"
                if allowed[0] == "string"
                else "should not be enclosed in quotes"
            )
            raise ApiError(
                400,
                "INVALID_FIELD",
                located(
                    self.text,
                    tok.pos,
                    f"value of filter criterion for field '{ref.field.name}' must be of type "
                    f"{'string' if allowed[0] == 'string' else ftype} and {quoted}",
                ),
            )
        return lit

    def raw_literal(self) -> Literal:
        tok = self.take()
        try:
            if tok.kind == "string":
                return Literal("string", decode_string(tok.text[1:-1]), tok.text[1:-1])
            if tok.kind == "number":
                return Literal("number", float(tok.text) if "." in tok.text else int(tok.text), tok.text)
            if tok.kind == "date":
                return Literal("date", date.fromisoformat(tok.text), tok.text)
            if tok.kind == "datetime":
                return Literal("datetime", parse_datetime_literal(tok.text), tok.text)
        except ValueError:
            self.fail(tok, f"invalid date or datetime: {tok.text}")
        if tok.kind == "name":
            word = tok.upper
            if word == "NULL":
                return Literal("null", None, tok.text)
            if word in ("TRUE", "FALSE"):
                return Literal("bool", word == "TRUE", tok.text)
            if word in DATE_LITERALS:
                return Literal("dateliteral", word, tok.text)
            if word in DATE_N_LITERALS:
                self.expect(":")
                return Literal("dateliteral", word, tok.text, self.int_value())
        self.fail(tok)
        raise AssertionError  # unreachable


def parse(text: str, access: FieldAccess | None = None) -> Query:
    """Parse and resolve a SOQL query (ApiError MALFORMED_QUERY / INVALID_FIELD / INVALID_TYPE); fields `access`
    hides are unknown columns."""
    if not text or not text.strip():
        raise ApiError(400, "MALFORMED_QUERY", "unexpected end of query")
    return _Parser(text, access).query()
