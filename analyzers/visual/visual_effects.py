"""Editing effects per second, found with classical vision on the full-rate low-res stream.

Kinds (each with an ``intensity`` 0-1 and its ``start``/``end`` in seconds):

- ``fade_in`` / ``fade_out``: the fades ``cut_analysis`` finds (intensity: luma span/255);
- ``flash``: mean luma jumps at least ``flash_luma`` above the frames before it *and*
  those after it, for at most ``flash_frames`` frames (intensity: jump/255);
- ``freeze``: the picture repeats exactly, noise included (no 8x8 block of the low-res
  frame changes by more than ``freeze_peak`` grey levels) for at least ``freeze_min_s``,
  on a picture with contrast (black or flat frames repeat without being frozen), inside
  a shot that was moving just before (intensity: share of a second frozen, capped at 1):
  a still tripod shot is no freeze, its noise and its small movements still change;
- ``blur``: sharpness (variance of the Laplacian) of a picture with contrast (not black)
  under ``blur_ratio`` of the shot's median for at least ``blur_min_s`` (intensity: 1 - ratio);
- ``zoom_ramp``: a punch-in/out, a zoom faster than ``zoom_ramp_rate`` log-scale per second
  (intensity: rate / 2, capped);
- ``speed_ramp``: inside one shot, a steady camera move (pan + zoom,
  ``signals.global_motion``, smoothed over 0.2 s) keeps its direction but changes speed by
  at least ``speed_ratio`` between neighbouring half seconds, each half steady (variation
  under ``speed_steady``) and the slower one above ``speed_floor``; the strongest change per
  shot is reported (intensity: 1 - 1/ratio). Handheld footage speeds up and slows down all
  the time; an edit's ramp changes the speed of one steady move;
- ``color_filter``: a textured picture drained of colour (mean saturation under
  ``grey_saturation``) or cast in one hue: the picture's mean Lab chroma over
  ``tint_chroma`` *and* no neutral pixel left (the least chromatic tenth of the pixels
  still over half of ``tint_chroma``: a tint colours the greys too, while a meadow or a
  sky is green or blue only where it is), i.e. monochrome or tinted filters (intensity:
  how far from natural).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, register
from analyzers.core.series import runs

KINDS = (
    "fade_in",
    "fade_out",
    "flash",
    "zoom_ramp",
    "blur",
    "speed_ramp",
    "freeze",
    "color_filter",
)


@dataclass(frozen=True)
class EffectsConfig(BaseConfig):
    """Thresholds: luma in grey levels (0-255), durations in seconds, rates in log scale
    per second, saturation/chroma in 0-255 / Lab units."""

    flash_luma: float = 50.0
    flash_frames: int = 3
    freeze_peak: float = 0.1
    freeze_min_s: float = 0.5
    freeze_motion_before: float = 0.5
    blur_ratio: float = 0.35
    blur_min_s: float = 0.3
    zoom_ramp_rate: float = 0.5
    speed_ratio: float = 2.5
    speed_floor: float = 0.1
    speed_steady: float = 0.35
    grey_saturation: float = 10.0
    tint_chroma: float = 20.0
    min_texture: float = 20.0


def _nan_smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Moving average of the rows of ``x`` over ``width`` frames, ignoring NaN rows; NaN
    where the row itself is NaN."""
    ok = ~np.isnan(x).any(axis=1)
    vals = np.where(ok[:, None], x, 0.0)
    kernel = np.ones(width)
    num = np.stack([np.convolve(vals[:, k], kernel, mode="same") for k in range(x.shape[1])], 1)
    den = np.convolve(ok.astype(np.float64), kernel, mode="same")[:, None]
    out = num / np.maximum(den, 1e-9)
    out[~ok] = np.nan
    return out


def _shots(n: int, cuts: list[int]) -> list[tuple[int, int]]:
    """(first, end-exclusive) frame index of each shot."""
    return list(zip([0, *cuts], [*cuts, n], strict=True))


@register
class VisualEffects(FrameAnalyzer):
    """Editing effects per second: ``effects`` overlapping the second, each {kind,
    intensity 0-1, start, end (seconds)}; ``kinds`` the distinct kinds; ``n_effects``."""

    name = "visual_effects"
    version = "2"
    stage = "stage2_medium"
    Config = EffectsConfig
    requires = ("shots", "frame_stats", "global_motion")
    output_schema = pa.schema(
        [
            (
                "effects",
                pa.list_(
                    pa.struct(
                        [
                            ("kind", pa.string()),
                            ("intensity", pa.float32()),
                            ("start", pa.float64()),
                            ("end", pa.float64()),
                        ]
                    )
                ),
            ),
            ("kinds", pa.list_(pa.string())),
            ("n_effects", pa.int32()),
        ]
    )
    ranges = {"n_effects": (0, None)}
    required = ("n_effects",)

    def analyze(  # type: ignore[override]
        self, media: Media, config: EffectsConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        found = self.detect(media, config, signals)
        rows = []
        for s in media.seconds():
            here = [e for e in found if e["start"] < s + 1 and e["end"] > s]
            rows.append(
                {
                    "second": s,
                    "effects": here,
                    "kinds": sorted({e["kind"] for e in here}),
                    "n_effects": len(here),
                }
            )
        return self.table(media, rows)

    def detect(
        self, media: Media, config: EffectsConfig, signals: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Every effect in the video, in start order."""
        stream = media.lowres
        n = len(stream)
        if n < 2:
            return []
        fps = stream.fps
        pts = np.asarray(stream.pts, np.float64)
        dt = 1.0 / fps
        st = signals["shots"]
        stats = signals["frame_stats"]
        gm = signals["global_motion"]
        out: list[dict[str, Any]] = []

        def add(kind: str, a: int, b: int, intensity: float) -> None:
            start, end = float(pts[a]), float(pts[b]) + dt
            out.append(
                {
                    "kind": kind,
                    "intensity": float(np.clip(intensity, 0, 1)),
                    "start": start,
                    "end": end,
                }
            )

        for t in st.transitions:
            if t.kind in ("fade_in", "fade_out"):
                span = abs(float(stats.luma[t.last]) - float(stats.luma[t.first]))
                add(t.kind, t.first, t.last, span / 255)

        # flash: a short luma spike over the surrounding frames
        half = max(2, round(0.25 * fps))
        luma = stats.luma
        for a, b in runs(self._spikes(luma, half, config)):
            if b - a + 1 <= config.flash_frames:
                base = float(
                    np.median(np.r_[luma[max(0, a - half) : a], luma[b + 1 : b + 1 + half]])
                )
                add("flash", a, b, (float(luma[a : b + 1].max()) - base) / 255)

        shots = _shots(n, st.cuts)
        scores = st.scores
        # camera velocity (frame sizes or log scale per second) where there is an estimate:
        # not a small moving thing (coverage), not too few corners, not inside a fade
        velocity = np.stack([gm.dx, gm.dy, gm.zoom], axis=1).astype(np.float64) * fps
        measured = (gm.coverage >= 0.25) & (gm.inliers > 0)
        measured[st.cuts] = False
        sharp = stats.sharpness.astype(np.float64).copy()
        sharp[stats.contrast < config.min_texture / 2] = np.nan  # black is not blurred
        for t in st.transitions:
            measured[max(0, t.first - 2) : t.last + 3] = False
            sharp[t.first : t.last + 1] = np.nan
        velocity[~measured] = np.nan
        width = max(3, round(0.2 * fps))
        for a, b in shots:
            if b - a < 3:
                continue
            for i, j in self._freeze(add, stats, scores, a, b, fps, config):
                velocity[i : j + 1] = np.nan  # a freeze is its own effect, not a change of pace
            self._blur(add, sharp, a, b, fps, config)
            self._speed_ramp(add, _nan_smooth(velocity[a:b], width), a, fps, config)
        zoom = np.where(measured, gm.zoom, 0.0)
        zoom_rate = np.convolve(zoom * fps, np.ones(5) / 5, mode="same")
        fast = (np.abs(zoom_rate) >= config.zoom_ramp_rate) & measured
        for a, b in runs(fast):
            if b - a + 1 >= max(3, round(0.2 * fps)):
                add("zoom_ramp", a, b, float(np.abs(zoom_rate[a : b + 1]).mean()) / 2)

        self._color_filter(add, media, config)
        return sorted(out, key=lambda e: (e["start"], e["kind"]))

    @staticmethod
    def _spikes(luma: np.ndarray, half: int, config: EffectsConfig) -> np.ndarray:
        """Frames whose luma stands ``flash_luma`` above the median of the frames before
        them *and* of those after them (``half`` - 1 frames each side, the neighbours
        skipped): a cut from dark to bright is no flash."""
        n, k = len(luma), half - 1
        if n == 0 or k < 1:
            return np.zeros(n, bool)
        pad = np.r_[np.full(half + 1, np.nan), luma.astype(np.float64), np.full(half + 1, np.nan)]
        windows = np.lib.stride_tricks.sliding_window_view(pad, k)
        idx = np.arange(n) + half + 1  # index of frame i in pad
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows at the ends
            before = np.nanmedian(windows[idx - 1 - k], axis=1)  # frames i-half .. i-2
            after = np.nanmedian(windows[idx + 2], axis=1)  # frames i+2 .. i+half
        sides = np.fmax(before, after)  # NaN only where neither side has a frame
        return np.nan_to_num(luma - sides, nan=-np.inf) >= config.flash_luma

    @staticmethod
    def _freeze(add, stats, scores, a, b, fps, config: EffectsConfig) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
        spans = []
        still = (stats.peak_change[a:b] <= config.freeze_peak) & (
            stats.contrast[a:b] >= config.min_texture / 2
        )
        still[0] = False
        lead = max(2, round(0.5 * fps))
        for r0, r1 in runs(still):
            i, j = a + r0, a + r1
            before = scores[max(a + 1, i - lead) : i]
            if (
                (j - i + 1) / fps >= config.freeze_min_s
                and len(before)
                and before.mean() >= config.freeze_motion_before
            ):
                add("freeze", i, j, (j - i + 1) / fps)
                spans.append((i, j))
        return spans

    @staticmethod
    def _blur(add, sharpness, a, b, fps, config: EffectsConfig) -> None:  # type: ignore[no-untyped-def]
        if np.isnan(sharpness[a:b]).all():
            return
        ref = float(np.nanmedian(sharpness[a:b]))
        top = float(np.nanpercentile(sharpness[a:b], 90))
        ref = max(
            ref, 0.5 * top
        )  # a shot blurred for most of its length keeps its sharp part as reference
        if ref <= 1.0:
            return
        soft = sharpness[a:b] < config.blur_ratio * ref
        for r0, r1 in runs(soft):
            if (r1 - r0 + 1) / fps >= config.blur_min_s:
                ratio = float(sharpness[a + r0 : a + r1 + 1].mean()) / ref
                add("blur", a + r0, a + r1, 1 - ratio)

    @staticmethod
    def _speed_ramp(add, velocity, a, fps, config: EffectsConfig) -> None:  # type: ignore[no-untyped-def]
        """The strongest change of a steady camera move's speed between neighbouring half
        seconds of the shot starting at frame ``a``. ``velocity``: the shot's (n, 3)
        smoothed per-frame dx, dy, zoom rates (NaN: no estimate)."""
        speed = np.hypot(velocity[:, 0], velocity[:, 1]) + np.abs(velocity[:, 2])
        w = max(3, round(0.5 * fps))
        best, at = 0.0, -1
        for i in range(1 + w, len(speed) - w + 1):
            before, after = speed[i - w : i], speed[i : i + w]
            if np.isnan(before).any() or np.isnan(after).any():
                continue
            lo, hi = sorted((float(before.mean()), float(after.mean())))
            if lo < config.speed_floor or hi / lo <= best:
                continue
            steady = max(float(before.std() / before.mean()), float(after.std() / after.mean()))
            v0, v1 = velocity[i - w : i].mean(axis=0), velocity[i : i + w].mean(axis=0)
            cos = float(v0 @ v1 / (np.linalg.norm(v0) * np.linalg.norm(v1) + 1e-12))
            if steady <= config.speed_steady and cos >= 0.8:
                best, at = hi / lo, i
        if best >= config.speed_ratio:
            add("speed_ramp", a + at, a + at, 1 - 1 / best)  # the first frame at the new speed

    @staticmethod
    def _color_filter(add, media: Media, config: EffectsConfig) -> None:  # type: ignore[no-untyped-def]
        stream = media.lowres
        flagged: dict[int, float] = {}
        for s in media.seconds():
            idx = stream.sample(s, 2)
            if len(idx) == 0:
                continue
            sats, chroma, neutral, texture = [], [], [], []
            for i in idx:
                rgb = np.asarray(stream.frames[i])
                lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
                a, b = lab[..., 1] - 128, lab[..., 2] - 128
                sats.append(float(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 1].mean()))
                chroma.append(float(np.hypot(a.mean(), b.mean())))
                neutral.append(float(np.percentile(np.hypot(a, b), 10)))
                texture.append(float(lab[..., 0].std()))
            if np.mean(texture) < config.min_texture:
                continue  # a flat colour card is content, not a filter
            sat, chr_ = float(np.mean(sats)), float(np.mean(chroma))
            if sat < config.grey_saturation:
                flagged[s] = 1 - sat / config.grey_saturation
            elif chr_ > config.tint_chroma and np.mean(neutral) > config.tint_chroma / 2:
                # cast in one hue with no neutral pixel left: a meadow or a sky is green or
                # blue where it is, but its rocks, clouds and shadows stay grey
                flagged[s] = min(1.0, chr_ / 60)
        secs = np.zeros(media.n_seconds, bool)
        secs[list(flagged)] = True
        for a, b in runs(secs):  # whole seconds, merged
            first = stream.indices_in(a)
            last = stream.indices_in(b)
            if len(first) and len(last):
                add(
                    "color_filter",
                    int(first[0]),
                    int(last[-1]),
                    float(np.mean([flagged[s] for s in range(a, b + 1)])),
                )
