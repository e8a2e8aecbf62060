"""Bodies and their pose, per second: COCO keypoints of every person, whether the main
person faces the camera, how much they gesture, and what the shot shows of them.

Backends (``backend``):
- ``yolo``: ultralytics YOLOv8-pose (``size`` n/s/m/l/x, default m; AGPL-3.0 weights from
  the model home, ``models pull yolov8m-pose``), every person in the frame, all sampled
  frames of a video in batches of ``batch_size``; with random weights, the real
  architecture (for plumbing and GPU cost);
- ``mediapipe``: MediaPipe Pose (BlazePose, model_complexity 1, shipped inside the
  mediapipe 0.10.21 wheel, Apache-2.0): one person per frame, real weights offline;
- ``auto`` (default): ``yolo`` on a GPU when its real weights are in the model home, else
  ``mediapipe`` (measured on 2 CPU cores for 60 s of video: YOLOv8m-pose 82 s, MediaPipe
  4.5 s; on one H200, YOLOv8m-pose 0.23 s). Name ``yolo`` to run it on a CPU anyway.

Keypoints are COCO's 17 (nose, eyes, ears, shoulders, elbows, wrists, hips, knees,
ankles; left = the person's left) as ``[x, y, confidence]``, x and y normalized to the
frame; BlazePose's 33 landmarks are mapped onto them. Persons are tracked across the
sampled frames (``analyzers.core.tracking``) for ``person_id`` and motion.

Per second, from the main (largest) person:
- ``facing_camera``: their left shoulder is on the image's right of their right one (a
  mirror view), or, with no shoulders in view, both eyes and the nose are;
- ``gesture_energy``: how fast wrists and elbows move, in shoulder widths per second
  (0 still; talking with the hands ~0.5-2);
- ``pose_label``: ``no_body`` (nobody), ``close_up`` (no hips in view), ``upper_body``
  (hips but no knees), ``sitting`` (thighs closer to horizontal than vertical),
  ``standing`` (knees below the hips, thighs upright); the second's most frequent one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, Models, WeightSpec, register
from analyzers.core.tracking import BoxTracker
from analyzers.core.yolo import SIZES, Yolo, yolo_weights

COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
BLAZEPOSE_TO_COCO = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
K = {name: i for i, name in enumerate(COCO_KEYPOINTS)}
YOLO_POSE_WEIGHTS = yolo_weights("-pose", {"n": 6.5, "s": 23, "m": 53, "l": 89, "x": 133})
PERSON_TYPE = pa.struct(
    [
        ("person_id", pa.int32()),
        ("box", pa.list_(pa.float32())),
        ("score", pa.float32()),
        ("keypoints", pa.list_(pa.list_(pa.float32()))),
    ]
)


@dataclass(frozen=True)
class Person:
    """One person in one frame: ``box`` normalized xyxy, ``score`` 0-1, ``keypoints``
    17 x 3 (x, y normalized, confidence 0-1) in COCO order."""

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray


@dataclass(frozen=True)
class PoseConfig(BaseConfig):
    """``backend``: auto, yolo or mediapipe; ``size``: YOLOv8-pose size; ``min_confidence``:
    person score kept (0-1); ``min_keypoint``: keypoint confidence that counts as seen."""

    backend: str = "auto"
    size: str = "m"
    min_confidence: float = 0.4
    min_keypoint: float = 0.5
    batch_size: int = 32


def resolve_backend(config: PoseConfig, models: Models) -> str:
    """The backend ``auto`` stands for with this model home."""
    if config.backend not in ("auto", "yolo", "mediapipe"):
        raise ValueError(f"body_pose: unknown backend {config.backend!r}")
    if config.size not in SIZES:
        raise ValueError(f"body_pose: size must be one of {SIZES}, got {config.size!r}")
    if config.backend == "auto":
        gpu = models.device.startswith("cuda")
        return "yolo" if gpu and models.is_present(YOLO_POSE_WEIGHTS[config.size]) else "mediapipe"
    return config.backend


def _seen(p: Person, names: tuple[str, ...], min_kp: float) -> bool:
    return all(p.keypoints[K[n], 2] >= min_kp for n in names)


def facing_camera(p: Person, min_kp: float = 0.5) -> bool | None:
    """Whether a person faces the camera (None: too little of them is seen)."""
    kp = p.keypoints
    if _seen(p, ("left_shoulder", "right_shoulder"), min_kp):
        return bool(kp[K["left_shoulder"], 0] > kp[K["right_shoulder"], 0])
    if _seen(p, ("nose", "left_eye", "right_eye"), min_kp):
        return bool(kp[K["left_eye"], 0] > kp[K["right_eye"], 0])
    return None


def pose_label(p: Person | None, min_kp: float = 0.5, aspect: float = 1.0) -> str:
    """``no_body``, ``close_up``, ``upper_body``, ``sitting`` or ``standing`` (see the
    module doc). ``aspect``: frame height over width, so thigh angles are measured in
    pixels, not in normalized units."""
    if p is None:
        return "no_body"
    kp = p.keypoints
    hips = [n for n in ("left_hip", "right_hip") if kp[K[n], 2] >= min_kp]
    if not hips:
        return "close_up"
    thighs = [
        (kp[K[n.replace("hip", "knee")], :2] - kp[K[n], :2]) * np.array([1.0, aspect])
        for n in hips
        if kp[K[n.replace("hip", "knee")], 2] >= min_kp
    ]
    if not thighs:
        return "upper_body"
    dx, dy = np.mean([abs(t[0]) for t in thighs]), np.mean([t[1] for t in thighs])
    return "standing" if dy > 0 and dy >= 1.5 * dx else "sitting"


def limb_speed(a: Person, b: Person, dt: float, min_kp: float = 0.5) -> float | None:
    """Mean speed of the wrists and elbows seen in both ``a`` and ``b`` (``dt`` seconds
    apart), in shoulder widths per second (box widths when no shoulders are seen)."""
    idx = [K[n] for n in ("left_wrist", "right_wrist", "left_elbow", "right_elbow")]
    both = [i for i in idx if a.keypoints[i, 2] >= min_kp and b.keypoints[i, 2] >= min_kp]
    if not both or dt <= 0:
        return None
    if _seen(b, ("left_shoulder", "right_shoulder"), min_kp):
        unit = float(
            np.linalg.norm(
                b.keypoints[K["left_shoulder"], :2] - b.keypoints[K["right_shoulder"], :2]
            )
        )
    else:
        unit = b.box[2] - b.box[0]
    move = np.linalg.norm(a.keypoints[both, :2] - b.keypoints[both, :2], axis=1).mean()
    return float(move / max(unit, 1e-3) / dt)


class _BlazePose:
    def __init__(self) -> None:
        import mediapipe as mp

        self.graph = mp.solutions.pose.Pose(
            static_image_mode=True, model_complexity=1, min_detection_confidence=0.5
        )

    def __call__(self, frames: list[np.ndarray], min_conf: float) -> list[list[Person]]:
        out = []
        for rgb in frames:
            res = self.graph.process(np.ascontiguousarray(rgb))
            if res.pose_landmarks is None:
                out.append([])
                continue
            lm = res.pose_landmarks.landmark
            kp = np.array([(lm[i].x, lm[i].y, lm[i].visibility) for i in BLAZEPOSE_TO_COCO],
                          dtype=np.float32)  # fmt: skip
            vis = np.array([(p.x, p.y) for p in lm if p.visibility >= 0.5])
            pts = vis if len(vis) else kp[:, :2]
            box = tuple(float(v) for v in np.clip([*pts.min(0), *pts.max(0)], 0, 1))
            out.append([Person(box, float(kp[:, 2].mean()), kp)])  # type: ignore[arg-type]
        return out


class _YoloPose:
    """YOLOv8-pose (``analyzers.core.yolo``) returning ``Person`` lists."""

    def __init__(self, path: str | None, size: str, device: str) -> None:
        self.yolo = Yolo(path, f"yolov8{size}-pose.yaml", "pose", device)
        self.model = self.yolo.model

    def __call__(self, frames: list[np.ndarray], min_conf: float) -> list[list[Person]]:
        out = []
        for r in self.yolo(frames, min_conf):
            people = []
            if r.keypoints is not None and r.boxes is not None and len(r.boxes):
                xy = r.keypoints.xyn.cpu().numpy()
                conf = r.keypoints.conf
                conf = conf.cpu().numpy() if conf is not None else np.ones(xy.shape[:2])
                for j, (box, score) in enumerate(zip(r.boxes.xyxyn.cpu().numpy(),
                                                     r.boxes.conf.cpu().numpy(), strict=True)):  # fmt: skip
                    kp = np.concatenate([xy[j], conf[j][:, None]], axis=1).astype(np.float32)
                    people.append(Person(tuple(float(v) for v in box), float(score), kp))  # type: ignore[arg-type]
            out.append(people)
        return out


@register
class BodyPose(FrameAnalyzer):
    """Persons per second: ``n_persons``, ``persons`` (person_id, box normalized xyxy,
    score, 17 COCO keypoints [x, y, confidence]), and of the main person
    ``facing_camera``, ``gesture_energy`` (shoulder widths per second), ``pose_label``;
    ``backend``."""

    name = "body_pose"
    version = "1"
    stage = "stage3_light"
    Config = PoseConfig
    weights = tuple(YOLO_POSE_WEIGHTS.values())
    model = "yolov8-pose / mediapipe-blazepose"
    output_schema = pa.schema(
        [
            ("n_persons", pa.int32()),
            ("persons", pa.list_(PERSON_TYPE)),
            ("facing_camera", pa.bool_()),
            ("gesture_energy", pa.float32()),
            ("pose_label", pa.string()),
            ("backend", pa.string()),
        ]
    )
    ranges = {"n_persons": (0, None), "gesture_energy": (0, None)}

    @classmethod
    def required_weights(cls, config: PoseConfig) -> tuple[WeightSpec, ...]:  # type: ignore[override]
        return (YOLO_POSE_WEIGHTS[config.size],) if config.backend == "yolo" else ()

    def _estimator(self, config: PoseConfig) -> tuple[str, Any]:
        assert self.models is not None
        backend = resolve_backend(config, self.models)
        if backend == "mediapipe":
            self.weights_mode = "real"
            return backend, self.models.get(("mediapipe-pose",), _BlazePose)
        path, self.weights_mode = self.models.resolve(YOLO_POSE_WEIGHTS[config.size])
        key = ("yolo-pose", config.size, path, self.device)
        return backend, self.models.get(key, lambda: _YoloPose(path, config.size, self.device))

    def analyze(  # type: ignore[override]
        self, media: Media, config: PoseConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        from analyzers.core.runner import run_batched

        backend, estimate = self._estimator(config)
        stream = media.frames
        picks = {s: stream.sample(s, config.sample_fps) for s in media.seconds()}
        order = sorted({int(i) for idx in picks.values() for i in idx})
        found = run_batched(
            lambda b: estimate([np.asarray(stream.frames[i]) for i in b], config.min_confidence),
            order, config.batch_size,
        )  # fmt: skip
        tracker = BoxTracker(min_iou=0.2, max_shift=0.5, max_gap=4)
        people: dict[int, list[tuple[int, Person]]] = {}
        prev_main: tuple[int, Person] | None = None
        prev_i = 0
        speeds: dict[int, float] = {}
        h, w = stream.frames.shape[1:3]
        for i, persons in zip(order, found, strict=True):
            ids = tracker.update([p.box for p in persons])
            people[i] = list(zip(ids, persons, strict=True))
            main = max(people[i], key=lambda x: _area(x[1].box), default=None)
            if main is not None and prev_main is not None and main[0] == prev_main[0]:
                dt = float(stream.pts[i] - stream.pts[prev_i])
                v = limb_speed(prev_main[1], main[1], dt, config.min_keypoint)
                if v is not None:
                    speeds[i] = v
            prev_main, prev_i = main, i
        rows = []
        for s, idx in picks.items():
            if len(idx) == 0:
                rows.append({"second": s})
                continue
            frames = [people[int(i)] for i in idx]
            last = frames[-1]
            mains = [max(f, key=lambda x: _area(x[1].box))[1] if f else None for f in frames]
            labels = Counter(pose_label(m, config.min_keypoint, h / w) for m in mains)
            facing = [facing_camera(m, config.min_keypoint) for m in mains if m is not None]
            facing = [f for f in facing if f is not None]
            v = [speeds[int(i)] for i in idx if int(i) in speeds]
            rows.append({
                "second": s,
                "n_persons": max(len(f) for f in frames),
                "persons": [
                    {"person_id": pid, "box": [round(float(x), 4) for x in p.box],
                     "score": p.score, "keypoints": np.round(p.keypoints, 4).tolist()}
                    for pid, p in last
                ],
                "facing_camera": Counter(facing).most_common(1)[0][0] if facing else None,
                "gesture_energy": float(np.mean(v)) if v else None,
                "pose_label": labels.most_common(1)[0][0],
                "backend": backend,
            })  # fmt: skip
        return self.table(media, rows)


def _area(box: tuple[float, float, float, float]) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])
