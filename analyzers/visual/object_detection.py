"""Objects per second: ultralytics YOLOv8 detections on every sampled frame, tracked with
ultralytics' own ByteTrack, so the same cup keeps one ``track_id`` across seconds.

Detection: YOLOv8 (``size`` n/s/m/l/x, default m; COCO's 80 classes; AGPL-3.0 weights from
the model home, ``models pull yolov8m``), all sampled frames of a video in batches of
``batch_size``, half precision on a GPU. Without its checkpoint the real architecture
runs with random weights (``YOLO("yolov8m.yaml")``: plumbing and GPU cost; it detects
nothing meaningful). Tracking: ``ultralytics.trackers.BYTETracker`` over the frames in
order, fed the detections as ultralytics ``Boxes`` (two-stage association: confident boxes
first, then low-score ones against the tracks left), its lost-track buffer set to
``track_buffer_s`` seconds of sampled frames. A detection ByteTrack has not confirmed yet
(an object's first frame, after the video's first) has ``track_id`` null.

Per second, from its last sampled frame: ``objects`` [{cls, conf, box normalized xyxy,
track_id}], ``counts`` [{cls, n}] (most of each class in any one of the second's frames),
``n_objects``, ``backend``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, WeightSpec, register
from analyzers.core.runner import run_batched
from analyzers.core.yolo import SIZES, Yolo, yolo_weights

YOLO_WEIGHTS = yolo_weights("", {"n": 6.2, "s": 22, "m": 52, "l": 87, "x": 131})
OBJECT_TYPE = pa.struct(
    [
        ("cls", pa.string()),
        ("conf", pa.float32()),
        ("box", pa.list_(pa.float32())),
        ("track_id", pa.int32()),
    ]
)
COUNT_TYPE = pa.struct([("cls", pa.string()), ("n", pa.int32())])


@dataclass(frozen=True)
class DetectionConfig(BaseConfig):
    """``size``: YOLOv8 size; ``min_confidence``: detections kept (0-1); tracker:
    ``track_high``/``track_low`` ByteTrack's two score thresholds, ``new_track`` the score
    that starts a track, ``match_iou`` its association threshold (as 1 - IoU distance),
    ``track_buffer_s`` seconds a lost track waits to be found again."""

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
    """One box in one frame: normalized xyxy, score, class index and name."""

    box: tuple[float, float, float, float]
    conf: float
    cls: int
    name: str


def track(
    frames: list[list[Detection]], fps: float, config: DetectionConfig
) -> list[list[int | None]]:
    """ByteTrack ids for ``frames`` (detections per frame, in order): one list per frame,
    an id (or None, not confirmed yet) per detection."""
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
            Detection(tuple(float(v) for v in xyxy[j]), float(conf[j]), int(cls[j]),
                      str(r.names.get(int(cls[j]), int(cls[j]))))  # type: ignore[arg-type]
            for j in range(len(conf))
        ])  # fmt: skip
    return out


@register
class ObjectDetection(FrameAnalyzer):
    """Tracked objects per second: ``objects`` [{cls, conf 0-1, box normalized xyxy,
    track_id}], ``counts`` [{cls, n}], ``n_objects``, ``backend``."""

    name = "object_detection"
    version = "1"
    stage = "stage2_medium"
    Config = DetectionConfig
    weights = tuple(YOLO_WEIGHTS.values())
    model = "yolov8 + bytetrack"
    output_schema = pa.schema(
        [
            ("objects", pa.list_(OBJECT_TYPE)),
            ("counts", pa.list_(COUNT_TYPE)),
            ("n_objects", pa.int32()),
            ("backend", pa.string()),
        ]
    )

    @classmethod
    def required_weights(cls, config: DetectionConfig) -> tuple[WeightSpec, ...]:  # type: ignore[override]
        if config.size not in SIZES:
            raise ValueError(f"object_detection: size must be one of {SIZES}, got {config.size!r}")
        return (YOLO_WEIGHTS[config.size],)

    def analyze(  # type: ignore[override]
        self, media: Media, config: DetectionConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        assert self.models is not None
        (spec,) = self.required_weights(config)
        path, self.weights_mode = self.models.resolve(spec)
        key = ("yolo", config.size, path, self.device)
        yolo = self.models.get(
            key, lambda: Yolo(path, f"yolov8{config.size}.yaml", "detect", self.device)
        )
        stream = media.frames
        picks = {s: stream.sample(s, config.sample_fps) for s in media.seconds()}
        order = sorted({int(i) for idx in picks.values() for i in idx})
        found = run_batched(
            lambda b: detections(
                yolo([np.asarray(stream.frames[i]) for i in b], config.min_confidence)
            ),
            order, config.batch_size,
        )  # fmt: skip
        ids = track(found, stream.fps, config)
        at = {i: list(zip(d, t, strict=True)) for i, d, t in zip(order, found, ids, strict=True)}
        rows = []
        for s, idx in picks.items():
            if len(idx) == 0:
                rows.append({"second": s})
                continue
            last = at[int(idx[-1])]
            counts: Counter[str] = Counter()
            for i in idx:
                for name, n in Counter(d.name for d, _ in at[int(i)]).items():
                    counts[name] = max(counts[name], n)
            rows.append({
                "second": s,
                "objects": [
                    {"cls": d.name, "conf": d.conf, "box": [round(v, 4) for v in d.box],
                     "track_id": t}
                    for d, t in last
                ],
                "counts": [{"cls": c, "n": n} for c, n in sorted(counts.items())],
                "n_objects": len(last),
                "backend": f"yolov8{config.size}",
            })  # fmt: skip
        self.info["detections"] = sum(len(f) for f in found)
        return self.table(media, rows)
