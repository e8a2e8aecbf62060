"""The Dagster instance, initialized once: on a fresh ``$DAGSTER_HOME`` the first processes
to open it would each create its storage schema, and all but one crash ("table
alembic_version already exists"). The first opening happens under a file lock."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from dagster import AssetKey, DagsterInstance

_READY = ".tiktok-instance-ready"


def init_instance(home: str | os.PathLike[str] | None = None) -> DagsterInstance:
    """``DagsterInstance.get()`` for ``home`` (default ``$DAGSTER_HOME``). The first call on
    a fresh home creates every storage (runs, event log, schedules) while holding an
    exclusive lock on ``<home>/.tiktok-instance.lock``, so callers racing on a fresh home
    wait for it instead of migrating the same schema at once; later calls skip the lock."""
    home = Path(home or os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if (home / _READY).exists():
        return DagsterInstance.from_config(str(home))
    with open(home / ".tiktok-instance.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes or the process dies
        instance = DagsterInstance.from_config(str(home))
        if not (home / _READY).exists():
            instance.get_runs(limit=1)  # run storage
            instance.get_latest_materialization_event(AssetKey("_init"))  # event log
            instance.all_instigator_state()  # schedules and sensors
            (home / _READY).write_text("storage schemas created\n")
    return instance
