"""Frame-level signals several analyzers read (registered, so the runner computes each
once per video and persists it).

All work on the full-rate low-resolution stream (``media.lowres``: every decoded frame,
long side 160 px), so their cost is a small fraction of decoding:

- ``content_scores``: PySceneDetect's content value between consecutive frames (0-255),
  hue weighted by saturation x value so near-black and grey pixels, whose hue is noise,
  do not count;
- ``frame_stats``: mean luma (0-255), mean saturation (0-255), Laplacian sharpness;
- ``global_motion``: the camera's motion between consecutive frames, a similarity
  transform fitted with RANSAC to tracked corners, so things moving inside a still
  frame are outliers, not motion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from analyzers.core import Media, Models, Signal, register_signal


def content_scores_of(frames: np.ndarray) -> np.ndarray:
    """Score of each frame against the previous one (score[0] = 0). ``frames``: N x H x W
    x 3 uint8 RGB; scores in 0-255 content-value units."""
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


@register_signal
class ContentScores(Signal):
    """PySceneDetect-style content value of each low-resolution frame against the one
    before (0-255; frame 0 is 0): an ``np.ndarray`` of float32."""

    name = "content_scores"

    def compute(self, media: Media, config: Any, inputs: Mapping[str, Any], models: Models) -> Any:
        return content_scores_of(np.asarray(media.lowres.frames))


@dataclass(frozen=True)
class FrameStats:
    """Per low-resolution frame: ``luma`` mean Y (0-255), ``saturation`` mean HSV S
    (0-255), ``sharpness`` variance of the Laplacian of Y (grey levels squared),
    ``contrast`` standard deviation of Y (grey levels; a flat or black frame is near 0),
    ``peak_change`` the largest mean absolute change of Y from the previous frame over any
    8x8 block (grey levels; 0 for frame 0): 0 only when the whole picture repeats, so a
    still shot whose noise or one small moving thing still changes is told from a
    frozen frame."""

    luma: np.ndarray
    saturation: np.ndarray
    sharpness: np.ndarray
    contrast: np.ndarray
    peak_change: np.ndarray


def _block_peak(diff: np.ndarray, block: int = 8) -> float:
    """Largest mean of ``diff`` over the ``block`` x ``block`` cells of a grid."""
    h, w = (diff.shape[0] // block) * block, (diff.shape[1] // block) * block
    if h == 0 or w == 0:
        return float(diff.mean()) if diff.size else 0.0
    # an area resize by a whole factor is the block mean, in one OpenCV call
    cells = cv2.resize(diff[:h, :w], (w // block, h // block), interpolation=cv2.INTER_AREA)
    return float(cells.max())


def frame_stats_of(frames: np.ndarray) -> FrameStats:
    n = len(frames)
    out = {k: np.zeros(n, np.float32) for k in FrameStats.__dataclass_fields__}
    prev = None
    for i in range(n):
        rgb = np.asarray(frames[i])
        y = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        out["luma"][i] = float(y.mean())
        out["saturation"][i] = float(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 1].mean())
        out["sharpness"][i] = float(cv2.Laplacian(y, cv2.CV_32F).var())
        out["contrast"][i] = float(y.std())
        if prev is not None:
            out["peak_change"][i] = _block_peak(cv2.absdiff(y, prev).astype(np.float32))
        prev = y
    return FrameStats(**out)


@register_signal
class FrameStatsSignal(Signal):
    """``FrameStats`` (luma, saturation, sharpness, contrast, peak change) of every
    low-resolution frame."""

    name = "frame_stats"

    def compute(self, media: Media, config: Any, inputs: Mapping[str, Any], models: Models) -> Any:
        return frame_stats_of(np.asarray(media.lowres.frames))


@dataclass(frozen=True)
class GlobalMotion:
    """Camera motion from frame i-1 to frame i (index 0 is zero), per frame.

    ``dx``, ``dy``: translation of the picture's centre as a fraction of the frame width /
    height (positive: content moves right / down); ``zoom``: log scale change (positive:
    content grows, zooming in); ``inliers``: share of tracked corners that agree with the
    fitted motion; ``tracked``: how many corners were tracked (0: no texture, no estimate);
    ``coverage``: share of the frame's area spanned by the inliers' bounding box (a
    "camera move" seen only by corners on one small moving thing is that thing's motion).
    """

    dx: np.ndarray
    dy: np.ndarray
    zoom: np.ndarray
    inliers: np.ndarray
    tracked: np.ndarray
    coverage: np.ndarray


_LK = {
    "winSize": (11, 11),
    "maxLevel": 2,
    "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.01),
}


def global_motion_of(
    frames: np.ndarray, max_corners: int = 80, min_corners: int = 20
) -> GlobalMotion:
    """Fit a similarity transform (translation, scale, rotation) between consecutive frames
    to Lucas-Kanade tracked Shi-Tomasi corners with RANSAC (0.5 px threshold).

    A frame where fewer than ``min_corners`` corners are tracked has too little evidence
    for a camera model (flat colour with a few thin elements: points on straight edges
    pin motion in one direction only, and a handful of moving things outvote the still
    background): its motion stays 0 with ``inliers`` 0, so readers see low confidence,
    not a move."""
    n = len(frames)
    out = {
        k: np.zeros(n, np.float32) for k in ("dx", "dy", "zoom", "inliers", "tracked", "coverage")
    }
    if n < 2:
        return GlobalMotion(**out)
    h, w = frames.shape[1:3]
    centre = np.array([w / 2, h / 2, 1.0])
    prev = cv2.cvtColor(np.asarray(frames[0]), cv2.COLOR_RGB2GRAY)
    for i in range(1, n):
        cur = cv2.cvtColor(np.asarray(frames[i]), cv2.COLOR_RGB2GRAY)
        p0 = cv2.goodFeaturesToTrack(prev, max_corners, 0.01, 4, blockSize=5)
        if p0 is not None and len(p0) >= 6:
            p1, ok, _ = cv2.calcOpticalFlowPyrLK(prev, cur, p0, None, **_LK)
            ok = ok.reshape(-1).astype(bool)
            out["tracked"][i] = float(ok.sum())
            if ok.sum() >= max(6, min_corners):
                m, inl = cv2.estimateAffinePartial2D(
                    p0[ok], p1[ok], method=cv2.RANSAC, ransacReprojThreshold=0.5
                )
                if m is not None:
                    moved = m @ centre
                    out["dx"][i] = (moved[0] - centre[0]) / w
                    out["dy"][i] = (moved[1] - centre[1]) / h
                    out["zoom"][i] = np.log(max(1e-6, float(np.hypot(m[0, 0], m[1, 0]))))
                    out["inliers"][i] = float(inl.mean())
                    pts = p0[ok].reshape(-1, 2)[inl.reshape(-1).astype(bool)]
                    if len(pts):
                        span = pts.max(axis=0) - pts.min(axis=0)
                        out["coverage"][i] = float(span[0] * span[1]) / (w * h)
        prev = cur
    return GlobalMotion(**out)


@register_signal
class GlobalMotionSignal(Signal):
    """``GlobalMotion``: the camera's motion between consecutive low-resolution frames."""

    name = "global_motion"

    def compute(self, media: Media, config: Any, inputs: Mapping[str, Any], models: Models) -> Any:
        return global_motion_of(np.asarray(media.lowres.frames))
