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

from crm_risk.errors import ManifestRefused

__all__ = ["read_manifest"]

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def read_manifest(
    manifest_dir: str | Path, known: Collection[str], landing: str | Path | None = None
) -> dict[str, Any]:
    """The manifest of the extract in `manifest_dir`, checked (module doc); ManifestRefused names what is wrong."""
    where = Path(manifest_dir).resolve()
    if landing is not None and not _inside(where, Path(landing).resolve()):
        raise ManifestRefused(
            f"extract {manifest_dir} is outside the landing area {landing} (CRM_RISK_LANDING_DIR): not loaded"
        )
    try:
        manifest: dict[str, Any] = json.loads((where / "_manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise ManifestRefused(f"extract {manifest_dir}: no readable _manifest.json ({exc})") from None
    obj = manifest.get("object")
    names = set(known)
    if not isinstance(obj, str) or not _IDENTIFIER.fullmatch(obj) or obj not in names:
        raise ManifestRefused(
            f"extract {manifest_dir}: object {obj!r} is not one of the registry's objects "
            f"({', '.join(sorted(names))}): not loaded"
        )
    if where.name != obj:
        raise ManifestRefused(f"extract {manifest_dir}: its manifest names {obj}, its directory {where.name}")
    listed = [
        *(manifest.get("files") or []),
        *([manifest["deleted_file"]] if manifest.get("deleted_file") else []),
    ]
    for name in listed:
        if not isinstance(name, str) or not name or not _inside((where / name).resolve(), where):
            raise ManifestRefused(
                f"extract {manifest_dir}: file {name!r} is outside its extract directory: not loaded"
            )
    return manifest
