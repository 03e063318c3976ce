"""Bulk API 1.0 (`/services/async/<version>/job`): query and queryAll jobs, their batches and result files, in
JSON and CSV (salesforce-wire.md §1.11).

`registry` keeps jobs and batches in memory; `wire` renders job/batch info (JSON or XML), errors and result files;
`jobs` serves the endpoints. DML operations (insert, update, upsert, delete) are refused at job creation.
"""
