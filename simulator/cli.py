"""`crm-risk simulate`: run the Salesforce-compatible simulator until SIGINT/SIGTERM.

    crm-risk simulate --port PORT --state-dir DIR [--pubsub-port PORT] [--accounts N] [--seed S]
                      [--faults SPEC] [--outbound-url URL] [--advance-days N [--once]] [--api-budget N]
                      [--session-ttl S] [--dirty] [--rotate-refresh-token] [--keepalive S]
                      [--retention-hours H] [--hide-field OBJ.FIELD]... [--read-only-field OBJ.FIELD]...
                      [--without-package]

It serves HTTPS (REST, Bulk 1.0 queries, Bulk 2.0, OAuth, SOAP login) on `--port` and the Pub/Sub API (gRPC, Change Data
Capture) on `--pubsub-port`, both on 127.0.0.1, and prints both addresses (also in DIR/connection.json).

`--advance-days N` moves the org N days of business forward before serving; with `--once` the command exits
after that instead of serving (a serving simulator holds the org's DuckDB file: stop it first, or call
`POST /_simulator/advance?days=N` on it with a session).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="crm-risk simulate", description="Serve a simulated Salesforce org over HTTPS."
    )
    p.add_argument(
        "--port", type=int, default=8443, help="port on 127.0.0.1 (0 = any free port; default 8443)"
    )
    p.add_argument(
        "--state-dir", type=Path, required=True, help="where the org, certificates and connection.json live"
    )
    p.add_argument(
        "--pubsub-port",
        type=int,
        default=None,
        help="Pub/Sub API (gRPC) port on 127.0.0.1 (0 = any free port; default 7443, or 0 when --port is 0)",
    )
    p.add_argument(
        "--accounts", type=int, default=2000, help="accounts of a newly generated org (default 2000)"
    )
    p.add_argument("--seed", type=int, default=42, help="generator seed of a new org (default 42)")
    p.add_argument(
        "--faults", default=None, help="fault SPEC, see simulator/server/faults.py (e.g. '503:query:count=2')"
    )
    p.add_argument(
        "--outbound-url", default=None, help="POST outbound messages for Case/Opportunity/Contact here"
    )
    p.add_argument(
        "--advance-days", type=int, default=0, help="move the org N days of business forward first"
    )
    p.add_argument(
        "--once", action="store_true", help="with --advance-days: exit after advancing, do not serve"
    )
    p.add_argument(
        "--api-budget", type=int, default=1_000_000, help="daily API requests before 403 (default 1e6)"
    )
    p.add_argument("--session-ttl", type=int, default=7200, help="session lifetime in seconds (default 7200)")
    p.add_argument("--dirty", action="store_true", help="generate a new org with dirty data")
    p.add_argument(
        "--rotate-refresh-token", action="store_true", help="each refresh returns a new refresh token"
    )
    p.add_argument(
        "--keepalive",
        type=float,
        default=270.0,
        help="seconds before an idle Subscribe stream gets an empty keepalive batch (default 270)",
    )
    p.add_argument(
        "--retention-hours",
        type=float,
        default=72.0,
        help="how long change events stay retrievable, on the org's clock (default 72)",
    )
    p.add_argument(
        "--hide-field",
        action="append",
        default=[],
        metavar="OBJECT.FIELD",
        help="hide a field from the integration user (as if not deployed); repeatable",
    )
    p.add_argument(
        "--read-only-field",
        action="append",
        default=[],
        metavar="OBJECT.FIELD",
        help="make a field read-only for the integration user; repeatable",
    )
    p.add_argument(
        "--without-package",
        action="store_true",
        help="hide every field of the crm-risk package (an org it is not deployed to)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return p


def _pubsub_port(args: argparse.Namespace) -> int:
    if args.once:
        return 0
    if args.pubsub_port is not None:
        return int(args.pubsub_port)
    return 0 if args.port == 0 else 7443


def main(argv: list[str] | None = None) -> int:
    """Run the simulator from command-line arguments; returns the exit code."""
    from simulator.server import PACKAGE_FIELDS, Simulator

    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s"
    )
    if args.once and not args.advance_days:
        print("--once needs --advance-days")
        return 2
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    try:
        sim = Simulator(
            args.state_dir,
            port=0 if args.once else args.port,
            pubsub_port=_pubsub_port(args),
            keepalive_seconds=args.keepalive,
            retention_hours=args.retention_hours,
            accounts=args.accounts,
            seed=args.seed,
            faults=args.faults,
            outbound_url=args.outbound_url,
            api_budget=args.api_budget,
            session_ttl_seconds=args.session_ttl,
            dirty=args.dirty,
            rotate_refresh_token=args.rotate_refresh_token,
            hidden_fields=(*(PACKAGE_FIELDS if args.without_package else ()), *args.hide_field),
            read_only_fields=tuple(args.read_only_field),
        )
    except ValueError as exc:  # a bad --faults SPEC or OBJECT.FIELD
        print(f"crm-risk simulate: {exc}")
        return 2
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        sim.start()
        if args.advance_days:
            counts = sim.advance_days(args.advance_days)
            print(f"advanced {args.advance_days} day(s): {json.dumps(counts, sort_keys=True)}", flush=True)
        if args.once:
            return 0
        print(
            f"simulator serving {sim.url}, Pub/Sub API {sim.pubsub_url}  "
            f"(connection: {args.state_dir / 'connection.json'}; Ctrl-C stops)",
            flush=True,
        )
        while not stop.wait(1.0):
            pass
        return 0
    finally:
        sim.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
