"""The push receiver, over real HTTP on 127.0.0.1: Outbound Messages, signed webhooks, limits, duplicates, health,
and the simulator's own outbound messages over HTTPS end to end."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme

from connectors.salesforce.events.decode import ChangeEvent
from connectors.salesforce.events.receiver import Receiver
from connectors.salesforce.events.seen import SeenIds
from crm_risk.config import load_settings
from crm_risk.errors import ConfigError
from pipeline.changes import attribute, watched_fields

TOKEN = "outbound-token-0123456789abcdefXYZ"
SECRET = "webhook-secret-0123456789abcdefXYZ"
ORG = "00D8d000000Abc1EAC"
ACK = "<Ack>true</Ack>"
CASE_ID = "5008d000001AbCdAAK"
CASE_ID_2 = "5008d000001AbCeAAK"
CONTACT_ID = "0038d000001XyZ1AAK"
ACCOUNT_ID = "0018d000002QwErAAK"


class Recorder:
    """The `on_events` callback: records each batch; raises for the first `fail` calls."""

    def __init__(self, fail: int = 0) -> None:
        self.fail, self.calls, self.batches = fail, 0, []  # type: ignore[var-annotated]

    def __call__(self, events: list[ChangeEvent]) -> None:
        self.calls += 1
        if self.fail > 0:
            self.fail -= 1
            raise RuntimeError("Prefect is down (internal detail that must not reach the caller)")
        self.batches.append(list(events))

    @property
    def events(self) -> list[ChangeEvent]:
        return [e for batch in self.batches for e in batch]


def _settings(tmp_path: Path, **overrides: Any) -> Any:
    base: dict[str, Any] = {
        "sf_auth": "session",
        "sf_org_id": ORG,
        "listen_receiver": True,
        "listen_receiver_port": 0,
        "listen_outbound_token": TOKEN,
        "listen_webhook_secret": SECRET,
        "listen_receiver_max_bytes": 4096,
        "warehouse_path": str(tmp_path / "wh.duckdb"),
    }
    return load_settings(**{**base, **overrides})


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., tuple[Receiver, Recorder]]]:
    """Start receivers (stopped after the test): serve(recorder=None, seen_file=None, **settings)."""
    started: list[Receiver] = []

    def start(recorder: Recorder | None = None, seen_file: Path | None = None, **overrides: Any) -> Any:
        rec = recorder or Recorder()
        seen = SeenIds(seen_file or tmp_path / "seen.json")
        receiver = Receiver(_settings(tmp_path, **overrides), rec, seen).start()
        started.append(receiver)
        return receiver, rec

    yield start
    for receiver in started:
        receiver.stop()


def envelope(*notes: tuple[str, str, dict[str, str | None]], org: str = ORG) -> bytes:
    """A Salesforce Outbound Message: (notification id, sObject type, fields incl. Id; None = xsi:nil)."""

    def field(k: str, v: str | None) -> str:
        return f'<sf:{k} xsi:nil="true"/>' if v is None else f"<sf:{k}>{v}</sf:{k}>"

    body = "".join(
        f"<Notification><Id>{nid}</Id>"
        f'<sObject xsi:type="sf:{kind}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        + "".join(field(k, v) for k, v in fields.items())
        + "</sObject></Notification>"
        for nid, kind, fields in notes
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org}</OrganizationId><ActionId>04k8d000000TestAAA</ActionId>"
        '<SessionId xsi:nil="true"/>'
        "<EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/62.0/00D8d000000Abc1</EnterpriseUrl>"
        "<PartnerUrl>https://example.my.salesforce.com/services/Soap/u/62.0/00D8d000000Abc1</PartnerUrl>"
        f"{body}</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


CASE_NOTE = (
    "04l8d0000000001AAA",
    "Case",
    {
        "Id": CASE_ID,
        "AccountId": ACCOUNT_ID,
        "Status": "Escalated",
        "ContactId": None,
        "LastModifiedDate": "2026-11-26T10:15:30.000Z",
    },
)


def post_outbound(receiver: Receiver, body: bytes, token: str = TOKEN) -> requests.Response:
    return requests.post(
        f"{receiver.url}/salesforce/outbound/{token}",
        data=body,
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
        timeout=10,
    )


def sign(body: bytes, t: int | None = None, secret: str = SECRET) -> str:
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def post_webhook(receiver: Receiver, body: bytes, signature: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-CRM-Signature"] = signature
    return requests.post(f"{receiver.url}/webhook", data=body, headers=headers, timeout=10)


def webhook_body(*ids: str, record: str = CASE_ID) -> bytes:
    events = [
        {"id": i, "object": "Case", "ids": [record], "change_type": "UPDATE", "fields": {"Status": "Working"}}
        for i in ids
    ]
    return json.dumps({"events": events}).encode()


def assert_error(resp: requests.Response, status: int, reason: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.text.count("\n") == 1 and len(resp.text) < 300
    assert resp.json()["error"] == reason
    assert "Traceback" not in resp.text and "Prefect is down" not in resp.text


# --- Outbound Messages -----------------------------------------------------------------------------------------


def test_outbound_message_acknowledged_after_hand_over(serve: Any) -> None:
    receiver, rec = serve()
    contact = ("04l8d0000000002AAA", "Contact", {"Id": CONTACT_ID, "AccountId": ACCOUNT_ID, "Email": "a@b.c"})
    resp = post_outbound(receiver, envelope(CASE_NOTE, contact))
    assert resp.status_code == 200 and ACK in resp.text
    assert resp.headers["Content-Type"].startswith("text/xml")
    assert len(rec.batches) == 1
    case, person = rec.batches[0]
    assert case == ChangeEvent(
        entity="Case",
        change_type="UPDATE",
        record_ids=(CASE_ID,),
        changed_fields=("AccountId", "Status", "ContactId", "LastModifiedDate"),
        nulled_fields=("ContactId",),
        commit_timestamp_ms=1795688130000,  # 2026-11-26T10:15:30Z
        change_origin="outbound-message:04k8d000000TestAAA",
        values={
            "AccountId": ACCOUNT_ID,
            "Status": "Escalated",
            "LastModifiedDate": "2026-11-26T10:15:30.000Z",
        },
        replay_id=b"04l8d0000000001AAA",
    )
    assert (person.entity, person.record_ids, person.commit_timestamp_ms) == ("Contact", (CONTACT_ID,), 0)
    assert receiver.health()["emitted"] == 2


def test_outbound_org_id_compared_on_15_characters(serve: Any) -> None:
    receiver, rec = serve()
    assert post_outbound(receiver, envelope(CASE_NOTE, org=ORG[:15])).status_code == 200
    other = "00D8d000000Abc2EAC"
    assert_error(post_outbound(receiver, envelope(CASE_NOTE, org=other)), 403, "wrong_org")
    assert_error(post_outbound(receiver, envelope(CASE_NOTE, org=ORG[:14] + "X")), 403, "wrong_org")
    assert len(rec.events) == 1


def test_outbound_wrong_token_looks_like_no_such_path(serve: Any) -> None:
    receiver, rec = serve()
    wrong = post_outbound(receiver, envelope(CASE_NOTE), token=TOKEN[:-1] + "Q")
    unknown = requests.post(f"{receiver.url}/nothing/here", data=b"x", timeout=10)
    get = requests.get(f"{receiver.url}/salesforce/outbound/{TOKEN}", timeout=10)
    assert_error(unknown, 404, "not_found")
    assert wrong.status_code == get.status_code == 404
    assert wrong.content == get.content == unknown.content
    assert rec.calls == 0
    assert receiver.health()["refused"] == {"bad_token": 1, "not_found": 2}


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"<soapenv:Envelope><unclosed>", "bad_xml"),
        (b"\xff\xfe<\x00a\x00/\x00>\x00", "bad_xml"),  # UTF-16: refused, never sniffed past the DTD check
        (b"<root>not an outbound message</root>", "bad_xml"),
        (envelope(CASE_NOTE).replace(b"<Id>04l8d0000000001AAA</Id>", b""), "bad_xml"),
        (envelope(CASE_NOTE).replace(CASE_ID.encode(), b"not-an-id"), "bad_xml"),
        (envelope(CASE_NOTE).replace(b'xsi:type="sf:Case" ', b""), "bad_xml"),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
            b"<soapenv:Envelope><x>&lol2;</x></soapenv:Envelope>",
            "forbidden_dtd",
        ),
        (
            b'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r>&xxe;</r>',
            "forbidden_dtd",
        ),
        (envelope(CASE_NOTE).replace(b"<soapenv:Body>", b'<!ENTITY e "x"><soapenv:Body>'), "forbidden_dtd"),
        (b"<r>&undeclared;</r>", "bad_xml"),
    ],
)
def test_outbound_bad_xml_refused_with_400(serve: Any, body: bytes, reason: str) -> None:
    receiver, rec = serve()
    assert_error(post_outbound(receiver, body), 400, reason)
    assert rec.calls == 0


def test_outbound_missing_element_is_named(serve: Any) -> None:
    receiver, _ = serve()
    body = envelope(CASE_NOTE).replace(b"<Id>04l8d0000000001AAA</Id>", b"")
    assert post_outbound(receiver, body).json()["message"] == "Notification 1: Id is missing or too long"


def test_duplicate_notification_ids_emitted_once_even_after_restart(serve: Any, tmp_path: Path) -> None:
    seen_file = tmp_path / "dups.json"
    receiver, rec = serve(seen_file=seen_file)
    body = envelope(CASE_NOTE)
    first, again = post_outbound(receiver, body), post_outbound(receiver, body)
    assert first.status_code == again.status_code == 200 and ACK in again.text
    other = ("04l8d0000000003AAA", "Case", {"Id": CASE_ID_2, "Status": "New"})
    mixed = post_outbound(receiver, envelope(CASE_NOTE, other, other))
    assert mixed.status_code == 200 and ACK in mixed.text
    assert [e.record_ids for e in rec.events] == [(CASE_ID,), (CASE_ID_2,)]
    assert rec.calls == 2  # the all-duplicate delivery never reached on_events
    assert receiver.health() == {
        "status": "ok",
        "requests": 3,
        "received": 5,
        "emitted": 2,
        "duplicates": 3,
        "replayed": 0,
        "refused": {},
    }
    receiver.stop()
    restarted, rec2 = serve(seen_file=seen_file)
    assert ACK in post_outbound(restarted, body).text
    assert rec2.calls == 0
    assert set(json.loads(seen_file.read_text())["ids"]) == {
        "outbound:04l8d0000000001AAA",
        "outbound:04l8d0000000003AAA",
    }


def test_hand_over_failure_answers_503_then_the_retry_is_acknowledged_once(serve: Any) -> None:
    receiver, rec = serve(Recorder(fail=1))
    failed = post_outbound(receiver, envelope(CASE_NOTE))
    assert_error(failed, 503, "unavailable")
    assert ACK not in failed.text
    retried = post_outbound(receiver, envelope(CASE_NOTE))
    assert retried.status_code == 200 and ACK in retried.text
    assert ACK in post_outbound(receiver, envelope(CASE_NOTE)).text  # a late re-send: dropped
    assert rec.calls == 2 and [e.record_ids for e in rec.events] == [(CASE_ID,)]


def test_seen_window_forgets_by_count_and_age(tmp_path: Path) -> None:
    now = [1000.0]
    seen = SeenIds(tmp_path / "s.json", max_ids=3, max_age_seconds=60, clock=lambda: now[0])
    seen.add(["a", "b"])
    now[0] += 30
    seen.add(["c", "d"])
    assert "a" not in seen and [k in seen for k in "bcd"] == [True] * 3
    now[0] += 45  # b is 75 s old
    assert "b" not in seen and len(seen) == 2
    later = SeenIds(tmp_path / "order.json", max_ids=2, clock=lambda: now[0])
    later.add(["z"])
    now[0] += 1
    later.add(["a"])  # the file lists a before z (sorted keys); z is the older
    reloaded = SeenIds(tmp_path / "order.json", max_ids=2, clock=lambda: now[0])
    reloaded.add(["m"])
    assert [k in reloaded for k in "zam"] == [False, True, True]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"bad\.json is damaged"):
        SeenIds(tmp_path / "bad.json")


# --- signed webhooks ----------------------------------------------------------------------------------------------


def test_webhook_signed_events_handed_over(serve: Any) -> None:
    receiver, rec = serve()
    body = json.dumps(
        {
            "events": [
                {
                    "id": "flow-evt-1",
                    "object": "Case",
                    "ids": [CASE_ID, CASE_ID_2],
                    "change_type": "UPDATE",
                    "fields": {"Status": "Escalated", "IsEscalated": True, "ClosedDate": None},
                },
                {
                    "id": "flow-evt-2",
                    "object": "Opportunity",
                    "ids": ["0068d000003PoIuAAK"],
                    "fields": {"SystemModstamp": "2026-11-26T10:15:30"},  # no offset: UTC
                },
            ]
        }
    ).encode()
    resp = post_webhook(receiver, body, sign(body))
    assert resp.status_code == 200 and resp.json() == {"received": 2, "emitted": 2, "duplicates": 0}
    case, opp = rec.events
    assert case.record_ids == (CASE_ID, CASE_ID_2) and case.change_origin == "webhook"
    assert case.changed_fields == ("Status", "IsEscalated", "ClosedDate")
    assert case.nulled_fields == ("ClosedDate",)
    assert case.values == {"Status": "Escalated", "IsEscalated": True} and case.replay_id == b"flow-evt-1"
    assert (opp.entity, opp.change_type, opp.changed_fields) == ("Opportunity", "UPDATE", ("SystemModstamp",))
    assert (case.commit_timestamp_ms, opp.commit_timestamp_ms) == (0, 1795688130000)


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "garbage",
        "t=notanumber,v1=00",
        "t=\u00b2,v1=00",  # a digit to str.isdigit(), not to int()
        "t=" + "9" * 5000 + ",v1=00",
        sign(webhook_body("e1"), secret="another-secret-0123456789abcdef"),
        sign(webhook_body("e1")).replace("v1=", "v0="),
        sign(webhook_body("e2")),  # signs another body
    ],
    # fixed ids: the signatures carry the collection's second, and pytest-xdist's workers must collect the same ids
    ids=[
        "missing",
        "garbage",
        "t-not-a-number",
        "t-superscript",
        "t-huge",
        "other-secret",
        "v0",
        "other-body",
    ],
)
def test_webhook_bad_or_missing_signature_401(serve: Any, signature: str | None) -> None:
    receiver, rec = serve()
    assert_error(post_webhook(receiver, webhook_body("e1"), signature), 401, "bad_signature")
    assert rec.calls == 0


# well past the 300 s tolerance: a request that crosses a second boundary must not land exactly on it
@pytest.mark.parametrize("offset", [-330, 330, -3600])
def test_webhook_stale_timestamp_401(serve: Any, offset: int) -> None:
    receiver, rec = serve()
    body = webhook_body("e1")
    resp = post_webhook(receiver, body, sign(body, int(time.time()) + offset))
    assert_error(resp, 401, "stale")
    assert rec.calls == 0


def test_webhook_replayed_signature_and_duplicate_ids_emit_nothing(serve: Any) -> None:
    receiver, rec = serve()
    body = webhook_body("e1")
    signature = sign(body)
    assert post_webhook(receiver, body, signature).json() == {"received": 1, "emitted": 1, "duplicates": 0}
    replay = post_webhook(receiver, body, signature)
    assert replay.status_code == 200 and replay.json()["replayed"] is True and replay.json()["emitted"] == 0
    resent = post_webhook(receiver, body, sign(body, int(time.time()) - 5))  # re-signed: a new signature
    assert resent.status_code == 200 and resent.json() == {"received": 1, "emitted": 0, "duplicates": 1}
    both = webhook_body("e1", "e3", "e3")
    assert post_webhook(receiver, both, sign(both)).json() == {"received": 3, "emitted": 1, "duplicates": 2}
    assert [e.replay_id for e in rec.events] == [b"e1", b"e3"]
    assert receiver.health()["replayed"] == 1


def test_webhook_rotated_secret_either_signature_accepted(serve: Any) -> None:
    receiver, rec = serve()
    body = webhook_body("e9")
    old = sign(body, secret="the-old-secret-0123456789abcdef")
    both = f"{old},v1={sign(body).split('v1=')[1]}"
    assert post_webhook(receiver, body, both).status_code == 200 and len(rec.events) == 1


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"{not json", "malformed JSON"),
        (b'["events"]', "body: Input should be a valid dictionary"),
        (b'{"events": ["Case"]}', "events.0: Input should be a valid dictionary"),
        (b'{"events": []}', "events: List should have at least 1 item"),
        (
            b'{"events": [{"object": "Case", "ids": ["' + CASE_ID.encode() + b'"]}]}',
            "events.0.id: Field required",
        ),
        (
            b'{"events": [{"id": "e", "object": "Case", "ids": ["nope"]}]}',
            "events.0.ids.0: String should match",
        ),
        (
            b'{"events": [{"id": "e", "object": "Case;drop", "ids": []}]}',
            "events.0.object: String should match",
        ),
        (
            b'{"events": [{"id": "e", "object": "Case", "ids": ["'
            + CASE_ID.encode()
            + b'"], "change_type": "X"}]}',
            "events.0.change_type: Input should be",
        ),
        (
            b'{"events": [{"id": "e", "object": "Case", "ids": ["' + CASE_ID.encode() + b'"], "x": 1}]}',
            "events.0.x",
        ),
        (
            b'{"events": [{"id": "e", "object": "Case", "ids": ["'
            + CASE_ID.encode()
            + b'"], "fields": {"A": [1]}}]}',
            "events.0.fields.A",
        ),
    ],
)
def test_webhook_malformed_json_or_schema_400_naming_the_field(
    serve: Any, payload: bytes, message: str
) -> None:
    receiver, rec = serve()
    resp = post_webhook(receiver, payload, sign(payload))
    assert_error(resp, 400, "bad_json" if message == "malformed JSON" else "bad_schema")
    assert resp.json()["message"].startswith(message)
    assert rec.calls == 0


# --- limits, health, secrets ----------------------------------------------------------------------------------------


def test_oversized_body_refused_413_before_it_is_sent(serve: Any) -> None:
    receiver, rec = serve(listen_receiver_max_bytes=4096)
    for path in ("/webhook", f"/salesforce/outbound/{TOKEN}"):
        for expect in (False, True):
            conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
            conn.putrequest("POST", path)
            conn.putheader("Content-Length", str(50 * 1024 * 1024))
            if expect:
                conn.putheader("Expect", "100-continue")
            conn.endheaders()  # the headers only: an answer proves the body was never waited for
            started = time.monotonic()
            resp = conn.getresponse()
            assert resp.status == 413 and json.loads(resp.read())["error"] == "too_large"
            assert time.monotonic() - started < 2
            conn.close()
    body = webhook_body(*(f"e{i}" for i in range(100)))
    assert len(body) > 4096
    assert_error(post_webhook(receiver, body, sign(body)), 413, "too_large")
    assert rec.calls == 0 and receiver.health()["refused"] == {"too_large": 5}


def test_missing_content_length_or_chunked_body_411(serve: Any) -> None:
    receiver, rec = serve()
    chunked = requests.post(f"{receiver.url}/webhook", data=iter([webhook_body("e1")]), timeout=10)
    assert "Transfer-Encoding" in chunked.request.headers
    assert_error(chunked, 411, "length_required")
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
    conn.putrequest("POST", f"/salesforce/outbound/{TOKEN}")
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 411 and json.loads(resp.read())["error"] == "length_required"
    conn.close()
    for length in ("\u00b2", "-1", "12abc", "9" * 40):
        conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
        conn.putrequest("POST", "/webhook")
        conn.putheader("Content-Length", length)
        conn.endheaders()
        resp = conn.getresponse()
        assert resp.status == 400 and json.loads(resp.read())["error"] == "bad_request", length
        conn.close()
    assert rec.calls == 0


def test_health_counts_and_unknown_routes(serve: Any) -> None:
    receiver, _ = serve()
    post_outbound(receiver, envelope(CASE_NOTE))
    post_webhook(receiver, webhook_body("h1"), "bad")
    assert_error(requests.get(f"{receiver.url}/webhook", timeout=10), 405, "method_not_allowed")
    health = requests.get(f"{receiver.url}/health", timeout=10)
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "requests": 4,
        "received": 1,
        "emitted": 1,
        "duplicates": 0,
        "replayed": 0,
        "refused": {"bad_signature": 1, "method_not_allowed": 1},
    }


def test_only_configured_endpoints_exist(serve: Any) -> None:
    receiver, _ = serve(listen_webhook_secret=None)
    body = webhook_body("x")
    assert_error(post_webhook(receiver, body, sign(body)), 404, "not_found")
    receiver2, _ = serve(listen_outbound_token="")  # an empty variable is no token
    assert post_outbound(receiver2, envelope(CASE_NOTE)).status_code == 404


def test_secrets_never_logged_nor_answered(serve: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    receiver, _ = serve(Recorder(fail=1))
    answers = [
        post_outbound(receiver, envelope(CASE_NOTE)),
        post_outbound(receiver, envelope(CASE_NOTE)),
        post_outbound(receiver, b"<broken"),
        post_outbound(receiver, envelope(CASE_NOTE), token="wrong-" + TOKEN),
        post_webhook(receiver, webhook_body("s1"), sign(webhook_body("s1"))),
        post_webhook(receiver, webhook_body("s2"), "t=1,v1=00"),
        requests.get(f"{receiver.url}/health", timeout=10),
    ]
    receiver.stop()
    ours = "\n".join(
        r.getMessage() + (r.exc_text or "") for r in caplog.records if r.name.startswith("connectors")
    )  # the test's own HTTP client (urllib3) logs the URLs it calls: not the receiver's business
    logged = ours + repr(_settings(Path("/tmp")))
    assert "outbound/***" in ours  # the access log ran, masked
    for secret in (TOKEN, SECRET, TOKEN[:12], SECRET[:12]):
        assert secret not in logged
        assert all(secret not in a.text for a in answers)


def test_configuration_errors_name_the_setting(tmp_path: Path) -> None:
    seen = SeenIds(tmp_path / "seen.json")
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"listen_outbound_token": None, "listen_webhook_secret": None},
            "neither CRM_RISK_LISTEN_OUTBOUND_TOKEN",
        ),
        (
            {"listen_outbound_token": "", "listen_webhook_secret": ""},
            "neither CRM_RISK_LISTEN_OUTBOUND_TOKEN",
        ),
        ({"listen_outbound_token": "short"}, "CRM_RISK_LISTEN_OUTBOUND_TOKEN must be at least 24"),
        ({"listen_outbound_token": TOKEN + "/x"}, "CRM_RISK_LISTEN_OUTBOUND_TOKEN must be"),
        ({"listen_webhook_secret": "short"}, "CRM_RISK_LISTEN_WEBHOOK_SECRET must be at least 24"),
        ({"sf_org_id": None}, "CRM_RISK_SF_ORG_ID must be the org id"),
        ({"listen_receiver_tls_cert": str(tmp_path / "c.pem")}, "go together"),
        (
            {
                "listen_receiver_tls_cert": str(tmp_path / "c.pem"),
                "listen_receiver_tls_key": str(tmp_path / "k"),
            },
            "cannot load them",
        ),
    ]
    for overrides, message in cases:
        with pytest.raises(ConfigError, match=message) as err:
            Receiver(_settings(tmp_path, **overrides), Recorder(), seen)
        assert TOKEN not in str(err.value) and SECRET not in str(err.value)
    with pytest.raises(ConfigError, match="CRM_RISK_LISTEN_RECEIVER_MAX_BYTES"):
        _settings(tmp_path, listen_receiver_max_bytes=10)


# --- end to end: the simulator's own outbound messages, over HTTPS ---------------------------------------------------


def test_simulator_outbound_messages_reach_the_callback_over_https(
    simulator: Any, sf: Any, tmp_path: Path
) -> None:
    ca = trustme.CA.from_pem(
        simulator.ca_file.read_bytes(), (simulator.state_dir / "ca_key.pem").read_bytes()
    )
    pem = tmp_path / "receiver.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
    org_id = simulator.connection["organization_id"]
    rec = Recorder(fail=1)  # the first delivery fails: the simulator must retry it
    receiver = Receiver(
        _settings(
            tmp_path, sf_org_id=org_id, listen_receiver_tls_cert=str(pem), listen_receiver_tls_key=str(pem)
        ),
        rec,
        SeenIds(tmp_path / "seen.json"),
    )
    case = sf.query("SELECT Id, AccountId FROM Case WHERE AccountId != null LIMIT 1")["records"][0]
    with receiver:
        assert receiver.url.startswith("https://127.0.0.1:")
        simulator.set_outbound(f"{receiver.url}/salesforce/outbound/{TOKEN}")
        outbound = simulator.outbound
        try:
            sf.Case.update(case["Id"], {"Status": "Escalated"})
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not outbound.delivered:
                time.sleep(0.05)
        finally:
            simulator.set_outbound(None)
    assert (outbound.delivered, outbound.attempts, outbound.failed) == (1, 2, 0)
    assert rec.calls == 2 and len(rec.events) == 1
    event = rec.events[0]
    assert (event.entity, event.change_type, event.record_ids) == ("Case", "UPDATE", (case["Id"],))
    assert event.values["Status"] == "Escalated" and event.values["AccountId"] == case["AccountId"]
    assert event.commit_timestamp_ms > 0 and event.replay_id.startswith(b"04l")
    assert receiver.health()["refused"] == {"unavailable": 1}
    settings = _settings(tmp_path)
    found = attribute(rec.events, watched_fields(settings), lambda obj, ids: pytest.fail("no lookup needed"))
    carried = tuple(f for f in event.changed_fields if f != "LastModifiedDate")
    assert "Status" in carried and "AccountId" in carried
    assert [(c.account_id, c.sobject, c.changed_fields) for c in found.changes] == [
        (case["AccountId"], "Case", carried)
    ]


def test_unwritable_duplicate_file_still_acknowledges_and_drops_the_resend(
    serve: Any, tmp_path: Path
) -> None:
    seen_file = tmp_path / "seen-dir"
    receiver, rec = serve(seen_file=seen_file)
    seen_file.mkdir()  # the atomic rename onto it now fails
    first = post_outbound(receiver, envelope(CASE_NOTE))
    again = post_outbound(receiver, envelope(CASE_NOTE))
    assert ACK in first.text and ACK in again.text
    assert len(rec.events) == 1
