"""Colour per second: dominant colour, k-means palette in Lab, brightness, saturation,
colourfulness (Hasler & Suesstrunk 2003), warmth and a coarse mood label."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, register

PALETTE_TYPE = pa.list_(
    pa.struct([("rgb", pa.list_(pa.uint8())), ("hex", pa.string()), ("share", pa.float32())])
)


@dataclass(frozen=True)
class ColorConfig(BaseConfig):
    """``k``: palette size; ``pixels_side``: frames are shrunk to this long side (pixels)
    before clustering; ``merge_delta_e``: palette entries closer than this (CIE76) merge."""

    sample_fps: float = 2.0
    k: int = 5
    pixels_side: int = 64
    merge_delta_e: float = 6.0


def _hex(rgb: np.ndarray) -> str:
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def _lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    img = np.clip(lab, 0, 255).astype(np.uint8).reshape(1, -1, 3)
    return cv2.cvtColor(img, cv2.COLOR_LAB2RGB).reshape(-1, 3)


def palette(pixels_rgb: np.ndarray, k: int, merge_delta_e: float) -> list[tuple[np.ndarray, float]]:
    """K-means (seeded, so repeatable) of ``pixels_rgb`` (M x 3 uint8) in Lab space.
    Returns ``[(rgb uint8[3], share 0-1)]`` largest first, near-identical entries merged."""
    lab = cv2.cvtColor(pixels_rgb.reshape(1, -1, 3), cv2.COLOR_RGB2LAB).reshape(-1, 3)
    data = lab.astype(np.float32)
    k = max(1, min(k, len(np.unique(lab, axis=0))))
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    _, labels, centers = cv2.kmeans(data, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    counts = np.bincount(labels.reshape(-1), minlength=k).astype(np.float64)
    # 8-bit Lab scales L by 255/100; convert to CIE units for the delta-E merge
    cie = centers * np.array([100 / 255, 1, 1]) - np.array([0, 128, 128])
    merged: list[tuple[np.ndarray, float, np.ndarray]] = []
    for i in np.argsort(-counts):
        if counts[i] == 0:
            continue
        for j, (c, n, lab_c) in enumerate(merged):
            if np.linalg.norm(c - cie[i]) < merge_delta_e:
                merged[j] = (c, n + counts[i], lab_c)
                break
        else:
            merged.append((cie[i], counts[i], centers[i]))
    total = counts.sum()
    rgb = _lab_to_rgb(np.array([m[2] for m in merged]))
    return [(rgb[i], float(m[1] / total)) for i, m in enumerate(merged)]


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler-Suesstrunk colourfulness of an RGB image (0 = grey; ~100+ very colourful)."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


@register
class ColorAnalysis(FrameAnalyzer):
    """Colour statistics of the sampled frames of each second.

    Units: ``brightness`` and ``saturation`` 0-1 (HSV V and S means), ``warmth`` -1..1
    (mean of R minus B over 255), ``colorfulness`` Hasler-Suesstrunk units, ``palette``
    shares 0-1.
    """

    name = "color_analysis"
    version = "1"
    stage = "stage3_light"
    Config = ColorConfig
    output_schema = pa.schema(
        [
            ("dominant_rgb", pa.list_(pa.uint8())),
            ("dominant_hex", pa.string()),
            ("palette", PALETTE_TYPE),
            ("brightness", pa.float32()),
            ("saturation", pa.float32()),
            ("colorfulness", pa.float32()),
            ("warmth", pa.float32()),
            ("mood", pa.string()),
        ]
    )
    ranges = {
        "brightness": (0, 1),
        "saturation": (0, 1),
        "colorfulness": (0, None),
        "warmth": (-1, 1),
    }

    def analyze(  # type: ignore[override]
        self, media: Media, config: ColorConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        rows = []
        for s in media.seconds():
            idx = media.frames.sample(s, config.sample_fps)
            if len(idx) == 0:
                rows.append({"second": s})
                continue
            small = []
            for i in idx:
                f = np.asarray(media.frames.frames[i])
                h, w = f.shape[:2]
                scale = config.pixels_side / max(h, w)
                size = (max(1, round(w * scale)), max(1, round(h * scale)))
                small.append(cv2.resize(f, size, interpolation=cv2.INTER_AREA))
            img = np.concatenate(small, axis=0)
            hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
            pal = palette(img.reshape(-1, 3), config.k, config.merge_delta_e)
            bright = float(hsv[..., 2].mean() / 255)
            warm = float((img[..., 0].astype(np.float32) - img[..., 2]).mean() / 255)
            tone = "bright" if bright > 0.6 else "dark" if bright < 0.3 else "mid"
            temp = "warm" if warm > 0.05 else "cool" if warm < -0.05 else "neutral"
            rows.append(
                {
                    "second": s,
                    "dominant_rgb": [int(v) for v in pal[0][0]],
                    "dominant_hex": _hex(pal[0][0]),
                    "palette": [
                        {"rgb": [int(v) for v in rgb], "hex": _hex(rgb), "share": share}
                        for rgb, share in pal
                    ],
                    "brightness": bright,
                    "saturation": float(hsv[..., 1].mean() / 255),
                    "colorfulness": colorfulness(img),
                    "warmth": warm,
                    "mood": f"{tone}-{temp}",
                }
            )
        return self.table(media, rows)
