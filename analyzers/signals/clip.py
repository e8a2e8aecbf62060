"""The ``clip`` signal: a CLIP image embedding of every sampled frame, computed once per
video and config, so product_detection (zero-shot products) and composition_analysis
(shot type) score their prompts against the same embeddings, in any process.
See ``analyzers.core.clip`` for the model, its weights and the letterboxing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from analyzers.core import Media, Models, Signal, SignalConfig, WeightSpec, register_signal
from analyzers.core.clip import CLIP_WEIGHTS, clip_spec, load_clip
from analyzers.core.runner import run_batched


@dataclass(frozen=True)
class ClipConfig(SignalConfig):
    """``arch``: OpenCLIP architecture (ViT-B-32, ViT-B-16, ViT-L-14); ``batch_size``:
    frames per model call."""

    arch: str = "ViT-B-32"
    batch_size: int = 64


@dataclass(frozen=True)
class ClipEmbeddings:
    """Unit-length embeddings, one row per ``media.frames`` index (float16 to keep the
    persisted value small), and the architecture that made them."""

    arch: str
    images: np.ndarray

    def at(self, indices: np.ndarray) -> np.ndarray:
        return self.images[np.asarray(indices, dtype=int)].astype(np.float32)


@register_signal
class ClipSignal(Signal):
    """``ClipEmbeddings`` of every sampled frame."""

    name = "clip"
    version = "1"
    Config = ClipConfig
    weights = tuple(CLIP_WEIGHTS.values())
    asset = True
    model = "openclip"

    @classmethod
    def required_weights(cls, config: ClipConfig) -> tuple[WeightSpec, ...]:  # type: ignore[override]
        return (clip_spec(config.arch),)

    def compute(
        self, media: Media, config: ClipConfig, inputs: Mapping[str, Any], models: Models
    ) -> ClipEmbeddings:
        clip, _ = load_clip(models, config.arch)
        stream = media.frames
        rows = run_batched(
            lambda b: list(clip.images([np.asarray(stream.frames[i]) for i in b])),
            list(range(len(stream))), config.batch_size,
        )  # fmt: skip
        images = np.stack(rows).astype(np.float16) if rows else np.zeros((0, 1), np.float16)
        return ClipEmbeddings(config.arch, images)

    def summary(self, value: ClipEmbeddings) -> dict[str, Any]:
        return {"frames": int(value.images.shape[0]), "dim": int(value.images.shape[1])}
