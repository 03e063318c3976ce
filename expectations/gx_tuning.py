"""One GX hot spot removed: an expectation's `configuration`, rebuilt ~80 times per expectation per validation.

GX 1.x's `Expectation.configuration` is a property that dumps the pydantic model (`.dict()`, deep copies) into
a new `ExpectationConfiguration` on every access, and a validation reads it for every domain and success kwarg
of every metric it plans: about a fifth of a warm validation of the demo org (~30 expectations per object).
Within one validation the expectation objects do not change (GX builds them afresh from the suite's
configurations), so `memoized_configurations()` lets each object compute its configuration once while the block
runs. Outside the block (and in other threads) the property behaves exactly as GX's. Importing this module
imports no GX.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["memoized_configurations"]

_local = threading.local()
_lock = threading.Lock()
_installed = False


def _install() -> bool:
    """Wrap `Expectation.configuration` once per process; False when this GX has no such property."""
    global _installed
    from great_expectations.expectations.expectation import Expectation

    with _lock:
        if _installed:
            return True
        original = getattr(Expectation, "configuration", None)
        if not isinstance(original, property) or original.fget is None:
            return False
        Expectation.configuration = _memoized(original)  # type: ignore[method-assign,assignment]
        _installed = True
    return True


def _memoized(original: property) -> property:
    compute = original.fget
    assert compute is not None

    def configuration(self: Any) -> Any:
        memo: dict[int, tuple[Any, Any]] | None = getattr(_local, "memo", None)
        if memo is None:
            return compute(self)
        hit = memo.get(id(self))
        if hit is None or hit[0] is not self:  # the object is kept in the entry, so its id is not reused
            hit = memo[id(self)] = (self, compute(self))
        return hit[1]

    return property(configuration, doc=original.__doc__)


@contextmanager
def memoized_configurations() -> Iterator[None]:
    """Within the block, in this thread, each GX expectation object builds its `configuration` once."""
    if not _install() or getattr(_local, "memo", None) is not None:  # not this GX, or already inside a block
        yield
        return
    _local.memo = {}
    try:
        yield
    finally:
        _local.memo = None
