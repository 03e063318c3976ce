"""sObject Collections (`composite/sobjects`): create, update, upsert, retrieve, delete (salesforce-wire.md §2.5).

HTTP 200 even when items fail; per-item errors carry `statusCode`; results in request order; more than 200
records is `400 EXCEEDED_ID_LIMIT`. `allOrNone` is honoured by compensation: when an item fails, the items
already written are undone (creates hard-deleted, updates written back) and reported
`ALL_OR_NONE_OPERATION_ROLLED_BACK` (their stamps and history rows stay moved: a documented simplification) and
publishes no change event (the request's change-log transaction is discarded).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from simulator.api.http import Request, Response, error, json_response
from simulator.api.rest import sobject_name, visible_record, write_fault
from simulator.org.errors import ApiError
from simulator.org.ids import KEY_PREFIXES
from simulator.org.schema import sobject as schema_sobject
from simulator.org.session import Write

if TYPE_CHECKING:
    from simulator.api.context import ApiContext

__all__ = ["create", "delete", "retrieve", "update", "upsert"]

MAX_RECORDS = 200
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
    "fields": [],
}


class ItemError(Exception):
    """A per-item failure (statusCode, message, fields)."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.item = {"statusCode": code, "message": message, "fields": fields or []}


def _records(req: Request) -> tuple[list[Any], bool]:
    body = req.json()
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise error(400, "JSON_PARSER_ERROR", "The request body must be an object with a 'records' array")
    records = body["records"]
    if len(records) > MAX_RECORDS:
        raise error(
            400,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        )
    return records, bool(body.get("allOrNone", False))


def _type_of(record: Any, fallback: str | None = None) -> str:
    if not isinstance(record, dict):
        raise ItemError("INVALID_FIELD", "Each record must be a JSON object")
    attrs = record.get("attributes") or {}
    name = attrs.get("type") if isinstance(attrs, dict) else None
    name = name or fallback
    obj = schema_sobject(name) if name else None
    if obj is None:
        raise ItemError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
    return obj.name


def _fields(record: dict[str, Any], drop: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "attributes" and k.lower() not in drop}


def _run(
    ctx: ApiContext,
    records: list[Any],
    all_or_none: bool,
    op: Callable[[Any], tuple[dict[str, Any], Callable[[], None] | None]],
    keep_id: bool,
) -> Response:
    """Apply `op` to each record in order; on failure with allOrNone, undo and mark the rest rolled back."""
    results: list[dict[str, Any]] = []
    undo: list[Callable[[], None]] = []
    failed = False
    for record in records:
        try:
            result, undo_fn = op(record)
            results.append(result)
            if undo_fn:
                undo.append(undo_fn)
        except ItemError as exc:
            results.append({"success": False, "errors": [exc.item]})
            failed = True
        except ApiError as exc:
            results.append({"success": False, "errors": [exc.collection_item()]})
            failed = True
        if failed and all_or_none:
            break
    if failed and all_or_none:
        for fn in reversed(undo):
            fn()
        ctx.org.changes.discard()  # the request's transaction rolled back: it publishes no change event
        out = []
        for i, record in enumerate(records):
            if i < len(results) and not results[i]["success"]:
                out.append(results[i])
                continue
            rolled: dict[str, Any] = {"success": False, "errors": [dict(ROLLED_BACK)]}
            rid = (results[i].get("id") if i < len(results) else None) or (
                (record.get("id") or record.get("Id")) if isinstance(record, dict) else None
            )
            if keep_id and rid:
                rolled = {"id": rid, **rolled}
            out.append(rolled)
        results = out
    return json_response(200, results)


def _run_batched(
    ctx: ApiContext, req: Request, records: list[Any], prepare: Callable[[Any], Write], keep_created: bool
) -> Response:
    """allOrNone=false: each record checked, then the valid ones written as one set (`Org.write_many`), which
    applies them in order as the one-by-one path would; results in request order."""
    results: list[dict[str, Any] | None] = [None] * len(records)
    writes: list[tuple[int, Write]] = []
    for i, record in enumerate(records):
        try:
            writes.append((i, prepare(record)))
        except ItemError as exc:
            results[i] = {"success": False, "errors": [exc.item]}
        except ApiError as exc:
            results[i] = {"success": False, "errors": [exc.collection_item()]}
    outcomes = ctx.org.write_many([w for _, w in writes], user_id=req.user_id)
    for (i, _), outcome in zip(writes, outcomes, strict=True):
        if isinstance(outcome, ApiError):
            results[i] = {"success": False, "errors": [outcome.collection_item()]}
        else:
            rid, created = outcome
            results[i] = {"id": rid, "success": True, "errors": []}
            if keep_created:
                results[i]["created"] = created  # type: ignore[index]
    return json_response(200, results)


def _one_by_one(
    ctx: ApiContext,
    req: Request,
    prepare: Callable[[Any], Write],
    *,
    keep_created: bool = False,
    restore: bool = False,
) -> Callable[[Any], tuple[dict[str, Any], Callable[[], None] | None]]:
    """allOrNone=true: each record written at its turn (the same checks as `_run_batched`), with what undoes it: a
    create is hard-deleted; an update by Id (`restore`) gets its fields' values back."""

    def op(record: Any) -> tuple[dict[str, Any], Callable[[], None] | None]:
        w = prepare(record)
        before = None
        if restore and w.op == "update" and w.data:
            with contextlib.suppress(ApiError):  # a record that cannot be read fails its write the same way
                before = ctx.org.get(w.sobject, str(w.record_id), list(w.data))
        [outcome] = ctx.org.write_many([w], user_id=req.user_id)
        if isinstance(outcome, ApiError):
            raise outcome
        rid, created = outcome
        result: dict[str, Any] = {"id": rid, "success": True, "errors": []}
        if keep_created:
            result["created"] = created
        if created:
            return result, lambda: ctx.org.hard_delete(w.sobject, rid)
        if before is not None:
            old = {k: before.get(k) for k in w.data if k in before}
            return result, lambda: ctx.org.update(w.sobject, rid, old, user_id=req.user_id)
        return result, None

    return op


def _guard_write(ctx: ApiContext, name: str, record_id: str | None) -> None:
    """A fault on this record (`lock`, `reject`) as the write's own check: an ApiError, that record's error."""
    fault = write_fault(ctx, name, record_id)
    if fault:
        raise ApiError(400, fault[0], f"{fault[1]}" + (f": {record_id}" if record_id else ""))


def create(ctx: ApiContext, req: Request) -> Response:
    """POST composite/sobjects: create up to 200 records of any types."""
    records, all_or_none = _records(req)

    def prepare(record: Any) -> Write:
        name = _type_of(record)
        if any(k.lower() == "id" for k in record):
            raise ItemError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        return Write("create", name, _fields(record, ()), guard=lambda _: _guard_write(ctx, name, None))

    if not all_or_none:
        return _run_batched(ctx, req, records, prepare, keep_created=False)
    return _run(ctx, records, all_or_none, _one_by_one(ctx, req, prepare), keep_id=False)


def update(ctx: ApiContext, req: Request) -> Response:
    """PATCH composite/sobjects: update up to 200 records by id."""
    records, all_or_none = _records(req)

    def prepare(record: Any) -> Write:
        name = _type_of(record)
        rid = record.get("id") or record.get("Id")
        if not rid:
            raise ItemError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        return Write(
            "update",
            name,
            _fields(record, ("id",)),
            record_id=rid,
            guard=lambda _: _guard_write(ctx, name, rid),
        )

    if not all_or_none:
        return _run_batched(ctx, req, records, prepare, keep_created=False)
    return _run(ctx, records, all_or_none, _one_by_one(ctx, req, prepare, restore=True), keep_id=True)


def upsert(ctx: ApiContext, req: Request) -> Response:
    """PATCH composite/sobjects/{Obj}/{ExtField}: upsert up to 200 records of one type by external id."""
    name = sobject_name(req.groups["sobject"])
    obj = schema_sobject(name)
    field = obj.field(req.groups["field"]) if obj else None
    if field is None or not (field.external_id or field.id_lookup):
        raise error(
            404,
            "NOT_FOUND",
            f"Provided external ID field does not exist or is not accessible: {req.groups['field']}",
        )
    records, all_or_none = _records(req)

    def prepare(record: Any) -> Write:
        _type_of(record, name)
        value = next((v for k, v in record.items() if k.lower() == field.name.lower()), None)
        if value is None or value == "":
            raise ItemError(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{field.name}]", [field.name]
            )
        data = _fields(record, (field.name.lower(),) if field.name == "Id" else ())
        if field.name == "Id":
            return Write(
                "update",
                name,
                data,
                record_id=str(value),
                guard=lambda _: _guard_write(ctx, name, str(value)),
            )

        def guard(existing: list[str]) -> None:
            _guard_write(ctx, name, existing[0] if existing else None)
            if len(existing) > 1:
                raise ApiError(
                    400,
                    "DUPLICATE_EXTERNAL_ID",
                    f"{field.name}: more than one record found for external id field: {existing}",
                    [field.name],
                )

        data = {k: v for k, v in data.items() if k.lower() != field.name.lower()}
        return Write("upsert", name, data, ext_field=field.name, ext_value=str(value), guard=guard)

    if not all_or_none:
        return _run_batched(ctx, req, records, prepare, keep_created=True)
    return _run(ctx, records, all_or_none, _one_by_one(ctx, req, prepare, keep_created=True), keep_id=True)


def _ids(req: Request) -> list[str]:
    ids = [i for i in unquote_plus(req.params.get("ids", "")).split(",") if i]
    if len(ids) > MAX_RECORDS:
        raise error(
            400,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        )
    return ids


def retrieve(ctx: ApiContext, req: Request) -> Response:
    """GET composite/sobjects/{Obj}?ids=&fields=: records in order, null where not found."""
    name = sobject_name(req.groups["sobject"])
    fields = [f for f in req.params.get("fields", "").split(",") if f] or None
    out: list[Any] = []
    visible_record(ctx, req, name, {}, fields)  # a hidden field named: INVALID_FIELD for the whole call
    for rid in _ids(req):
        try:
            out.append(visible_record(ctx, req, name, ctx.org.get(name, rid, fields)))
        except ApiError:
            out.append(None)
    return json_response(200, out)


def delete(ctx: ApiContext, req: Request) -> Response:
    """DELETE composite/sobjects?ids=&allOrNone=: soft-delete up to 200 records of any types."""
    ids = _ids(req)
    all_or_none = req.params.get("allOrNone", "false").lower() == "true"
    by_prefix = {v: k for k, v in KEY_PREFIXES.items()}

    def op(rid: Any) -> tuple[dict[str, Any], Callable[[], None] | None]:
        name = by_prefix.get(str(rid)[:3])
        if name is None:
            raise ItemError("MALFORMED_ID", f"malformed id {rid}")
        if ctx.faults.locked(rid):
            raise ItemError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
        ctx.org.delete(name, rid, user_id=req.user_id)
        return {"id": rid, "success": True, "errors": []}, None

    return _run(ctx, ids, all_or_none, op, keep_id=True)
