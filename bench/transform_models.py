"""Where the transform's time goes, model by model: the SQL files of transforms/order.txt run (as the pipeline runs
them, one transaction, the warehouse's memory cap) on a copy of a warehouse, each statement timed.

For choosing what to make faster in the transform (14 s of a 50,000-account run): the slowest models and the
commit. Run it on a warehouse a sync has filled, e.g. the demo's (`make demo`) or a bench org's:

    .venv/bin/python bench/transform_models.py [--warehouse .demo/warehouse.duckdb] [--top 15]

Writes bench/results/transform_models.json: {"warehouse", "total_s", "statements": [{"file", "seconds"}, ...]}
(slowest first; statements outside the SQL files, such as the commit, by their first words).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.warehouse.connect import connect  # noqa: E402
from transforms.runner import ORDER_FILE, run_transforms, sql_files  # noqa: E402


class _Timed:
    """A DuckDB connection whose `execute` calls are timed (everything else passes through)."""

    def __init__(self, con: Any, names: dict[str, str]) -> None:
        self.con, self.names, self.timings = con, names, []

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        out = self.con.execute(sql, *args, **kwargs)
        label = self.names.get(sql) or " ".join(sql.split()[:4])
        self.timings.append({"file": label, "seconds": round(time.perf_counter() - started, 3)})
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.con, name)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--warehouse", default=str(ROOT / ".demo" / "warehouse.duckdb"))
    p.add_argument("--top", type=int, default=15)
    p.add_argument(
        "--memory-limit", default=None, help="DuckDB's cap for the run (default: the warehouse's own, 512MB)"
    )
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "transform_models.json"))
    args = p.parse_args(argv)
    source = Path(args.warehouse)
    if not source.is_file():
        print(
            f"no warehouse at {source}: run `make demo` first, or name one with --warehouse", file=sys.stderr
        )
        return 2
    names = {f.read_text(): str(f.relative_to(ROOT)) for f in sql_files(ORDER_FILE)}
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "warehouse.duckdb"
        shutil.copy(source, copy)
        # the warehouse's own memory cap, as a run opens it, unless another is named
        con = connect(copy, **({"memory_limit": args.memory_limit} if args.memory_limit else {}))
        timed = _Timed(con, names)
        started = time.perf_counter()
        run_transforms(timed, as_of=datetime.now(UTC))  # type: ignore[arg-type]
        total = round(time.perf_counter() - started, 2)
        con.close()
    statements = sorted(timed.timings, key=lambda t: t["seconds"], reverse=True)
    result = {
        "benchmark": "transform_models",
        "warehouse": str(source),
        "total_s": total,
        "statements": statements,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"transform: {total:.2f} s in {len(statements)} statements; the slowest:")
    for t in statements[: args.top]:
        print(f"{t['seconds']:7.3f} s  {t['file']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
