"""The ``voice`` signal: stretches of speech found by Silero VAD (the JIT model the
``silero-vad`` package ships, MIT), read by the transcript, speech_flow and
speech_emotion."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from analyzers.core import AUDIO_RATE, Media, Models, Signal, SignalConfig, register_signal


def silero(models: Models) -> Any:
    """Silero VAD's JIT model, held by ``models`` (CPU: it is tiny and per-chunk)."""
    from silero_vad import load_silero_vad

    return models.get(("silero-vad",), load_silero_vad)


def speech_segments(
    audio: np.ndarray,
    model: Any,
    sr: int = AUDIO_RATE,
    threshold: float = 0.5,
    min_silence_ms: int = 100,
) -> list[tuple[float, float]]:
    """(start, end) seconds of each stretch of speech in mono float32 ``audio``. Silero's
    default 30 ms padding is turned off so that edges are where the voice is."""
    import torch
    from silero_vad import get_speech_timestamps

    if len(audio) == 0:
        return []
    with torch.inference_mode():
        stamps = get_speech_timestamps(
            torch.from_numpy(np.array(audio, dtype=np.float32)), model,  # a writable copy
            threshold=threshold, sampling_rate=sr, min_silence_duration_ms=min_silence_ms,
            speech_pad_ms=0,
        )  # fmt: skip
    return [(s["start"] / sr, s["end"] / sr) for s in stamps]


@dataclass(frozen=True)
class VoiceConfig(SignalConfig):
    """``threshold``: Silero speech probability (0-1) a frame needs; ``min_silence_ms``:
    shorter silences do not split a stretch (milliseconds)."""

    threshold: float = 0.5
    min_silence_ms: int = 100


@register_signal
class Voice(Signal):
    """(start, end) seconds of each stretch of speech (empty without audio)."""

    name = "voice"
    Config = VoiceConfig
    modality = "audio"
    model = "silero-vad"

    def compute(
        self, media: Media, config: VoiceConfig, inputs: Mapping[str, Any], models: Models
    ) -> list[tuple[float, float]]:
        if not media.has_audio:
            return []
        return speech_segments(
            np.asarray(media.audio), silero(models), media.sample_rate,
            config.threshold, config.min_silence_ms,
        )  # fmt: skip

    def summary(self, value: list[tuple[float, float]]) -> dict[str, Any]:
        return {"stretches": len(value), "voiced_s": round(sum(b - a for a, b in value), 2)}
