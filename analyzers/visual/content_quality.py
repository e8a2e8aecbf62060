"""Technical quality per second: a 0-100 score and the components it is made of.

Components, each scored 0-100 (higher is better):

- ``sharpness``: 100 x (1 - blur), blur from Crete-Roffet et al. 2007 ("The blur effect:
  perception and estimation with a new no-reference perceptual blur metric"): re-blur the
  picture and see how much of its edge energy survives; a picture that is already soft
  changes little. Same method as ``skimage.measure.blur_effect`` (checked by a test), in
  OpenCV because it is ~40x faster.
- ``exposure``: mean luma inside 60-190 of 255 scores 100, falling off outside; clipped
  pixels (<= 4 or >= 251) take off up to 50.
- ``noise``: Immerkaer 1996 ("Fast noise variance estimation") sigma of the grey picture in
  grey levels; sigma 1 scores 100, 12 or more scores 0.
- ``blockiness``: mean horizontal+vertical gradient on the 8-px coding-block grid over the
  mean elsewhere; only where the working frames are at the source's own size (otherwise
  the grid is lost in the resize and the component is null).
- ``resolution``: the short side against 1080 px.
- ``bitrate``: bits per pixel per frame of the file, 0.01 (starved) to 0.1 (generous)
  on a log scale.

``quality_score`` is the weighted mean of the components present (weights in Config),
pulled toward the worst picture defect: one bad defect spoils a clip however good the rest.
Sharpness is measured after a 3x3 median so that grain does not pass for detail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, register

COMPONENTS = ("sharpness", "exposure", "noise", "blockiness", "resolution", "bitrate")
DEFECTS = ("sharpness", "exposure", "noise", "blockiness")


@dataclass(frozen=True)
class QualityConfig(BaseConfig):
    """``sample_fps``: frames scored per second; ``w_*``: weight of each component in
    ``quality_score``; ``worst_weight``: share of the score given to the worst of the
    picture defects (sharpness, exposure, noise, blockiness)."""

    sample_fps: float = 1.0
    w_sharpness: float = 0.30
    w_exposure: float = 0.20
    w_noise: float = 0.15
    w_blockiness: float = 0.15
    w_resolution: float = 0.10
    w_bitrate: float = 0.10
    worst_weight: float = 0.3


def blur_effect(gray: np.ndarray, h_size: int = 11) -> float:
    """Crete-Roffet blur of a grey picture: 0 (sharp) to 1 (blurred)."""
    img = gray.astype(np.float32) / 255.0
    blur = []
    for axis in (0, 1):
        ksize = (h_size, 1) if axis == 1 else (1, h_size)  # (width, height)
        smooth = cv2.blur(img, ksize, borderType=cv2.BORDER_REFLECT)
        dx, dy = (0, 1) if axis == 0 else (1, 0)
        sharp = np.abs(cv2.Sobel(img, cv2.CV_32F, dx, dy, ksize=3))[2:-1, 2:-1]
        soft = np.abs(cv2.Sobel(smooth, cv2.CV_32F, dx, dy, ksize=3))[2:-1, 2:-1]
        m1 = float(sharp.sum())
        m2 = float(np.maximum(0, sharp - soft).sum())
        blur.append(abs(m1 - m2) / m1 if m1 > 0 else 1.0)
    return max(blur)


_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def noise_sigma(gray: np.ndarray) -> float:
    """Immerkaer's noise standard deviation estimate, grey levels (0-255)."""
    h, w = gray.shape
    conv = cv2.filter2D(gray.astype(np.float32), -1, _IMMERKAER)[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2) * np.abs(conv).sum() / (6 * (w - 2) * (h - 2)))


def blockiness(gray: np.ndarray, block: int = 8) -> float:
    """Gradient on the coding-block grid over the gradient elsewhere, minus 1 (0: none)."""
    g = gray.astype(np.float32)
    dx = np.abs(np.diff(g, axis=1)).mean(axis=0)  # between columns x and x+1
    dy = np.abs(np.diff(g, axis=0)).mean(axis=1)
    ratios = []
    for d in (dx, dy):
        on = d[block - 1 :: block]
        mask = np.ones(len(d), bool)
        mask[block - 1 :: block] = False
        off = d[mask]
        if len(on) and len(off):  # +1 grey level: flat pictures are not blocky
            ratios.append((on.mean() + 1.0) / (off.mean() + 1.0))
    return max(0.0, float(np.mean(ratios)) - 1.0) if ratios else 0.0


def exposure_score(gray: np.ndarray) -> float:
    mean = float(gray.mean())
    off = max(0.0, 60 - mean, mean - 190)
    score = 100.0 * max(0.0, 1 - off / 60)
    clipped = float(((gray <= 4) | (gray >= 251)).mean())
    return max(0.0, score - 50 * min(1.0, clipped * 2))


def bitrate_score(bit_rate: int, width: int, height: int, fps: float) -> float | None:
    if bit_rate <= 0 or fps <= 0:
        return None
    bpp = bit_rate / (width * height * fps)
    return float(100 * np.clip(np.log10(bpp / 0.01), 0, 1))


@register
class ContentQuality(FrameAnalyzer):
    """Technical quality per second. ``quality_score`` 0-100 and the component scores it
    averages (each 0-100, null where not measurable); raw measures: ``blur`` (0-1),
    ``noise_sigma`` (grey levels), ``mean_luma`` (0-255), ``clipped_fraction`` (0-1),
    ``blockiness_ratio`` (grid gradient excess, 0 none), ``bits_per_pixel``."""

    name = "content_quality"
    version = "1"
    stage = "stage3_light"
    Config = QualityConfig
    output_schema = pa.schema(
        [
            ("quality_score", pa.float32()),
            *[(c, pa.float32()) for c in COMPONENTS],
            ("blur", pa.float32()),
            ("noise_sigma", pa.float32()),
            ("mean_luma", pa.float32()),
            ("clipped_fraction", pa.float32()),
            ("blockiness_ratio", pa.float32()),
            ("bits_per_pixel", pa.float32()),
        ]
    )
    ranges = {
        "quality_score": (0, 100),
        "blur": (0, 1),
        "noise_sigma": (0, None),
        "mean_luma": (0, 255),
        "clipped_fraction": (0, 1),
        "bits_per_pixel": (0, None),
    }

    def analyze(  # type: ignore[override]
        self, media: Media, config: QualityConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        frames = media.frames
        native = frames.frames.shape[2] == media.width if len(frames) else False
        res = float(100 * min(1.0, min(media.width, media.height) / 1080))
        bits = bitrate_score(media.bit_rate, media.width, media.height, media.video_fps)
        bpp = media.bit_rate / (media.width * media.height * media.video_fps) if bits else None
        weights = {c: getattr(config, f"w_{c}") for c in COMPONENTS}
        rows = []
        for s in media.seconds():
            idx = frames.sample(s, config.sample_fps)
            if len(idx) == 0:
                rows.append({"second": s, "resolution": res, "bitrate": bits})
                continue
            m: dict[str, list[float]] = {
                k: [] for k in ("blur", "sigma", "luma", "clip", "block", "expo")
            }
            for i in idx:
                gray = cv2.cvtColor(np.asarray(frames.frames[i]), cv2.COLOR_RGB2GRAY)
                m["blur"].append(blur_effect(cv2.medianBlur(gray, 3)))  # grain is not detail
                m["sigma"].append(noise_sigma(gray))
                m["luma"].append(float(gray.mean()))
                m["clip"].append(float(((gray <= 4) | (gray >= 251)).mean()))
                m["expo"].append(exposure_score(gray))
                if native:
                    m["block"].append(blockiness(gray))
            avg = {k: float(np.mean(v)) if v else None for k, v in m.items()}
            comp = {
                "sharpness": 100 * (1 - avg["blur"]),
                "exposure": avg["expo"],
                "noise": float(100 * np.clip(1 - (avg["sigma"] - 1) / 11, 0, 1)),
                "blockiness": (
                    float(100 * np.clip(1 - avg["block"] / 0.5, 0, 1))
                    if avg["block"] is not None
                    else None
                ),
                "resolution": res,
                "bitrate": bits,
            }
            present = {c: v for c, v in comp.items() if v is not None}
            total = sum(weights[c] for c in present)
            mean = sum(weights[c] * v for c, v in present.items()) / total
            # a picture is as bad as its worst defect: the mean is pulled toward it
            worst = min(v for c, v in present.items() if c in DEFECTS)
            score = (1 - config.worst_weight) * mean + config.worst_weight * worst
            rows.append(
                {
                    "second": s,
                    "quality_score": score,
                    **comp,
                    "blur": avg["blur"],
                    "noise_sigma": avg["sigma"],
                    "mean_luma": avg["luma"],
                    "clipped_fraction": avg["clip"],
                    "blockiness_ratio": avg["block"],
                    "bits_per_pixel": bpp,
                }
            )
        return self.table(media, rows)
