"""Conformance: Change Data Capture over the Pub/Sub API, with real gRPC clients (the committed stubs) and fastavro.

Changes are made the way the product makes them (REST through simple-salesforce, Collections, Bulk 2.0, the
business simulation); events are read the way any Pub/Sub client reads them: GetTopic, GetSchema, Subscribe with
flow control, Avro payloads decoded with the schema fetched by id, field bitmaps decoded against that schema.
Every wait is bounded; every server started here binds 127.0.0.1 and is stopped by its test.
"""

from __future__ import annotations

import io
import json
import queue
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import fastavro
import grpc
import pytest

from pubsub_api import pubsub_api_pb2 as pb2
from pubsub_api import pubsub_api_pb2_grpc as pb2_grpc

ALL = "/data/ChangeEvents"
AUTH_ERROR = "sfdc.platform.eventbus.grpc.service.auth.error"
REPLAY_CORRUPTED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
KEEPALIVE = 0.5
WAIT = 5.0  # the longest any single response is waited for
HEADER_FIELDS = [
    "entityName",
    "recordIds",
    "changeType",
    "changeOrigin",
    "transactionKey",
    "sequenceNumber",
    "commitTimestamp",
    "commitNumber",
    "commitUser",
    "nulledFields",
    "diffFields",
    "changedFields",
]


# -- a client, as any Pub/Sub API client is written ---------------------------------------------------------------
class Client:
    """A channel to the simulator's Pub/Sub API with the three auth headers and a schema cache."""

    def __init__(self, connection: dict[str, Any], **override: str) -> None:
        creds = grpc.ssl_channel_credentials(Path(connection["ca_bundle"]).read_bytes())
        self.channel = grpc.secure_channel(connection["pubsub_url"], creds)
        self.stub = pb2_grpc.PubSubStub(self.channel)
        meta = {
            "accesstoken": connection["access_token"],
            "instanceurl": connection["instance_url"],
            "tenantid": connection["organization_id"],
            **override,
        }
        self.metadata = tuple(meta.items())
        self._schemas: dict[str, tuple[Any, list[dict[str, Any]]]] = {}

    def close(self) -> None:
        self.channel.close()

    def schema(self, schema_id: str) -> tuple[Any, list[dict[str, Any]]]:
        if schema_id not in self._schemas:
            info = self.stub.GetSchema(
                pb2.SchemaRequest(schema_id=schema_id), metadata=self.metadata, timeout=WAIT
            )
            raw = json.loads(info.schema_json)
            self._schemas[schema_id] = (fastavro.parse_schema(raw), raw["fields"])
        return self._schemas[schema_id]

    def decode(self, event: Any) -> dict[str, Any]:
        """Header, field names of the bitmaps, non-null values and the replay id of one ConsumerEvent."""
        parsed, fields = self.schema(event.event.schema_id)
        record = fastavro.schemaless_reader(io.BytesIO(event.event.payload), parsed)
        assert isinstance(record, dict)
        header = record.pop("ChangeEventHeader")
        return {
            **header,
            "changed": names(header["changedFields"], fields),
            "nulled": names(header["nulledFields"], fields),
            "values": {k: v for k, v in record.items() if v is not None},
            "replay": int.from_bytes(event.replay_id, "big"),
        }

    def subscribe(
        self, topic: str, num_requested: int, preset: int = pb2.LATEST, replay_id: bytes = b""
    ) -> Sub:
        return Sub(
            self,
            pb2.FetchRequest(
                topic_name=topic, replay_preset=preset, replay_id=replay_id, num_requested=num_requested
            ),
        )


def names(bitmaps: list[str], fields: list[dict[str, Any]]) -> set[str]:
    """Field names from bitmap strings: `0x..` over top-level fields, `pos-0x..` over a compound's components."""
    out: set[str] = set()
    for bitmap in bitmaps:
        pos, _, bits = bitmap.rpartition("-")
        value = int(bits, 16)
        if pos:
            parent = fields[int(pos)]
            children = next(t["fields"] for t in parent["type"] if isinstance(t, dict))
            out |= {f"{parent['name']}.{c['name']}" for i, c in enumerate(children) if value >> i & 1}
        else:
            out |= {f["name"] for i, f in enumerate(fields) if value >> i & 1}
    return out


class Sub:
    """One Subscribe call: FetchRequests go in through a queue, responses (or the final error) come out of one."""

    def __init__(self, client: Client, first: Any) -> None:
        self.client = client
        self._requests: queue.Queue[Any] = queue.Queue()
        self._requests.put(first)
        self.responses: queue.Queue[Any] = queue.Queue()
        self.call = client.stub.Subscribe(self._send(), metadata=client.metadata)
        threading.Thread(target=self._receive, daemon=True).start()

    def _send(self) -> Iterator[Any]:
        while (req := self._requests.get()) is not None:
            yield req

    def _receive(self) -> None:
        try:
            for resp in self.call:
                self.responses.put(resp)
        except grpc.RpcError as exc:
            self.responses.put(exc)

    def request(self, n: int, topic: str = "") -> None:
        self._requests.put(pb2.FetchRequest(topic_name=topic, num_requested=n))

    def next(self, timeout: float = WAIT) -> Any:
        """The next FetchResponse (raises the stream's RpcError, or queue.Empty after `timeout`)."""
        resp = self.responses.get(timeout=timeout)
        if isinstance(resp, grpc.RpcError):
            raise resp
        return resp

    def batch(self, timeout: float = WAIT) -> Any:
        """The next FetchResponse that carries events (keepalives skipped)."""
        deadline = time.monotonic() + timeout
        while not (resp := self.next(timeout=max(0.01, deadline - time.monotonic()))).events:
            pass
        return resp

    def events(self, n: int, timeout: float = WAIT, top_up: bool = False) -> list[dict[str, Any]]:
        """The next n events, decoded (keepalives skipped); with `top_up`, ask for more whenever none is owed."""
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            resp = self.batch(timeout=deadline - time.monotonic())
            out += [self.client.decode(e) for e in resp.events]
            if top_up and resp.pending_num_requested == 0 and len(out) < n:
                self.request(min(100, n - len(out)))
        assert len(out) == n, f"expected {n} events, got {len(out)}"
        return out

    def quiet(self, seconds: float) -> list[Any]:
        """The responses that arrive within `seconds` (keepalives included)."""
        got, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                got.append(self.next(timeout=left))
            except queue.Empty:
                break
        return got

    def close(self) -> None:
        self.call.cancel()
        self._requests.put(None)

    def __enter__(self) -> Sub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def replay(n: int) -> bytes:
    return n.to_bytes(8, "big")


def after_head(client: Client, simulator: Any, topic: str, num_requested: int = 100) -> Sub:
    """A subscription that starts right after the latest event (CUSTOM from the current head: no race)."""
    return client.subscribe(topic, num_requested, pb2.CUSTOM, replay(simulator.org.changes.head))


def epoch_ms(stamp: str) -> int:
    """Salesforce's `2024-01-02T03:04:05.000+0000` as epoch milliseconds."""
    return int(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000)


# -- fixtures -------------------------------------------------------------------------------------------------------
@pytest.fixture
def client(simulator: Any, connection: dict[str, Any]) -> Iterator[Client]:
    """A Pub/Sub client on the session simulator, whose keepalive is lowered to 0.5 s for the test."""
    service = simulator.pubsub.service
    before, service.keepalive_seconds = service.keepalive_seconds, KEEPALIVE
    c = Client(connection)
    yield c
    c.close()
    service.keepalive_seconds = before


class _Any:
    def __eq__(self, other: object) -> bool:
        return True


ANY = _Any()


def _error(exc: pytest.ExceptionInfo[grpc.RpcError]) -> tuple[grpc.StatusCode, dict[str, str]]:
    return exc.value.code(), dict(exc.value.trailing_metadata() or ())


# -- topics, schemas, auth -----------------------------------------------------------------------------------------
def test_connection_names_the_pubsub_address(simulator: Any, connection: dict[str, Any]) -> None:
    stored = json.loads((simulator.state_dir / "connection.json").read_text())
    assert stored["pubsub_url"] == connection["pubsub_url"] == f"127.0.0.1:{simulator.pubsub.port}"
    assert simulator.pubsub.port != simulator.port


def test_get_topic_and_schema(client: Client, connection: dict[str, Any]) -> None:
    info = client.stub.GetTopic(
        pb2.TopicRequest(topic_name="/data/CaseChangeEvent"), metadata=client.metadata
    )
    assert (info.topic_name, info.tenant_guid) == ("/data/CaseChangeEvent", connection["organization_id"])
    assert info.can_subscribe and not info.can_publish and info.rpc_id and info.schema_id
    schema = json.loads(
        client.stub.GetSchema(
            pb2.SchemaRequest(schema_id=info.schema_id), metadata=client.metadata
        ).schema_json
    )
    assert (schema["type"], schema["name"], schema["namespace"]) == (
        "record",
        "CaseChangeEvent",
        "com.sforce.eventbus",
    )
    header = schema["fields"][0]
    assert header["name"] == "ChangeEventHeader" and header["type"]["namespace"] == "com.salesforce.eventbus"
    assert [f["name"] for f in header["type"]["fields"]] == HEADER_FIELDS
    assert "GAP_OVERFLOW" in header["type"]["fields"][2]["type"]["symbols"]
    rest = schema["fields"][1:]
    assert all(f["type"][0] == "null" and f["default"] is None for f in rest)
    assert {"Status", "AccountId", "CreatedDate", "LastModifiedDate"} <= {f["name"] for f in rest}
    assert not {"Id", "IsDeleted", "SystemModstamp"} & {f["name"] for f in rest}
    everything = client.stub.GetTopic(pb2.TopicRequest(topic_name=ALL), metadata=client.metadata)
    assert everything.can_subscribe and everything.tenant_guid == connection["organization_id"]


def test_unknown_topic_and_schema_are_not_found(client: Client) -> None:
    for topic in ("/data/OpportunityHistoryChangeEvent", "/event/Foo__e", "Account"):
        with pytest.raises(grpc.RpcError) as err:
            client.stub.GetTopic(pb2.TopicRequest(topic_name=topic), metadata=client.metadata)
        code, trailers = _error(err)
        assert code == grpc.StatusCode.NOT_FOUND and trailers["error-code"] and trailers["rpc-id"]
        assert f"rpcId: {trailers['rpc-id']}" in (err.value.details() or "")
    with pytest.raises(grpc.RpcError) as err:
        client.stub.GetSchema(pb2.SchemaRequest(schema_id="nope"), metadata=client.metadata)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with client.subscribe("/data/NopeChangeEvent", 1) as sub, pytest.raises(grpc.RpcError) as err:
        sub.next()
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    "override",
    [
        {"accesstoken": "00Dbogus!AQ.not-a-session"},
        {"tenantid": "00D000000000000AAA"},
        {"instanceurl": "https://login.salesforce.com"},
        {"accesstoken": ""},
    ],
    ids=["bad-token", "wrong-tenant", "wrong-instance", "no-token"],
)
def test_every_rpc_authenticates(connection: dict[str, Any], override: dict[str, str]) -> None:
    bad = Client(connection, **override)
    try:
        calls = [
            lambda: bad.stub.GetTopic(pb2.TopicRequest(topic_name=ALL), metadata=bad.metadata, timeout=WAIT),
            lambda: bad.stub.GetSchema(pb2.SchemaRequest(schema_id="x"), metadata=bad.metadata, timeout=WAIT),
            lambda: bad.subscribe(ALL, 1).next(),
        ]
        for call in calls:
            with pytest.raises(grpc.RpcError) as err:
                call()
            code, trailers = _error(err)
            assert code == grpc.StatusCode.UNAUTHENTICATED and trailers["error-code"] == AUTH_ERROR
    finally:
        bad.close()


def test_a_revoked_session_is_refused(simulator: Any, connection: dict[str, Any]) -> None:
    token = simulator.auth.issue()
    live = Client(connection, accesstoken=token)
    try:
        assert live.stub.GetTopic(
            pb2.TopicRequest(topic_name=ALL), metadata=live.metadata, timeout=WAIT
        ).rpc_id
        simulator.auth.revoke(token)
        with pytest.raises(grpc.RpcError) as err:
            live.stub.GetTopic(pb2.TopicRequest(topic_name=ALL), metadata=live.metadata, timeout=WAIT)
        assert _error(err) == (grpc.StatusCode.UNAUTHENTICATED, {"error-code": AUTH_ERROR, "rpc-id": ANY})
    finally:
        live.close()


# -- what a REST change publishes ----------------------------------------------------------------------------------
def test_latest_keepalive_then_exactly_the_rest_changes(client: Client, sf: Any, simulator: Any) -> None:
    account = sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 1")["records"][0]["Id"]
    sf.Contact.create({"LastName": "Before Subscribing"})  # committed before: not delivered
    with client.subscribe("/data/ContactChangeEvent", 10) as sub:
        keepalive = sub.next(timeout=KEEPALIVE + WAIT)  # an empty batch: the subscription is live
        assert not keepalive.events and keepalive.pending_num_requested == 10 and keepalive.rpc_id
        assert keepalive.latest_replay_id == replay(simulator.org.changes.head)
        cid = sf.Contact.create(
            {"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com", "AccountId": account}
        )["id"]
        sf.Contact.update(cid, {"Title": "Analyst", "Email": None})
        sf.Contact.delete(cid)
        created, updated, deleted = sub.events(3)
    row = sf.query_all(f"SELECT LastModifiedDate FROM Contact WHERE Id = '{cid}'", include_deleted=True)
    user = simulator.connection["user_id"]
    for event in (created, updated, deleted):
        assert event["entityName"] == "Contact" and event["recordIds"] == [cid]
        assert event["changeOrigin"] == "com/salesforce/api/rest/59.0" and event["commitUser"] == user
        assert event["sequenceNumber"] == 1 and event["diffFields"] == []
    assert created["replay"] < updated["replay"] < deleted["replay"]
    assert len({e["transactionKey"] for e in (created, updated, deleted)}) == 3
    assert created["commitNumber"] < updated["commitNumber"] < deleted["commitNumber"]
    assert created["changeType"] == "CREATE" and created["changed"] == set() and created["nulled"] == set()
    assert created["values"]["Name"] == {
        "Salutation": None,
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "MiddleName": None,
        "InformalName": None,
        "Suffix": None,
    }
    assert created["values"]["Email"] == "ada@example.com" and created["values"]["AccountId"] == account
    assert created["values"]["CreatedById"] == user and created["values"]["OwnerId"] == user
    assert (
        created["values"]["CreatedDate"]
        == created["commitTimestamp"]
        == created["values"]["LastModifiedDate"]
    )
    assert updated["changeType"] == "UPDATE"
    assert updated["changed"] == {"Title", "Email", "LastModifiedDate"} and updated["nulled"] == {"Email"}
    assert updated["values"] == {"Title": "Analyst", "LastModifiedDate": updated["commitTimestamp"]}
    assert deleted["changeType"] == "DELETE" and deleted["values"] == {} and deleted["changed"] == set()
    assert deleted["commitTimestamp"] == epoch_ms(row["records"][0]["LastModifiedDate"])


def test_compound_name_change_uses_the_nested_bitmap(client: Client, sf: Any, simulator: Any) -> None:
    cid = sf.Contact.create({"FirstName": "Grace", "LastName": "Hopper"})["id"]
    with after_head(client, simulator, "/data/ContactChangeEvent") as sub:
        sf.Contact.update(cid, {"FirstName": None, "LastName": "Murray Hopper"})
        (event,) = sub.events(1)
    assert event["changed"] == {"Name.FirstName", "Name.LastName", "LastModifiedDate"}
    assert event["nulled"] == {"Name.FirstName"}
    assert (
        event["values"]["Name"]["LastName"] == "Murray Hopper"
        and event["values"]["Name"]["FirstName"] is None
    )
    assert [b for b in event["nulledFields"] if not b.startswith("0x")] == event[
        "nulledFields"
    ]  # nested only


def test_custom_delivers_exactly_the_later_events(client: Client, sf: Any, simulator: Any) -> None:
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 3")["records"]]
    with after_head(client, simulator, "/data/AccountChangeEvent") as sub:
        for i, aid in enumerate(ids):
            sf.Account.update(aid, {"Risk_Score__c": 10.0 + i})
        first = sub.events(3)
    stored = first[0]["replay"]
    with client.subscribe("/data/AccountChangeEvent", 100, pb2.CUSTOM, replay(stored)) as again:
        later = again.events(2)
        assert not [r for r in again.quiet(KEEPALIVE * 1.5) if r.events]  # nothing else: keepalives at most
    assert [e["replay"] for e in later] == [e["replay"] for e in first[1:]]
    assert [e["recordIds"] for e in later] == [[ids[1]], [ids[2]]]
    assert [e["values"]["Risk_Score__c"] for e in later] == [11.0, 12.0]


def test_flow_control(client: Client, sf: Any, simulator: Any) -> None:
    with after_head(client, simulator, "/data/TaskChangeEvent", num_requested=2) as sub:
        for i in range(5):
            sf.Task.create({"Subject": f"flow {i}"})
        first = sub.events(2)
        assert sub.quiet(KEEPALIVE * 2) == []  # owed nothing: no events, and no keepalive either
        sub.request(3)
        rest = sub.events(3)
    subjects = [e["values"]["Subject"] for e in first + rest]
    assert subjects == [f"flow {i}" for i in range(5)]


def test_pending_num_requested_counts_down(client: Client, sf: Any, simulator: Any) -> None:
    with after_head(client, simulator, "/data/TaskChangeEvent", num_requested=3) as sub:
        sf.Task.create({"Subject": "one"})
        resp = sub.batch()
        assert len(resp.events) == 1 and resp.pending_num_requested == 2
        assert resp.latest_replay_id == resp.events[-1].replay_id and resp.rpc_id
        sub.request(500)  # more than 100 outstanding counts as 100
        sf.Task.create({"Subject": "two"})
        assert sub.batch().pending_num_requested == 99


def test_replay_ids_refused(client: Client, simulator: Any) -> None:
    head = simulator.org.changes.head
    for bad in (replay(head + 1), b"\x00\x01", replay(2**62)):
        with client.subscribe(ALL, 1, pb2.CUSTOM, bad) as sub, pytest.raises(grpc.RpcError) as err:
            sub.next()
        assert _error(err)[0] == grpc.StatusCode.INVALID_ARGUMENT
        assert _error(err)[1]["error-code"] == REPLAY_CORRUPTED
    with client.subscribe(ALL, 1, pb2.CUSTOM, b"") as sub, pytest.raises(grpc.RpcError) as err:
        sub.next()
    assert (
        _error(err)[1]["error-code"]
        == "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed"
    )


def test_a_later_fetch_request_must_keep_the_topic(client: Client, simulator: Any) -> None:
    with after_head(client, simulator, "/data/CaseChangeEvent", num_requested=1) as sub:
        sub.request(1, topic="/data/TaskChangeEvent")
        with pytest.raises(grpc.RpcError) as err:
            sub.next(timeout=KEEPALIVE + WAIT)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "rpcId:" in (err.value.details() or "")


# -- transactions: Collections, allOrNone, Bulk 2.0, the business simulation ---------------------------------------
def test_collections_update_is_one_transaction_of_three_events(
    client: Client, sf: Any, simulator: Any
) -> None:
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Account ORDER BY Id DESC LIMIT 3")["records"]]
    body = {
        "allOrNone": False,
        "records": [{"attributes": {"type": "Account"}, "id": i, "Risk_Level__c": "Amber"} for i in ids],
    }
    with after_head(client, simulator, ALL) as sub:
        sf.restful("composite/sobjects", method="PATCH", json=body)
        events = sub.events(3)
        tasks = [sf.Task.create({"Subject": f"gone {i}"})["id"] for i in range(2)]
        sf.restful(f"composite/sobjects?ids={','.join(tasks)}", method="DELETE")
        creates_and_delete = sub.events(3)
    assert [e["recordIds"] for e in events] == [[i] for i in ids]
    assert {e["changeType"] for e in events} == {"UPDATE"} and [e["sequenceNumber"] for e in events] == [
        1,
        2,
        3,
    ]
    assert len({e["transactionKey"] for e in events}) == 1 and len({e["commitNumber"] for e in events}) == 1
    deleted = creates_and_delete[-1]  # Salesforce merges identical changes: one DELETE naming both records
    assert deleted["changeType"] == "DELETE" and deleted["recordIds"] == tasks


def test_change_origin_names_the_client(
    client: Client, simulator: Any, sim_http: Any, connection: dict
) -> None:
    aid = simulator.org.query("SELECT Id FROM Account ORDER BY Id LIMIT 1").records(0, 1)[0]["Id"]
    headers = {
        "Authorization": f"Bearer {connection['access_token']}",
        "Sforce-Call-Options": "client=crm-risk/1.0",
    }
    with after_head(client, simulator, "/data/AccountChangeEvent") as sub:
        resp = sim_http.patch(
            f"{simulator.url}/services/data/v61.0/sobjects/Account/{aid}",
            json={"Risk_Score__c": 3.5},
            headers=headers,
        )
        assert resp.status_code == 204
        (event,) = sub.events(1)
    assert event["changeOrigin"] == "com/salesforce/api/rest/61.0;client=crm-risk/1.0"


def test_all_or_none_rollback_publishes_nothing(client: Client, sf: Any, simulator: Any) -> None:
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 2")["records"]]
    body = {
        "allOrNone": True,
        "records": [
            {"attributes": {"type": "Account"}, "id": ids[0], "Risk_Score__c": 61.0},
            {"attributes": {"type": "Account"}, "id": ids[1], "Risk_Level__c": "Purple"},
        ],
    }
    with after_head(client, simulator, ALL) as sub:
        result = sf.restful("composite/sobjects", method="PATCH", json=body)
        assert not any(r["success"] for r in result)
        marker = sf.Task.create({"Subject": "after the rollback"})["id"]
        (event,) = sub.events(1)
    assert event["recordIds"] == [marker]


def test_bulk_ingest_and_business_days_publish(client: Client, sf: Any, simulator: Any) -> None:
    with after_head(client, simulator, ALL) as sub:
        result = sf.bulk2.Task.insert(records=[{"Subject": f"bulk cdc {i}"} for i in range(3)], wait=0)
        assert result[0]["numberRecordsFailed"] == 0
        bulk = sub.events(3)
        counts = simulator.advance_days(3)
        changed = sum(v for k, v in counts.items() if k != "days")  # one event per change counted
        assert changed > 0
        business = sub.events(changed, timeout=2 * WAIT, top_up=True)
        sub.request(10)
        assert not [r for r in sub.quiet(KEEPALIVE * 1.5) if r.events]  # exactly those
    assert {e["changeOrigin"] for e in bulk} == {"com/salesforce/api/bulkapi/59.0"}
    assert len({e["transactionKey"] for e in bulk}) == 1 and {e["changeType"] for e in bulk} == {"CREATE"}
    assert all(e["changeOrigin"] == "" for e in business)
    assert len({e["transactionKey"] for e in business}) == len(business)  # each business change commits alone
    kinds = [(e["entityName"], e["changeType"]) for e in business]
    assert kinds.count(("Case", "CREATE")) == counts["cases_created"]
    assert kinds.count(("Task", "DELETE")) == counts["records_deleted"]


def test_cascade_delete_and_undelete(client: Client, sf: Any, simulator: Any) -> None:
    aid = sf.Account.create({"Name": "Cascade Ltd", "BillingCity": "Lyon"})["id"]
    contacts = [sf.Contact.create({"LastName": f"Cascade {i}", "AccountId": aid})["id"] for i in range(2)]
    with after_head(client, simulator, ALL) as sub:
        sf.Account.delete(aid)
        account, children = sub.events(2)
        simulator.org.undelete("Account", aid)
        back = sub.events(3)
    assert (account["changeType"], account["recordIds"]) == ("DELETE", [aid])
    assert (children["entityName"], children["changeType"], children["recordIds"]) == (
        "Contact",
        "DELETE",
        contacts,
    )
    assert account["transactionKey"] == children["transactionKey"] and children["sequenceNumber"] == 2
    assert [(e["entityName"], e["changeType"], e["recordIds"]) for e in back] == [
        ("Account", "UNDELETE", [aid]),
        *[("Contact", "UNDELETE", [c]) for c in contacts],
    ]
    assert (
        back[0]["values"]["Name"] == "Cascade Ltd" and back[0]["values"]["BillingAddress"]["City"] == "Lyon"
    )


# -- faults -----------------------------------------------------------------------------------------------------------
def test_gap_fault(client: Client, sf: Any, simulator: Any, faults: Any) -> None:
    faults.add("gap:Case:count=3")
    body = {
        "allOrNone": False,
        "records": [{"attributes": {"type": "Case"}, "Subject": f"gap {i}"} for i in range(2)],
    }
    with after_head(client, simulator, "/data/CaseChangeEvent") as sub:
        ids = [r["id"] for r in sf.restful("composite/sobjects", method="POST", json=body)]
        sf.Case.update(ids[0], {"Status": "Working"})
        sf.Case.update(ids[1], {"Status": "Working"})
        merged, gap_update, update = sub.events(3)
    assert merged["changeType"] == "GAP_CREATE" and merged["recordIds"] == ids
    assert gap_update["changeType"] == "GAP_UPDATE" and gap_update["recordIds"] == [ids[0]]
    for gap in (merged, gap_update):
        assert gap["values"] == {} and gap["changedFields"] == [] and gap["nulledFields"] == []
    assert update["changeType"] == "UPDATE" and update["values"]["Status"] == "Working"


def test_overflow_fault(client: Client, sf: Any, simulator: Any, faults: Any) -> None:
    faults.add("overflow:3")
    records = [{"attributes": {"type": "Contact"}, "LastName": f"Overflow {i}"} for i in range(4)]
    records += [{"attributes": {"type": "Task"}, "Subject": "overflow task"}]
    with after_head(client, simulator, ALL) as sub:
        result = sf.restful(
            "composite/sobjects", method="POST", json={"allOrNone": False, "records": records}
        )
        events = sub.events(5)
    assert [e["changeType"] for e in events] == ["CREATE"] * 3 + ["GAP_OVERFLOW"] * 2
    assert [e["recordIds"] for e in events[:3]] == [[r["id"]] for r in result[:3]]
    assert [(e["entityName"], e["recordIds"], e["values"]) for e in events[3:]] == [
        ("Contact", [], {}),
        ("Task", [], {}),
    ]
    assert len({e["transactionKey"] for e in events}) == 1 and [e["sequenceNumber"] for e in events] == [
        1,
        2,
        3,
        4,
        5,
    ]


def test_pubsubdrop_aborts_the_stream_and_a_resubscribe_resumes(
    client: Client, sf: Any, simulator: Any, faults: Any
) -> None:
    faults.add("pubsubdrop:count=1")
    start = simulator.org.changes.head
    with after_head(client, simulator, "/data/TaskChangeEvent") as sub:
        tid = sf.Task.create({"Subject": "dropped"})["id"]
        with pytest.raises(grpc.RpcError) as err:
            sub.next()
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE and "RST_STREAM" in (err.value.details() or "")
    with client.subscribe("/data/TaskChangeEvent", 5, pb2.CUSTOM, replay(start)) as again:
        (event,) = again.events(1)
    assert event["recordIds"] == [tid]


# -- durability: EARLIEST, retention on the org's clock, restart --------------------------------------------------------
def test_earliest_retention_and_restart(tmp_path: Path) -> None:
    from simulator.server import Simulator

    first = Simulator(tmp_path, accounts=5, seed=3, keepalive_seconds=KEEPALIVE).start()
    c = Client(first.connection)
    try:
        with c.subscribe(ALL, 10, pb2.EARLIEST) as sub:  # the generated org's load published nothing
            keepalive = sub.next(timeout=KEEPALIVE + WAIT)
            assert not keepalive.events and keepalive.latest_replay_id == replay(0)
        ids = [first.org.create("Task", {"Subject": f"kept {i}"}) for i in range(3)]
        with c.subscribe(ALL, 10, pb2.EARLIEST) as sub:
            before = sub.events(3)
        payloads = {e["replay"]: e for e in before}
        assert [e["recordIds"] for e in before] == [[i] for i in ids] and list(payloads) == [1, 2, 3]
        with c.subscribe(ALL, 10) as open_stream:
            open_stream.next(timeout=KEEPALIVE + WAIT)  # live: a keepalive came
            first.stop()  # under the open stream: a transient failure, the client resubscribes
            with pytest.raises(grpc.RpcError) as err:
                open_stream.next()
        assert _error(err)[0] == grpc.StatusCode.UNAVAILABLE
        assert _error(err)[1]["error-code"] == "sfdc.platform.eventbus.grpc.service.unavailable"
    finally:
        first.stop()
        c.close()
    with Simulator(tmp_path, accounts=5, seed=3, keepalive_seconds=KEEPALIVE) as sim:  # same state dir
        c = Client(sim.connection)
        try:
            with c.subscribe(ALL, 10, pb2.CUSTOM, replay(1)) as sub:
                again = sub.events(2)
                later = sim.org.create("Task", {"Subject": "after the restart"})
                (new,) = sub.events(1)
            assert again == [payloads[2], payloads[3]] and new["replay"] == 4 and new["recordIds"] == [later]
            sim.org.clock.advance(3.1)  # 74.4 hours later on the org's clock: all four are out of the window
            with c.subscribe(ALL, 10, pb2.CUSTOM, replay(2)) as sub, pytest.raises(grpc.RpcError) as err:
                sub.next()
            assert _error(err)[0] == grpc.StatusCode.INVALID_ARGUMENT
            assert _error(err)[1]["error-code"] == REPLAY_CORRUPTED
            with c.subscribe(ALL, 10, pb2.EARLIEST) as sub:
                keepalive = sub.next(timeout=KEEPALIVE + WAIT)
            assert not keepalive.events and keepalive.latest_replay_id == replay(4)
        finally:
            c.close()
