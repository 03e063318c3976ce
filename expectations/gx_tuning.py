"""GX tuned: one hot spot of its validations removed, and two imports it makes but never needs here deferred.

`memoized_configurations()`: an expectation's `configuration`, rebuilt ~80 times per expectation per validation.

GX 1.x's `Expectation.configuration` is a property that dumps the pydantic model (`.dict()`, deep copies) into
a new `ExpectationConfiguration` on every access, and a validation reads it for every domain and success kwarg
of every metric it plans: about a fifth of a warm validation of the demo org (~30 expectations per object).
Within one validation the expectation objects do not change (GX builds them afresh from the suite's
configurations), so `memoized_configurations()` lets each object compute its configuration once while the block
runs. Outside the block (and in other threads) the property behaves exactly as GX's.

`cached_templates()`: the Data Docs' Jinja templates compiled once per machine, not once per run. GX's views
(`DefaultJinjaView`) each build a Jinja environment of their own and compile every template they render again, in
every run. With Jinja's own bytecode cache on those environments (in the tool's cache folder, crm_risk/cache.py), a
template whose source did not change is loaded compiled; the pages are the same. The folder is named by the Jinja
and GX versions, and used only when it is this user's and no one else can write it (compiled templates are code). A 2,000-account `sync --no-push`:
0.1-0.2 s less (3 alternated pairs: 9.34/9.15, 8.90/8.81, 8.66/8.50 s).

`defer_unused_imports()`: importing GX imports scipy.stats and altair (~0.8 s of the process's CPU, measured) for
one expectation only, expect_column_kl_divergence_to_be_less_than (and two KS-test metrics), which no suite of
this project uses. Called before GX is imported, it puts a stand-in for each in `sys.modules`: GX binds the names,
and a module is really imported the first time one of its attributes is read, by whoever reads it. Importing this module imports no GX.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import stat
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["DEFERRED", "cached_templates", "defer_unused_imports", "memoized_configurations"]

DEFERRED = ("scipy.stats", "altair")  # what GX imports for its KL-divergence expectation only

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


class _Deferred(types.ModuleType):
    """Stands in for a module until one of its attributes is read: then imports it and hands every read on.

    (Not `importlib.util.LazyLoader`: on Python 3.11 the import statement itself reads the module's `__spec__`,
    which makes a lazy module load at once.)"""

    def __getattr__(self, attr: str) -> Any:  # only attributes this stand-in lacks
        return getattr(_real(self.__name__), attr)


def _real(name: str) -> types.ModuleType:
    with _lock:
        found = sys.modules.get(name)
        if isinstance(found, _Deferred):
            del sys.modules[name]
            parent, _, child = name.rpartition(".")
            if parent and getattr(sys.modules.get(parent), child, None) is found:
                delattr(sys.modules[parent], child)
    return importlib.import_module(name)


def defer_unused_imports(names: tuple[str, ...] = DEFERRED) -> None:
    """Put a stand-in for each of `names` in `sys.modules` (imported for real on its first attribute read), unless
    it is imported already or not installed."""
    with _lock:
        for name in names:
            if name in sys.modules:
                continue
            spec = importlib.util.find_spec(
                name
            )  # imports the parent package (scipy: a few ms), not the module
            if spec is None:
                continue
            stand_in = _Deferred(name)
            stand_in.__spec__ = spec
            sys.modules[name] = stand_in
            parent, _, child = name.rpartition(".")
            if parent:
                setattr(sys.modules[parent], child, stand_in)  # `from scipy import stats` finds it there


_templates_cached = False


def _private_folder(path: Path) -> bool:
    """Whether `path` is a folder of this user's that no one else may write (made so when missing): compiled
    templates are code this process runs."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.stat()
    except OSError:
        return False
    owner = getattr(os, "getuid", lambda: st.st_uid)()
    return stat.S_ISDIR(st.st_mode) and st.st_uid == owner and not st.st_mode & 0o022


def cached_templates() -> None:
    """GX's Jinja environments keep compiled templates in `<cache>/jinja-<jinja>-<gx>` (once per process). A
    cache that cannot be used (another user's or a shared writable folder, unwritable, torn files) only means
    templates compile again."""
    global _templates_cached
    if _templates_cached:
        return
    import great_expectations
    import jinja2
    from great_expectations.render.view.view import DefaultJinjaView
    from jinja2 import FileSystemBytecodeCache

    from crm_risk.cache import cache_dir

    class QuietCache(FileSystemBytecodeCache):
        def load_bytecode(self, bucket: Any) -> None:
            try:
                super().load_bytecode(bucket)
            except Exception:  # unreadable or torn (a cut pickle, bad marshal data): compile it instead
                bucket.reset()

        def dump_bytecode(self, bucket: Any) -> None:
            with contextlib.suppress(OSError):  # not kept: compiled again next time
                super().dump_bytecode(bucket)

    folder = cache_dir() / f"jinja-{jinja2.__version__}-gx-{great_expectations.__version__}"
    with _lock:
        if _templates_cached:
            return
        _templates_cached = True
        if not _private_folder(folder):
            return
        cache = QuietCache(str(folder))
        original = DefaultJinjaView.__init__

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            self.env.bytecode_cache = cache

        DefaultJinjaView.__init__ = __init__  # type: ignore[method-assign]
