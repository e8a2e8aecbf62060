"""What happens on screen, second by second, in words: a vision-language model (Qwen2-VL,
default 2B; 7B and Qwen2.5-VL selectable) over sliding windows of the sampled frames.

- Windows: ``[k * window_s, (k + 1) * window_s)`` over the video, each with up to
  ``frames_per_window`` sampled frames spread over it (the last frame repeated when the
  window holds fewer, e.g. the last 4 ms of a 4.004 s clip). One short sentence per
  window: what happens, who or what is on screen, the action, the shot type.
- Context: the previous window's description is given to a window as context. A strict
  chain would need one ``generate`` call per window; instead windows are generated in
  ``context_rounds`` interleaved rounds (window ``k`` in round ``k % context_rounds``),
  each round in as few batched calls as ``batch_size`` allows, and every window not in
  round 0 reads its predecessor's description. ``context_rounds = 1``: no context, one
  call for the whole video (fastest); ``= number of windows``: every window has context,
  one window at a time.
- Per second: the window covering most of it -> ``description``, ``window_start``,
  ``window_end`` (seconds), ``tokens`` (new tokens of that window), ``model``; ``summary``
  of the whole video on every row (for the intelligence step and SQL): written by the
  model from the window descriptions (``summary = "model"``, one more text-only call) or
  a timeline of the distinct descriptions (``"extract"``); ``"auto"`` asks the model only
  when its weights are real (a random model's summary of random text means nothing).
- ``min_new_tokens == max_new_tokens`` fixes the generation length (benchmarks: random
  weights then cost what real ones do).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, WeightSpec, register
from analyzers.core.runner import run_batched
from analyzers.core.vlm import (
    VARIANTS,
    GenerateStats,
    Generation,
    Request,
    TransformersQwenVL,
    VLMBackend,
    variant,
)

PROMPT = (
    "Describe this moment of a short vertical video in one short sentence: what happens, "
    "who or what is on screen, the action, and the shot type (close-up, medium or wide)."
)
SUMMARY_PROMPT = (
    "These are descriptions of consecutive moments of one short video:\n{lines}\n"
    "Summarize the whole video in two sentences."
)


@dataclass(frozen=True)
class VLMConfig(BaseConfig):
    """``model``: a name in ``analyzers.core.vlm.VARIANTS``; ``window_s``: window
    length, seconds; ``frames_per_window``: frames shown per window; ``batch_size``:
    windows per ``generate`` call; ``context_rounds``: see module doc;
    ``max_new_tokens``/``min_new_tokens``: generation length per window, tokens;
    ``min_pixels``/``max_pixels``: frame size bounds in pixels (``max_pixels / 784``
    visual tokens per window at most); ``summary``: auto, model or extract;
    ``summary_tokens``: length of a model summary, tokens."""

    sample_fps: float = 2.0
    batch_size: int = 64
    model: str = "Qwen2-VL-2B-Instruct"
    backend: str = "transformers"
    window_s: float = 1.0
    frames_per_window: int = 2
    context_rounds: int = 2
    max_new_tokens: int = 32
    min_new_tokens: int = 0
    min_pixels: int = 56 * 56
    max_pixels: int = 448 * 448
    summary: str = "auto"
    summary_tokens: int = 64
    prompt: str = PROMPT


@dataclass(frozen=True)
class Window:
    """One window: its span in seconds and the indices of its frames in the stream."""

    index: int
    start: float
    end: float
    frames: np.ndarray

    @property
    def span(self) -> float:
        """Seconds the window covers."""
        return self.end - self.start


def plan_windows(media: Media, config: VLMConfig) -> list[Window]:
    """Windows of ``config.window_s`` seconds covering the video, each with up to
    ``frames_per_window`` sampled frames spread evenly over it (a window with no sampled
    frame takes the last frame shown before its end; none when the video stream starts
    after it: that window is not described)."""
    if config.window_s <= 0 or config.frames_per_window < 1:
        raise ValueError("window_s must be > 0 and frames_per_window >= 1")
    pts = np.asarray(media.frames.pts, np.float64)
    n = max(1, int(np.ceil(media.duration_s / config.window_s - 1e-9)))
    out = []
    for k in range(n):
        a, b = k * config.window_s, min((k + 1) * config.window_s, media.duration_s)
        idx = np.flatnonzero((pts >= a) & (pts < b))
        if len(idx) == 0:  # the frame still on screen, if any (none before a late start)
            idx = np.flatnonzero(pts < b)[-1:]
        if len(idx) > config.frames_per_window:
            pick = np.linspace(0, len(idx) - 1, config.frames_per_window).round().astype(int)
            idx = idx[pick]
        out.append(Window(k, a, b, idx))
    return out


def window_of_second(windows: Sequence[Window], second: int) -> int:
    """The window covering most of ``[second, second + 1)`` (the earlier on a tie)."""
    cover = [max(0.0, min(w.end, second + 1) - max(w.start, second)) for w in windows]
    return int(np.argmax(cover))


def rounds(n: int, context_rounds: int) -> list[list[int]]:
    """Window indices per round: window ``k`` in round ``k % R`` (``R`` clipped to 1..n)."""
    r = max(1, min(int(context_rounds), n))
    return [list(range(i, n, r)) for i in range(r)]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def _line(a: float, b: float, text: str) -> str:
    return f"{a:g}-{b:g} s: {text}"


def timeline(descriptions: Sequence[tuple[float, float, str]], overlap: float = 0.6) -> str:
    """Consecutive windows whose descriptions share at least ``overlap`` of their words
    (Jaccard) merged into one span: ``"0-3 s: ...; 3-5 s: ..."``."""
    spans: list[list[Any]] = []
    for a, b, text in descriptions:
        if spans:
            prev = spans[-1]
            wa, wb = _words(prev[2]), _words(text)
            if wa | wb and len(wa & wb) / len(wa | wb) >= overlap:
                prev[1] = b
                continue
        spans.append([a, b, text])
    return "; ".join(_line(*span) for span in spans)


def make_backend(config: VLMConfig, path: str | None, device: str) -> VLMBackend:
    """The serving engine ``config.backend`` names, holding ``config.model``."""
    if config.backend != "transformers":
        raise ValueError(f"unknown VLM backend {config.backend!r}; known: ['transformers']")
    return TransformersQwenVL(variant(config.model), path, device)


@register
class Qwen2VLTemporal(FrameAnalyzer):
    """A sentence per second from a vision-language model (see module doc): columns
    ``description``, ``window_start``/``window_end`` (seconds), ``tokens`` (new tokens of
    the window), ``model``, ``summary`` (the whole video, same on every row)."""

    name = "qwen2_vl_temporal"
    version = "1"
    stage = "stage1_heavy"
    Config = VLMConfig
    weights = tuple(v.spec for v in VARIANTS.values() if v.spec is not None)
    model = "Qwen2-VL (transformers)"
    output_schema = pa.schema(
        [
            ("description", pa.string()),
            ("window_start", pa.float32()),
            ("window_end", pa.float32()),
            ("tokens", pa.int32()),
            ("model", pa.string()),
            ("summary", pa.string()),
        ]
    )
    ranges = {"window_start": (0, None), "window_end": (0, None), "tokens": (0, None)}

    @classmethod
    def required_weights(cls, config: BaseConfig) -> tuple[WeightSpec, ...]:
        spec = variant(config.model).spec  # type: ignore[attr-defined]
        return (spec,) if spec is not None else ()

    def _backend(self, config: VLMConfig) -> VLMBackend:
        """The model ``config`` names, through the scope (it depends on the Config, so it
        is fetched here rather than in ``load``), bounded to its frame size."""
        assert self.models is not None
        spec = variant(config.model).spec
        path, mode = self.models.resolve(spec) if spec is not None else (None, "random")
        self.weights_mode = mode
        key = ("vlm", config.backend, config.model, path, self.device)
        backend = self.models.get(key, lambda: make_backend(config, path, self.device))
        backend.configure(config.min_pixels, config.max_pixels)
        return backend

    def analyze(  # type: ignore[override]
        self, media: Media, config: VLMConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        backend = self._backend(config)
        backend.stats = GenerateStats()
        windows = plan_windows(media, config)
        frames = media.frames.frames
        done: dict[int, Generation] = {}

        def prompt(k: int) -> str:
            prev = done.get(k - 1)
            if prev is None or not prev.text:
                return config.prompt
            return f"The previous moment: {prev.text}\n{config.prompt}"

        def generate(batch: Sequence[int]) -> list[Generation]:
            reqs = [
                Request(np.asarray(frames[windows[k].frames]), prompt(k), windows[k].span)
                for k in batch
            ]
            return backend.generate(reqs, config.max_new_tokens, config.min_new_tokens)

        for members in rounds(len(windows), config.context_rounds):
            members = [k for k in members if len(windows[k].frames)]
            for k, gen in zip(
                members, run_batched(generate, members, config.batch_size), strict=True
            ):
                done[k] = gen
        summary, summary_source = self.summarize(backend, config, windows, done)
        stats = backend.stats
        self.info = {
            "vlm_model": config.model,
            "vlm_backend": backend.name,
            "windows": len(windows),
            "generate_calls": stats.calls,
            "prompt_tokens": stats.prompt_tokens,
            "visual_tokens": stats.visual_tokens,
            "new_tokens": sum(g.tokens for g in done.values()),
            "preprocess_s": round(stats.preprocess_s, 3),
            "generate_s": round(stats.generate_s, 3),
            "summary": summary,
            "summary_source": summary_source,
        }
        rows = []
        for s in media.seconds():
            w = windows[window_of_second(windows, s)]
            gen = done.get(w.index)  # None: no frame on screen yet
            rows.append(
                {
                    "second": s,
                    "description": gen.text if gen else None,
                    "window_start": w.start,
                    "window_end": w.end,
                    "tokens": gen.tokens if gen else None,
                    "model": config.model,
                    "summary": summary,
                }
            )
        return self.table(media, rows)

    def summarize(
        self,
        backend: VLMBackend,
        config: VLMConfig,
        windows: Sequence[Window],
        done: Mapping[int, Generation],
    ) -> tuple[str, str]:
        """The whole video's summary (see module doc, ``summary``) and how it was made."""
        spans = [(w.start, w.end, done[w.index].text) for w in windows if w.index in done]
        how = config.summary
        if how not in ("auto", "model", "extract"):
            raise ValueError(f"summary must be auto, model or extract, got {how!r}")
        if how == "extract" or (how == "auto" and self.weights_mode != "real"):
            return timeline(spans), "timeline of the window descriptions"
        lines = "\n".join(_line(*span) for span in spans)
        req = Request(None, SUMMARY_PROMPT.format(lines=lines))
        text = backend.generate([req], config.summary_tokens)[0].text
        return text, "written by the model from the window descriptions"
