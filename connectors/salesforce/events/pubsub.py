"""A Pub/Sub API client: GetTopic, GetSchema and the Subscribe stream with flow control, errors translated once.

Authentication is three metadata headers on every call (`accesstoken`, `instanceurl`, `tenantid`), as Salesforce
documents. Errors come back as gRPC statuses with Salesforce's own code in the `error-code` trailer; `translate`
turns them into our error tree: an expired or unknown replay id is `ReplayIdInvalid`, a refused token
`SessionRefused` (log in again), UNAVAILABLE / INTERNAL / a dropped stream `TransientError`, the rest terminal.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc

from crm_risk.errors import TerminalError, TransientError
from pubsub_api import pubsub_api_pb2 as pb2
from pubsub_api import pubsub_api_pb2_grpc as pb2_grpc

__all__ = [
    "PRESETS",
    "Credentials",
    "PubSubClient",
    "ReplayIdInvalid",
    "SessionRefused",
    "translate",
]

log = logging.getLogger(__name__)
PRESETS = {"LATEST": pb2.LATEST, "EARLIEST": pb2.EARLIEST, "CUSTOM": pb2.CUSTOM}
_TRANSIENT = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.CANCELLED,
}


class ReplayIdInvalid(TerminalError):
    """The stored replay id is outside the retention window (or unknown): resubscribe after a resync."""


class SessionRefused(TerminalError):
    """The access token was refused: log in again before resubscribing."""


@dataclass(frozen=True)
class Credentials:
    """What the metadata headers carry (never logged)."""

    access_token: str
    instance_url: str
    tenant_id: str

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The three authentication headers Salesforce's Pub/Sub API reads."""
        return (
            ("accesstoken", self.access_token),
            ("instanceurl", self.instance_url),
            ("tenantid", self.tenant_id),
        )

    def __repr__(self) -> str:
        return f"Credentials(instance_url={self.instance_url!r}, tenant_id={self.tenant_id!r})"


def translate(exc: grpc.RpcError) -> Exception:
    """Our error for a gRPC status, naming Salesforce's error code (trailer `error-code`) when there is one."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else str(exc)
    trailers = dict(exc.trailing_metadata() or ()) if hasattr(exc, "trailing_metadata") else {}
    sf_code = str(trailers.get("error-code", ""))
    message = f"Pub/Sub API {code.name}: {details}" + (f" ({sf_code})" if sf_code else "")
    if "replayid" in sf_code:
        return ReplayIdInvalid(message)
    if code == grpc.StatusCode.UNAUTHENTICATED or sf_code.endswith("auth.error"):
        return SessionRefused(message)
    if code in _TRANSIENT:
        return TransientError(message)
    return TerminalError(message)


class PubSubClient:
    """One channel to the Pub/Sub API (TLS, verified against `ca_pem` or the system roots)."""

    def __init__(
        self, target: str, credentials: Callable[[], Credentials], ca_pem: bytes | None = None
    ) -> None:
        self.target = target
        self._credentials = credentials
        options = [("grpc.keepalive_time_ms", 60_000), ("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        self._channel = grpc.secure_channel(
            target, grpc.ssl_channel_credentials(root_certificates=ca_pem), options
        )
        self._stub = pb2_grpc.PubSubStub(self._channel)

    def close(self) -> None:
        """Close the channel (ends any open subscription)."""
        self._channel.close()

    def __enter__(self) -> PubSubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def topic(self, name: str) -> pb2.TopicInfo:
        """GetTopic: the topic's schema id and whether we may subscribe."""
        try:
            return self._stub.GetTopic(
                pb2.TopicRequest(topic_name=name), metadata=self._credentials().metadata()
            )
        except grpc.RpcError as exc:
            raise translate(exc) from None

    def schema(self, schema_id: str) -> str:
        """GetSchema: the Avro schema (JSON) of `schema_id`."""
        try:
            info = self._stub.GetSchema(
                pb2.SchemaRequest(schema_id=schema_id), metadata=self._credentials().metadata()
            )
        except grpc.RpcError as exc:
            raise translate(exc) from None
        return str(info.schema_json)

    def subscribe(
        self, topic: str, preset: str = "LATEST", replay_id: bytes | None = None, batch: int = 100
    ) -> Subscription:
        """Open a Subscribe stream on `topic` from `preset` (CUSTOM: just after `replay_id`)."""
        return Subscription(self._stub, self._credentials(), topic, preset, replay_id, batch)


class Subscription:
    """A Subscribe stream: iterate for FetchResponses; more events are requested as each batch is consumed."""

    def __init__(
        self,
        stub: pb2_grpc.PubSubStub,
        credentials: Credentials,
        topic: str,
        preset: str,
        replay_id: bytes | None,
        batch: int,
    ) -> None:
        self.topic, self.batch = topic, batch
        self._requests: queue.Queue[pb2.FetchRequest | None] = queue.Queue()
        first = pb2.FetchRequest(topic_name=topic, replay_preset=PRESETS[preset], num_requested=batch)
        if preset == "CUSTOM":
            first.replay_id = replay_id or b""
        self._requests.put(first)
        self._call = stub.Subscribe(self._request_stream(), metadata=credentials.metadata())

    def _request_stream(self) -> Iterator[pb2.FetchRequest]:
        while (request := self._requests.get()) is not None:
            yield request

    def __iter__(self) -> Iterator[pb2.FetchResponse]:
        try:
            for response in self._call:
                # flow control: when nothing more is owed to us, ask for the next batch before handling this one,
                # so the server fills it meanwhile (at most two batches in memory)
                if response.pending_num_requested == 0:
                    self._requests.put(pb2.FetchRequest(topic_name=self.topic, num_requested=self.batch))
                yield response
        except grpc.RpcError as exc:
            raise translate(exc) from None
        finally:
            self._requests.put(None)

    def cancel(self) -> None:
        """End the stream (the iterator stops)."""
        self._requests.put(None)
        self._call.cancel()
