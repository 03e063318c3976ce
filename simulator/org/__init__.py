"""The simulated org: its schema, ids, clock and errors, and the DuckDB store that runs SOQL and writes records.

Import the modules themselves (`from simulator.org.store import Org`): the package re-exports nothing, because
`soql` reads the schema below the store that runs it.
"""
