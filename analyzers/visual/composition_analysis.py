"""Composition per second: where the main subject sits, how much of the frame it fills,
the room above it, the picture's left-right symmetry, and the shot type.

Main subject (the second's last sampled frame): the largest person the ``objects`` signal
found (YOLO, score >= ``min_detection``), else the largest face of the ``faces`` signal
(MediaPipe), else the largest other object, else none. Its point of interest is the face
centre when a face lies inside the subject (people are framed by their eyes), else the
box centre.

- ``thirds_score`` 0-1: 1 on a rule-of-thirds intersection, 0 at the centre of the frame
  (or farther), linear in the distance to the nearest intersection between the two;
- ``symmetry`` 0-1: correlation of a blurred 36x64 grey thumbnail with its mirror image
  (1 mirror-symmetric, ~0 unrelated halves; a flat frame counts as symmetric);
- ``subject_area`` 0-1: the subject box's share of the frame; ``headroom`` 0-1: the share
  of the frame height above the subject's top edge; ``subject_box`` normalized xyxy;
  ``subject_kind`` person, face, object or null;
- ``shot_type`` close_up / medium / wide: CLIP prompts on the ``clip`` signal when its
  weights are real (``shot_type_source`` "clip"); with random CLIP weights, from the face
  height (>= ``close_up_face`` of the frame height: close-up, >= ``medium_face``: medium,
  else wide; ``shot_type_source`` "geometry").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, register
from analyzers.core.clip import clip_mode, prompt_probs
from analyzers.signals.clip import ClipEmbeddings
from analyzers.signals.faces import Face, FaceTracks
from analyzers.signals.objects import Detection, ObjectTracks
from analyzers.signals.ocr import Box

SHOT_PROMPTS = {
    "close_up": "a close-up photo of a face",
    "medium": "a medium shot of a person from the waist up",
    "wide": "a wide shot of a whole scene",
}
THIRDS = (1 / 3, 2 / 3)
_CENTRE_TO_THIRD = float(np.hypot(1 / 6, 1 / 6))


@dataclass(frozen=True)
class CompositionConfig(BaseConfig):
    """``min_detection``: least YOLO score of a subject (0-1); ``close_up_face`` /
    ``medium_face``: face heights (share of the frame height) of the geometric shot
    types."""

    min_detection: float = 0.4
    close_up_face: float = 0.18
    medium_face: float = 0.06


def thirds_score(x: float, y: float) -> float:
    """1 on a rule-of-thirds intersection, 0 at the frame's centre or farther from one;
    ``x``, ``y`` normalized."""
    d = min(np.hypot(x - tx, y - ty) for tx in THIRDS for ty in THIRDS)
    return float(np.clip(1 - d / _CENTRE_TO_THIRD, 0.0, 1.0))


def symmetry(rgb: np.ndarray) -> float:
    """Left-right symmetry 0-1 of an RGB frame (see module doc)."""
    grey = cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2GRAY)
    small = cv2.GaussianBlur(cv2.resize(grey, (36, 64), interpolation=cv2.INTER_AREA), (3, 3), 0)
    a = small.astype(np.float64).ravel()
    b = small[:, ::-1].astype(np.float64).ravel()
    if a.std() < 1e-6:
        return 1.0
    return float(np.clip(np.corrcoef(a, b)[0, 1], 0.0, 1.0))


def main_subject(
    dets: list[Detection], faces: list[Face], min_detection: float
) -> tuple[str, Box, tuple[float, float]] | None:
    """(kind, box, point of interest) of the main subject, or None (see module doc)."""

    def centre(b: Box) -> tuple[float, float]:
        return ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)

    sure = [d for d in dets if d.conf >= min_detection]
    people = [d for d in sure if d.name == "person"]
    if people:
        box = max(people, key=lambda d: d.area).box
        inside = [f for f in faces if box[0] <= centre(f.box)[0] <= box[2]
                  and box[1] <= centre(f.box)[1] <= box[3]]  # fmt: skip
        point = centre(max(inside, key=lambda f: f.area).box) if inside else centre(box)
        return "person", box, point
    if faces:
        box = max(faces, key=lambda f: f.area).box
        return "face", box, centre(box)
    if sure:
        box = max(sure, key=lambda d: d.area).box
        return "object", box, centre(box)
    return None


def geometric_shot(faces: list[Face], config: CompositionConfig) -> str:
    """Shot type from the largest face's height (share of the frame height)."""
    h = max((f.box[3] - f.box[1] for f in faces), default=0.0)
    return (
        "close_up" if h >= config.close_up_face else "medium" if h >= config.medium_face else "wide"
    )


@register
class CompositionAnalysis(FrameAnalyzer):
    """Composition per second (see module doc): ``shot_type``, ``shot_type_source``,
    ``thirds_score``, ``symmetry``, ``subject_area``, ``headroom`` (0-1 each),
    ``subject_box``, ``subject_kind``."""

    name = "composition_analysis"
    version = "1"
    stage = "stage3_light"
    Config = CompositionConfig
    requires = ("objects", "faces", "clip")
    model = "openclip shot prompts + geometry"
    output_schema = pa.schema(
        [
            ("shot_type", pa.string()),
            ("shot_type_source", pa.string()),
            ("thirds_score", pa.float32()),
            ("symmetry", pa.float32()),
            ("subject_area", pa.float32()),
            ("headroom", pa.float32()),
            ("subject_box", pa.list_(pa.float32())),
            ("subject_kind", pa.string()),
        ]
    )
    ranges = {
        "thirds_score": (0, 1),
        "symmetry": (0, 1),
        "subject_area": (0, 1),
        "headroom": (0, 1),
    }

    def analyze(  # type: ignore[override]
        self, media: Media, config: CompositionConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        assert self.models is not None
        objects: ObjectTracks = signals["objects"]
        faces: FaceTracks = signals["faces"]
        emb: ClipEmbeddings = signals["clip"]
        shots = list(SHOT_PROMPTS)
        probs = None
        if clip_mode(self.models, emb.arch) == "real":  # random CLIP would pick at random
            probs = prompt_probs(self.models, emb.arch, emb.images, list(SHOT_PROMPTS.values()))
        rows = []
        for s in media.seconds():
            idx = media.frames.indices_in(s)
            if len(idx) == 0:
                rows.append({"second": s})
                continue
            i = int(idx[-1])
            subject = main_subject(objects.frames[i], faces.frames[i], config.min_detection)
            row: dict[str, Any] = {
                "second": s,
                "symmetry": round(symmetry(media.frames.frames[i]), 4),
                "shot_type": shots[int(probs[i].argmax())] if probs is not None
                else geometric_shot(faces.frames[i], config),
                "shot_type_source": "clip" if probs is not None else "geometry",
            }  # fmt: skip
            if subject is not None:
                kind, box, (x, y) = subject
                row.update(
                    subject_kind=kind,
                    subject_box=[round(v, 4) for v in box],
                    subject_area=round((box[2] - box[0]) * (box[3] - box[1]), 4),
                    headroom=round(max(0.0, box[1]), 4),
                    thirds_score=round(thirds_score(x, y), 4),
                )
            rows.append(row)
        return self.table(media, rows)
