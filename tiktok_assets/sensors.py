"""The upload-folder sensor: stable files become partitions and runs; bad files go to
quarantine with a reason. It never raises on a file."""

import json
from pathlib import Path

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from analyzers.core.decode import MediaError
from resources.media_store import MediaStore
from resources.models import ModelStore
from resources.settings import env_settings
from tiktok_assets.jobs import analyze_video
from tiktok_assets.partitions import videos
from tiktok_assets.plan import Skipped, run_selection, skipped_analyzers


def max_files_per_tick() -> int:
    return env_settings().sensor_max_files


def _candidates(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and not p.name.endswith((".part", ".tmp", ".crdownload"))
    )


@sensor(
    name="upload_folder_sensor",
    job=analyze_video,
    minimum_interval_seconds=5,
    default_status=DefaultSensorStatus.RUNNING,
    description="Watches $TIKTOK_DATA/uploads: a file whose size and mtime held still for one "
    "tick becomes a video partition and one run; bad files go to quarantine/ with a reason.",
)
def upload_folder_sensor(
    context: SensorEvaluationContext, media_store: MediaStore, model_store: ModelStore
) -> SensorResult | SkipReason:
    """Cursor: ``{name: [size, mtime_ns]}`` of the files still in uploads/ at the last tick,
    so it stays as small as the folder. Runs leave out the analyzers whose real weights are
    missing (policy ``real``; see tiktok_assets.plan)."""
    uploads = media_store.path("uploads")
    uploads.mkdir(parents=True, exist_ok=True)
    try:
        previous = json.loads(context.cursor) if context.cursor else {}
    except ValueError:
        previous = {}
    seen: dict[str, list[int]] = {}
    run_requests: list[RunRequest] = []
    new_keys: list[str] = []
    handled = 0
    skipped: list[Skipped] | None = None  # looked up once, when a run is requested
    for path in _candidates(uploads):
        try:
            st = path.stat()
        except OSError:
            continue
        signature = [st.st_size, st.st_mtime_ns]
        if previous.get(path.name) != signature or handled >= max_files_per_tick():
            seen[path.name] = signature  # new or still being written, or over this tick's quota
            continue
        handled += 1
        try:
            info = media_store.admit(path)
            key, is_new = media_store.stage(path, move=True, info=info)
        except MediaError as exc:
            _quarantine(context, media_store, path, str(exc))
            continue
        except Exception as exc:  # a sensor must survive any file
            _quarantine(
                context, media_store, path, f"could not be read: {type(exc).__name__}: {exc}"
            )
            continue
        if not is_new:
            context.log.info(f"{path.name}: same bytes as video {key}, already stored; skipped")
            continue
        context.log.info(f"{path.name} -> video {key}")
        if skipped is None:
            skipped = skipped_analyzers(model_store)
            for s in skipped:
                context.log.warning(f"runs skip {s.analyzer}: {s.reason()}")
        new_keys.append(key)
        run_requests.append(
            RunRequest(
                run_key=f"sha256-{key.rsplit('-', 1)[-1]}",  # same bytes, same run key
                partition_key=key,
                tags={"tiktok/source": path.name},
                asset_selection=run_selection(skipped),
            )
        )
    cursor = json.dumps(seen, separators=(",", ":"))
    if not run_requests and not new_keys:
        context.update_cursor(cursor)
        return SkipReason(f"{len(seen)} file(s) waiting to settle" if seen else "no new uploads")
    return SensorResult(
        run_requests=run_requests,
        cursor=cursor,
        dynamic_partitions_requests=[videos.build_add_request(new_keys)] if new_keys else [],
    )


def _quarantine(
    context: SensorEvaluationContext, store: MediaStore, path: Path, reason: str
) -> None:
    try:
        dest = store.quarantine(path, reason)
        context.log.warning(f"{path.name} quarantined: {reason} ({dest})")
    except OSError as exc:
        context.log.error(f"{path.name}: {reason}; could not quarantine it either: {exc}")
