"""Helpers for the Dagster tests: stage a clip and materialize everything for it."""

import shutil
from pathlib import Path

from dagster import DagsterInstance, materialize

from resources.media_store import MediaStore
from tiktok_assets.definitions import all_assets, build_resources
from tiktok_assets.videos import add_video

REPO = Path(__file__).resolve().parents[2]


def instance_at(home: Path) -> DagsterInstance:
    """A SQLite instance in ``home`` with the project's dagster.yaml (gpu pool, monitoring)."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return DagsterInstance.from_config(str(home))


def run_video(clip: Path, instance: DagsterInstance, data: Path, **kw):
    store = MediaStore(root=str(data))
    store.ensure_layout()
    key = add_video(instance, store, clip).key  # as the CLI and API do
    result = materialize(
        all_assets(),
        instance=instance,
        partition_key=key,
        resources=build_resources(str(data), "auto"),
        raise_on_error=False,
        **kw,
    )
    return key, result
