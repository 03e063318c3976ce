"""The landing area's storage: a local folder (the default) or any fsspec URL (`s3://bucket/prefix`, `memory://x`).

A landing location is a `Path` or a string: a plain path is the local filesystem, used exactly as before (files
written through a temp file + rename); a URL (`s3://...`, `memory://...`) goes through its fsspec filesystem, built
once per process from the settings (`landing(settings)`: endpoint, key and secret for S3-compatible storage).
`file:///abs/path` is the plain path `/abs/path`.

On object storage a PUT is atomic per object, and nothing is renamed: each file is written whole, and an extract's
`_manifest.json` is written last, so a reader sees a complete extract or none. Readers get the filesystem from the
location alone (`filesystem(loc)`), so a manifest's path is all that travels between the extract and the load.

Every operation the pipeline does on landing files is here: join, write (Parquet through pyarrow, JSON), read,
list, remove, and `register_duckdb` (DuckDB reads URLs through the same fsspec filesystem: its httpfs extension is
never needed).
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from crm_risk.errors import ConfigError
from crm_risk.secrets import register_secret

__all__ = [
    "Landing",
    "arrow_target",
    "check",
    "exists",
    "filesystem",
    "glob",
    "inside",
    "is_local",
    "join",
    "landing",
    "makedirs",
    "name",
    "normalize",
    "open_read",
    "read_text",
    "register_duckdb",
    "remove",
    "remove_tree",
    "run_dirs",
    "write_json_atomic",
]

log = logging.getLogger(__name__)

Loc = str | Path

# filesystems built from the settings, by protocol: a reader given only a URL finds the configured one here
_CONFIGURED: dict[str, Any] = {}
_LOCK = threading.Lock()
_CHECKED: set[str] = set()


def normalize(loc: Loc) -> str | Path:
    """`file:///x` as the plain path `/x`; a plain path as given; other URLs without a trailing slash."""
    if isinstance(loc, Path):
        return loc
    text = str(loc)
    if text.startswith("file://"):
        return Path(text[len("file://") :] or "/")
    if "://" not in text:
        return Path(text)
    return text.rstrip("/") if not text.endswith("://") else text


def is_local(loc: Loc) -> bool:
    """True for a plain path (or `file://` URL): the local filesystem."""
    return isinstance(normalize(loc), Path)


def _protocol(url: str) -> str:
    return url.split("://", 1)[0]


def join(loc: Loc, *parts: str) -> str | Path:
    """`loc/part/...`: a Path for a local location, a URL string otherwise."""
    where = normalize(loc)
    if isinstance(where, Path):
        return where.joinpath(*parts)
    return "/".join([where.rstrip("/"), *parts]) if not where.endswith("://") else where + "/".join(parts)


def name(loc: Loc) -> str:
    """The last part of a location (a run id, an object name, a file name)."""
    where = normalize(loc)
    return where.name if isinstance(where, Path) else posixpath.basename(where.split("://", 1)[1])


def _storage_options(protocol: str, settings: Any) -> dict[str, Any]:
    """fsspec options for the protocol from the settings (unset ones are left to the library: AWS_* variables,
    FSSPEC_S3_*, ~/.aws); secret values are registered for masking, never logged."""
    if protocol not in ("s3", "s3a"):
        return {}
    options: dict[str, Any] = {}
    endpoint = getattr(settings, "landing_endpoint_url", None)
    if endpoint:
        options["endpoint_url"] = endpoint
    key = getattr(settings, "landing_key_id", None)
    if key:
        options["key"] = key
    secret = getattr(settings, "landing_secret_key", None)
    if secret is not None:
        options["secret"] = secret.get_secret_value()
    for variable in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "FSSPEC_S3_SECRET", "FSSPEC_S3_TOKEN"):
        register_secret(os.environ.get(variable))
    # an unreachable endpoint fails in seconds, not after botocore's default minute of retries
    options["config_kwargs"] = {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 3}}
    return options


def _build(url: str, settings: Any) -> Any:
    """The fsspec filesystem of a URL; ConfigError (one line, naming CRM_RISK_LANDING_DIR) when it cannot be had."""
    import fsspec
    from fsspec.registry import known_implementations

    protocol = _protocol(url)
    if protocol not in known_implementations and protocol not in fsspec.available_protocols():
        raise ConfigError(
            f"CRM_RISK_LANDING_DIR={url}: unknown storage protocol {protocol!r}; use a local folder, s3://bucket/"
            "prefix, file:///path or memory://name"
        )
    try:
        fs, _ = fsspec.core.url_to_fs(url, **_storage_options(protocol, settings))
    except ImportError as exc:
        package = (
            "s3fs"
            if protocol in ("s3", "s3a")
            else (known_implementations.get(protocol) or {}).get("err", str(exc))
        )
        raise ConfigError(
            f"CRM_RISK_LANDING_DIR={url}: the {protocol}:// filesystem needs a package that is not installed "
            f"({package}); install it (e.g. `uv sync --extra s3` or `pip install 'crm-risk[s3]'`)"
        ) from None
    return fs


@dataclass(frozen=True)
class Landing:
    """The configured landing area: its root location (a Path, or a URL) and its filesystem."""

    root: str | Path
    fs: Any

    @property
    def local(self) -> bool:
        """True for a local folder."""
        return isinstance(self.root, Path)

    def join(self, *parts: str) -> str | Path:
        """A location under the landing root."""
        return join(self.root, *parts)


def landing(settings: Any, verify: bool = False) -> Landing:
    """The landing area of these settings (`landing_dir`); its filesystem is built once per URL and process.

    `verify`: also check once per process that it can be reached (see `check`)."""
    root = normalize(settings.landing_dir)
    if isinstance(root, Path):
        from fsspec.implementations.local import LocalFileSystem

        return Landing(root, LocalFileSystem())
    with _LOCK:
        fs = _CONFIGURED.get(root)
        if fs is None:
            fs = _build(root, settings)
            _CONFIGURED[root] = fs
            for protocol in fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,):
                _CONFIGURED.setdefault(f"{protocol}://", fs)
    area = Landing(root, fs)
    if verify and root not in _CHECKED:
        check(area)
        _CHECKED.add(root)
    return area


def check(area: Landing) -> None:
    """Reach the landing area once (a listing): ConfigError naming CRM_RISK_LANDING_DIR and the fix when its
    endpoint cannot be reached, its bucket does not exist or access is refused."""
    if area.local:
        return
    url = str(area.root)
    protocol, rest = url.split("://", 1)
    bucket = rest.split("/", 1)[0]
    try:
        if protocol in ("s3", "s3a"):
            area.fs.call_s3("head_bucket", Bucket=bucket)  # exists() would hide an unreachable endpoint
        else:  # a store without buckets: asking is enough (a root not created yet is fine)
            area.fs.exists(rest)
    except FileNotFoundError:
        raise ConfigError(
            f"CRM_RISK_LANDING_DIR={url}: bucket {bucket!r} does not exist; create it or point "
            "CRM_RISK_LANDING_DIR at an existing one"
        ) from None
    except PermissionError as exc:
        raise ConfigError(
            f"CRM_RISK_LANDING_DIR={url}: access refused ({_one_line(exc)}); check CRM_RISK_LANDING_KEY_ID / "
            "CRM_RISK_LANDING_SECRET_KEY (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
        ) from None
    except Exception as exc:
        raise ConfigError(
            f"CRM_RISK_LANDING_DIR={url}: the storage cannot be reached ({_one_line(exc)}); check "
            "CRM_RISK_LANDING_ENDPOINT_URL (or AWS_ENDPOINT_URL) and the network"
        ) from None


def _one_line(exc: BaseException) -> str:
    from crm_risk.secrets import mask

    text = " ".join(str(exc).split()) or type(exc).__name__
    return mask(text[:200])


def filesystem(loc: Loc) -> tuple[Any, str]:
    """(fsspec filesystem, its path) of a location; a URL uses the filesystem `landing(settings)` built for it
    (or, when none was, fsspec's own with the library's defaults)."""
    where = normalize(loc)
    if isinstance(where, Path):
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem(), str(where)
    fs = None
    with _LOCK:
        for prefix in sorted(_CONFIGURED, key=len, reverse=True):
            if where == prefix or where.startswith(prefix.rstrip("/") + "/") or where.startswith(prefix):
                fs = _CONFIGURED[prefix]
                break
    if fs is None:
        import fsspec

        fs, path = fsspec.core.url_to_fs(where)
        return fs, path
    return fs, fs._strip_protocol(where)


def makedirs(loc: Loc) -> None:
    """Create a local folder (object storage has no folders: nothing to do)."""
    where = normalize(loc)
    if isinstance(where, Path):
        where.mkdir(parents=True, exist_ok=True)


def arrow_target(loc: Loc) -> tuple[str | Path, Any]:
    """(where, filesystem) for pyarrow's Parquet writer/reader: a local path as is (filesystem None), a URL as
    its path on a pyarrow filesystem over the fsspec one."""
    where = normalize(loc)
    if isinstance(where, Path):
        return where, None
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    fs, path = filesystem(where)
    return path, PyFileSystem(FSSpecHandler(fs))


@contextmanager
def open_read(loc: Loc) -> Iterator[IO[bytes] | str]:
    """A source pyarrow can read: the local path itself, or an open binary file of a URL."""
    where = normalize(loc)
    if isinstance(where, Path):
        yield str(where)
        return
    fs, path = filesystem(where)
    with fs.open(path, "rb") as fh:
        yield fh


def read_text(loc: Loc) -> str:
    """A landing file's text (OSError when it is missing)."""
    where = normalize(loc)
    if isinstance(where, Path):
        return where.read_text()
    fs, path = filesystem(where)
    with fs.open(path, "rb") as fh:
        return bytes(fh.read()).decode()


def exists(loc: Loc) -> bool:
    """Whether a landing file exists."""
    where = normalize(loc)
    if isinstance(where, Path):
        return where.exists()
    fs, path = filesystem(where)
    return bool(fs.exists(path))


def write_json_atomic(loc: Loc, payload: dict[str, Any]) -> None:
    """Write JSON so a reader sees the whole file or none: locally via a temp file + fsync + rename; on object
    storage as one PUT (atomic per object)."""
    where = normalize(loc)
    if isinstance(where, Path):
        tmp = where.with_name(where.name + ".tmp")
        with open(tmp, "w") as fh:
            json.dump(payload, fh, indent=2, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, where)
        return
    fs, path = filesystem(where)
    fs.pipe_file(path, json.dumps(payload, indent=2, default=str).encode())


def glob(loc: Loc, pattern: str) -> list[str | Path]:
    """The files of `loc` whose name matches `pattern` (one level, no recursion), sorted."""
    where = normalize(loc)
    if isinstance(where, Path):
        return sorted(where.glob(pattern))
    fs, path = filesystem(where)
    prefix = where[: len(where) - len(path)] if where.endswith(path) else ""
    found = fs.glob(posixpath.join(path, pattern))
    return sorted(f"{prefix}{f}" if prefix else fs.unstrip_protocol(f) for f in found)


def remove(loc: Loc) -> None:
    """Delete one landing file; a missing one is not an error."""
    where = normalize(loc)
    if isinstance(where, Path):
        where.unlink(missing_ok=True)
        return
    fs, path = filesystem(where)
    with suppress(FileNotFoundError):
        fs.rm_file(path)


def remove_tree(loc: Loc) -> None:
    """Delete a run's landing directory and everything under it (OSError when it cannot)."""
    where = normalize(loc)
    if isinstance(where, Path):
        import shutil

        shutil.rmtree(where)
        return
    fs, path = filesystem(where)
    fs.rm(path, recursive=True)


def run_dirs(area: Landing) -> list[tuple[str | Path, float]]:
    """The landing area's run directories with their modification time (a local folder's own mtime; on object
    storage, where folders do not exist, the newest object's), newest first."""
    root = area.root
    if isinstance(root, Path):
        if not root.is_dir():
            return []
        dirs = [p for p in root.iterdir() if p.is_dir()]
        return sorted(((p, p.stat().st_mtime) for p in dirs), key=lambda r: r[1], reverse=True)
    fs, path = filesystem(root)
    if not fs.exists(path):
        return []
    newest: dict[str, float] = {}
    for key, info in fs.find(path, detail=True).items():
        rel = posixpath.relpath(key, path)
        run = rel.split("/", 1)[0]
        if run in (".", "") or "/" not in rel:
            continue  # a file at the root is no run's
        modified = info.get("LastModified") or info.get("mtime") or info.get("created") or 0
        stamp = modified.timestamp() if hasattr(modified, "timestamp") else float(modified)
        newest[run] = max(newest.get(run, 0.0), stamp)
    return sorted(((join(root, run), at) for run, at in newest.items()), key=lambda r: r[1], reverse=True)


def inside(loc: Loc, root: Loc) -> bool:
    """Whether `loc` is `root` or under it, after resolving `..` (a URL is never inside a local root or another
    protocol's)."""
    a, b = normalize(loc), normalize(root)
    if isinstance(a, Path) and isinstance(b, Path):
        resolved, top = a.resolve(), b.resolve()
        return resolved == top or top in resolved.parents
    if isinstance(a, Path) or isinstance(b, Path):
        return False
    (pa_, ra), (pb, rb) = a.split("://", 1), b.split("://", 1)
    if pa_ != pb:
        return False
    key, prefix = posixpath.normpath("/" + ra), posixpath.normpath("/" + rb)
    return key == prefix or key.startswith(prefix.rstrip("/") + "/")


def register_duckdb(con: Any, files: list[str] | list[str | Path] | tuple[Any, ...]) -> None:
    """Let a DuckDB connection read these landing files: each URL's fsspec filesystem is registered once on it
    (DuckDB then reads `s3://...` through s3fs; its httpfs extension is neither needed nor downloaded)."""
    for f in files:
        where = normalize(f)
        if isinstance(where, Path):
            continue
        fs, _ = filesystem(where)
        label = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
        if not con.filesystem_is_registered(label):
            con.register_filesystem(fs)
