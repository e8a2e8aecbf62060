"""Hard cuts with frame precision, from every decoded frame at low resolution.

The score is PySceneDetect's content value (mean absolute HSV difference between
consecutive frames) made adaptive as in its AdaptiveDetector: a frame is a cut when its
score is both above ``min_content`` and ``adaptive_ratio`` times the mean score of the
``window`` frames on either side, so fades and steady motion do not fire. A change that
returns to the previous picture within ``flash_frames`` frames is a flash, not a cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, register


@dataclass(frozen=True)
class CutConfig(BaseConfig):
    """Thresholds in content-value units (0-255 mean HSV difference); ``window`` and
    ``flash_frames`` in frames; ``min_shot_s`` minimum shot length in seconds."""

    min_content: float = 15.0
    adaptive_ratio: float = 3.0
    window: int = 2
    flash_frames: int = 3
    min_shot_s: float = 0.25


def content_scores(frames: np.ndarray) -> np.ndarray:
    """Score of each frame against the previous one (score[0] = 0). ``frames``: N x H x W
    x 3 uint8 RGB. Hue is weighted by saturation and value so near-black and grey pixels,
    whose hue is noise, do not count."""
    n = len(frames)
    scores = np.zeros(n, dtype=np.float32)
    if n < 2:
        return scores
    prev = None
    for i in range(n):
        hsv = cv2.cvtColor(np.asarray(frames[i]), cv2.COLOR_RGB2HSV).astype(np.float32)
        if prev is not None:
            dh = np.abs(hsv[..., 0] - prev[..., 0])
            dh = np.minimum(dh, 180 - dh) * (255 / 90)  # circular hue, scaled to 0-255
            w = np.minimum(hsv[..., 1] * hsv[..., 2], prev[..., 1] * prev[..., 2]) / 255**2
            ds = np.abs(hsv[..., 1] - prev[..., 1]) * np.minimum(hsv[..., 2], prev[..., 2]) / 255
            dv = np.abs(hsv[..., 2] - prev[..., 2])
            scores[i] = (float((dh * w).mean()) + float(ds.mean()) + float(dv.mean())) / 3
        prev = hsv
    return scores


def frame_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Content value between two arbitrary frames (same units as ``content_scores``)."""
    return float(content_scores(np.stack([a, b]))[1])


def detect_cuts(frames: np.ndarray, fps: float, config: CutConfig) -> list[int]:
    """Indices of the first frame of each new shot."""
    scores = content_scores(frames)
    n = len(scores)
    cuts: list[int] = []
    min_gap = max(1, round(config.min_shot_s * fps))
    flash_until = -1
    for i in range(1, n):
        if scores[i] < config.min_content or i <= flash_until:
            continue
        lo, hi = max(1, i - config.window), min(n, i + config.window + 1)
        neighbours = np.concatenate([scores[lo:i], scores[i + 1 : hi]])
        base = float(neighbours.mean()) if len(neighbours) else 0.0
        if scores[i] < config.adaptive_ratio * max(base, 1e-3):
            continue
        if cuts and i - cuts[-1] < min_gap:
            continue
        back = [
            j
            for j in range(i + 1, min(n, i + 1 + config.flash_frames))
            if frame_distance(frames[i - 1], frames[j]) < config.min_content / 2
        ]
        if back:  # the picture came back: a flash, and its end is no cut either
            flash_until = back[0]
            continue
        cuts.append(i)
    return cuts


@register
class CutAnalysis(FrameAnalyzer):
    """Hard cuts per second. ``cut_at``: times (seconds, the pts of the first frame of the
    new shot) inside the row's second; ``shot_id``: shot at the start of the second,
    counted from 0; ``shot_length``: that shot's length in seconds."""

    name = "cut_analysis"
    version = "1"
    stage = "stage4_fast"
    Config = CutConfig
    output_schema = pa.schema(
        [
            ("cut_at", pa.list_(pa.float64())),
            ("cuts", pa.int32()),
            ("shot_id", pa.int32()),
            ("shot_length", pa.float32()),
            ("content_score_max", pa.float32()),
        ]
    )

    def analyze(self, media: Media, config: CutConfig) -> pa.Table:  # type: ignore[override]
        stream = media.lowres
        frames = np.asarray(stream.frames)
        cut_idx = detect_cuts(frames, stream.fps, config)
        scores = content_scores(frames)
        times = [float(stream.pts[i]) for i in cut_idx]
        bounds = [0.0, *times, float(media.duration_s)]
        rows = []
        for s in media.seconds():
            inside = [t for t in times if s <= t < s + 1]
            shot = int(np.searchsorted(times, s + 1e-6, side="right"))
            in_sec = stream.indices_in(s)
            rows.append(
                {
                    "second": s,
                    "cut_at": inside,
                    "cuts": len(inside),
                    "shot_id": shot,
                    "shot_length": bounds[shot + 1] - bounds[shot],
                    "content_score_max": float(scores[in_sec].max()) if len(in_sec) else None,
                }
            )
        return self.table(media, rows)
