"""Ingest assets: the stored copy, its metadata, and the single decode of frames and audio.

The media store does the work (it owns the folder layout and the decode, see
resources/media_store.py); these assets call it and report what it did."""

from typing import Any

from dagster import (
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from analyzers.core.decode import DecodeConfig, MediaError
from analyzers.core.media import AUDIO_RATE
from analyzers.core.registry import all_analyzers
from resources.media_store import MediaStore
from resources.settings import Settings
from tiktok_assets.measure import peak_rss_mb, progress, timed
from tiktok_assets.partitions import videos
from tiktok_assets.pool_guard import mark_worker

GROUP = "ingest"


def decode_config(settings: Settings) -> DecodeConfig:
    """The run's decode settings: ``[decode]`` from the settings, else a sample rate that
    serves the hungriest frame analyzer with its configured ``sample_fps`` (at least 1)."""
    overrides = settings.overrides()
    rates = [
        cls.make_config(overrides.get(name)).sample_fps
        for name, cls in all_analyzers().items()
        if cls.modality != "audio"
    ]
    values: dict[str, Any] = {"sample_fps": float(max([1.0, *rates]))}
    values.update(settings.decode_overrides())
    return DecodeConfig(**values)


def _failure(key: str, exc: Exception) -> Failure:
    return Failure(f"{key}: {exc}")


@asset(partitions_def=videos, group_name=GROUP, kinds={"video"})
def video_file(context: AssetExecutionContext, media_store: MediaStore) -> MaterializeResult:
    """Immutable copy of the uploaded file in ``videos/``, checked against its key's hash."""
    mark_worker(context.instance, context.run_id)  # for the reaper
    key = context.partition_key
    with timed() as t:
        try:
            stored, digest = media_store.keep(key)
        except (FileNotFoundError, MediaError) as exc:
            raise _failure(key, exc) from exc
    progress(context, f"video_file: {stored.name} ({stored.stat().st_size / 2**20:.1f} MiB)")
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(stored)),
            "bytes": stored.stat().st_size,
            "sha256": digest,
            "original_name": media_store.source_info(key).get("original_name", stored.name),
            "wall_time_s": round(t.seconds, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }
    )


@asset(partitions_def=videos, group_name=GROUP, deps=[video_file], kinds={"video"})
def video_metadata(context: AssetExecutionContext, media_store: MediaStore) -> MaterializeResult:
    """Container facts: duration (s), fps, display width/height with phone rotation applied,
    rotation (degrees), codecs, has_audio, frame count, bit rate. The file is probed once,
    at admission; this records that probe (or probes a file added some other way)."""
    mark_worker(context.instance, context.run_id)  # for the reaper
    key = context.partition_key
    with timed() as t:
        try:
            info = media_store.write_metadata(key)
        except (FileNotFoundError, MediaError) as exc:
            raise _failure(key, exc) from exc
    progress(
        context,
        f"video_metadata: {info.duration_s:.2f} s, {info.width}x{info.height} @ {info.fps:.2f} fps,"
        f" audio={'yes' if info.has_audio else 'no'}",
    )
    return MaterializeResult(
        metadata={
            **info.to_dict(),
            "wall_time_s": round(t.seconds, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }
    )


@asset(partitions_def=videos, group_name=GROUP, deps=[video_metadata], kinds={"numpy"})
def segment_frames(
    context: AssetExecutionContext, media_store: MediaStore, settings: Settings
) -> MaterializeResult:
    """The only video decode: sampled frames per second at working resolution
    (``frames.npy``) plus every frame small (``lowres.npy``), with frame -> second/pts
    indexes. Written to a temp folder and swapped in, so a failed decode loses nothing."""
    mark_worker(context.instance, context.run_id)  # for the reaper
    key = context.partition_key
    cfg = decode_config(settings)
    with timed() as t:
        try:
            result = media_store.decode_frames(key, cfg)
        except (FileNotFoundError, MediaError) as exc:
            raise _failure(key, exc) from exc
    speed = result.duration_s / t.seconds if t.seconds else 0.0
    progress(
        context,
        f"segment_frames: {result.decoded_frames} frames decoded, {result.frames_shape[0]} "
        f"sampled, {t.seconds:.2f} s ({speed:.1f}x realtime)",
    )
    meta = {
        "seconds": result.n_seconds,
        "duration_s": round(result.duration_s, 3),
        "decoded_frames": result.decoded_frames,
        "sampled_frames": result.frames_shape[0],
        "frames_shape": str(result.frames_shape),
        "lowres_shape": str(result.lowres_shape),
        "sample_fps": cfg.sample_fps,
        "decode_config": MetadataValue.json(result.config),
        "rotation": result.rotation,
        "wall_time_s": round(t.seconds, 3),
        "x_realtime": round(speed, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "path": MetadataValue.path(str(media_store.frames_dir(key))),
        "first_frame_s": round(result.first_pts_s, 3),
        "decoded_until_s": round(result.decoded_until_s, 3),
        "container_duration_s": round(result.container_duration_s, 3),
        "complete": result.complete,
        "missing_s": round(result.missing_s, 3),
        "damaged_packets": result.damaged_packets,
        "gaps": MetadataValue.json([list(g) for g in result.gaps]),
    }
    if result.error:
        meta["decode_error"] = result.error
        context.log.warning(f"{key}: {result.error}")
    return MaterializeResult(metadata=meta)


@asset(partitions_def=videos, group_name=GROUP, deps=[video_metadata], kinds={"numpy"})
def audio_track(context: AssetExecutionContext, media_store: MediaStore) -> MaterializeResult:
    """The only audio decode: mono float32 at 16 kHz (``AUDIO_RATE``) in
    ``audio/<key>.npy``. A video without audio gets an explicit empty track and
    ``has_audio=false``."""
    mark_worker(context.instance, context.run_id)  # for the reaper
    key = context.partition_key
    with timed() as t:
        try:
            has_audio, samples = media_store.decode_audio_track(key)
        except (FileNotFoundError, MediaError) as exc:
            raise _failure(key, exc) from exc
    seconds = samples / AUDIO_RATE
    progress(context, f"audio_track: {f'{seconds:.2f} s' if has_audio else 'no audio'}")
    return MaterializeResult(
        metadata={
            "has_audio": has_audio,
            "audio_seconds": round(seconds, 3),
            "sample_rate": AUDIO_RATE,
            "path": MetadataValue.path(str(media_store.audio_path(key))),
            "wall_time_s": round(t.seconds, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }
    )


def decode_shortfall(meta: dict) -> tuple[float, float, str] | None:
    """From ``segment_frames`` metadata: (seconds analysed, container seconds, why) when
    the decode did not cover the whole file; None when it did."""
    if not meta.get("decode_error"):
        return None
    total = float(meta.get("container_duration_s", 0.0))
    return total - float(meta.get("missing_s", 0.0)), total, str(meta["decode_error"])
