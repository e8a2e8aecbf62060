"""Scenes: shots grouped by what they look like.

Shots come from ``cut_analysis.structure`` (the same cuts, computed once). Each shot is
described by the mean HSV colour histogram (16 hue x 4 saturation x 4 value bins) of three
of its frames (at 25, 50 and 75 % of the shot). Shots are taken in order; a shot joins the
closest scene seen in the last ``max_gap_s`` seconds when their Bhattacharyya distance is
under ``threshold``, else it opens a new scene. So shot-reverse-shot (A-B-A) returns to
scene A, and a cut to another angle of the same place stays in its scene.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, register


@dataclass(frozen=True)
class SceneConfig(BaseConfig):
    """``threshold``: Bhattacharyya distance (0 same, 1 disjoint) under which a shot joins
    a scene; ``max_gap_s``: how far back (seconds) a scene can be returned to."""

    threshold: float = 0.35
    max_gap_s: float = 60.0


def shot_histogram(frames: np.ndarray) -> np.ndarray:
    """Mean normalised HSV histogram (256 bins, float32) of ``frames`` (RGB uint8)."""
    acc = np.zeros(16 * 4 * 4, np.float32)
    for f in frames:
        hsv = cv2.cvtColor(np.asarray(f), cv2.COLOR_RGB2HSV)
        h = cv2.calcHist([hsv], [0, 1, 2], None, [16, 4, 4], [0, 180, 0, 256, 0, 256]).ravel()
        acc += h / max(1.0, float(h.sum()))
    return acc / max(1, len(frames))


def group_shots(hists: list[np.ndarray], starts: list[float], config: SceneConfig) -> list[int]:
    """Scene id of each shot (ids count from 0 in order of first appearance)."""
    scenes: list[tuple[np.ndarray, int, float]] = []  # (sum of histograms, shots, last seen)
    out: list[int] = []
    for h, t in zip(hists, starts, strict=True):
        best, best_d = -1, float("inf")
        for k, (acc, count, last) in enumerate(scenes):
            if t - last > config.max_gap_s:
                continue
            d = cv2.compareHist((acc / count).astype(np.float32), h, cv2.HISTCMP_BHATTACHARYYA)
            if d < best_d:
                best, best_d = k, d
        if best >= 0 and best_d < config.threshold:
            acc, count, _ = scenes[best]
            scenes[best] = (acc + h, count + 1, t)
            out.append(best)
        else:
            scenes.append((h.copy(), 1, t))
            out.append(len(scenes) - 1)
    return out


@register
class SceneSegmentation(FrameAnalyzer):
    """Scenes per second. ``scene_id``: scene at the start of the second (from 0, in order
    of first appearance); ``scene_change``: a cut into a different scene happens in this
    second; ``returns_to_scene``: this second's scene was left earlier and came back;
    ``shot_id``; ``n_scenes``: scenes in the whole video."""

    name = "scene_segmentation"
    version = "1"
    stage = "stage4_fast"
    Config = SceneConfig
    requires = ("shots",)
    model = "hsv-histogram-bhattacharyya"
    output_schema = pa.schema(
        [
            ("scene_id", pa.int32()),
            ("scene_change", pa.bool_()),
            ("returns_to_scene", pa.bool_()),
            ("shot_id", pa.int32()),
            ("n_scenes", pa.int32()),
        ]
    )
    ranges = {"scene_id": (0, None), "shot_id": (0, None), "n_scenes": (1, None)}
    required = (
        "scene_id",
        "shot_id",
        "n_scenes",
    )

    def analyze(  # type: ignore[override]
        self, media: Media, config: SceneConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        stream = media.lowres
        n = len(stream)
        cuts = signals["shots"].cuts
        bounds = list(zip([0, *cuts], [*cuts, n], strict=True)) if n else []
        hists = []
        for a, b in bounds:
            pick = sorted({a + (b - a) * q // 4 for q in (1, 2, 3)})
            hists.append(shot_histogram(np.asarray(stream.frames[pick])))
        starts = [float(stream.pts[a]) for a, _ in bounds]
        scene_of = group_shots(hists, starts, config)
        n_scenes = len(set(scene_of))
        # a shot returns to its scene when that scene was seen before another one came between
        returned = [
            any(scene_of[j] == sc and any(x != sc for x in scene_of[j + 1 : k]) for j in range(k))
            for k, sc in enumerate(scene_of)
        ]
        rows = []
        for s in media.seconds():
            shot = max(0, int(np.searchsorted(starts, s + 1e-6, side="right")) - 1) if starts else 0
            scene = scene_of[shot] if scene_of else 0
            changes = any(
                s <= starts[k] < s + 1 and scene_of[k] != scene_of[k - 1]
                for k in range(1, len(starts))
            )
            rows.append(
                {
                    "second": s,
                    "scene_id": scene,
                    "scene_change": changes,
                    "returns_to_scene": bool(returned) and returned[shot],
                    "shot_id": shot,
                    "n_scenes": n_scenes,
                }
            )
        return self.table(media, rows)
