"""Outbound messages: changes to Case, Opportunity and Contact POSTed as Salesforce Outbound Message SOAP
notifications to a receiver, from one background thread, retried with bounded exponential backoff until the
receiver answers `<Ack>true</Ack>`."""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import requests

from simulator.org.ids import checksum

if TYPE_CHECKING:
    from simulator.org.store import Org

__all__ = ["OBJECTS", "Outbound"]

log = logging.getLogger(__name__)

OBJECTS: dict[str, tuple[str, ...]] = {
    "Case": ("AccountId", "ContactId", "Status", "Priority", "IsEscalated", "IsClosed", "LastModifiedDate"),
    "Opportunity": ("AccountId", "StageName", "Amount", "CloseDate", "IsClosed", "IsWon", "LastModifiedDate"),
    "Contact": ("AccountId", "Email", "IsEmailBounced", "Left_Company__c", "LastModifiedDate"),
}
_ACK_RE = re.compile(rb"<(?:\w+:)?Ack>\s*true\s*</(?:\w+:)?Ack>", re.IGNORECASE)
MAX_ATTEMPTS = 8
MAX_DELAY = 30.0


@dataclass
class _Message:
    sobject: str
    record_id: str
    kind: str
    attempts: int = 0
    due: float = 0.0


class Outbound:
    """Queue of changes to notify; `delivered` and `failed` count outcomes (tests and demo read them)."""

    def __init__(
        self,
        url: str,
        org: Org,
        *,
        ca_file: Path,
        instance_url: str,
        organization_id: str,
        api_version: str,
        base_delay: float = 0.5,
    ) -> None:
        self.url = url
        self.org = org
        self.instance_url = instance_url
        self.organization_id = organization_id
        self.api_version = api_version
        self.base_delay = base_delay
        self.delivered = 0
        self.failed = 0
        self.attempts = 0
        self._queue: queue.Queue[_Message | None] = queue.Queue()
        self._retry: list[_Message] = []
        self._serial = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = requests.Session()
        self._http.trust_env = False
        self._http.verify = str(ca_file)

    def start(self) -> None:
        """Start the sender thread."""
        self._thread = threading.Thread(target=self._run, name="outbound-messages", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the sender thread (undelivered messages are dropped, as when an org's queue is purged)."""
        self._stop.set()
        self._queue.put(None)
        if self._thread:
            self._thread.join(timeout=10)
            self._thread = None
        self._http.close()

    def on_change(self, sobject: str, record_id: str, kind: str) -> None:
        """Org.listen callback: queue a notification for the objects outbound messages cover."""
        if sobject in OBJECTS and not self._stop.is_set():
            self._queue.put(_Message(sobject, record_id, kind))

    def _run(self) -> None:
        while not self._stop.is_set():
            timeout = 0.5
            if self._retry:
                timeout = max(0.0, min(m.due for m in self._retry) - time.monotonic())
            try:
                msg = self._queue.get(timeout=min(timeout, 0.5))
            except queue.Empty:
                msg = None
            if msg is not None:
                self._send(msg)
            now = time.monotonic()
            due = [m for m in self._retry if m.due <= now]
            self._retry = [m for m in self._retry if m.due > now]
            for m in due:
                if self._stop.is_set():
                    return
                self._send(m)

    def _send(self, msg: _Message) -> None:
        msg.attempts += 1
        self.attempts += 1
        try:
            resp = self._http.post(
                self.url,
                data=self.envelope(msg).encode("utf-8"),
                timeout=10,
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
            )
            ok = resp.status_code == 200 and bool(_ACK_RE.search(resp.content))
        except requests.RequestException as exc:
            log.debug("outbound message to %s failed: %s", self.url, exc)
            ok = False
        if ok:
            self.delivered += 1
        elif msg.attempts >= MAX_ATTEMPTS:
            self.failed += 1
            log.warning(
                "outbound message for %s %s dropped after %d attempts",
                msg.sobject,
                msg.record_id,
                msg.attempts,
            )
        else:
            msg.due = time.monotonic() + min(MAX_DELAY, self.base_delay * 2 ** (msg.attempts - 1))
            self._retry.append(msg)

    def _fields(self, msg: _Message) -> dict[str, Any]:
        try:
            rec = self.org.get(msg.sobject, msg.record_id, ["Id", *OBJECTS[msg.sobject]])
        except Exception:  # deleted or gone: the notification still names the record
            return {"Id": msg.record_id}
        return {k: v for k, v in rec.items() if k != "attributes"}

    def envelope(self, msg: _Message) -> str:
        """The SOAP notification body for one change."""
        self._serial += 1  # only the sender thread builds envelopes
        id15 = f"04l8d{self._serial:010d}"
        org_id = self.organization_id
        fields = "".join(
            f"<sf:{k}>{escape(str(v).lower() if isinstance(v, bool) else str(v))}</sf:{k}>"
            for k, v in self._fields(msg).items()
            if v is not None
        )
        version = self.api_version
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            '<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
            f"<OrganizationId>{org_id}</OrganizationId><ActionId>04k8d{org_id[5:15]}</ActionId>"
            '<SessionId xsi:nil="true"/>'
            f"<EnterpriseUrl>{self.instance_url}/services/Soap/c/{version}/{org_id[:15]}</EnterpriseUrl>"
            f"<PartnerUrl>{self.instance_url}/services/Soap/u/{version}/{org_id[:15]}</PartnerUrl>"
            f"<Notification><Id>{id15 + checksum(id15)}</Id>"
            f'<sObject xsi:type="sf:{msg.sobject}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
            f"{fields}</sObject></Notification></notifications></soapenv:Body></soapenv:Envelope>"
        )
