"""The ``shots`` signal: hard cuts with frame precision, and gradual transitions, from every decoded frame at low
resolution.

Hard cuts: PySceneDetect's content value (mean absolute HSV difference between consecutive
frames, ``signals.content_scores``) made adaptive as in its AdaptiveDetector: a frame is a
cut when its score is both above ``min_content`` and ``adaptive_ratio`` times the mean
score of the ``window`` frames on either side, so fades and steady motion do not fire, or
when the camera model between the two frames breaks (``signals.global_motion``: most
tracked corners fit no common motion), which finds cuts between two moving shots that the
ratio alone misses. A
change that returns to the previous picture within ``flash_frames`` frames is a flash, not
a cut.

Transitions (reported apart from cuts, with start and end): ``fade_out`` (luma falls
steadily into black), ``fade_in`` (rises out of black), ``dissolve`` (a run of frames whose
change stands above the local baseline and whose middle frame is the blend of the frames
on either side of the run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import percentile_filter

from analyzers.core import Media, Models, Signal, SignalConfig, register_signal
from analyzers.core.series import runs
from analyzers.signals.frames import GlobalMotion, content_scores_of


@dataclass(frozen=True)
class ShotsConfig(SignalConfig):
    """Thresholds in content-value units (0-255 mean HSV difference); ``window`` and
    ``flash_frames`` in frames; ``min_shot_s`` minimum shot length in seconds. A frame
    where at least ``min_tracked`` corners were tracked and under ``max_inliers`` of them
    fit the camera model breaks the motion: a cut when its score passes ``min_content``.
    Transitions: a frame is black below ``black_luma`` (0-255); a fade lasts at least
    ``fade_min_s`` seconds and spans ``fade_min_drop`` luma levels; a dissolve is a run of
    ``dissolve_min_s``..``dissolve_max_s`` seconds whose change exceeds the local 20th percentile by
    ``dissolve_excess`` and whose middle frame differs from the blend of its ends by at
    most ``dissolve_max_residual`` of the ends' own difference."""

    min_content: float = 15.0
    adaptive_ratio: float = 3.0
    window: int = 2
    flash_frames: int = 3
    min_shot_s: float = 0.25
    min_tracked: int = 30
    max_inliers: float = 0.25
    black_luma: float = 12.0
    fade_min_s: float = 0.2
    fade_min_drop: float = 30.0
    dissolve_excess: float = 1.0
    dissolve_min_s: float = 0.2
    dissolve_max_s: float = 2.0
    dissolve_max_residual: float = 0.25


def frame_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Content value between two arbitrary frames (same units as ``content_scores``)."""
    return float(content_scores_of(np.stack([a, b]))[1])


def detect_cuts(
    frames: np.ndarray,
    fps: float,
    config: ShotsConfig,
    scores: np.ndarray | None = None,
    motion: GlobalMotion | None = None,
) -> list[int]:
    """Indices of the first frame of each new shot (``scores``: precomputed content
    scores of ``frames``). With ``motion`` (the camera model between consecutive frames),
    a change the camera model cannot explain (most tracked corners are outliers) is a cut
    even when the neighbours' scores are high, as in a cut between two moving shots."""
    if scores is None:
        scores = content_scores_of(frames)
    broken = np.zeros(len(scores), bool)
    if motion is not None:
        broken = (motion.tracked >= config.min_tracked) & (motion.inliers < config.max_inliers)
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
        if scores[i] < config.adaptive_ratio * max(base, 1e-3) and not broken[i]:
            continue
        if cuts and i - cuts[-1] < min_gap:
            continue
        # the picture coming back within flash_frames makes this a flash; in a moving shot
        # "back" allows for the motion of the frames in between
        moving = float(np.median(scores[max(1, i - round(fps / 2)) : i])) if i > 1 else 0.0
        back = []
        for j in range(i + 1, min(n, i + 1 + config.flash_frames)):
            d = frame_distance(frames[i - 1], frames[j])
            if d < min(config.min_content / 2 + (j - i + 1) * moving, 0.5 * float(scores[i])):
                back.append(j)
        if back:  # the picture came back: a flash, and its end is no cut either
            flash_until = back[0]
            continue
        cuts.append(i)
    return cuts


@dataclass(frozen=True)
class Transition:
    """A gradual transition from frame ``first`` to frame ``last`` (inclusive)."""

    kind: str
    first: int
    last: int


def _ramp_length(change: np.ndarray, near: int, step: float) -> int:
    """How many of the last entries of ``change`` (per-frame luma change towards black,
    oldest first, the last one touching black) belong to the fade's ramp: the run of
    frames changing by at least a quarter of the ramp's own slope, measured on the
    ``near`` frames next to black. A shot that drifts darker or brighter on its own (a
    zoom, a pan, a slow light change) changes far more slowly than its fade, so the edge
    lands where the ramp starts, not where the drift does."""
    if len(change) == 0:
        return 0
    smooth = np.convolve(np.pad(change, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    slope = float(np.median(smooth[-near:]))
    floor = max(step, 0.25 * slope)
    k = len(smooth)
    while k > 0 and smooth[k - 1] >= floor:
        k -= 1
    return len(smooth) - k


def detect_fades(
    luma: np.ndarray, fps: float, config: ShotsConfig, cuts: list[int] = ()
) -> list[Transition]:
    """Fades into and out of black from per-frame mean luma (0-255); a fade never spans a
    cut (frame indices in ``cuts``). A fade's start is its first darkening frame, its end
    the first black frame (fade out), and the other way round for a fade in; the edge away
    from black is where the luma ramp starts (``_ramp_length``), not where a shot's own
    slow drift in brightness does."""
    n = len(luma)
    shot_start = np.zeros(n, bool)
    shot_start[list(cuts)] = True
    black = luma < config.black_luma
    min_len = max(2, round(config.fade_min_s * fps))
    tol = 1.0  # luma levels of encoder noise allowed against the ramp
    step = 0.5  # a ramp frame changes by at least this many levels
    out: list[Transition] = []
    for i, j in runs(black):
        a = i  # walk back up the ramp into the black run, not past a cut
        while a > 0 and not shot_start[a] and luma[a - 1] >= luma[a] - tol and not black[a - 1]:
            a -= 1
        a = i - _ramp_length(luma[a:i] - luma[a + 1 : i + 1], min_len, step)
        if i - a >= min_len and luma[a] - luma[i] >= config.fade_min_drop:
            out.append(Transition("fade_out", a, i))
        b = j
        while b + 1 < n and not shot_start[b + 1] and luma[b + 1] >= luma[b] - tol:
            b += 1
        rise = luma[j + 1 : b + 1] - luma[j:b]
        b = j + _ramp_length(rise[::-1], min_len, step)
        if b - j >= min_len and luma[b] - luma[j] >= config.fade_min_drop:
            out.append(Transition("fade_in", j, b))
    return out


def detect_dissolves(
    frames: np.ndarray,
    scores: np.ndarray,
    fps: float,
    config: ShotsConfig,
    cuts: list[int],
    fades: list[Transition],
) -> list[Transition]:
    """Cross-dissolves: runs of raised change whose middle frame is the blend of its ends."""
    n = len(scores)
    if n < 4:
        return []
    base = percentile_filter(scores, 20, size=max(3, round(3 * config.dissolve_max_s * fps)) | 1)
    raised = scores - base > config.dissolve_excess
    raised[cuts] = False
    for f in fades:
        raised[f.first : f.last + 1] = False
    lo_len = max(2, round(config.dissolve_min_s * fps))
    hi_len = round(config.dissolve_max_s * fps)
    out: list[Transition] = []
    raised[0] = False  # a run needs the frame before it
    todo = list(runs(raised))
    while todo:
        i, j = todo.pop()
        if j - i + 1 < lo_len:
            continue
        # the run may run on into a moving shot (or start in one): the dissolve is the
        # stretch from the run's start (or to its end) that is best explained as a blend
        starts = [(i - 1, e) for e in range(i - 1 + lo_len, min(j, i - 1 + hi_len) + 1)]
        ends = [(s, j) for s in range(max(i - 1, j - hi_len), j - lo_len + 1)]
        res = [(_blend_residual(frames, a, b, config), a, b) for a, b in starts + ends]
        low = min((r for r, _, _ in res), default=np.inf)
        if low <= config.dissolve_max_residual:
            # the longest stretch still about as good a blend as the best one: further
            # on, the next shot's own motion adds to the residual
            _, a, b = max((b - a, a, b) for r, a, b in res if r <= 1.3 * low)
            out.append(Transition("dissolve", a, b))
            todo += [(i, a), (b + 1, j)]  # a run can hold more than one dissolve
    merged: list[Transition] = []
    for t in sorted(out, key=lambda t: t.first):  # pieces of one long dissolve join up
        if merged and t.first <= merged[-1].last + 1:
            merged[-1] = Transition("dissolve", merged[-1].first, max(t.last, merged[-1].last))
        else:
            merged.append(t)
    return merged


def _blend_residual(frames: np.ndarray, a: int, b: int, config: ShotsConfig) -> float:
    """How far frames a..b are from a linear blend of frame a into frame b, relative to
    the difference between a and b (0: a perfect dissolve); inf when a and b are alike."""
    if frame_distance(frames[a], frames[b]) < config.min_content:
        return float("inf")
    fa = np.asarray(frames[a], np.float32)
    fb = np.asarray(frames[b], np.float32)
    total = float(np.abs(fa - fb).mean())
    worst = 0.0
    for m in (a + (b - a) // 3, (a + b) // 2, b - (b - a) // 3):
        alpha = (m - a) / (b - a)
        blend = (1 - alpha) * fa + alpha * fb
        worst = max(worst, float(np.abs(np.asarray(frames[m], np.float32) - blend).mean()))
    return worst / max(total, 1e-6)


@dataclass(frozen=True)
class Structure:
    """Shot structure of one video: ``cuts`` (frame indices of new shots), ``transitions``,
    ``scores`` (content score per frame) on the low-resolution stream."""

    cuts: list[int]
    transitions: list[Transition]
    scores: np.ndarray


@register_signal
class Shots(Signal):
    """``Structure``: hard cuts (frame indices of new shots) and gradual transitions of
    the low-resolution stream, with the content scores they were found in. Every
    analyzer that needs cuts reads this one signal, so with the thresholds overridden
    (``[shots]`` in the analyzer config) they all agree on where the cuts are."""

    name = "shots"
    version = "2"
    Config = ShotsConfig
    requires = ("content_scores", "global_motion", "frame_stats")
    asset = True

    def compute(
        self, media: Media, config: ShotsConfig, inputs: Mapping[str, Any], models: Models
    ) -> Structure:
        stream = media.lowres
        frames = np.asarray(stream.frames)
        scores = inputs["content_scores"]
        cuts = detect_cuts(frames, stream.fps, config, scores, inputs["global_motion"])
        fades = detect_fades(inputs["frame_stats"].luma, stream.fps, config, cuts)
        dissolves = detect_dissolves(frames, scores, stream.fps, config, cuts, fades)
        return Structure(cuts, sorted(fades + dissolves, key=lambda t: t.first), scores)

    def summary(self, value: Structure) -> dict[str, Any]:
        return {"cuts": len(value.cuts), "transitions": len(value.transitions)}
