"""Measure validate_batch on synthetic Case batches (not collected by pytest): prints one JSON line per size.

.venv/bin/python tests/expectations/perf_validate.py [rows ...]     # default: 50000 1000000
"""

from __future__ import annotations

import importlib.util
import json
import resource
import sys
import time
from pathlib import Path

spec = importlib.util.spec_from_file_location("case_frames", Path(__file__).with_name("helpers.py"))
assert spec and spec.loader
frames = importlib.util.module_from_spec(spec)
spec.loader.exec_module(frames)


def main(sizes: list[int]) -> None:
    """Validate a clean Case frame of each size (with 0.5% planted bad rows) and report the time."""
    started = time.perf_counter()
    from expectations import validate_batch

    validate_batch("Case", frames.case_frame(10), **frames.case_kwargs())
    warm = time.perf_counter() - started
    for n in sizes:
        df = frames.case_frame(n)
        bad = df.sample(frac=0.005, random_state=1).index
        df.loc[bad, "Status"] = "Legacy Status"
        t = time.perf_counter()
        res = validate_batch("Case", df, **frames.case_kwargs(previous_count=n, full_snapshot=True))
        seconds = time.perf_counter() - t
        print(
            json.dumps(
                {
                    "rows": n,
                    "seconds": round(seconds, 2),
                    "rows_per_second": int(n / seconds),
                    "good": res.good_count,
                    "quarantined": res.quarantined_count,
                    "critical": len(res.critical),
                    "chunks": len(res.docs_results) - 1,
                    "gx_import_and_warmup_seconds": round(warm, 2),
                    "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                }
            )
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [50_000, 1_000_000])
