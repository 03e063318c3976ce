"""SOQL, the subset the simulator serves: `lexer` (tokens, literals, located errors), `parser` (recursive descent,
names resolved against the org's schema) and `query` (the parsed tree that `simulator.org.sql` turns into SQL)."""

from simulator.soql.lexer import decode_string, located, parse_datetime_literal
from simulator.soql.parser import parse
from simulator.soql.query import Cond, FieldRef, Literal, Logic, OrderItem, Query

__all__ = [
    "Cond",
    "FieldRef",
    "Literal",
    "Logic",
    "OrderItem",
    "Query",
    "decode_string",
    "located",
    "parse",
    "parse_datetime_literal",
]
