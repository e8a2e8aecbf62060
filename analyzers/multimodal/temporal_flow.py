"""Pacing per second: how much happens, how loud it is, how often it cuts, and the story
shape those curves draw (intro, build, peak, outro), with the hook (seconds 0-3) scored.

Curves (each 0-1 per second):
- ``visual_change``: mean content score of the second (``signals.content_scores``) / 20;
- ``audio_energy``: RMS level of the second in dBFS mapped from -60..0 to 0..1 (null with
  no audio track);
- ``cut_density``: cuts per second in a 3 s window centred on the second (not capped);
- ``pace``: ``w_cuts`` x min(1, cut_density) + ``w_visual`` x visual_change +
  ``w_audio`` x audio_energy (weights renormalised when there is no audio).

Story beats come from pace smoothed over 3 s: the peak is the run of seconds around the
maximum within ``peak_share`` of it; the intro runs until the curve first climbs a third
of the way from its minimum to its maximum; build lies between, outro after. A flat video
(range under ``flat_range``) gets intro (first 3 s), build, and outro (last 20 %).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, register
from analyzers.core.series import level_db, per_second

HOOK_SECONDS = 3


@dataclass(frozen=True)
class FlowConfig(BaseConfig):
    """Weights of ``pace``; ``peak_share``: share of the smoothed maximum that is still
    the peak; ``flat_range``: smoothed pace range under which a video has no peak."""

    w_cuts: float = 0.45
    w_visual: float = 0.35
    w_audio: float = 0.20
    peak_share: float = 0.85
    flat_range: float = 0.05


def smooth(x: np.ndarray, width: int = 3) -> np.ndarray:
    """Centred moving average (edges use the values present)."""
    if len(x) == 0:
        return x
    kernel = np.ones(width)
    num = np.convolve(x, kernel, mode="same")
    den = np.convolve(np.ones(len(x)), kernel, mode="same")
    return num / den


def story_beats(pace: np.ndarray, config: FlowConfig) -> list[str]:
    """intro / build / peak / outro for each second of ``pace`` (0-1 per second)."""
    n = len(pace)
    if n == 0:
        return []
    sm = smooth(pace)
    lo, hi = float(sm.min()), float(sm.max())
    if hi - lo < config.flat_range:
        intro_end = min(HOOK_SECONDS, max(1, n // 4))
        outro_start = max(intro_end, n - max(1, n // 5))
        return [
            "intro" if s < intro_end else "outro" if s >= outro_start else "build" for s in range(n)
        ]
    top = int(np.argmax(sm))
    a = b = top
    while a > 0 and sm[a - 1] >= config.peak_share * hi:
        a -= 1
    while b + 1 < n and sm[b + 1] >= config.peak_share * hi:
        b += 1
    rise = lo + (hi - lo) / 3
    intro_end = next((s for s in range(a + 1) if sm[s] >= rise), a)
    beats = []
    for s in range(n):
        if a <= s <= b:
            beats.append("peak")
        elif s > b:
            beats.append("outro")
        elif s < intro_end:
            beats.append("intro")
        else:
            beats.append("build")
    return beats


@register
class TemporalFlow(FrameAnalyzer):
    """Pacing curves per second (``visual_change``, ``audio_energy``, ``cut_density``,
    ``pace``: 0-1, cut_density in cuts/s), ``hook_window`` (seconds 0-2),
    ``hook_strength`` 0-100 on those seconds (null elsewhere: the first 3 s's pace against
    the video's 75th percentile, times how busy they are in absolute terms, pace/0.3),
    and ``story_beat`` (intro, build, peak, outro)."""

    name = "temporal_flow"
    version = "1"
    stage = "stage4_fast"
    modality = "both"
    Config = FlowConfig
    requires = ("shots",)
    output_schema = pa.schema(
        [
            ("visual_change", pa.float32()),
            ("audio_energy", pa.float32()),
            ("cut_density", pa.float32()),
            ("pace", pa.float32()),
            ("hook_window", pa.bool_()),
            ("hook_strength", pa.float32()),
            ("story_beat", pa.string()),
        ]
    )
    ranges = {
        "visual_change": (0, 1),
        "audio_energy": (0, 1),
        "cut_density": (0, 1),
        "pace": (0, 1),
        "hook_strength": (0, 100),
    }
    required = ("hook_window",)

    def analyze(  # type: ignore[override]
        self, media: Media, config: FlowConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        n = media.n_seconds
        stream = media.lowres
        shots = signals["shots"]
        scores = shots.scores
        visual = np.nan_to_num(per_second(scores, stream.seconds, n)) / 20
        visual = np.clip(visual, 0, 1)
        cut_times = np.array([float(stream.pts[i]) for i in shots.cuts])
        density = np.array(
            [float(((cut_times >= s - 1) & (cut_times < s + 2)).sum()) / 3 for s in range(n)]
        )
        if media.has_audio:
            energy = np.clip((level_db(media) + 60) / 60, 0, 1)
            pace = (
                config.w_cuts * np.minimum(1, density)
                + config.w_visual * visual
                + config.w_audio * energy
            )
        else:
            energy = None
            w = config.w_cuts + config.w_visual
            pace = (config.w_cuts * np.minimum(1, density) + config.w_visual * visual) / w
        beats = story_beats(pace, config)
        hook = float(pace[:HOOK_SECONDS].mean()) if n else 0.0
        ref = max(float(np.percentile(pace, 75)) if n else 0.0, 0.05)
        strength = 100 * min(1.0, hook / ref) * min(1.0, hook / 0.3)
        rows = []
        for s in range(n):
            rows.append(
                {
                    "second": s,
                    "visual_change": float(visual[s]),
                    "audio_energy": None if energy is None else float(energy[s]),
                    "cut_density": float(density[s]),
                    "pace": float(pace[s]),
                    "hook_window": s < HOOK_SECONDS,
                    "hook_strength": strength if s < HOOK_SECONDS else None,
                    "story_beat": beats[s],
                }
            )
        return self.table(media, rows)
