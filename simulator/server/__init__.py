"""The HTTPS server: `Simulator` (lifecycle, state dir, TLS, connection.json) in `simulator`, the threading server
in `httpd`, the route table in `routes`, the request pipeline in `dispatch`, `faults` and `outbound` messages."""

from simulator.org.schema import PACKAGE_FIELDS  # the fields `--without-package` hides (for the CLI)
from simulator.server.simulator import Simulator

__all__ = ["PACKAGE_FIELDS", "Simulator"]
