"""The HTTPS server: `Simulator` (lifecycle, state dir, TLS, connection.json) in `simulator`, the threading server
in `httpd`, the route table in `routes`, the request pipeline in `dispatch`, `faults` and `outbound` messages."""

from simulator.server.simulator import Simulator

__all__ = ["Simulator"]
