"""`crm-risk`: the command line (demo, sync, backfill, refresh, serve, flags, listen, backtest, simulate).

Heavy imports happen inside each command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _prefect_env(state_dir: Path | None = None) -> None:
    """Quiet, offline-friendly Prefect defaults; the demo keeps Prefect's database in its state dir."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # The ephemeral server's 20 s default is too short on a busy 2-core machine (seen here).
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if state_dir is not None:
        os.environ.setdefault("PREFECT_HOME", str((state_dir / "prefect").resolve()))


def _cmd_demo(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    _prefect_env(state_dir)
    if args.live:
        from shell.demo import run_live

        return run_live(state_dir, accounts=args.accounts, seed=args.seed)
    from shell.demo import run_demo
    from shell.prefect_server import start_tied_prefect_server

    start_tied_prefect_server()
    return run_demo(state_dir, accounts=args.accounts, seed=args.seed, dirty=args.dirty)


def _preflight(objects: list[str] | None) -> None:
    """Check the settings and `--objects` before Prefect or DuckDB is touched: a bad one fails in a second, with
    one line and nothing created. Misspelt CRM_RISK_ variables are warned about (they would be ignored)."""
    from crm_risk.config import load_settings, unknown_variables
    from pipeline.extract import entries

    for line in unknown_variables():
        print(f"crm-risk: warning: {line}", file=sys.stderr)
    entries(load_settings(), objects)


def _print_preview(result: dict[str, Any]) -> None:
    """A dry run's push preview as a table (before the run's JSON)."""
    if result.get("preview") is None:
        return
    from pipeline.preview import Preview, preview_table

    print(preview_table(Preview.from_dict(result["preview"])))


def _cmd_sync(args: argparse.Namespace) -> int:
    _preflight(args.objects or None)
    _prefect_env()
    from shell.prefect_server import start_tied_prefect_server

    start_tied_prefect_server()
    from flows.nightly import nightly_sync

    result = nightly_sync(objects=args.objects or None, push=not args.no_push, dry_run=args.dry_run)
    _print_preview(result)
    print(json.dumps(result, indent=2, default=str))
    return 0 if result.get("status") == "success" else 1


def _cmd_backfill(args: argparse.Namespace) -> int:
    _prefect_env()
    from flows.backfill import backfill
    from pipeline.extract import backfill_window

    since, until = backfill_window(args.since, args.until)  # a bad window fails here, before Prefect starts
    _preflight(args.objects or None)
    from shell.prefect_server import start_tied_prefect_server

    start_tied_prefect_server()
    result = backfill(
        since=since, until=until, objects=args.objects or None, push=not args.no_push, dry_run=args.dry_run
    )
    _print_preview(result)
    print(json.dumps(result, indent=2, default=str))
    return 0 if result.get("status") == "success" else 1


def _cmd_refresh(args: argparse.Namespace) -> int:
    _preflight(None)
    _prefect_env()
    from connectors.salesforce.ids import normalize_id
    from flows.refresh import account_refresh

    ids = [normalize_id(a, "--account") for a in args.account]  # a bad id fails here, before Prefect starts
    from shell.prefect_server import start_tied_prefect_server

    start_tied_prefect_server()
    result = account_refresh(account_ids=ids, push=not args.no_push)
    print(json.dumps(result, indent=2, default=str))
    return 0 if result.get("status") == "success" else 1


def _cmd_serve(args: argparse.Namespace) -> int:
    _preflight(None)
    _prefect_env()
    from shell.serve import run_serve

    run_serve(args.deployments or None)
    return 0


def _reading_settings() -> Any:
    """Settings for a command that reads the warehouse: after `make demo` (no CRM_RISK_WAREHOUSE_PATH and no
    ./warehouse.duckdb) the demo's warehouse is used, and said so; no warehouse at all is one clear line."""
    from crm_risk.config import load_settings
    from crm_risk.errors import ConfigError

    settings = load_settings()
    target = Path(settings.warehouse_path)
    demo = Path(".demo") / "warehouse.duckdb"
    if "CRM_RISK_WAREHOUSE_PATH" not in os.environ and not target.exists() and demo.exists():
        print(
            f"crm-risk: reading the demo's warehouse {demo} (set CRM_RISK_WAREHOUSE_PATH for another)",
            file=sys.stderr,
        )
        return load_settings(warehouse_path=str(demo))
    if "://" not in str(target) and not target.exists():
        raise ConfigError(
            f"no warehouse at {target}: run `make demo` or `crm-risk sync` first, or set CRM_RISK_WAREHOUSE_PATH"
        )
    return settings


def _cmd_flags(args: argparse.Namespace) -> int:
    from shell.flags import explain_account, list_flags

    settings = _reading_settings()
    if args.account:
        print(explain_account(settings, args.account))
    else:
        print(list_flags(settings, level=args.level, limit=args.limit))
    return 0


def _cmd_listen(args: argparse.Namespace) -> int:
    _prefect_env()
    import logging

    from crm_risk.config import load_settings
    from shell.listen import run_listen

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides: dict[str, object] = {"listen_start": args.start} if args.start else {}
    if args.receiver_only:
        overrides["listen_receiver"] = True
    counts = run_listen(load_settings(**overrides), receiver_only=args.receiver_only)
    print(json.dumps(counts, indent=2))
    return 0


def _cmd_backtest(args: argparse.Namespace) -> int:
    from shell.backtest import run_backtest
    from shell.backtest_report import as_json, as_table, write_html

    state_dir = Path(args.state_dir)
    result = run_backtest(state_dir)
    if args.format == "json":
        print(as_json(result))
    elif args.format == "html":
        print(write_html(result, state_dir / "backtest.html"))
    else:
        print(as_table(result))
    return 0


def _cmd_simulate(args: argparse.Namespace, rest: list[str]) -> int:
    from shell.demo import simulate

    return simulate(rest)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    p = argparse.ArgumentParser(
        prog="crm-risk", description="Relationship-risk flags from your CRM, back into your CRM."
    )
    p.add_argument(
        "--debug", action="store_true", help="show the traceback of an error, not just its one line"
    )
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="run the whole loop against the embedded CRM simulator")
    d.add_argument(
        "--state-dir", default=".demo", help="where the org, warehouse and run state live (default .demo/)"
    )
    d.add_argument("--accounts", type=int, default=2000, help="size of the simulated org (default 2000)")
    d.add_argument("--seed", type=int, default=42)
    d.add_argument("--dirty", action="store_true", help="simulate an org with dirty data")
    d.add_argument(
        "--live",
        action="store_true",
        help="the event loop: a Prefect server, serve and listen; change the org and watch flags move",
    )
    d.set_defaults(func=_cmd_demo)

    s = sub.add_parser("sync", help="run the nightly sync once (settings from CRM_RISK_* variables or .env)")
    s.add_argument("--objects", nargs="*", help="only these objects")
    s.add_argument("--no-push", action="store_true", help="compute flags but write nothing to the CRM")
    s.add_argument(
        "--dry-run",
        action="store_true",
        help="extract, load and score as usual, write nothing to the CRM: list what the push would change",
    )
    s.set_defaults(func=_cmd_sync)

    bf = sub.add_parser(
        "backfill", help="pull again what changed in a window (some objects), then score and push as nightly"
    )
    bf.add_argument(
        "--since", required=True, help="start of the window: a date or ISO time, UTC if no offset"
    )
    bf.add_argument("--until", help="end of the window (exclusive; default now)")
    bf.add_argument("--objects", nargs="*", help="only these objects (default all)")
    bf.add_argument("--no-push", action="store_true", help="compute flags but write nothing to the CRM")
    bf.add_argument(
        "--dry-run",
        action="store_true",
        help="extract, load and score as usual, write nothing to the CRM: list what the push would change",
    )
    bf.set_defaults(func=_cmd_backfill)

    r = sub.add_parser(
        "refresh", help="re-score some accounts now (pull their records, score them, push their flags)"
    )
    r.add_argument("--account", action="append", required=True, help="an account id (repeat for more)")
    r.add_argument("--no-push", action="store_true", help="compute flags but write nothing to the CRM")
    r.set_defaults(func=_cmd_refresh)

    sv = sub.add_parser(
        "serve",
        help="run prefect.yaml's deployments (schedules, event triggers) from this process until Ctrl-C; "
        "needs a Prefect server (PREFECT_API_URL)",
    )
    sv.add_argument("deployments", nargs="*", help="only these (e.g. account-refresh resync; default all)")
    sv.set_defaults(func=_cmd_serve)

    f = sub.add_parser("flags", help="show risk flags from the warehouse")
    f.add_argument("--account", help="explain one account: level, score, signals with evidence, history")
    f.add_argument("--level", choices=["Red", "Amber", "Green"], default=None)
    f.add_argument("--limit", type=int, default=20)
    f.set_defaults(func=_cmd_flags)

    ls = sub.add_parser(
        "listen",
        help="subscribe to the CRM's change events (and/or receive pushed ones) and emit one Prefect event per "
        "changed account (until Ctrl-C)",
    )
    ls.add_argument(
        "--start",
        choices=["LATEST", "EARLIEST"],
        help="where to start without a stored replay id (default LATEST)",
    )
    ls.add_argument(
        "--receiver-only",
        action="store_true",
        help="no Change Data Capture: only the HTTP(S) receiver for Outbound Messages and signed webhooks",
    )
    ls.set_defaults(func=_cmd_listen)

    b = sub.add_parser(
        "backtest", help="score the signals over the org's history against the simulator's ground truth"
    )
    b.add_argument(
        "--state-dir", default=".demo", help="demo state dir: warehouse.duckdb and org/ground_truth.json"
    )
    b.add_argument(
        "--format",
        choices=["table", "json", "html"],
        default="table",
        help="html writes backtest.html next to the warehouse and prints its path",
    )
    b.set_defaults(func=_cmd_backtest)

    sub.add_parser(
        "simulate",
        help="run the Salesforce-compatible simulator (see `crm-risk simulate --help`)",
        add_help=False,
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `crm-risk` script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "simulate":
        return _cmd_simulate(argparse.Namespace(), argv[1:])
    args = build_parser().parse_args(argv)
    from crm_risk.errors import CrmRiskError

    try:
        return int(args.func(args))
    except CrmRiskError as exc:
        if args.debug:
            raise
        print(f"crm-risk: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
