"""Measure validate_batch on synthetic Case batches (not collected by pytest): prints one JSON line per size.

.venv/bin/python tests/expectations/perf_validate.py [rows ...]     # default: 50000 1000000
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

spec = importlib.util.spec_from_file_location("case_frames", Path(__file__).with_name("helpers.py"))
assert spec and spec.loader
frames = importlib.util.module_from_spec(spec)
spec.loader.exec_module(frames)


def _status_mb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) // 1024
    return -1


def _reset_peak_rss() -> int:
    """Reset the kernel's peak-RSS mark (Linux) so the next reading covers validation only; return RSS now."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


def main(sizes: list[int], chunk: int) -> None:
    """Validate a clean Case frame of each size (with 0.5% planted bad rows) and report the time."""
    started = time.perf_counter()
    from expectations import GateSettings, build_data_docs, validate_batch

    validate_batch("Case", frames.case_frame(10), **frames.case_kwargs())
    warm = time.perf_counter() - started
    for n in sizes:
        df = frames.case_frame(n)
        bad = df.sample(frac=0.005, random_state=1).index
        df.loc[bad, "Status"] = "Legacy Status"
        rss_before = _reset_peak_rss()
        t = time.perf_counter()
        gate = GateSettings(chunk_rows=chunk)
        res = validate_batch(
            "Case", df, **frames.case_kwargs(previous_count=n, full_snapshot=True, settings=gate)
        )
        seconds = time.perf_counter() - t
        t = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            build_data_docs([res], Path(tmp), run_name=f"perf-{n}")
        docs_seconds = time.perf_counter() - t
        print(
            json.dumps(
                {
                    "rows": n,
                    "seconds": round(seconds, 2),
                    "rows_per_second": int(n / seconds),
                    "data_docs_seconds": round(docs_seconds, 2),
                    "good": res.good_count,
                    "quarantined": res.quarantined_count,
                    "critical": len(res.critical),
                    "suite_runs": len(res.docs_results),  # one when the frame fits in one chunk
                    "gx_import_and_warmup_seconds": round(warm, 2),
                    "chunk_rows": chunk,
                    "frame_mb": int(df.memory_usage(deep=True).sum() / 2**20),
                    "rss_before_mb": rss_before,
                    "peak_rss_during_mb": _status_mb("VmHWM"),
                }
            )
        )


if __name__ == "__main__":
    args = sys.argv[1:]
    chunk_rows = int(args.pop(args.index("--chunk") + 1)) if "--chunk" in args else 200_000
    args = [a for a in args if a != "--chunk"]
    main([int(a) for a in args] or [50_000, 1_000_000], chunk_rows)
