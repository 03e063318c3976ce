"""The Salesforce wire API the simulator serves, one module per resource family.

`rest` (query, records, upsert, getUpdated/getDeleted, limits), `describe`, `composite` (sObject Collections),
`bulk1/` (Bulk 1.0 query and queryAll jobs), `bulk2/` (Bulk 2.0 query and ingest jobs), `oauth` (token, revoke,
SOAP login) over `auth` (credentials and sessions), and `admin` (the simulator's own `/_simulator/` endpoints); a
Pub/Sub gRPC API would sit beside them. Every handler is `handler(ctx, req) -> Response` over an `ApiContext`
(`context`): the org and the API state the handlers share (`usage`, `cursors`, the Bulk 1.0 and 2.0 job
registries), never the server. `http` holds the request and response shapes.
"""
