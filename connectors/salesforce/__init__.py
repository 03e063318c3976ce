"""The Salesforce connector: the only package that imports simple-salesforce.

registry.py   the objects to extract, as data (fields wanted / required, cursor, delete semantics)
auth.py       the six login modes, done with `requests` against the configured login host
client.py     `connect(settings) -> CrmClient`: hardened session, call accounting, one re-login on 401
retry.py      the one retry policy: what is retried, backoff / Retry-After, the bounds on requests per call
errors.py     every vendor / transport exception translated into crm_risk.errors, secrets masked
extract.py    `extract_object(...) -> ExtractManifest`: REST or Bulk 2.0 queryAll into Parquet chunks
windows.py    one window's SOQL, its COUNT() probe, the REST and Bulk 2.0 reads, QUERY_TIMEOUT recovery
bulk.py       Bulk API 2.0 query and ingest jobs on the client's session
landing.py    describe types -> Arrow types, chunked Parquet writing
push.py       `push_updates` (update-only by Id) and `create_tasks` (idempotent on Risk_Task_Key__c)
"""
