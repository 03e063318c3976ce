"""Give memory freed by a finished step back to the operating system, so the next step starts from the same floor.

CPython, glibc's malloc and Arrow's allocator all keep freed memory for reuse; after a big batch (a validated
chunk of 100,000 rows) that keeps the process's resident size at its high-water mark while DuckDB, which has a
budget of its own, then adds to it. `release()` asks both allocators to return what is free; callers call it after big batches only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

__all__ = ["release"]


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None  # glibc only


def release() -> None:
    """Release Arrow's unused pool memory and trim glibc's heap (a no-op where absent). No garbage collection: the
    frames are freed by reference counting, and a full collection costs seconds in a big process (a backfill
    releases after each of hundreds of windows)."""
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pass
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
