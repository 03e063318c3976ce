"""Read a landing manifest and refuse what the loader must not trust: an unknown object, a file outside its extract.

The object name becomes a table name and the file names become paths read by DuckDB; once the landing area is
shared storage, a manifest is input like any other. Accepted: an object of the registry (the `known` names: the
warehouse's `TABLES`, the pipeline's registry) whose name is a plain identifier and matches its directory
(`<landing>/<run_id>/<Object>/`), and data files that resolve inside that directory (no `..`, no absolute path
elsewhere), inside the landing area when one is given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from crm_risk import landing as storage
from crm_risk.errors import ManifestRefused

__all__ = ["read_manifest"]

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")


def read_manifest(
    manifest_dir: str | Path, known: Collection[str], landing: str | Path | None = None
) -> dict[str, Any]:
    """The manifest of the extract in `manifest_dir` (a folder or a URL), checked (module doc); ManifestRefused
    names what is wrong."""
    where = storage.normalize(manifest_dir)
    if landing is not None and not storage.inside(where, landing):
        raise ManifestRefused(
            f"extract {manifest_dir} is outside the landing area {landing} (CRM_RISK_LANDING_DIR): not loaded"
        )
    try:
        manifest: dict[str, Any] = json.loads(storage.read_text(storage.join(where, "_manifest.json")))
    except (OSError, ValueError) as exc:
        raise ManifestRefused(f"extract {manifest_dir}: no readable _manifest.json ({exc})") from None
    obj = manifest.get("object")
    names = set(known)
    if not isinstance(obj, str) or not _IDENTIFIER.fullmatch(obj) or obj not in names:
        raise ManifestRefused(
            f"extract {manifest_dir}: object {obj!r} is not one of the registry's objects "
            f"({', '.join(sorted(names))}): not loaded"
        )
    folder = Path(where).resolve().name if storage.is_local(where) else storage.name(where)
    if folder != obj:
        raise ManifestRefused(f"extract {manifest_dir}: its manifest names {obj}, its directory {folder}")
    listed = [
        *(manifest.get("files") or []),
        *([manifest["deleted_file"]] if manifest.get("deleted_file") else []),
    ]
    for name in listed:
        if (
            not isinstance(name, str)
            or not name
            or "://" in name
            or not storage.inside(storage.join(where, name), where)
        ):
            raise ManifestRefused(
                f"extract {manifest_dir}: file {name!r} is outside its extract directory: not loaded"
            )
    return manifest
