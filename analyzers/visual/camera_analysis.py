"""Camera motion per second from global optical flow (OpenCV).

Between consecutive low-resolution frames a similarity transform is fitted with RANSAC to
Lucas-Kanade tracked corners (``signals.global_motion``): the camera's move is what most of
the picture agrees on, so a subject moving in front of a still camera is an outlier, not
a pan. Per second the mean velocity and zoom rate of the frames that carry an estimate name the
move, when they keep one direction; shake is the part of the
frame-to-frame translation that a 0.25 s moving average does not explain, taken within each shot (cuts from
``cut_analysis.structure``) so that a cut is not a jolt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, register

MOTIONS = (
    "static",
    "pan_left",
    "pan_right",
    "tilt_up",
    "tilt_down",
    "zoom_in",
    "zoom_out",
    "shake",
)


@dataclass(frozen=True)
class CameraConfig(BaseConfig):
    """``min_pan``: frame widths (or heights) per second below which there is no pan or
    tilt; ``min_zoom``: log scale change per second below which there is no zoom;
    ``shake_full``: jitter (frame widths, RMS per frame) that scores shake 1.0;
    ``min_shake``: shake score that names the second ``shake`` when the camera is not
    also moving steadily; ``min_coverage``: share of the frame the agreeing corners must
    span for a frame's motion to count as the camera's; ``min_consistency``: a pan, tilt
    or zoom must keep its direction through the second (``|mean| / mean(|v|)`` of the
    per-frame velocity, 1 = every frame the same way): a fit that flips between the few
    moving things of a low-texture picture is no camera move; ``min_measured``: share of
    the second's frames that must carry a camera estimate (enough corners tracked, not in a
    fade) for it to be named a move at all: with less evidence the second is ``static``
    with a low ``flow_confidence``."""

    min_pan: float = 0.04
    min_zoom: float = 0.04
    shake_full: float = 0.02
    min_shake: float = 0.5
    min_coverage: float = 0.25
    min_consistency: float = 0.7
    min_measured: float = 0.5


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    if width <= 1 or len(x) < width:
        return x.copy()
    pad = width // 2
    xp = np.pad(x, pad, mode="edge")
    return np.convolve(xp, np.ones(width) / width, mode="valid")[: len(x)]


def _steady(v: np.ndarray, min_consistency: float) -> float:
    """Mean of the per-frame velocities ``v`` when they keep one direction (``|mean| /
    mean(|v|)`` at least ``min_consistency``), else 0: no steady move."""
    spread = float(np.abs(v).mean())
    mean = float(v.mean())
    return mean if spread > 0 and abs(mean) / spread >= min_consistency else 0.0


def classify(vx: float, vy: float, zoom: float, shake: float, config: CameraConfig) -> str:
    """Name one second's move. ``vx``, ``vy``: content velocity in frame widths/heights
    per second (positive right/down); ``zoom``: log scale per second; ``shake``: 0-1."""
    pan = max(abs(vx), abs(vy)) / config.min_pan
    zoomy = abs(zoom) / config.min_zoom
    if max(pan, zoomy) < 1:
        return "shake" if shake >= config.min_shake else "static"
    if shake >= config.min_shake and max(pan, zoomy) < 2:
        return "shake"
    if zoomy >= pan:
        return "zoom_in" if zoom > 0 else "zoom_out"
    if abs(vx) >= abs(vy):  # content moving left means the camera turns right
        return "pan_right" if vx < 0 else "pan_left"
    return "tilt_up" if vy > 0 else "tilt_down"


@register
class CameraAnalysis(FrameAnalyzer):
    """Camera motion per second. ``motion``: static, pan_left, pan_right, tilt_up,
    tilt_down, zoom_in, zoom_out or shake; ``magnitude``: speed of the move in frame sizes
    per second (pan/tilt) or log scale per second (zoom), whichever named it;
    ``pan_speed``/``tilt_speed``: content velocity in frame widths/heights per second
    (positive right/down); ``zoom_rate``: log scale change per second (positive: zoom in);
    ``shake_score``: 0-1 jitter; ``flow_confidence``: share of tracked corners agreeing
    with the camera model (null with no texture to track)."""

    name = "camera_analysis"
    version = "2"
    stage = "stage3_light"
    Config = CameraConfig
    requires = ("global_motion", "shots")
    model = "opencv-lk-ransac-similarity"
    output_schema = pa.schema(
        [
            ("motion", pa.string()),
            ("magnitude", pa.float32()),
            ("pan_speed", pa.float32()),
            ("tilt_speed", pa.float32()),
            ("zoom_rate", pa.float32()),
            ("shake_score", pa.float32()),
            ("flow_confidence", pa.float32()),
        ]
    )
    ranges = {"magnitude": (0, None), "shake_score": (0, 1), "flow_confidence": (0, 1)}

    def analyze(  # type: ignore[override]
        self, media: Media, config: CameraConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        stream = media.lowres
        gm = signals["global_motion"]
        fps = stream.fps
        # the frame after a cut has no motion to measure; jitter (translation minus its
        # 0.25 s moving average) is taken within each shot so a cut is not a jolt
        st = signals["shots"]
        cuts = st.cuts
        valid = np.ones(len(stream), bool)
        valid[0] = False
        valid[cuts] = False
        # a fade or dissolve changes every pixel: optical flow there measures the blend
        for t in st.transitions:
            valid[t.first : t.last + 1] = False
        # too few corners for a camera model: no evidence either way
        valid &= gm.inliers > 0
        # motion agreed on by corners in a small part of the picture is a subject moving
        valid &= gm.coverage >= config.min_coverage
        width = max(3, round(0.25 * fps)) | 1
        jitter = np.zeros(len(stream), np.float64)
        for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
            dx, dy = gm.dx[a + 1 : b], gm.dy[a + 1 : b]
            jitter[a + 1 : b] = np.hypot(dx - _smooth(dx, width), dy - _smooth(dy, width))
        rows = []
        for s in media.seconds():
            idx = stream.indices_in(s)
            if len(idx) == 0:  # no frame begins in this second: nothing was measured
                rows.append({"second": s})
                continue
            tracked = gm.tracked[idx] > 0
            confidence = float(gm.inliers[idx][tracked].mean()) if tracked.any() else None
            all_idx, idx = idx, idx[valid[idx]]
            if len(idx) < config.min_measured * len(all_idx):
                rows.append(
                    {
                        "second": s,
                        "motion": "static",
                        "magnitude": 0.0,
                        "flow_confidence": confidence,
                    }
                )
                continue
            vx, vy, zr = (
                _steady(v[idx] * fps, config.min_consistency) for v in (gm.dx, gm.dy, gm.zoom)
            )
            shake = float(min(1.0, np.sqrt(np.mean(jitter[idx] ** 2)) / config.shake_full))
            motion = classify(vx, vy, zr, shake, config)
            mag = abs(zr) if motion.startswith("zoom") else float(np.hypot(vx, vy))
            rows.append(
                {
                    "second": s,
                    "motion": motion,
                    "magnitude": mag,
                    "pan_speed": vx,
                    "tilt_speed": vy,
                    "zoom_rate": zr,
                    "shake_score": shake,
                    "flow_confidence": confidence,
                }
            )
        return self.table(media, rows)
