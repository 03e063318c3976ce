"""Describe resources built from simulator/org/schema: global describe, sObject basic info and sObject describe
with every field property real Salesforce returns (salesforce-wire.md §2.8)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from simulator.api.http import Request, Response, json_response
from simulator.api.rest import sobject_name
from simulator.org.ids import KEY_PREFIXES
from simulator.org.schema import SCHEMA, SOAP_TYPES, Field, SObject

if TYPE_CHECKING:
    from simulator.api.context import ApiContext

__all__ = ["describe_field", "describe_object"]

SCHEMA_DATE = datetime(2026, 12, 6, tzinfo=UTC)  # the schema last changed (standard field lists)
_NUMERIC = {"double": (18, 2), "currency": (18, 2), "percent": (3, 0)}
_LABELS = {
    "Id": "Record ID",
    "IsDeleted": "Deleted",
    "CreatedById": "Created By ID",
    "CreatedDate": "Created Date",
    "LastModifiedById": "Last Modified By ID",
    "LastModifiedDate": "Last Modified Date",
    "SystemModstamp": "System Modstamp",
}


def _label(f: Field) -> str:
    if f.label:
        return f.label
    if f.name in _LABELS:
        return _LABELS[f.name]
    name = f.name.removesuffix("__c").replace("_", " ")
    if name.endswith("Id") and f.type == "reference":
        name = name[:-2] + " ID"
    out = "".join(
        " " + c if c.isupper() and i and not name[i - 1].isupper() and name[i - 1] != " " else c
        for i, c in enumerate(name)
    )
    return out.strip()


def describe_field(f: Field) -> dict[str, Any]:
    """One field's describe entry, every property Salesforce returns."""
    precision, scale = (f.precision, f.scale) if f.precision else _NUMERIC.get(f.type, (0, 0))
    compound = f.type == "address"
    text = f.type in (
        "string",
        "picklist",
        "textarea",
        "email",
        "phone",
        "url",
        "combobox",
        "id",
        "reference",
    )
    is_bool = f.type == "boolean"
    long_text = f.type == "textarea" and f.length > 255
    picklist = [
        {"active": True, "defaultValue": f.default == v, "label": v, "validFor": None, "value": v}
        for v in f.picklist
    ]
    return {
        "aggregatable": not long_text and f.type not in ("anyType", "address"),
        "aiPredictionField": False,
        "autoNumber": f.name == "CaseNumber",
        "byteLength": f.length * 3 if text else 0,
        "calculated": f.calculated,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": False,
        "compoundFieldName": f.compound,
        "controllerName": None,
        "createable": f.createable,
        "custom": f.custom,
        "defaultValue": f.default if f.default is not None and not f.picklist else None,
        "defaultValueFormula": None,
        "defaultedOnCreate": f.defaulted_on_create or is_bool,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": 9 if f.type == "int" else 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": f.external_id,
        "extraTypeInfo": "plaintextarea" if f.type == "textarea" else None,
        "filterable": not long_text,
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": not long_text
        and f.type not in ("double", "currency", "percent", "datetime", "anyType", "address"),
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": f.id_lookup or f.external_id,
        "inlineHelpText": None,
        "label": _label(f),
        "length": f.length if text and not compound else 0,
        "mask": None,
        "maskType": None,
        "name": f.name,
        "nameField": f.name_field,
        "namePointing": f.type == "reference" and len(f.reference_to) > 1,
        "nillable": f.nillable and not is_bool,
        "permissionable": f.nillable and f.createable and not is_bool,
        "picklistValues": picklist,
        "polymorphicForeignKey": f.type == "reference" and len(f.reference_to) > 1,
        "precision": precision,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": f.restricted,
        "scale": scale,
        "searchPrefilterable": f.type == "reference",
        "soapType": SOAP_TYPES.get(f.type, "xsd:string"),
        "sortable": not long_text and f.type not in ("anyType", "address"),
        "type": f.type,
        "unique": f.unique,
        "updateable": f.updateable,
        "writeRequiresMasterRead": False,
    }


def _urls(version: str, name: str) -> dict[str, str | None]:
    base = f"/services/data/v{version}/sobjects/{name}"
    return {
        "compactLayouts": f"{base}/describe/compactLayouts",
        "rowTemplate": f"{base}/{{ID}}",
        "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
        "describe": f"{base}/describe",
        "layouts": f"{base}/describe/layouts",
        "sobject": base,
        "uiDetailTemplate": None,
        "uiEditTemplate": None,
        "uiNewRecord": None,
    }


def _summary(obj: SObject, version: str) -> dict[str, Any]:
    queryable_only = not obj.createable and not obj.updateable
    return {
        "activateable": False,
        "associateEntityType": "History" if obj.name.endswith("History") else None,
        "associateParentEntity": obj.name.removesuffix("History") if obj.name.endswith("History") else None,
        "createable": obj.createable,
        "custom": obj.custom,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": obj.deletable,
        "deprecatedAndHidden": False,
        "feedEnabled": not queryable_only,
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": KEY_PREFIXES.get(obj.name),
        "label": obj.label,
        "labelPlural": obj.label + ("es" if obj.label.endswith("s") else "s"),
        "layoutable": not queryable_only,
        "mergeable": obj.name in ("Account", "Contact"),
        "mruEnabled": not queryable_only,
        "name": obj.name,
        "queryable": True,
        "replicateable": obj.replicateable,
        "retrieveable": True,
        "searchable": not queryable_only,
        "triggerable": not queryable_only,
        "undeletable": obj.deletable,
        "updateable": obj.updateable,
        "urls": _urls(version, obj.name),
    }


def _child_relationships(name: str) -> list[dict[str, Any]]:
    out = []
    for child in SCHEMA.values():
        for f in child.fields:
            if (
                f.type == "reference"
                and name in f.reference_to
                and f.name not in ("CreatedById", "LastModifiedById")
            ):
                out.append(
                    {
                        "cascadeDelete": False,
                        "childSObject": child.name,
                        "deprecatedAndHidden": False,
                        "field": f.name,
                        "junctionIdListNames": [],
                        "junctionReferenceTo": [],
                        "relationshipName": None,
                        "restrictedDelete": False,
                    }
                )
    return out


@lru_cache(maxsize=256)
def _describe_cached(name: str, version: str) -> dict[str, Any]:
    obj = SCHEMA[name]
    return {
        **_summary(obj, version),
        "actionOverrides": [],
        "childRelationships": _child_relationships(name),
        "compactLayoutable": True,
        "defaultImplementation": None,
        "extendedBy": None,
        "extendsInterfaces": None,
        "fields": [describe_field(f) for f in obj.all_fields],
        "implementedBy": None,
        "implementsInterfaces": None,
        "listviewable": None,
        "lookupLayoutable": None,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "recordTypeInfos": [],
        "searchLayoutable": True,
        "sobjectDescribeOption": "FULL",
        "supportedScopes": [],
        "urls": _urls(version, name),
    }


def describe_object(name: str, version: str) -> dict[str, Any]:
    """The full sObject describe of one object."""
    return _describe_cached(name, version)


def _not_modified(req: Request) -> bool:
    """`If-Modified-Since` at or after the schema's date: 304 (the simulated schema never changes at run time)."""
    since = req.headers.get("If-Modified-Since")
    if not since:
        return False
    try:
        return parsedate_to_datetime(since) >= SCHEMA_DATE
    except (TypeError, ValueError):
        return False


def describe(ctx: ApiContext, req: Request) -> Response:
    """GET sobjects/X/describe (304 with a recent If-Modified-Since)."""
    name = sobject_name(req.groups["sobject"])
    if _not_modified(req):
        return Response(304, b"", None)
    body = describe_object(name, req.version)
    access = ctx.org.access_for(
        req.user_id
    )  # field-level security: hidden fields absent, read-only ones marked
    return json_response(200, access.describe(name, body) if access else body)


def describe_global(ctx: ApiContext, req: Request) -> Response:
    """GET sobjects/: encoding, maxBatchSize and the list of objects."""
    return json_response(
        200,
        {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [_summary(o, req.version) for o in SCHEMA.values()],
        },
    )


def sobject_info(ctx: ApiContext, req: Request) -> Response:
    """GET sobjects/X/: basic information (objectDescribe + recentItems)."""
    name = sobject_name(req.groups["sobject"])
    return json_response(200, {"objectDescribe": _summary(SCHEMA[name], req.version), "recentItems": []})
