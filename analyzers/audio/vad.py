"""Voice activity with Silero VAD (the JIT model the ``silero-vad`` package ships, MIT),
computed once per Media and shared by the speech analyzers."""

from __future__ import annotations

from typing import Any

import numpy as np

from analyzers.core import Media

_MODEL: list[Any] = []


def speech_segments(
    audio: np.ndarray, sr: int = 16_000, threshold: float = 0.5, min_silence_ms: int = 100
) -> list[tuple[float, float]]:
    """(start, end) seconds of each stretch of speech in mono float32 ``audio``. Silero's
    default 30 ms padding is turned off so that edges are where the voice is."""
    import torch
    from silero_vad import get_speech_timestamps, load_silero_vad

    if not _MODEL:
        _MODEL.append(load_silero_vad())
    if len(audio) == 0:
        return []
    with torch.inference_mode():
        stamps = get_speech_timestamps(
            torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)), _MODEL[0],
            threshold=threshold, sampling_rate=sr, min_silence_duration_ms=min_silence_ms,
            speech_pad_ms=0,
        )  # fmt: skip
    return [(s["start"] / sr, s["end"] / sr) for s in stamps]


def vad(media: Media) -> list[tuple[float, float]]:
    """``speech_segments`` of ``media``'s audio (empty without audio), cached."""
    if not media.has_audio:
        return []
    return media.derived("vad", lambda: speech_segments(np.asarray(media.audio), media.sample_rate))
