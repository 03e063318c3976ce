"""The HTTPS server: `Simulator` (lifecycle, state dir, TLS), the route table, faults and outbound messages."""

from simulator.server.simulator import Simulator

__all__ = ["Simulator"]
