"""Landing retention: keep the landing files of the last CRM_RISK_LANDING_KEEP_RUNS runs, delete older runs'.

The landing area (`landing/<run_id>/<Object>/...`) is the durable raw copy of what each run pulled, kept to replay a
load or to inspect what the CRM sent. A run's files are loaded by that run, so only recent ones are worth keeping.
Runs are ranked by their directory's modification time (a run writes its directory while it extracts); the
directories of runs still running (meta.runs) are never deleted, whatever their rank.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from crm_risk import landing as storage
from crm_risk.config import Settings
from crm_risk.errors import ConfigError

__all__ = ["prune_landing"]

log = logging.getLogger(__name__)


def prune_landing(settings: Settings, keep_also: Collection[str] = ()) -> list[str]:
    """Delete the landing directories of all but the newest `settings.landing_keep_runs` runs (and `keep_also`);
    returns the run ids deleted. A directory that cannot be deleted is logged and left for the next run.

    On object storage a run's "directory" is its prefix, ranked by its newest object."""
    try:
        runs = storage.run_dirs(storage.landing(settings))
    except (OSError, ConfigError) as exc:
        log.warning(
            "landing retention: cannot list %s (%s); the next run tries again", settings.landing_dir, exc
        )
        return []
    deleted = []
    for path, _ in runs[settings.landing_keep_runs :]:
        run = storage.name(path)
        if run in keep_also:
            continue
        try:
            storage.remove_tree(path)
        except OSError as exc:
            log.warning("landing retention: cannot delete %s (%s); the next run tries again", path, exc)
            continue
        deleted.append(run)
    if deleted:
        log.info(
            "landing retention: deleted %d old runs' files (keeping the last %d)",
            len(deleted),
            settings.landing_keep_runs,
        )
    return deleted
