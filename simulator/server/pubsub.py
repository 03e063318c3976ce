"""The Pub/Sub API server: `grpc.server` on 127.0.0.1 over TLS with the simulator's certificate.

Started and stopped by `Simulator`; its address (`host:port`, no scheme) is `connection.json`'s `pubsub_url`. The
servicer (`simulator.api.pubsub.PubSubService`) serves the org's change log.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import grpc

from pubsub_api import pubsub_api_pb2_grpc as pb2_grpc
from simulator.api.context import ApiContext
from simulator.api.pubsub import PubSubService

__all__ = ["PubSubServer"]

log = logging.getLogger(__name__)
_WORKERS = 32  # each Subscribe stream holds one worker while it is open


class PubSubServer:
    """`eventbus.v1.PubSub` over gRPC + TLS on 127.0.0.1 (`port` 0 = a free port, known after `start`)."""

    def __init__(
        self,
        ctx: ApiContext,
        *,
        cert_chain_pem: bytes,
        private_key_pem: bytes,
        port: int = 0,
        keepalive_seconds: float = 270.0,
    ) -> None:
        self.port = port
        self.service = PubSubService(ctx, keepalive_seconds=keepalive_seconds)
        self._credentials = grpc.ssl_server_credentials([(private_key_pem, cert_chain_pem)])
        self._server: grpc.Server | None = None

    @property
    def address(self) -> str:
        """`127.0.0.1:PORT`, what a client passes to `grpc.secure_channel`."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> PubSubServer:
        """Bind and serve; OSError when the port cannot be bound."""
        server = grpc.server(
            ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="pubsub"),
            options=[("grpc.so_reuseport", 0)],
        )
        pb2_grpc.add_PubSubServicer_to_server(self.service, server)
        try:
            port = server.add_secure_port(f"127.0.0.1:{self.port}", self._credentials)
        except RuntimeError as exc:
            raise OSError(f"Pub/Sub API: cannot bind 127.0.0.1:{self.port}: {exc}") from None
        if not port:
            raise OSError(f"Pub/Sub API: cannot bind 127.0.0.1:{self.port}")
        self.port = port
        server.start()
        self._server = server
        log.info("Pub/Sub API serving %s", self.address)
        return self

    def stop(self) -> None:
        """End the open streams and stop serving (waits up to a few seconds)."""
        self.service.stop()
        if self._server is not None:
            self._server.stop(grace=1.0).wait(timeout=5)
            self._server = None
