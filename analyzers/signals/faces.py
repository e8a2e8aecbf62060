"""The ``faces`` signal: every face in every sampled frame, tracked, each with a
``face_id`` that stays the same while the face stays on screen.

Detection is MediaPipe's BlazeFace (the models ship inside the mediapipe 0.10.21 wheel,
Apache-2.0): ``full`` range (default: faces up to ~5 m, so a group or a face small in a
wide shot is found; measured here it finds 3 faces of a group photo where the short
range model finds none) or ``short`` range (a selfie at arm's length). Tracking is
``analyzers.core.tracking.BoxTracker`` over the sampled frames in order, so emotion, age
and gaze, which read this one signal, agree on which face is which.

Coordinates are normalized to the frame (0-1, x right, y down).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from analyzers.core import Media, Models, Signal, SignalConfig, register_signal
from analyzers.core.tracking import Box, BoxTracker

KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear", "left_ear")
"""BlazeFace's six keypoints, in its order (the subject's right eye is on the image left
when the subject faces the camera)."""


@dataclass(frozen=True)
class Face:
    """One face in one frame: ``box`` normalized ``(x0, y0, x1, y1)``, ``score`` the
    detector's confidence 0-1, ``keypoints`` 6 x 2 normalized (see ``KEYPOINTS``)."""

    face_id: int
    box: Box
    score: float
    keypoints: tuple[tuple[float, float], ...]

    @property
    def area(self) -> float:
        """Share of the frame the box covers (0-1)."""
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])

    def side_px(self, frame_shape: tuple[int, ...]) -> float:
        """The box's shorter side in pixels of a frame of ``frame_shape`` (h, w, ...)."""
        h, w = frame_shape[:2]
        return min((self.box[2] - self.box[0]) * w, (self.box[3] - self.box[1]) * h)


@dataclass(frozen=True)
class FaceTracks:
    """Faces of each sampled frame (``frames[i]`` belongs to ``media.frames`` frame i),
    largest first; ``n_tracks`` distinct face ids in the video."""

    frames: list[list[Face]]
    n_tracks: int

    def at(self, indices: np.ndarray) -> list[tuple[int, Face]]:
        """(frame index, face) of every face in the frames ``indices``."""
        return [(int(i), f) for i in indices for f in self.frames[int(i)]]

    def most(self, indices: np.ndarray) -> int:
        """The most faces any one of the frames ``indices`` holds."""
        return max((len(self.frames[int(i)]) for i in indices), default=0)


@dataclass(frozen=True)
class FacesConfig(SignalConfig):
    """``model``: ``full`` or ``short`` range detector; ``min_confidence`` 0-1 (measured
    here: real faces score 0.78-0.94, a test pattern's false face 0.66);
    tracking: ``min_iou`` overlap, ``max_shift`` centre move in face sizes between two
    samples, ``max_gap_s`` seconds a face may be unseen (turned away, covered) and keep
    its id."""

    model: str = "full"
    min_confidence: float = 0.75
    min_iou: float = 0.1
    max_shift: float = 1.0
    max_gap_s: float = 2.0


def face_crop(
    frame: np.ndarray, box: Box, pad: float = 0.0, square: bool = False
) -> tuple[np.ndarray, tuple[int, int]]:
    """The pixels of ``box`` (normalized) grown by ``pad`` of its size on every side,
    clipped to the frame: (crop, (x0, y0) of the crop in the frame's pixels). ``square``:
    grow the shorter side first, so a model made for square faces sees one."""
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = box[0] * w, box[1] * h, box[2] * w, box[3] * h
    bw, bh = x1 - x0, y1 - y0
    if square:
        side = max(bw, bh)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        x0, x1, y0, y1 = cx - side / 2, cx + side / 2, cy - side / 2, cy + side / 2
        bw = bh = side
    a = (max(0, round(x0 - pad * bw)), max(0, round(y0 - pad * bh)))
    b = (min(w, round(x1 + pad * bw)), min(h, round(y1 + pad * bh)))
    if b[0] - a[0] < 2 or b[1] - a[1] < 2:
        return np.zeros((0, 0, 3), np.uint8), a
    return np.ascontiguousarray(frame[a[1] : b[1], a[0] : b[0]]), a


def face_box(face: Face) -> list[float]:
    """A face's box as a list of 4 floats (the tables' ``box`` field)."""
    return [round(float(v), 4) for v in face.box]


def main_face(faces: list[Face]) -> Face | None:
    """The largest face (the one the video is about, in a talking-head clip)."""
    return max(faces, key=lambda f: f.area, default=None)


class _Detector:
    """A MediaPipe face detector (one graph; reused across frames and videos)."""

    def __init__(self, model: str, min_confidence: float) -> None:
        import mediapipe as mp

        if model not in ("full", "short"):
            raise ValueError(f"faces: model must be 'full' or 'short', got {model!r}")
        self.min_confidence = min_confidence
        self.graph = mp.solutions.face_detection.FaceDetection(
            model_selection=1 if model == "full" else 0,
            min_detection_confidence=min_confidence,
        )

    def __call__(self, rgb: np.ndarray) -> list[tuple[Box, float, tuple]]:
        result = self.graph.process(np.ascontiguousarray(rgb))
        out = []
        for det in result.detections or []:
            if det.score[0] < self.min_confidence:  # the full-range graph lets lower ones by
                continue
            b = det.location_data.relative_bounding_box
            box = (
                float(np.clip(b.xmin, 0, 1)),
                float(np.clip(b.ymin, 0, 1)),
                float(np.clip(b.xmin + b.width, 0, 1)),
                float(np.clip(b.ymin + b.height, 0, 1)),
            )
            if box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
                continue
            kps = tuple((float(k.x), float(k.y)) for k in det.location_data.relative_keypoints)
            out.append((box, float(det.score[0]), kps))
        return out


@register_signal
class FacesSignal(Signal):
    """``FaceTracks``: MediaPipe face detections of every sampled frame with track ids."""

    name = "faces"
    version = "1"
    Config = FacesConfig
    asset = True
    model = "mediapipe-blazeface"

    def compute(
        self, media: Media, config: FacesConfig, inputs: Mapping[str, Any], models: Models
    ) -> FaceTracks:
        detect = models.get(
            ("mediapipe-face-detection", config.model, config.min_confidence),
            lambda: _Detector(config.model, config.min_confidence),
        )
        stream = media.frames
        gap = max(1, round(config.max_gap_s * max(stream.fps, 1e-3)))
        tracker = BoxTracker(config.min_iou, config.max_shift, gap)
        frames: list[list[Face]] = []
        for i in range(len(stream)):
            dets = sorted(detect(np.asarray(stream.frames[i])), key=lambda d: -_area(d[0]))
            ids = tracker.update([d[0] for d in dets])
            frames.append([Face(fid, *d) for fid, d in zip(ids, dets, strict=True)])
        n = len({f.face_id for fr in frames for f in fr})
        return FaceTracks(frames, n)

    def weights_mode(self, config: Any, models: Models) -> Any:
        return "real"  # the detector ships inside the mediapipe wheel

    def summary(self, value: FaceTracks) -> dict[str, Any]:
        with_face = sum(1 for fr in value.frames if fr)
        return {"face_ids": value.n_tracks, "frames_with_faces": with_face}


def _area(box: Box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])
