"""REST resources: query/queryAll with server-side cursors, single-record CRUD, upsert by external id,
getUpdated/getDeleted, limits and the versions list (salesforce-wire.md §1.5-1.7, §2.1-2.7)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from simulator.api.http import Request, Response, error, json_response
from simulator.org.errors import ApiError
from simulator.org.result import QueryResult
from simulator.org.schema import sobject as schema_sobject

if TYPE_CHECKING:
    from simulator.api.context import ApiContext

__all__ = ["MAX_VERSION", "MIN_VERSION", "parse_datetime", "sobject_name", "visible_record", "write_fault"]

MIN_VERSION, MAX_VERSION = 20.0, 66.0
DEFAULT_BATCH = 2000


def sobject_name(name: str) -> str:
    """The canonical object name (case-insensitive lookup); 404 NOT_FOUND for objects the org lacks."""
    obj = schema_sobject(name)
    if obj is None:
        raise error(404, "NOT_FOUND", "The requested resource does not exist")
    return obj.name


def parse_datetime(value: str | None, name: str) -> datetime:
    """A datetime query parameter in any documented form (`Z`, `+00:00`, `+0000`, with or without millis)."""
    if not value:
        raise error(400, "MISSING_ARGUMENT", f"{name} is required")
    text = value.strip().replace(" ", "+")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = text[:-2] + ":" + text[-2:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise error(400, "INVALID_REPLICATION_DATE", f"{name}: invalid date format: {value}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _batch_size(req: Request) -> int:
    options = req.headers.get("Sforce-Query-Options") or ""
    for part in options.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(200, min(2000, int(value)))
    return DEFAULT_BATCH


def _page(
    req: Request, result: QueryResult, locator: str | None, offset: int, batch: int, all_rows: bool
) -> Response:
    if result.is_count:
        return json_response(200, {"totalSize": result.total_size, "done": True, "records": []})
    records = result.records(offset, batch, api_version=req.version)
    end = offset + len(records)
    body: dict[str, Any] = {"totalSize": result.total_size, "done": end >= result.total_size}
    if not body["done"]:
        kind = "queryAll" if all_rows else "query"
        body["nextRecordsUrl"] = f"/services/data/v{req.version}/{kind}/{locator}-{end}"
    body["records"] = records
    return json_response(200, body)


def query(ctx: ApiContext, req: Request) -> Response:
    """GET query/ and queryAll/ with `q`."""
    soql = req.params.get("q")
    if not soql:
        raise error(400, "MALFORMED_QUERY", "A query string has to be specified")
    all_rows = req.route is not None and req.route.name == "queryAll"
    result = ctx.org.query(soql, include_deleted=all_rows, user_id=req.user_id)
    batch = _batch_size(req)
    locator = None
    if not result.is_count and result.total_size > batch:
        locator = ctx.cursors.open(result, batch)
    return _page(req, result, locator, 0, batch, all_rows)


def query_more(ctx: ApiContext, req: Request) -> Response:
    """GET query/<locator>-<offset> (found by its path alone; queryAll continuations stay queryAll)."""
    locator, offset = req.groups["locator"], int(req.groups["offset"])
    result, batch = ctx.cursors.get(locator)
    all_rows = req.route is not None and req.route.name.startswith("queryAll")
    return _page(req, result, locator, offset, batch, all_rows)


def versions(ctx: ApiContext, req: Request) -> Response:
    """GET /services/data/: every version served."""
    out = []
    v = MIN_VERSION
    while v <= MAX_VERSION:
        out.append({"label": "Simulated", "url": f"/services/data/v{v:.1f}", "version": f"{v:.1f}"})
        v += 1.0
    return json_response(200, out)


def resources(ctx: ApiContext, req: Request) -> Response:
    """GET /services/data/vXX.X/: the resources of a version."""
    base = f"/services/data/v{req.version}"
    names = ["sobjects", "query", "queryAll", "limits", "composite", "jobs"]
    return json_response(200, {n: f"{base}/{n}" for n in names})


def write_fault(ctx: ApiContext, sobject: str, record_id: str | None) -> tuple[str, str] | None:
    """The (code, message) a fault imposes on a write to this record (`lock`, `reject`), or None."""
    if record_id and ctx.faults.locked(record_id):
        return "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record"
    code = ctx.faults.rejected(sobject)
    if code:
        return code, "The record was rejected by a validation rule of the org"
    return None


def _guard(ctx: ApiContext, sobject: str, record_id: str | None) -> None:
    fault = write_fault(ctx, sobject, record_id)
    if fault:
        raise error(400, fault[0], fault[1], [])


def _body_dict(req: Request) -> dict[str, Any]:
    body = req.json()
    if not isinstance(body, dict):
        raise error(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from the request body")
    body.pop("attributes", None)
    return body


def _versioned(record: dict[str, Any], req: Request) -> dict[str, Any]:
    """Point the record's attributes.url at the API version of the request."""
    attrs = record.get("attributes")
    if isinstance(attrs, dict) and isinstance(attrs.get("url"), str):
        attrs["url"] = f"/services/data/v{req.version}/" + attrs["url"].split("/", 4)[-1]
    return record


def visible_record(
    ctx: ApiContext, req: Request, name: str, record: dict[str, Any], asked: list[str] | None = None
) -> dict[str, Any]:
    """A record as the requesting user may see it: a field hidden by field-level security is left out, and naming
    one in `fields=` is INVALID_FIELD."""
    access = ctx.org.access_for(req.user_id)
    if access is None:
        return record
    for f in asked or ():
        if access.hidden(name, f):
            raise error(400, "INVALID_FIELD", f"No such column '{f}' on sobject of type {name}", [f])
    return {k: v for k, v in record.items() if not access.hidden(name, k)}


def record_get(ctx: ApiContext, req: Request) -> Response:
    """GET sobjects/X/{id}[?fields=A,B]."""
    name = sobject_name(req.groups["sobject"])
    fields = (
        [f.strip() for f in req.params["fields"].split(",") if f.strip()]
        if req.params.get("fields")
        else None
    )
    record = visible_record(ctx, req, name, ctx.org.get(name, req.groups["id"], fields), fields)
    return json_response(200, _versioned(record, req))


def record_create(ctx: ApiContext, req: Request) -> Response:
    """POST sobjects/X/ -> 201 {"id","success","errors"}."""
    name = sobject_name(req.groups["sobject"])
    data = _body_dict(req)
    if any(k.lower() == "id" for k in data):
        raise error(400, "INVALID_FIELD", "The Id field should not be specified in the sobject data.")
    _guard(ctx, name, None)
    new_id = ctx.org.create(name, data, user_id=req.user_id)
    return json_response(201, {"id": new_id, "success": True, "errors": []})


def record_update(ctx: ApiContext, req: Request) -> Response:
    """PATCH sobjects/X/{id} -> 204."""
    name = sobject_name(req.groups["sobject"])
    _guard(ctx, name, req.groups["id"])
    ctx.org.update(name, req.groups["id"], _body_dict(req), user_id=req.user_id)
    return Response(204, b"", None)


def record_delete(ctx: ApiContext, req: Request) -> Response:
    """DELETE sobjects/X/{id} -> 204 (soft delete)."""
    name = sobject_name(req.groups["sobject"])
    if ctx.faults.locked(req.groups["id"]):
        raise error(400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record", [])
    ctx.org.delete(name, req.groups["id"], user_id=req.user_id)
    return Response(204, b"", None)


def _ext_field(name: str, field: str) -> str:
    obj = schema_sobject(name)
    f = obj.field(field) if obj else None
    if f is None or not (f.external_id or f.id_lookup):
        raise error(
            404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field}"
        )
    return f.name


def _urls(req: Request, name: str, ids: list[str]) -> list[str]:
    return [f"/services/data/v{req.version}/sobjects/{name}/{i}" for i in ids]


def ext_get(ctx: ApiContext, req: Request) -> Response:
    """GET sobjects/X/{ExtField}/{value}: one record, 404 none, 300 several (a list of URLs)."""
    name = sobject_name(req.groups["sobject"])
    field = _ext_field(name, req.groups["field"])
    ids = ctx.org.find_by(name, field, unquote_plus(req.groups["value"]))
    if not ids:
        raise error(404, "NOT_FOUND", "The requested resource does not exist")
    if len(ids) > 1:
        return json_response(300, _urls(req, name, ids))
    return json_response(200, _versioned(visible_record(ctx, req, name, ctx.org.get(name, ids[0])), req))


def ext_upsert(ctx: ApiContext, req: Request) -> Response:
    """PATCH sobjects/X/{ExtField}/{value}: 201 created, 200 updated (204 before v46.0), 300 several."""
    name = sobject_name(req.groups["sobject"])
    field = _ext_field(name, req.groups["field"])
    value = unquote_plus(req.groups["value"])
    data = _body_dict(req)
    if field == "Id":
        _guard(ctx, name, value)
        ctx.org.update(name, value, data, user_id=req.user_id)
        record_id, created = value, False
    else:
        existing = ctx.org.find_by(name, field, value)
        _guard(ctx, name, existing[0] if existing else None)
        try:
            record_id, created = ctx.org.upsert(name, field, value, data, user_id=req.user_id)
        except ApiError as exc:
            if exc.status != 300:  # MULTIPLE_CHOICES: the matching records' URLs
                raise
            return json_response(300, _urls(req, name, ctx.org.find_by(name, field, value)))
    if not created and float(req.version) < 46.0:
        return Response(204, b"", None)
    body = {"id": record_id, "success": True, "errors": [], "created": created}
    return json_response(201 if created else 200, body)


def _replication_window(req: Request) -> tuple[str, datetime, datetime]:
    """The object and [start, end) of a getUpdated / getDeleted call; start must precede end."""
    name = sobject_name(req.groups["sobject"])
    start = parse_datetime(req.params.get("start"), "start")
    end = parse_datetime(req.params.get("end"), "end")
    if start >= end:
        raise error(
            400,
            "INVALID_REPLICATION_DATE",
            "startDate must chronologically precede endDate by more than one minute",
        )
    return name, start, end


def sobject_updated(ctx: ApiContext, req: Request) -> Response:
    """GET sobjects/X/updated/?start=&end= (getUpdated)."""
    name, start, end = _replication_window(req)
    return json_response(200, ctx.org.updated(name, start, end))


def sobject_deleted(ctx: ApiContext, req: Request) -> Response:
    """GET sobjects/X/deleted/?start=&end= (getDeleted)."""
    name, start, end = _replication_window(req)
    return json_response(200, ctx.org.deleted(name, start, end))


def limits(ctx: ApiContext, req: Request) -> Response:
    """GET limits/: the org's limits, each {"Max","Remaining"}."""
    used = ctx.usage.used
    budget = ctx.usage.budget
    bulk_jobs = ctx.usage.calls["bulk2.query.create"]
    batches = ctx.usage.calls["bulk2.ingest.upload"]

    def lim(mx: int, used_: int = 0) -> dict[str, int]:
        return {"Max": mx, "Remaining": max(0, mx - used_)}

    body = {
        "ConcurrentAsyncGetReportInstances": lim(200),
        "ConcurrentSyncReportRuns": lim(20),
        "DailyApiRequests": lim(budget, used),
        "DailyAsyncApexExecutions": lim(250000),
        "DailyBulkApiBatches": lim(15000, batches),
        "DailyBulkV2QueryFileStorageMB": lim(976562),
        "DailyBulkV2QueryJobs": lim(10000, bulk_jobs),
        "DailyStreamingApiEvents": lim(10000),
        "DataStorageMB": lim(5),
        "FileStorageMB": lim(20),
        "HourlyODataCallout": lim(10000),
        "HourlyTimeBasedWorkflow": lim(50),
        "MassEmail": lim(10),
        "SingleEmail": lim(15),
    }
    return json_response(200, body)
