"""`crm-risk`: the command line (demo, sync, backfill, refresh, serve, flags, sql, listen, doctor, backtest, simulate).

Heavy imports happen inside each command."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from shell.run_setup import crm_configured, crm_overrides, demo_org, prefect_env, preflight, prepared

__all__ = ["main"]


def _cmd_demo(args: argparse.Namespace) -> int:
    # a dirty or migrated org is an org of its own: `demo --dirty` after `make demo` must not reuse the clean one
    default = ".demo-dirty" if args.dirty else ".demo-migrated" if args.migrated_history else ".demo"
    state_dir = Path(args.state_dir or default)
    state_dir.mkdir(parents=True, exist_ok=True)
    prefect_env(state_dir)
    if args.live:
        from shell.demo import run_live

        return run_live(state_dir, accounts=args.accounts, seed=args.seed)
    from shell.demo import run_demo
    from shell.prefect_server import start_tied_prefect_server

    start_tied_prefect_server()
    return run_demo(
        state_dir,
        accounts=args.accounts,
        seed=args.seed,
        dirty=args.dirty,
        migrated_history_days=args.migrated_history,
    )


def _progress() -> contextlib.AbstractContextManager[None]:
    """Per-object progress on stderr while a run works, when stderr is a terminal (shell/progress.py)."""
    from shell.progress import terminal_progress

    return terminal_progress()


def _finish(title: str, result: dict[str, Any], started: float, as_json: bool) -> int:
    """Print a run's outcome (a human summary, or JSON with --json); the exit code."""
    from shell.summary import refresh_summary, run_summary

    if as_json:
        print(json.dumps(result, indent=2, default=str))
    elif title == "Account refresh":
        print(refresh_summary(result, time.monotonic() - started))
    else:
        print(run_summary(title, result, time.monotonic() - started))
    _print_held(result)
    if result.get("status") == "success":
        return 0
    if result.get("message"):  # a partial run names the objects left out; a stopped one why
        print(f"crm-risk: run {result.get('status')}: {result['message']}", file=sys.stderr)
    return 1


def _print_preview(result: dict[str, Any]) -> None:
    """A dry run's push preview as a table (before the run's JSON)."""
    if result.get("preview") is None:
        return
    from pipeline.preview import Preview, preview_table

    print(preview_table(Preview.from_dict(result["preview"])))


def _print_held(result: dict[str, Any]) -> None:
    """Say plainly when accounts were held from the push because signals they need were not scored yet."""
    from pipeline.score import Coverage

    cover = result.get("coverage")
    if not cover or not cover.get("held_accounts"):
        return
    line = Coverage(**cover).held_line()
    pushed = (result.get("push") or {}).get("updated", 0)
    prefix = "nothing was pushed. " if not pushed else ""
    print(f"crm-risk: {prefix}{line}", file=sys.stderr)


def _cmd_sync(args: argparse.Namespace) -> int:
    started = time.monotonic()
    with prepared(args.objects or None) as ready, crm_overrides() as overrides, _progress():
        from flows.nightly import nightly_sync

        ready()  # the server, before any flow: a kill -9 of this command stops it too
        result = nightly_sync(
            objects=args.objects or None, push=not args.no_push, dry_run=args.dry_run, settings=overrides
        )
    if not args.json:
        _print_preview(result)
    return _finish("Nightly sync", result, started, args.json)


def _cmd_backfill(args: argparse.Namespace) -> int:
    from pipeline.extract import backfill_window

    since, until = backfill_window(args.since, args.until)  # a bad window fails here, before Prefect starts
    started = time.monotonic()
    with prepared(args.objects or None) as ready, crm_overrides() as overrides, _progress():
        from flows.backfill import backfill

        ready()  # the server, before any flow: a kill -9 of this command stops it too
        result = backfill(
            since=since,
            until=until,
            objects=args.objects or None,
            push=not args.no_push,
            dry_run=args.dry_run,
            settings=overrides,
            window=args.window,
            concurrency=args.concurrency,
            restart=args.restart,
        )
    if not args.json:
        _print_preview(result)
    return _finish("Backfill", result, started, args.json)


def _cmd_refresh(args: argparse.Namespace) -> int:
    from connectors.salesforce.ids import normalize_id

    ids = [normalize_id(a, "--account") for a in args.account]  # a bad id fails here, before Prefect starts
    started = time.monotonic()
    with prepared(None) as ready, crm_overrides() as overrides, _progress():
        from flows.refresh import account_refresh

        ready()  # the server, before any flow: a kill -9 of this command stops it too
        result = account_refresh(account_ids=ids, push=not args.no_push, settings=overrides)
    return _finish("Account refresh", result, started, args.json)


def _cmd_serve(args: argparse.Namespace) -> int:
    preflight(None)
    prefect_env()
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


def _cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    from connectors import warehouse
    from crm_risk.errors import ConfigError

    settings = _reading_settings()
    with warehouse.open_for(settings, read_only=True) as con:
        try:
            rel = con.sql(args.query)
            if rel is None:
                print("ok (no rows: the warehouse is opened read-only)")
            else:
                rel.show(max_rows=args.limit)
        except duckdb.Error as exc:
            raise ConfigError(f"sql: {exc}".splitlines()[0]) from exc
    return 0


def _cmd_listen(args: argparse.Namespace) -> int:
    prefect_env()
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


def _cmd_doctor(args: argparse.Namespace) -> int:
    from crm_risk.config import load_settings, unknown_variables

    for line in unknown_variables():
        print(f"crm-risk: warning: {line}", file=sys.stderr)
    configured = crm_configured(load_settings())
    serve_demo = not configured and demo_org().exists()
    crm: contextlib.AbstractContextManager[dict[str, Any]] = (
        crm_overrides() if serve_demo else contextlib.nullcontext({})
    )
    with crm as overrides:
        from shell.doctor import as_json, as_text, run_doctor

        checks = run_doctor(load_settings(**overrides), cdc=True if args.events else None)
    print(as_json(checks) if args.format == "json" else as_text(checks))
    return 0 if all(c.ok for c in checks) else 1


def _cmd_backtest(args: argparse.Namespace) -> int:
    from shell.backtest import run_backtest
    from shell.backtest_report import as_json, as_table, write_html

    state_dir = Path(args.state_dir)
    with _progress():
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
        "--state-dir",
        default=None,
        help="where the org, warehouse and run state live (default .demo/; .demo-dirty/ with --dirty, "
        ".demo-migrated/ with --migrated-history)",
    )
    d.add_argument("--accounts", type=int, default=2000, help="size of the simulated org (default 2000)")
    d.add_argument("--seed", type=int, default=42)
    d.add_argument("--dirty", action="store_true", help="simulate an org with dirty data")
    d.add_argument(
        "--migrated-history",
        type=int,
        nargs="?",
        const=730,
        default=None,
        metavar="DAYS",
        help="simulate an org whose history before DAYS days ago (default 730) was migrated in on that day",
    )
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
    s.add_argument("--json", action="store_true", help="print the run's outcome as JSON (for scripts)")
    s.set_defaults(func=_cmd_sync)

    bf = sub.add_parser(
        "backfill", help="pull again what changed in a window (some objects), then score and push as nightly"
    )
    bf.add_argument(
        "--since", required=True, help="start of the window: a date or ISO time, UTC if no offset"
    )
    bf.add_argument("--until", help="end of the window (exclusive; default now)")
    bf.add_argument("--objects", nargs="*", help="only these objects (default all)")
    bf.add_argument(
        "--window",
        help="cut the span into windows this long: 7d, 12h, 30m (default CRM_RISK_BACKFILL_WINDOW, 7d); each "
        "window loaded is recorded, so the same backfill run again resumes",
    )
    bf.add_argument(
        "--concurrency",
        type=int,
        help="windows extracted at once (default CRM_RISK_BACKFILL_CONCURRENCY, 4); loads stay one at a time",
    )
    bf.add_argument(
        "--restart",
        action="store_true",
        help="extract every window again, even those this backfill (same arguments) already loaded",
    )
    bf.add_argument("--no-push", action="store_true", help="compute flags but write nothing to the CRM")
    bf.add_argument(
        "--dry-run",
        action="store_true",
        help="extract, load and score as usual, write nothing to the CRM: list what the push would change",
    )
    bf.add_argument("--json", action="store_true", help="print the run's outcome as JSON (for scripts)")
    bf.set_defaults(func=_cmd_backfill)

    r = sub.add_parser(
        "refresh", help="re-score some accounts now (pull their records, score them, push their flags)"
    )
    r.add_argument("--account", action="append", required=True, help="an account id (repeat for more)")
    r.add_argument("--no-push", action="store_true", help="compute flags but write nothing to the CRM")
    r.add_argument("--json", action="store_true", help="print the run's outcome as JSON (for scripts)")
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

    q = sub.add_parser("sql", help="run one read-only SQL query on the warehouse and print the rows")
    q.add_argument("query", help='e.g. "select level, count(*) from marts.account_risk group by 1"')
    q.add_argument("--limit", type=int, default=40, help="rows to print at most (default 40)")
    q.set_defaults(func=_cmd_sql)

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

    dr = sub.add_parser(
        "doctor",
        help="check that tonight's run can succeed: login, API version, field access, pushed fields, Tasks, API "
        "budget, warehouse lock, Prefect; one line each with the fix (exit 1 when one fails)",
    )
    dr.add_argument("--format", choices=["text", "json"], default="text", help="json: for monitoring")
    dr.add_argument(
        "--events",
        action="store_true",
        help="also check the Change Data Capture channel (default: when a listener has run here)",
    )
    dr.set_defaults(func=_cmd_doctor)

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


# Commands that end a process full of Great Expectations, pandas, Prefect and DuckDB objects: the interpreter's
# teardown of them all took 1.5-2.6 s after a sync (measured), after everything the run does had finished.
_QUICK_EXIT = frozenset({"sync", "backfill", "refresh"})


def exit_without_teardown(code: int) -> NoReturn:
    """End the process as the interpreter ends it, minus the teardown of every module and object.

    In the interpreter's order: the threads' exit hooks (Prefect's log and event workers send their last
    batch there) and the join of non-daemon threads, then the `atexit` handlers (the temporary Prefect server
    stops, logging flushes), then stdout and stderr are flushed; then `os._exit(code)`.
    """
    import atexit
    import threading

    threading._shutdown()  # type: ignore[attr-defined]  # what Py_FinalizeEx calls first
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `crm-risk` script. As the script (no `argv`), a run command's process ends without the
    interpreter's teardown (`exit_without_teardown`); called with `argv` (tests), it returns the exit code."""
    script = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "simulate":
        return _cmd_simulate(argparse.Namespace(), argv[1:])
    args = build_parser().parse_args(argv)
    from crm_risk.errors import CrmRiskError

    try:
        code = int(args.func(args))
    except CrmRiskError as exc:
        if args.debug:
            raise
        print(f"crm-risk: {exc}", file=sys.stderr)
        code = 2
    if script and args.command in _QUICK_EXIT:
        exit_without_teardown(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
