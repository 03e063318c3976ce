"""The simulated org: its schema, ids, clock and errors, and the DuckDB store that runs SOQL and writes records."""
