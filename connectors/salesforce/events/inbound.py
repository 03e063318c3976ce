"""Changes pushed to us: Salesforce Outbound Messages (SOAP) and signed JSON webhooks, read into ChangeEvents.

Both formats give `Pushed` items: the notification's unique id (to drop re-sent duplicates) and the `ChangeEvent`
the CDC path would have produced, so the same attribution and Prefect events follow. Anything wrong raises
`Refused(status, reason, message)`; the message is short, names the element or field, and never quotes a secret.

Outbound Messages do not say whether a record was created or updated: every notification becomes an `UPDATE`
whose changed fields are all the fields the message carries (the Outbound Message action's field list), so a
notification counts as significant when it carries a field the risk model reads.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from connectors.salesforce.events.decode import ChangeEvent

__all__ = [
    "ACK",
    "SIGNATURE_TOLERANCE_SECONDS",
    "Pushed",
    "Refused",
    "parse_outbound",
    "parse_webhook",
    "verify_signature",
]

ACK = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
    b'<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack>'
    b"</notificationsResponse></soapenv:Body></soapenv:Envelope>"
)
SIGNATURE_TOLERANCE_SECONDS = 300
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,79}$"
_FIELD = (
    r"^[A-Za-z][A-Za-z0-9_]{0,79}(\.[A-Za-z][A-Za-z0-9_]{0,79})?$"  # compound fields: BillingAddress.City
)
_RECORD_ID = r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$"
_DTD = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_STAMPS = ("LastModifiedDate", "SystemModstamp")


class Refused(Exception):
    """A request the receiver answers with an error: HTTP status, a reason key (counted and logged), a short
    message, and the error key answered (the reason, unless it must not be told: a wrong token is "not_found")."""

    def __init__(self, status: int, reason: str, message: str, answered: str | None = None) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message
        self.answered = answered or reason


@dataclass(frozen=True)
class Pushed:
    """One pushed notification: its sender's unique id and the change it describes."""

    key: str
    event: ChangeEvent


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(parent: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in parent if _local(c.tag) == name), None)


def _text(parent: ET.Element, name: str) -> str:
    child = _child(parent, name)  # an Element without children is falsy: compare with None, never `or`
    return (child.text or "").strip() if child is not None else ""


def _stamp_ms(values: dict[str, Any]) -> int:
    """Epoch ms of the record's LastModifiedDate (else SystemModstamp); 0 when absent or unreadable."""
    for name in _STAMPS:
        raw = values.get(name)
        if isinstance(raw, str):
            try:
                stamp = datetime.fromisoformat(raw)
            except ValueError:
                continue
            return int((stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp() * 1000)
    return 0


def parse_xml(body: bytes) -> ET.Element:
    """Parse a UTF-8 XML body, refusing any DTD (no DOCTYPE, no ENTITY: no entity expansion of any kind)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Refused(400, "bad_xml", "the body is not UTF-8") from None
    if _DTD.search(text):
        raise Refused(400, "forbidden_dtd", "DOCTYPE and ENTITY declarations are not accepted") from None
    # the encoding given here overrides any the document declares: what was checked is what is parsed
    parser = ET.XMLParser(encoding="utf-8")
    try:
        parser.feed(text.encode("utf-8"))
        return parser.close()
    except ET.ParseError as exc:
        raise Refused(400, "bad_xml", f"malformed XML ({exc})") from None


def parse_outbound(body: bytes, org_id: str) -> list[Pushed]:
    """The notifications of one Outbound Message (SOAP 1.1) from org `org_id` (15 or 18 chars; 403 otherwise)."""
    root = parse_xml(body)
    soap_body = _child(root, "Body") if _local(root.tag) == "Envelope" else None
    message = _child(soap_body, "notifications") if soap_body is not None else None
    if message is None:
        raise Refused(400, "bad_xml", "not an Outbound Message: no Envelope/Body/notifications element")
    org = _text(message, "OrganizationId")
    if not org:
        raise Refused(400, "bad_xml", "OrganizationId is missing")
    if not hmac.compare_digest(org[:15].encode(), org_id[:15].encode()):
        raise Refused(403, "wrong_org", "OrganizationId is not the configured org")
    action = _text(message, "ActionId")[:40]
    notes = [c for c in message if _local(c.tag) == "Notification"]
    if not notes:
        raise Refused(400, "bad_xml", "no Notification element")
    return [_notification(n, i, action) for i, n in enumerate(notes, 1)]


def _notification(note: ET.Element, position: int, action: str) -> Pushed:
    where = f"Notification {position}"
    note_id = _text(note, "Id")
    if not note_id or len(note_id) > 64:
        raise Refused(400, "bad_xml", f"{where}: Id is missing or too long")
    record = _child(note, "sObject")
    if record is None:
        raise Refused(400, "bad_xml", f"{where}: sObject is missing")
    entity = (record.get(_XSI_TYPE) or "").rsplit(":", 1)[-1]
    if not re.match(_NAME, entity):
        raise Refused(400, "bad_xml", f"{where}: sObject has no valid xsi:type")
    fields: list[str] = []
    nulled: list[str] = []
    values: dict[str, Any] = {}
    record_id = ""
    for element in record:
        name = _local(element.tag)
        if name == "Id":
            record_id = (element.text or "").strip()
        elif element.get(_XSI_NIL) == "true":
            fields.append(name)
            nulled.append(name)
        else:
            fields.append(name)
            values[name] = element.text or ""
    if not re.match(_RECORD_ID, record_id):
        raise Refused(400, "bad_xml", f"{where}: sObject Id is missing or not a record id")
    event = ChangeEvent(
        entity=entity,
        change_type="UPDATE",  # an Outbound Message does not tell a create from an update
        record_ids=(record_id,),
        changed_fields=tuple(fields),
        nulled_fields=tuple(nulled),
        commit_timestamp_ms=_stamp_ms(values),
        change_origin=f"outbound-message:{action}" if action else "outbound-message",
        values=values,
        replay_id=note_id.encode(),
    )
    return Pushed(f"outbound:{note_id}", event)


# --- signed JSON webhook ------------------------------------------------------------------------------------------


class _WebhookEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(min_length=1, max_length=200)
    object: str = Field(pattern=_NAME)
    ids: list[Annotated[str, StringConstraints(pattern=_RECORD_ID)]] = Field(min_length=1, max_length=200)
    change_type: Literal["CREATE", "UPDATE", "DELETE", "UNDELETE"] = "UPDATE"
    fields: dict[Annotated[str, StringConstraints(pattern=_FIELD)], str | int | float | bool | None] = Field(
        default_factory=dict
    )


class _WebhookBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    events: list[_WebhookEvent] = Field(min_length=1, max_length=1000)


def verify_signature(header: str | None, body: bytes, secret: str, now: float) -> str:
    """Check `X-CRM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`; returns the matched v1.

    Several `v1=` entries are allowed (a sender rotating its secret signs with both); a timestamp further than
    SIGNATURE_TOLERANCE_SECONDS from `now` is refused as stale, so a captured request cannot be replayed later.
    """
    if not header:
        raise Refused(401, "bad_signature", "X-CRM-Signature header is missing")
    parts = [p.strip().split("=", 1) for p in header.split(",")]
    stamp = next((v for k, v in (p for p in parts if len(p) == 2) if k == "t"), "")
    sigs = [v.lower() for k, v in (p for p in parts if len(p) == 2) if k == "v1"]
    if not re.fullmatch(r"[0-9]{1,12}", stamp) or not sigs:
        raise Refused(401, "bad_signature", "X-CRM-Signature must be t=<unix seconds>,v1=<hex>")
    if abs(now - int(stamp)) > SIGNATURE_TOLERANCE_SECONDS:
        raise Refused(401, "stale", f"signature timestamp is more than {SIGNATURE_TOLERANCE_SECONDS} s away")
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    for sig in sigs:
        if hmac.compare_digest(sig.encode(), expected.encode()):
            return sig
    raise Refused(401, "bad_signature", "signature does not match")


def parse_webhook(body: bytes) -> list[Pushed]:
    """The events of one webhook body `{"events": [{"id", "object", "ids", "change_type", "fields"}]}`."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(400, "bad_json", f"malformed JSON ({exc})") from None
    try:
        parsed = _WebhookBody.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        message = re.sub(
            r" or instance of \w+", "", first["msg"]
        )  # our class names are not the sender's business
        raise Refused(400, "bad_schema", f"{where}: {message}") from None
    out = []
    for item in parsed.events:
        values = {k: v for k, v in item.fields.items() if v is not None}
        event = ChangeEvent(
            entity=item.object,
            change_type=item.change_type,
            record_ids=tuple(item.ids),
            changed_fields=tuple(item.fields),
            nulled_fields=tuple(k for k, v in item.fields.items() if v is None),
            commit_timestamp_ms=_stamp_ms(values),
            change_origin="webhook",
            values=values,
            replay_id=item.id.encode(),
        )
        out.append(Pushed(f"webhook:{item.id}", event))
    return out
