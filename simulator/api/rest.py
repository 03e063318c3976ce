"""REST resources: query/queryAll with server-side cursors, single-record CRUD, upsert by external id,
getUpdated/getDeleted, limits and the versions list (salesforce-wire.md §1.5-1.7, §2.1-2.7)."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from simulator.api.http import Request, Response, error, json_response
from simulator.org.schema import sobject as schema_sobject

if TYPE_CHECKING:
    from simulator.server import Simulator

__all__ = ["Cursors", "parse_datetime", "sobject_name", "write_fault"]

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


class Cursors:
    """Open query cursors by locator (LRU-bounded, like an org's open-cursor limit)."""

    def __init__(self, limit: int = 50) -> None:
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    def open(self, result: Any, batch: int) -> str:
        """Register a result; returns its locator (`01g` + 15 characters, like a query locator id)."""
        locator = "01g" + secrets.token_hex(8)[:15].upper()
        with self._lock:
            self._items[locator] = (result, batch)
            while len(self._items) > self._limit:
                self._items.popitem(last=False)
        return locator

    def get(self, locator: str) -> tuple[Any, int]:
        """The result and batch size of a locator; 400 INVALID_QUERY_LOCATOR when unknown."""
        with self._lock:
            item = self._items.get(locator)
            if item is not None:
                self._items.move_to_end(locator)
        if item is None:
            raise error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return item


def _batch_size(req: Request) -> int:
    options = req.headers.get("Sforce-Query-Options") or ""
    for part in options.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(200, min(2000, int(value)))
    return DEFAULT_BATCH


def _page(
    req: Request, result: Any, locator: str | None, offset: int, batch: int, all_rows: bool
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


def query(sim: Simulator, req: Request) -> Response:
    """GET query/ and queryAll/ with `q`."""
    soql = req.params.get("q")
    if not soql:
        raise error(400, "MALFORMED_QUERY", "A query string has to be specified")
    all_rows = req.route is not None and req.route.name == "queryAll"
    result = sim.org.query(soql, include_deleted=all_rows)
    batch = _batch_size(req)
    locator = None
    if not result.is_count and result.total_size > batch:
        locator = sim.cursors.open(result, batch)
    return _page(req, result, locator, 0, batch, all_rows)


def query_more(sim: Simulator, req: Request) -> Response:
    """GET query/<locator>-<offset> (found by its path alone; queryAll continuations stay queryAll)."""
    locator, offset = req.groups["locator"], int(req.groups["offset"])
    result, batch = sim.cursors.get(locator)
    all_rows = req.route is not None and req.route.name.startswith("queryAll")
    return _page(req, result, locator, offset, batch, all_rows)


def versions(sim: Simulator, req: Request) -> Response:
    """GET /services/data/: every version served."""
    out = []
    v = MIN_VERSION
    while v <= MAX_VERSION:
        out.append({"label": "Simulated", "url": f"/services/data/v{v:.1f}", "version": f"{v:.1f}"})
        v += 1.0
    return json_response(200, out)


def resources(sim: Simulator, req: Request) -> Response:
    """GET /services/data/vXX.X/: the resources of a version."""
    base = f"/services/data/v{req.version}"
    names = ["sobjects", "query", "queryAll", "limits", "composite", "jobs"]
    return json_response(200, {n: f"{base}/{n}" for n in names})


def write_fault(sim: Simulator, sobject: str, record_id: str | None) -> tuple[str, str] | None:
    """The (code, message) a fault imposes on a write to this record (`lock`, `reject`), or None."""
    if record_id and sim.faults.locked(record_id):
        return "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record"
    code = sim.faults.rejected(sobject)
    if code:
        return code, "The record was rejected by a validation rule of the org"
    return None


def _guard(sim: Simulator, sobject: str, record_id: str | None) -> None:
    fault = write_fault(sim, sobject, record_id)
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


def record_get(sim: Simulator, req: Request) -> Response:
    """GET sobjects/X/{id}[?fields=A,B]."""
    name = sobject_name(req.groups["sobject"])
    fields = (
        [f.strip() for f in req.params["fields"].split(",") if f.strip()]
        if req.params.get("fields")
        else None
    )
    return json_response(200, _versioned(sim.org.get(name, req.groups["id"], fields), req))


def record_create(sim: Simulator, req: Request) -> Response:
    """POST sobjects/X/ -> 201 {"id","success","errors"}."""
    name = sobject_name(req.groups["sobject"])
    data = _body_dict(req)
    if any(k.lower() == "id" for k in data):
        raise error(400, "INVALID_FIELD", "The Id field should not be specified in the sobject data.")
    _guard(sim, name, None)
    new_id = sim.org.create(name, data, user_id=req.user_id)
    return json_response(201, {"id": new_id, "success": True, "errors": []})


def record_update(sim: Simulator, req: Request) -> Response:
    """PATCH sobjects/X/{id} -> 204."""
    name = sobject_name(req.groups["sobject"])
    _guard(sim, name, req.groups["id"])
    sim.org.update(name, req.groups["id"], _body_dict(req), user_id=req.user_id)
    return Response(204, b"", None)


def record_delete(sim: Simulator, req: Request) -> Response:
    """DELETE sobjects/X/{id} -> 204 (soft delete)."""
    name = sobject_name(req.groups["sobject"])
    if sim.faults.locked(req.groups["id"]):
        raise error(400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record", [])
    sim.org.delete(name, req.groups["id"], user_id=req.user_id)
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


def ext_get(sim: Simulator, req: Request) -> Response:
    """GET sobjects/X/{ExtField}/{value}: one record, 404 none, 300 several (a list of URLs)."""
    name = sobject_name(req.groups["sobject"])
    field = _ext_field(name, req.groups["field"])
    ids = sim.org.find_by(name, field, unquote_plus(req.groups["value"]))
    if not ids:
        raise error(404, "NOT_FOUND", "The requested resource does not exist")
    if len(ids) > 1:
        return json_response(300, _urls(req, name, ids))
    return json_response(200, _versioned(sim.org.get(name, ids[0]), req))


def ext_upsert(sim: Simulator, req: Request) -> Response:
    """PATCH sobjects/X/{ExtField}/{value}: 201 created, 200 updated (204 before v46.0), 300 several."""
    name = sobject_name(req.groups["sobject"])
    field = _ext_field(name, req.groups["field"])
    value = unquote_plus(req.groups["value"])
    data = _body_dict(req)
    if field == "Id":
        _guard(sim, name, value)
        sim.org.update(name, value, data, user_id=req.user_id)
        record_id, created = value, False
    else:
        existing = sim.org.find_by(name, field, value)
        _guard(sim, name, existing[0] if existing else None)
        try:
            record_id, created = sim.org.upsert(name, field, value, data, user_id=req.user_id)
        except Exception as exc:
            if getattr(exc, "status", None) == 300:
                return json_response(300, _urls(req, name, sim.org.find_by(name, field, value)))
            raise
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


def sobject_updated(sim: Simulator, req: Request) -> Response:
    """GET sobjects/X/updated/?start=&end= (getUpdated)."""
    name, start, end = _replication_window(req)
    return json_response(200, sim.org.updated(name, start, end))


def sobject_deleted(sim: Simulator, req: Request) -> Response:
    """GET sobjects/X/deleted/?start=&end= (getDeleted)."""
    name, start, end = _replication_window(req)
    return json_response(200, sim.org.deleted(name, start, end))


def limits(sim: Simulator, req: Request) -> Response:
    """GET limits/: the org's limits, each {"Max","Remaining"}."""
    used = sim.api_used
    budget = sim.api_budget
    bulk_jobs = sim.calls["bulk2.query.create"]
    batches = sim.calls["bulk2.ingest.upload"]

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
