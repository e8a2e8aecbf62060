"""The ``objects`` signal: YOLOv8 detections on every sampled frame, tracked with
ultralytics' own ByteTrack, so the same cup keeps one ``track_id`` across seconds.
object_detection, product_detection and composition_analysis read this one signal, so
object 3 is the same object in every table.

Detection: YOLOv8 (``size`` n/s/m/l/x, default m; COCO's 80 classes; AGPL-3.0 weights from
the model home, ``models pull yolov8m``), all sampled frames of a video in batches of
``batch_size``, half precision on a GPU. Without its checkpoint the real architecture
runs with random weights (``YOLO("yolov8m.yaml")``: plumbing and GPU cost; it detects
nothing meaningful). Tracking: ``ultralytics.trackers.BYTETracker`` over the frames in
order, fed the detections as ultralytics ``Boxes`` (two-stage association: confident boxes
first, then low-score ones against the tracks left), its lost-track buffer set to
``track_buffer_s`` seconds of sampled frames. A detection ByteTrack has not confirmed yet
(an object's first frame, after the video's first) has ``track_id`` None.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from analyzers.core import Media, Models, Signal, SignalConfig, WeightSpec, register_signal
from analyzers.core.runner import run_batched
from analyzers.core.yolo import SIZES, Yolo, yolo_weights

YOLO_WEIGHTS = yolo_weights("", {"n": 6.2, "s": 22, "m": 52, "l": 87, "x": 131})


@dataclass(frozen=True)
class ObjectsConfig(SignalConfig):
    """``size``: YOLOv8 size; ``min_confidence``: detections kept (0-1); ``batch_size``:
    frames per model call; tracker: ``track_high``/``track_low`` ByteTrack's two score
    thresholds, ``new_track`` the score that starts a track, ``match_iou`` its association
    threshold (as 1 - IoU distance), ``track_buffer_s`` seconds a lost track waits to be
    found again."""

    size: str = "m"
    min_confidence: float = 0.25
    batch_size: int = 32
    track_high: float = 0.25
    track_low: float = 0.1
    new_track: float = 0.25
    match_iou: float = 0.8
    track_buffer_s: float = 3.0


@dataclass(frozen=True)
class Detection:
    """One box in one frame: normalized xyxy, score 0-1, COCO class index and name, and
    the track id (None until ByteTrack confirms it)."""

    box: tuple[float, float, float, float]
    conf: float
    cls: int
    name: str
    track_id: int | None = None

    @property
    def area(self) -> float:
        """Share of the frame the box covers (0-1)."""
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


@dataclass(frozen=True)
class ObjectTracks:
    """Tracked detections per sampled frame (``frames[i]`` for ``media.frames`` index i)
    and the model that made them."""

    frames: list[list[Detection]]
    backend: str

    def at(self, indices: np.ndarray) -> list[list[Detection]]:
        return [self.frames[int(i)] for i in indices]


def track(
    frames: list[list[Detection]], fps: float, config: ObjectsConfig
) -> list[list[int | None]]:
    """ByteTrack ids for ``frames`` (detections per frame, in order): one list per frame,
    an id (or None, not confirmed yet) per detection. ``fps``: sampled frames per second."""
    from ultralytics.engine.results import Boxes
    from ultralytics.trackers.byte_tracker import BYTETracker

    args = SimpleNamespace(
        tracker_type="bytetrack", track_high_thresh=config.track_high,
        track_low_thresh=config.track_low, new_track_thresh=config.new_track,
        track_buffer=max(1, round(config.track_buffer_s * fps)), match_thresh=config.match_iou,
        fuse_score=True,
    )  # fmt: skip
    tracker = BYTETracker(args)
    scale = 1000.0  # ByteTrack's Kalman filter works in pixels: give it a 1000 px frame
    out: list[list[int | None]] = []
    for dets in frames:
        data = np.array([[*(np.array(d.box) * scale), d.conf, d.cls] for d in dets], np.float32)
        boxes = Boxes(data.reshape(-1, 6), (int(scale), int(scale)))
        ids: list[int | None] = [None] * len(dets)
        for row in tracker.update(boxes):
            ids[int(row[-1])] = int(row[4])
        out.append(ids)
    return out


def detections(results: list[Any]) -> list[list[Detection]]:
    """The boxes of ultralytics ``Results``, one list per frame."""
    out = []
    for r in results:
        b = r.boxes
        xyxy, conf, cls = b.xyxyn.cpu().numpy(), b.conf.cpu().numpy(), b.cls.cpu().numpy()
        out.append([
            Detection(tuple(float(v) for v in xyxy[j]), float(conf[j]), int(cls[j]),  # type: ignore[arg-type]
                      str(r.names.get(int(cls[j]), int(cls[j]))))
            for j in range(len(conf))
        ])  # fmt: skip
    return out


@register_signal
class ObjectsSignal(Signal):
    """``ObjectTracks``: YOLOv8 detections of every sampled frame with ByteTrack ids."""

    name = "objects"
    version = "1"
    Config = ObjectsConfig
    weights = tuple(YOLO_WEIGHTS.values())
    asset = True
    model = "yolov8 + bytetrack"

    @classmethod
    def required_weights(cls, config: ObjectsConfig) -> tuple[WeightSpec, ...]:  # type: ignore[override]
        if config.size not in SIZES:
            raise ValueError(f"objects: size must be one of {SIZES}, got {config.size!r}")
        return (YOLO_WEIGHTS[config.size],)

    def compute(
        self, media: Media, config: ObjectsConfig, inputs: Mapping[str, Any], models: Models
    ) -> ObjectTracks:
        (spec,) = self.required_weights(config)
        path, _ = models.resolve(spec)
        yolo = models.get(
            ("yolo", config.size, path, models.device),
            lambda: Yolo(path, f"yolov8{config.size}.yaml", "detect", models.device),
        )
        stream = media.frames
        found = run_batched(
            lambda b: detections(
                yolo([np.asarray(stream.frames[i]) for i in b], config.min_confidence)
            ),
            list(range(len(stream))), config.batch_size,
        )  # fmt: skip
        ids = track(found, stream.fps, config)
        frames = [
            [dataclasses.replace(d, track_id=t) for d, t in zip(dets, tids, strict=True)]
            for dets, tids in zip(found, ids, strict=True)
        ]
        return ObjectTracks(frames, f"yolov8{config.size}")

    def summary(self, value: ObjectTracks) -> dict[str, Any]:
        tracks = {d.track_id for fr in value.frames for d in fr if d.track_id is not None}
        return {"detections": sum(len(f) for f in value.frames), "tracks": len(tracks)}
