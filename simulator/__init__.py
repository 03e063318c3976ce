"""The Salesforce-compatible simulator: tests, the demo command and benchmarks use it; the product never does.

Sub-packages, bottom to top (each imports only those below it, and nothing of the product):

- `org`: the simulated org: `schema/` (objects and fields), `ids`, `clock`, `errors` (`ApiError`), and the DuckDB
  `store` (`Org`) with its `write`s and `delete`s, write `rules`, SOQL -> `sql`, paged `result`s, `tables`, and
  the Change Data Capture log of committed writes (`changes`, Avro events of `cdc`).
- `soql`: the SOQL lexer, parser and query tree. It resolves names against `org.schema` and raises `org.errors`;
  `org.store` runs it (so the org's leaf modules sit below it and its store above it).
- `generator`: the synthetic org (`generate`) and days of business (`business.advance`), over `org`.
- `api`: the wire API handlers, `handler(ctx, req) -> Response` over a narrow `api.context.ApiContext`, and the
  Pub/Sub API servicer (`api.pubsub`) over the same context.
- `server`: `Simulator` (state dir, TLS, lifecycle), the HTTPS server, the Pub/Sub API (gRPC) server, the route
  table, the request pipeline, faults and outbound messages, over `api`, `org` and `generator`.

`simulator.cli` is `crm-risk simulate`. tests/simulator/test_layout.py checks the import directions.
"""
