"""Ingest assets: the stored copy, its metadata, and the single decode of frames and audio."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
from dagster import (
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from analyzers.core.decode import DecodeConfig, MediaError, decode_audio, decode_video, probe
from analyzers.core.registry import all_analyzers
from resources.media_store import AUDIO_RATE, MediaStore, atomic_write_bytes, sha256_file
from tiktok_assets.measure import peak_rss_mb, progress, timed
from tiktok_assets.partitions import videos
from tiktok_assets.pool_guard import mark_worker

GROUP = "ingest"


def default_sample_fps() -> float:
    """The decode samples as many frames per second as the hungriest frame analyzer."""
    rates = [cls.Config().sample_fps for cls in all_analyzers().values() if cls.modality != "audio"]
    return float(max([1.0, *rates]))


def _stored(context: AssetExecutionContext, store: MediaStore) -> tuple[str, Path]:
    key = context.partition_key
    path = store.video_path(key)
    if path is None:
        raise Failure(f"video {key} is not in the store; materialize video_file first")
    return key, path


@asset(partitions_def=videos, group_name=GROUP, kinds={"video"})
def video_file(context: AssetExecutionContext, media_store: MediaStore) -> MaterializeResult:
    """Immutable copy of the uploaded file in ``videos/``, checked against its key's hash."""
    mark_worker(context.instance, context.run_id)  # for the reaper
    key = context.partition_key
    with timed() as t:
        stored = media_store.video_path(key)
        src = media_store.incoming_path(key)
        if stored is None and src is None:
            raise Failure(
                f"no file for video {key}: drop it into {media_store.path('uploads')} "
                "or run `tiktok-analyzer analyze PATH`"
            )
        if stored is None:
            assert src is not None
            dest = media_store.path("videos", f"{key}{src.suffix}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.tmp")
            shutil.copyfile(src, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
            info = src.with_suffix(".json")
            if info.exists():
                os.replace(info, media_store.path("videos", f"{key}.json"))
            src.unlink()
            stored = dest
        digest = sha256_file(stored)
        if not key.endswith(digest[:10]):
            raise Failure(f"{stored} does not hash to its key {key} (sha256 {digest[:10]}...)")
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
    rotation (degrees), codecs, has_audio, frame count, bit rate."""
    mark_worker(context.instance, context.run_id)  # for the reaper
    key, path = _stored(context, media_store)
    with timed() as t:
        try:
            info = probe(path)
        except MediaError as exc:
            raise Failure(f"{key}: {exc}") from exc
        atomic_write_bytes(media_store.metadata_path(key), json.dumps(info.to_dict()).encode())
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


@asset(
    partitions_def=videos,
    group_name=GROUP,
    deps=[video_metadata],
    kinds={"numpy"},
)
def segment_frames(context: AssetExecutionContext, media_store: MediaStore) -> MaterializeResult:
    """The only video decode: sampled frames per second at working resolution
    (``frames.npy``) plus every frame small (``lowres.npy``), with frame -> second/pts
    indexes. Written to a temp folder and swapped in, so a failed decode loses nothing."""
    mark_worker(context.instance, context.run_id)  # for the reaper
    key, path = _stored(context, media_store)
    cfg = DecodeConfig(sample_fps=default_sample_fps())
    final = media_store.frames_dir(key)
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with timed() as t:
        try:
            result = decode_video(path, tmp, cfg)
        except MediaError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise Failure(f"{key}: {exc}") from exc
        old = final.with_name(f".{final.name}.old")
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
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
        "rotation": result.rotation,
        "wall_time_s": round(t.seconds, 3),
        "x_realtime": round(speed, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "path": MetadataValue.path(str(final)),
    }
    meta["first_frame_s"] = round(result.first_pts_s, 3)
    meta["decoded_until_s"] = round(result.decoded_until_s, 3)
    meta["container_duration_s"] = round(result.container_duration_s, 3)
    meta["complete"] = result.complete
    meta["missing_s"] = round(result.missing_s, 3)
    meta["damaged_packets"] = result.damaged_packets
    meta["gaps"] = MetadataValue.json([list(g) for g in result.gaps])
    if result.error:
        meta["decode_error"] = result.error
        context.log.warning(f"{key}: {result.error}")
    return MaterializeResult(metadata=meta)


@asset(partitions_def=videos, group_name=GROUP, deps=[video_metadata], kinds={"numpy"})
def audio_track(context: AssetExecutionContext, media_store: MediaStore) -> MaterializeResult:
    """The only audio decode: 16 kHz mono float32 in ``audio/<key>.npy``. A video without
    audio gets an explicit empty track and ``has_audio=false``."""
    mark_worker(context.instance, context.run_id)  # for the reaper
    key, path = _stored(context, media_store)
    with timed() as t:
        try:
            samples = decode_audio(path, AUDIO_RATE)
        except MediaError as exc:
            raise Failure(f"{key}: {exc}") from exc
        has_audio = samples is not None
        arr = samples if samples is not None else np.zeros(0, dtype=np.float32)
        out = media_store.audio_path(key)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp.npy")
        np.save(tmp, arr)
        os.replace(tmp, out)
        info = {"has_audio": has_audio, "samples": len(arr), "sample_rate": AUDIO_RATE}
        atomic_write_bytes(out.with_suffix(".json"), json.dumps(info).encode())
    progress(
        context, f"audio_track: {'%.2f s' % (len(arr) / AUDIO_RATE) if has_audio else 'no audio'}"
    )
    return MaterializeResult(
        metadata={
            "has_audio": has_audio,
            "audio_seconds": round(len(arr) / AUDIO_RATE, 3),
            "sample_rate": AUDIO_RATE,
            "path": MetadataValue.path(str(out)),
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


def media_dep_keys() -> list[str]:
    return ["video_metadata", "segment_frames", "audio_track"]
