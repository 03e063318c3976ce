"""SOQL, the subset the simulator serves: a lexer and a parser that resolves names against the org's schema."""
