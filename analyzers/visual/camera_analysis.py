"""Camera motion per second from global optical flow (OpenCV).

Between consecutive low-resolution frames a similarity transform is fitted with RANSAC to
Lucas-Kanade tracked corners (``signals.global_motion``): the camera's move is what most of
the picture agrees on, so a subject moving in front of a still camera is an outlier, not
a pan. Per second the mean velocity and zoom rate name the move; shake is the part of the
frame-to-frame translation that a 0.25 s moving average does not explain, taken within each shot (cuts from
``cut_analysis.structure``) so that a cut is not a jolt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, register
from analyzers.core.signals import global_motion
from analyzers.visual.cut_analysis import structure

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
    span for a frame's motion to count as the camera's."""

    min_pan: float = 0.04
    min_zoom: float = 0.04
    shake_full: float = 0.02
    min_shake: float = 0.5
    min_coverage: float = 0.25


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    if width <= 1 or len(x) < width:
        return x.copy()
    pad = width // 2
    xp = np.pad(x, pad, mode="edge")
    return np.convolve(xp, np.ones(width) / width, mode="valid")[: len(x)]


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
    version = "1"
    stage = "stage3_light"
    Config = CameraConfig
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

    def analyze(self, media: Media, config: CameraConfig) -> pa.Table:  # type: ignore[override]
        stream = media.lowres
        gm = global_motion(media)
        fps = stream.fps
        # the frame after a cut has no motion to measure; jitter (translation minus its
        # 0.25 s moving average) is taken within each shot so a cut is not a jolt
        cuts = structure(media).cuts
        valid = np.ones(len(stream), bool)
        valid[0] = False
        valid[cuts] = False
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
            idx = idx[valid[idx]]
            if len(idx) == 0:
                rows.append({"second": s, "motion": "static", "magnitude": 0.0})
                continue
            vx = float(gm.dx[idx].mean() * fps)
            vy = float(gm.dy[idx].mean() * fps)
            zr = float(gm.zoom[idx].mean() * fps)
            shake = float(min(1.0, np.sqrt(np.mean(jitter[idx] ** 2)) / config.shake_full))
            motion = classify(vx, vy, zr, shake, config)
            mag = abs(zr) if motion.startswith("zoom") else float(np.hypot(vx, vy))
            tracked = gm.tracked[idx] > 0
            rows.append(
                {
                    "second": s,
                    "motion": motion,
                    "magnitude": mag,
                    "pan_speed": vx,
                    "tilt_speed": vy,
                    "zoom_rate": zr,
                    "shake_score": shake,
                    "flow_confidence": float(gm.inliers[idx][tracked].mean())
                    if tracked.any()
                    else None,
                }
            )
        return self.table(media, rows)
