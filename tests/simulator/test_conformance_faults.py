"""Conformance: injected faults (503, 500, 403, slow, dropped connections, schedules) and outbound messages."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
import requests
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceRefusedRequest

from simulator.server.faults import parse


def test_spec_grammar() -> None:
    rules = parse("503:query:count=2;lock:001A,001B;slow:0.5:p=0.1;500:/composite/:every=3;reject:Account")
    assert [r.kind for r in rules] == ["503", "lock", "slow", "500", "reject"]
    assert rules[0].pattern == "query" and rules[0].count == 2
    assert rules[1].ids == {"001A", "001B"}
    assert rules[2].delay == 0.5 and rules[2].probability == 0.1
    assert rules[3].pattern == "/composite/" and rules[3].every == 3
    with pytest.raises(ValueError, match="unknown kind"):
        parse("429:query")
    (nobulk,) = parse("nobulk:Case:count=1")
    assert nobulk.sobject == "case" and nobulk.count == 1 and nobulk.pattern is None
    with pytest.raises(ValueError, match="nobulk needs the object"):
        parse("nobulk")


def test_503_then_recovers(sf: Any, faults: Any) -> None:
    faults.add("503:query:count=2")
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as err:
            sf.query("SELECT COUNT() FROM Account")
        assert err.value.status == 503 and err.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] > 0


def test_500_by_path_and_403_fault(sf: Any, faults: Any) -> None:
    faults.add("500:/limits")
    with pytest.raises(SalesforceGeneralError) as err:
        sf.limits()
    assert err.value.status == 500 and err.value.content[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    faults.clear()
    faults.add("403:describe.global:count=1")
    with pytest.raises(SalesforceRefusedRequest):
        sf.describe()
    assert sf.describe()["maxBatchSize"] == 200


def test_object_option_selects_one_objects_requests(sf: Any, faults: Any) -> None:
    (rule,) = parse("500:queryAll:object=Case")
    assert rule.sobject_filter == "case" and rule.pattern == "queryAll"
    faults.add("500:query:object=Case;503:sobject.deleted:object=Contact")
    end = datetime.now(UTC)
    start = end - timedelta(days=1)
    for _ in range(2):  # no count: every query of Case fails, and only those
        with pytest.raises(SalesforceGeneralError) as err:
            sf.query("SELECT Id FROM Case LIMIT 1")
        assert err.value.status == 500
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] > 0
    assert sf.query("select count() from contact")["totalSize"] > 0
    with pytest.raises(SalesforceGeneralError) as err:
        sf.Contact.deleted(start, end)
    assert err.value.status == 503
    assert "deletedRecords" in sf.Case.deleted(start, end)


def test_every_nth_request_schedule(sf: Any, faults: Any) -> None:
    faults.add("503:limits:every=2")
    outcomes = []
    for _ in range(4):
        try:
            sf.limits()
            outcomes.append("ok")
        except SalesforceGeneralError:
            outcomes.append("503")
    assert outcomes == ["ok", "503", "ok", "503"]


def test_slow_response(sf: Any, faults: Any) -> None:
    faults.add("slow:0.4:limits:count=1")
    t0 = time.monotonic()
    sf.limits()
    assert time.monotonic() - t0 >= 0.4


def test_connection_dropped_mid_body(simulator: Any, sim_http: Any, connection: dict, faults: Any) -> None:
    faults.add("drop:query:count=1")
    with pytest.raises(requests.exceptions.RequestException):
        sim_http.get(
            f"{simulator.url}/services/data/v59.0/query/",
            params={"q": "SELECT Id, Name FROM Account"},
            headers={"Authorization": f"Bearer {connection['access_token']}", "Accept-Encoding": "identity"},
        )
    ok = sim_http.get(
        f"{simulator.url}/services/data/v59.0/query/",
        params={"q": "SELECT Id FROM Account"},
        headers={"Authorization": f"Bearer {connection['access_token']}"},
    )
    assert ok.status_code == 200


class _Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []
    fail_first = 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append(body)
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        ack = (
            b'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/'
            b'soap/envelope/"><soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
            b"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(ack)))
        self.end_headers()
        self.wfile.write(ack)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


def test_outbound_message_retried_until_acked(sf: Any, simulator: Any) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        simulator.set_outbound(f"http://127.0.0.1:{server.server_address[1]}/notify")
        aid = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
        case_id = sf.Case.create({"Subject": "Outbound please", "AccountId": aid})["id"]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (simulator.outbound and simulator.outbound.delivered):
            time.sleep(0.05)
        assert simulator.outbound is not None and simulator.outbound.delivered == 1
        assert len(_Receiver.bodies) == 2  # first answered 500, retried with backoff
        text = _Receiver.bodies[-1].decode()
        assert f"<OrganizationId>{simulator.connection['organization_id']}</OrganizationId>" in text
        assert 'xsi:type="sf:Case"' in text and f"<sf:Id>{case_id}</sf:Id>" in text
        assert (
            "<Notification><Id>04l" in text and "<ActionId>" in text and '<SessionId xsi:nil="true"/>' in text
        )
    finally:
        simulator.set_outbound(None)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
