"""Adding a video to the pipeline and asking what is done for it, shared by the CLI, the
REST API and the tests (the upload sensor adds its partitions through its SensorResult)."""

import os
from typing import NamedTuple

from dagster import AssetKey, DagsterInstance

from analyzers.core.decode import VideoInfo
from resources.media_store import MediaStore
from tiktok_assets.definitions import defs
from tiktok_assets.partitions import videos
from tiktok_assets.pool_guard import ensure_pool, reap_dead_runs, sweep_temp


class AddedVideo(NamedTuple):
    key: str
    new: bool  # False when the same bytes were already stored
    info: VideoInfo
    reaped_runs: list[str]  # dead runs whose gpu slots were freed on the way


def add_video(
    instance: DagsterInstance, store: MediaStore, path: str | os.PathLike[str]
) -> AddedVideo:
    """Admit ``path`` (MediaError with the reason when it cannot be analysed), stage it,
    make the gpu pool ready and add the video's partition. Launching the run is the
    caller's: in-process (CLI) or through the webserver (API)."""
    info = store.admit(path)
    key, new = store.stage(path, info=info)  # the probe travels with the file
    ensure_pool(instance)
    reaped = reap_dead_runs(instance)
    sweep_temp(instance, store.path())
    instance.add_dynamic_partitions(videos.name, [key])
    return AddedVideo(key, new, info, reaped)


def asset_names() -> list[str]:
    """Every asset of the pipeline, sorted."""
    return sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys())


def missing_assets(instance: DagsterInstance, keys: list[str]) -> dict[str, list[str]]:
    """For each video key, the assets not materialized for it yet."""
    names = asset_names()
    done = {a: instance.get_materialized_partitions(AssetKey(a)) for a in names}
    return {k: [a for a in names if k not in done[a]] for k in keys}
