"""Translate a parsed SOQL query (`simulator.soql.Query`) into one DuckDB SELECT with bound parameters.

Every value travels as a parameter; identifiers come only from `simulator.org.schema` (never from the query text).
Datetimes and dates are formatted in SQL into Salesforce's output strings, so a result is ready to page out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from simulator.org.ids import to18
from simulator.org.schema import SCHEMA, Field
from simulator.soql import Cond, FieldRef, Literal, Logic, Query, decode_string

__all__ = ["STRING_TYPES", "Column", "Translation", "date_range", "quote", "translate"]

STRING_TYPES = {"string", "picklist", "textarea", "email", "phone", "url", "combobox", "anyType"}
ID_TYPES = {"id", "reference"}
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%g+0000"


def quote(name: str) -> str:
    """A DuckDB quoted identifier (names come from the schema only)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Column:
    """One output column: its SOQL name, the field, and the parent relationship it sits under (if any)."""

    name: str
    field: Field
    rel_name: str | None = None
    parent: str | None = None


@dataclass
class Translation:
    """The SQL text, its parameters, the visible columns and the parent relationships (name, parent type)."""

    sql: str
    params: list
    columns: list[Column]
    parents: list[tuple[str, str]]


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    return date(d.year + y, m + 1, 1)


def date_range(name: str, n: int, today: date) -> tuple[date, date]:
    """A named date literal as the half-open day range [start, end)."""
    day = timedelta(days=1)
    week_start = today - timedelta(days=(today.weekday() + 1) % 7)  # Salesforce weeks start on Sunday
    month_start = today.replace(day=1)
    ranges = {
        "TODAY": (today, today + day),
        "YESTERDAY": (today - day, today),
        "TOMORROW": (today + day, today + 2 * day),
        "THIS_WEEK": (week_start, week_start + 7 * day),
        "LAST_WEEK": (week_start - 7 * day, week_start),
        "NEXT_WEEK": (week_start + 7 * day, week_start + 14 * day),
        "THIS_MONTH": (month_start, _add_months(month_start, 1)),
        "LAST_MONTH": (_add_months(month_start, -1), month_start),
        "NEXT_MONTH": (_add_months(month_start, 1), _add_months(month_start, 2)),
        "THIS_YEAR": (date(today.year, 1, 1), date(today.year + 1, 1, 1)),
        "LAST_YEAR": (date(today.year - 1, 1, 1), date(today.year, 1, 1)),
        "NEXT_YEAR": (date(today.year + 1, 1, 1), date(today.year + 2, 1, 1)),
        "LAST_90_DAYS": (today - 90 * day, today + day),
        "NEXT_90_DAYS": (today + day, today + 91 * day),
        "LAST_N_DAYS": (today - n * day, today + day),
        "NEXT_N_DAYS": (today + day, today + (n + 1) * day),
        "N_DAYS_AGO": (today - n * day, today - (n - 1) * day),
        "LAST_N_WEEKS": (week_start - 7 * n * day, week_start),
        "NEXT_N_WEEKS": (week_start + 7 * day, week_start + 7 * (n + 1) * day),
        "LAST_N_MONTHS": (_add_months(month_start, -n), month_start),
        "NEXT_N_MONTHS": (_add_months(month_start, 1), _add_months(month_start, n + 1)),
    }
    return ranges[name]


class _Builder:
    """Accumulates joins and parameters while rendering expressions."""

    def __init__(self, q: Query, today: date) -> None:
        self.q = q
        self.today = today
        self.params: list = []
        # rel field name -> ([(alias, parent object)], parent type or "" when polymorphic, relationship name)
        self.joins: dict[str, tuple[list[tuple[str, str]], str, str]] = {}

    def col(self, ref: FieldRef) -> str:
        """The SQL column expression of a field reference (joining the parent(s) on first use)."""
        if ref.rel is None:
            return f"t.{quote(ref.field.name)}"
        if ref.rel.name not in self.joins:
            n = len(self.joins)
            aliases = [(f"p{n}_{j}", target) for j, target in enumerate(ref.rel.reference_to)]
            self.joins[ref.rel.name] = (aliases, ref.parent or "", ref.rel.relationship_name or "")
        aliases = self.joins[ref.rel.name][0]
        if not ref.sources:
            return f"{aliases[0][0]}.{quote(ref.field.name)}"
        parts = [
            f"{alias}.{quote(src)}" for (alias, _), (_, src) in zip(aliases, ref.sources, strict=True) if src
        ]
        return f"coalesce({', '.join(parts)})" if len(parts) > 1 else parts[0]

    def param(self, value: object) -> str:
        self.params.append(value)
        return "?"

    def value(self, f: Field, lit: Literal) -> object:
        """A literal converted to the column's Python type."""
        if lit.kind == "null":
            return None
        v = lit.value
        if f.type in ID_TYPES and isinstance(v, str) and len(v) in (15, 18) and v.isalnum():
            return to18(v)
        if f.type == "datetime" and isinstance(v, date) and not isinstance(v, datetime):
            return datetime(v.year, v.month, v.day)
        if f.type == "date" and isinstance(v, datetime):
            return v.date()
        if f.type in ("double", "currency", "percent", "int") and isinstance(v, bool):
            return int(v)
        return v

    def cond(self, c: Cond) -> str:
        col = self.col(c.ref)
        f = c.ref.field
        ci = f.type in STRING_TYPES  # SOQL compares text case-insensitively
        if c.op in ("IN", "NOT IN"):
            assert isinstance(c.value, tuple)
            vals = [self.value(f, lit) for lit in c.value]
            has_null = any(v is None for v in vals)
            vals = [v for v in vals if v is not None]
            target = f"lower({col})" if ci else col
            parts = []
            if vals:
                marks = ", ".join(self.param(v.lower() if ci and isinstance(v, str) else v) for v in vals)
                parts.append(f"{target} IN ({marks})")
            if has_null:
                parts.append(f"{col} IS NULL")
            inner = " OR ".join(parts) if parts else "FALSE"
            return f"NOT coalesce({inner}, FALSE)" if c.op == "NOT IN" else f"({inner})"
        assert isinstance(c.value, Literal)
        lit = c.value
        if lit.kind == "dateliteral":
            return self.date_literal(col, f, c.op, lit)
        v = self.value(f, lit)
        if c.op == "LIKE":
            if v is None:
                return f"{col} IS NULL"
            return f"{col} ILIKE {self.param(decode_string(lit.raw, like=True))} ESCAPE '\\'"
        if v is None:
            if c.op == "=":
                return f"{col} IS NULL"
            if c.op == "!=":
                return f"{col} IS NOT NULL"
            return "FALSE"
        if ci and isinstance(v, str):
            col, v = f"lower({col})", v.lower()
        if c.op == "!=":
            return f"{col} IS DISTINCT FROM {self.param(v)}"
        return f"{col} {c.op} {self.param(v)}"

    def date_literal(self, col: str, f: Field, op: str, lit: Literal) -> str:
        start, end = date_range(str(lit.value), lit.n, self.today)
        lo: object = start
        hi: object = end
        if f.type == "datetime":
            lo = datetime(start.year, start.month, start.day)
            hi = datetime(end.year, end.month, end.day)
        if op == "=":
            return f"({col} >= {self.param(lo)} AND {col} < {self.param(hi)})"
        if op == "!=":
            return f"NOT coalesce({col} >= {self.param(lo)} AND {col} < {self.param(hi)}, FALSE)"
        if op == "<":
            return f"{col} < {self.param(lo)}"
        if op == ">=":
            return f"{col} >= {self.param(lo)}"
        if op == ">":
            return f"{col} >= {self.param(hi)}"
        return f"{col} < {self.param(hi)}"  # <=

    def expr(self, e: Cond | Logic) -> str:
        if isinstance(e, Cond):
            return self.cond(e)
        if e.op == "NOT":
            return f"NOT coalesce({self.expr(e.items[0])}, FALSE)"
        return "(" + f" {e.op} ".join(self.expr(i) for i in e.items) + ")"


def _address_expr(b: _Builder, ref: FieldRef) -> str:
    """A compound address as a struct of its components (REST's nested object), NULL when every one is empty."""
    owner = ref.parent or b.q.sobject.name
    parts = [
        (f.name.removeprefix(ref.field.name.removesuffix("Address")), f)
        for f in SCHEMA[owner].components(ref.field.name)
    ]
    cols = {part: b.col(FieldRef(f.name, f, ref.rel, ref.parent)) for part, f in parts}
    empty = " AND ".join(f"{c} IS NULL" for c in cols.values())
    packed = ", ".join(
        f"{quote(part[0].lower() + part[1:])} := {cols[part]}" for part in sorted(cols, key=str.lower)
    )
    return f"CASE WHEN {empty} THEN NULL ELSE struct_pack({packed}) END"


def _select_expr(expr: str, f: Field) -> str:
    if f.type == "datetime":
        return f"strftime({expr}, '{DATETIME_FORMAT}')"
    if f.type == "date":
        return f"strftime({expr}, '%Y-%m-%d')"
    return expr


def translate(
    q: Query, *, include_deleted: bool, today: date, extra_where: tuple[str, list] | None = None
) -> Translation:
    """The DuckDB SELECT for a parsed query: hidden `__id` / `__p<i>` id columns first, then c0..cN."""
    b = _Builder(q, today)
    where: list[str] = []
    if q.where is not None:
        where.append(b.expr(q.where))
    if not include_deleted and q.sobject.field("IsDeleted") is not None:
        where.append('NOT t."IsDeleted"')
    if extra_where:
        where.append(extra_where[0])
    where_params = list(b.params)
    if extra_where:
        where_params += extra_where[1]
    order_sql = []
    for item in q.order:
        nulls_first = (not item.desc) if item.nulls_first is None else item.nulls_first
        order_sql.append(
            f"{b.col(item.ref)} {'DESC' if item.desc else 'ASC'} NULLS {'FIRST' if nulls_first else 'LAST'}"
        )
    if not (q.order and q.order[-1].ref.rel is None and q.order[-1].ref.field.name == "Id"):
        order_sql.append('t."Id" ASC')  # ties broken by Id: paging and LIMIT/OFFSET are deterministic
    columns: list[Column] = []
    select: list[str] = []
    if not q.is_count:
        for ref in q.fields:
            if ref.field.type == "address":
                select.append(f"{_address_expr(b, ref)} AS c{len(columns)}")
                columns.append(
                    Column(ref.name, ref.field, ref.rel.relationship_name if ref.rel else None, ref.parent)
                )
                continue
            expr = b.col(ref)
            select.append(f"{_select_expr(expr, ref.field)} AS c{len(columns)}")
            columns.append(
                Column(ref.name, ref.field, ref.rel.relationship_name if ref.rel else None, ref.parent)
            )
    obj = quote(q.sobject.name)
    joins = "".join(
        f' LEFT JOIN {quote(parent)} AS {alias} ON {alias}."Id" = t.{quote(rel)}'
        for rel, (aliases, _, _) in b.joins.items()
        for alias, parent in aliases
    )
    where_sql = (" WHERE " + " AND ".join(where)) if where else ""
    if q.is_count:
        sql = f"SELECT count(*) FROM {obj} AS t{joins}{where_sql}"
        if q.limit is not None or q.offset is not None:
            sql = f"SELECT count(*) FROM (SELECT 1 FROM {obj} AS t{joins}{where_sql}{_limit(q)})"
        return Translation(sql, where_params, [], [])
    hidden = ['t."Id" AS __id']
    for i, (aliases, _, _) in enumerate(b.joins.values()):
        parent_ids = ", ".join(f'{alias}."Id"' for alias, _ in aliases)
        hidden.append(f"coalesce({parent_ids}) AS __p{i}")
    # Without ORDER BY or joins a scan keeps insertion order (DuckDB preserves it), which is already stable:
    # skipping the sort nearly halves the time of a large extract.
    order_by = f" ORDER BY {', '.join(order_sql)}" if q.order or b.joins else ""
    sql = f"SELECT {', '.join(hidden + select)} FROM {obj} AS t{joins}{where_sql}{order_by}{_limit(q)}"
    parents = [(rel_name, parent) for (_, parent, rel_name) in b.joins.values()]
    return Translation(sql, where_params, columns, parents)


def _limit(q: Query) -> str:
    out = ""
    if q.limit is not None:
        out += f" LIMIT {int(q.limit)}"
    if q.offset is not None:
        out += f" OFFSET {int(q.offset)}"
    return out
