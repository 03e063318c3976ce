"""Where the tool keeps what it can rebuild at any time: `$XDG_CACHE_HOME/crm-risk`, else ~/.cache/crm-risk.

Today: Prefect's migrated empty database (shell/prefect_db.py) and the compiled templates of Great Expectations'
Data Docs (expectations/gx_tuning.py). Deleting the folder costs the next run the time to rebuild them, nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "crm-risk"
