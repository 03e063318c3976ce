"""Bulk API 2.0: query jobs (results by locator + maxRecords, CSV with a header row on every page) and ingest
jobs (Open -> UploadComplete -> InProgress -> JobComplete, per-row results) (salesforce-wire.md §1.12, §3).

`registry` keeps the jobs in memory with the ingest worker thread; `query` and `ingest` serve each kind;
`lifecycle` the endpoints both share (list, state change, delete).
"""
