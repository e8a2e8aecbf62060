"""The Dagster Definitions: ingest, the registry-generated stages, join, report, sensor."""

from __future__ import annotations

from dagster import AssetsDefinition, Definitions, in_process_executor

from io_managers.parquet import ParquetIOManager
from resources.gpu import GpuResource
from resources.media_store import MediaStore
from resources.models import ModelStore
from resources.settings import Settings
from tiktok_assets.ingest import audio_track, segment_frames, video_file, video_metadata
from tiktok_assets.intelligence import build_intelligence_assets
from tiktok_assets.jobs import analyze_video
from tiktok_assets.pool_guard import gpu_pool_guard
from tiktok_assets.sensors import upload_folder_sensor
from tiktok_assets.stages import build_stage_assets


def all_assets() -> list[AssetsDefinition]:
    """Every asset, built from the registry as it is now."""
    return [
        video_file,
        video_metadata,
        segment_frames,
        audio_track,
        *build_stage_assets(),
        *build_intelligence_assets(),
    ]


def build_resources(
    data_root: str | None = None, weights: str | None = None, settings: Settings | None = None
) -> dict:
    """Resources from one ``Settings`` (default: the environment's) over one data root
    (default ``$TIKTOK_DATA`` or ``./data``) and weights policy."""
    settings = settings or Settings()
    root = data_root or settings.data_root
    return {
        "settings": settings,
        "media_store": MediaStore(
            root=root, max_duration_s=settings.max_duration_s, media_url=settings.media_url
        ),
        "model_store": ModelStore(
            model_home=settings.model_home, weights=weights or settings.weights
        ),
        "gpu": GpuResource(),
        "io_manager": ParquetIOManager(root=settings.parquet_root(root)),
    }


def build_definitions(data_root: str | None = None, weights: str | None = None) -> Definitions:
    return Definitions(
        assets=all_assets(),
        # One process per run: steps of a run share imports (torch) and never hold the gpu
        # slot through a step process's start-up; runs of other videos still run in parallel.
        executor=in_process_executor,
        jobs=[analyze_video],
        sensors=[upload_folder_sensor, gpu_pool_guard],
        resources=build_resources(data_root, weights),
    )


defs = build_definitions()
