"""The Pub/Sub API (`eventbus.v1.PubSub`) over the org's change log: GetTopic, GetSchema and Subscribe.

Topics: `/data/ChangeEvents` (every change event) and `/data/<Entity>ChangeEvent` for the CDC objects of
`simulator.org.cdc`. Every RPC authenticates by its metadata, as Salesforce documents: `accesstoken` (a live
session of the simulator, the ones the REST API accepts), `instanceurl` (the simulator's URL) and `tenantid` (the
org id). Errors are gRPC statuses whose details end in ` rpcId: <id>`, with Salesforce's code in the `error-code`
trailer and the id in `rpc-id`:

==========================  ==================  ===================================================================
case                        status              error-code trailer
==========================  ==================  ===================================================================
bad / expired session,      UNAUTHENTICATED     sfdc.platform.eventbus.grpc.service.auth.error
wrong instance URL/tenant
replay id unknown, beyond   INVALID_ARGUMENT    sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted
the latest or outside the
retention window
CUSTOM without replay id    INVALID_ARGUMENT    sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed
negative num_requested      INVALID_ARGUMENT    sfdc.platform.eventbus.grpc.subscription.fetch.requested.events.invalid
topic changed mid-stream    INVALID_ARGUMENT    (none)
unknown topic               NOT_FOUND           sfdc.platform.eventbus.grpc.topic.notfound (the simulator's guess)
unknown schema id           NOT_FOUND           sfdc.platform.eventbus.grpc.schema.notfound (the simulator's guess)
`pubsubdrop` fault          UNAVAILABLE         (none: "RST_STREAM closed stream", as from the network)
the simulator stops         UNAVAILABLE         sfdc.platform.eventbus.grpc.service.unavailable (open streams)
==========================  ==================  ===================================================================

Subscribe is pull-based: the first FetchRequest names the topic and the start (LATEST: events committed after
subscribing; EARLIEST: the oldest retained; CUSTOM: strictly after `replay_id`); every FetchRequest adds its
`num_requested` to the events still owed (at most 100 outstanding, as Salesforce caps it), and each FetchResponse
says how many remain in `pending_num_requested`. While events are owed and none is available, an empty
FetchResponse carrying `latest_replay_id` (the position scanned to) is sent every `keepalive_seconds`. Replay ids
are 8-byte big-endian sequence numbers. Publish, PublishStream and ManagedSubscribe answer UNIMPLEMENTED.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NoReturn

import grpc

from pubsub_api import pubsub_api_pb2 as pb2
from pubsub_api import pubsub_api_pb2_grpc as pb2_grpc
from simulator.org.cdc import CDC_OBJECTS, event_schema

if TYPE_CHECKING:
    from simulator.api.context import ApiContext

__all__ = ["ALL_TOPIC", "MAX_REQUESTED", "PubSubService", "replay_bytes", "topic_entity"]

log = logging.getLogger(__name__)
ALL_TOPIC = "/data/ChangeEvents"
MAX_REQUESTED = 100
AUTH_ERROR = "sfdc.platform.eventbus.grpc.service.auth.error"
REPLAY_CORRUPTED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
REPLAY_INVALID = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed"
REQUESTED_INVALID = "sfdc.platform.eventbus.grpc.subscription.fetch.requested.events.invalid"
TOPIC_NOT_FOUND = "sfdc.platform.eventbus.grpc.topic.notfound"
SCHEMA_NOT_FOUND = "sfdc.platform.eventbus.grpc.schema.notfound"
UNAVAILABLE = "sfdc.platform.eventbus.grpc.service.unavailable"
_TOPICS = {f"/data/{name}ChangeEvent": name for name in CDC_OBJECTS}


def replay_bytes(replay: int) -> bytes:
    """The wire form of a replay id: 8 bytes, big-endian."""
    return replay.to_bytes(8, "big")


def topic_entity(topic: str) -> tuple[bool, str | None]:
    """(known, entity): the object a topic carries, None for every object (`/data/ChangeEvents`)."""
    if topic == ALL_TOPIC:
        return True, None
    entity = _TOPICS.get(topic)
    return entity is not None, entity


class _Failure(Exception):
    """An RPC failure: status, error code (or None), message."""

    def __init__(self, status: grpc.StatusCode, code: str | None, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _Stream:
    """One Subscribe call's state, shared by the thread reading FetchRequests and the one sending responses."""

    def __init__(self, topic: str, position: int) -> None:
        self.topic = topic
        self.position = position  # events up to here were sent or skipped
        self.pending = 0
        self.half_closed = False
        self.closed = False
        self.failure: _Failure | None = None
        self.signal = threading.Event()
        self._lock = threading.Lock()

    def request(self, n: int) -> None:
        with self._lock:
            self.pending = min(MAX_REQUESTED, self.pending + n)
        self.signal.set()

    def take(self, n: int) -> int:
        with self._lock:
            self.pending -= n
            return self.pending

    def fail(self, failure: _Failure) -> None:
        self.failure = failure
        self.signal.set()

    def close(self) -> None:
        self.closed = True
        self.signal.set()


class PubSubService(pb2_grpc.PubSubServicer):  # type: ignore[misc]
    """The `eventbus.v1.PubSub` servicer: handlers see the `ApiContext` (org, sessions, faults, usage)."""

    def __init__(self, ctx: ApiContext, *, keepalive_seconds: float = 270.0) -> None:
        self.ctx = ctx
        self.keepalive_seconds = keepalive_seconds
        self.stopping = threading.Event()
        self._streams: set[_Stream] = set()
        self._lock = threading.Lock()

    def stop(self) -> None:
        """End every Subscribe stream (the server is shutting down)."""
        self.stopping.set()
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            stream.close()

    # -- helpers -----------------------------------------------------------------------------------------------
    @staticmethod
    def _abort(context: grpc.ServicerContext, failure: _Failure, rpc_id: str) -> NoReturn:
        trailers = (("error-code", failure.code),) if failure.code else ()
        context.set_trailing_metadata((*trailers, ("rpc-id", rpc_id)))
        context.abort(failure.status, f"{failure.message} rpcId: {rpc_id}")
        raise AssertionError("unreachable: abort raises")  # pragma: no cover

    def _authenticate(self, context: grpc.ServicerContext) -> None:
        meta = {k.lower(): v for k, v in context.invocation_metadata() if isinstance(v, str)}
        user = self.ctx.auth.user_for(meta.get("accesstoken"))
        instance = (meta.get("instanceurl") or "").rstrip("/").lower()
        tenant = meta.get("tenantid")
        if user is None or instance != self.ctx.instance_url.lower() or tenant != self._org_id:
            raise _Failure(
                grpc.StatusCode.UNAUTHENTICATED,
                AUTH_ERROR,
                "An authentication exception occurred. Provide valid authentication via metadata headers.",
            )

    @property
    def _org_id(self) -> str:
        return str(self.ctx.auth.creds["organization_id"])

    def _entity(self, topic: str) -> str | None:
        known, entity = topic_entity(topic)
        if not known:
            raise _Failure(
                grpc.StatusCode.NOT_FOUND,
                TOPIC_NOT_FOUND,
                f"The topic information for org CORE/prod/{self._org_id} and topic {topic} not found. "
                "Ensure the topic name is correct and that the topic exists.",
            )
        return entity

    # -- unary RPCs --------------------------------------------------------------------------------------------
    def GetTopic(self, request: Any, context: grpc.ServicerContext) -> Any:
        """Topic info: tenant, can subscribe (not publish), the current schema id of an object's topic."""
        rpc_id = str(uuid.uuid4())
        self.ctx.usage.count("pubsub.get_topic")
        try:
            self._authenticate(context)
            entity = self._entity(request.topic_name)
        except _Failure as failure:
            self._abort(context, failure, rpc_id)
        return pb2.TopicInfo(
            topic_name=request.topic_name,
            tenant_guid=self._org_id,
            can_publish=False,
            can_subscribe=True,
            schema_id=event_schema(entity).schema_id if entity else "",
            rpc_id=rpc_id,
        )

    def GetSchema(self, request: Any, context: grpc.ServicerContext) -> Any:
        """The Avro schema JSON of a schema id (any an event was ever written with)."""
        rpc_id = str(uuid.uuid4())
        self.ctx.usage.count("pubsub.get_schema")
        try:
            self._authenticate(context)
            schema = self.ctx.org.changes.schema(request.schema_id)
            if schema is None:
                raise _Failure(
                    grpc.StatusCode.NOT_FOUND, SCHEMA_NOT_FOUND, f"Schema {request.schema_id} not found."
                )
        except _Failure as failure:
            self._abort(context, failure, rpc_id)
        return pb2.SchemaInfo(schema_json=schema, schema_id=request.schema_id, rpc_id=rpc_id)

    # -- Subscribe ---------------------------------------------------------------------------------------------
    def Subscribe(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        """The bidirectional stream: FetchRequests in, FetchResponses (events, keepalives) out."""
        rpc_id = str(uuid.uuid4())
        self.ctx.usage.count("pubsub.subscribe")
        try:
            self._authenticate(context)
            first = next(request_iterator, None)
            if first is None:
                return
            entity = self._entity(first.topic_name)
            stream = _Stream(first.topic_name, self._start(first))
            if first.num_requested < 0:
                raise _requested_invalid()
        except _Failure as failure:
            self._abort(context, failure, rpc_id)
        stream.request(first.num_requested)
        unwatch = self.ctx.org.changes.watch(stream.signal.set)
        with self._lock:
            self._streams.add(stream)
        context.add_callback(stream.close)
        threading.Thread(
            target=_read_requests, args=(request_iterator, stream), name="pubsub-requests", daemon=True
        ).start()
        try:
            yield from self._deliver(stream, entity, rpc_id, context)
        finally:
            unwatch()
            with self._lock:
                self._streams.discard(stream)
            stream.close()

    def _start(self, first: Any) -> int:
        """The position a subscription starts after (its first event is the next one)."""
        changes = self.ctx.org.changes
        if first.replay_preset == pb2.EARLIEST:
            return changes.first_retained() - 1
        if first.replay_preset != pb2.CUSTOM:
            return changes.head
        if not first.replay_id:
            raise _Failure(
                grpc.StatusCode.INVALID_ARGUMENT,
                REPLAY_INVALID,
                "The replay_preset field in FetchRequest is set to ReplayPreset.CUSTOM, but no Replay ID value is set.",
            )
        replay = int.from_bytes(first.replay_id, "big") if len(first.replay_id) == 8 else -1
        if not changes.first_retained() - 1 <= replay <= changes.head:
            raise _Failure(
                grpc.StatusCode.INVALID_ARGUMENT,
                REPLAY_CORRUPTED,
                "The Replay ID validation failed: it is unknown or outside the retention window. "
                "Subscribe with ReplayPreset.EARLIEST or LATEST.",
            )
        return replay

    def _deliver(
        self, stream: _Stream, entity: str | None, rpc_id: str, context: grpc.ServicerContext
    ) -> Iterator[Any]:
        changes = self.ctx.org.changes
        last_sent = time.monotonic()
        while True:
            stream.signal.clear()  # before looking: a wake-up from now on ends the wait below at once
            if self.stopping.is_set():  # the server stops: clients see a transient failure and resubscribe
                self._abort(
                    context,
                    _Failure(
                        grpc.StatusCode.UNAVAILABLE, UNAVAILABLE, "The Pub/Sub API service is unavailable."
                    ),
                    rpc_id,
                )
            if stream.closed or not context.is_active():
                return
            if stream.failure is not None:
                self._abort(context, stream.failure, rpc_id)
            pending = stream.pending
            if pending > 0:
                head = changes.head
                if stream.position < head:
                    limit = min(pending, MAX_REQUESTED)
                    events = changes.read(stream.position, head, entity, limit)
                    stream.position = events[-1].replay if len(events) == limit else head
                    if events:
                        if self.ctx.faults.check("pubsub.subscribe", stream.topic, {"pubsubdrop"}):
                            context.abort(
                                grpc.StatusCode.UNAVAILABLE,
                                "RST_STREAM closed stream. HTTP/2 error code: NO_ERROR",
                            )
                        left = stream.take(len(events))
                        yield pb2.FetchResponse(
                            events=[
                                pb2.ConsumerEvent(
                                    event=pb2.ProducerEvent(
                                        id=e.event_id, schema_id=e.schema_id, payload=e.payload
                                    ),
                                    replay_id=replay_bytes(e.replay),
                                )
                                for e in events
                            ],
                            latest_replay_id=replay_bytes(events[-1].replay),
                            rpc_id=rpc_id,
                            pending_num_requested=left,
                        )
                        last_sent = time.monotonic()
                        continue
            elif stream.half_closed:
                return  # the client can ask for nothing more and is owed nothing
            wait = self.keepalive_seconds - (time.monotonic() - last_sent)
            if wait <= 0:
                if pending > 0:
                    yield pb2.FetchResponse(
                        latest_replay_id=replay_bytes(stream.position),
                        rpc_id=rpc_id,
                        pending_num_requested=pending,
                    )
                last_sent = time.monotonic()
                continue
            stream.signal.wait(wait)


def _requested_invalid() -> _Failure:
    return _Failure(
        grpc.StatusCode.INVALID_ARGUMENT,
        REQUESTED_INVALID,
        "The number of requested events in a FetchRequest can't be negative.",
    )


def _read_requests(request_iterator: Iterator[Any], stream: _Stream) -> None:
    """Add each later FetchRequest's `num_requested` to the stream (its replay options are ignored, as documented)."""
    try:
        for req in request_iterator:
            if req.topic_name and req.topic_name != stream.topic:
                stream.fail(
                    _Failure(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        None,
                        f"The topic name {req.topic_name} doesn't match the topic of this subscription {stream.topic}.",
                    )
                )
                return
            if req.num_requested < 0:
                stream.fail(_requested_invalid())
                return
            stream.request(req.num_requested)
        stream.half_closed = True
        stream.signal.set()
    except Exception:  # the call ended (cancelled, server stopping): the sender sees it too
        stream.close()
