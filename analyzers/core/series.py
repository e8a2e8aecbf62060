"""Small per-second helpers shared by analyzers (pure functions, nothing kept)."""

from __future__ import annotations

import numpy as np

from analyzers.core.media import Media


def level_db(media: Media) -> np.ndarray:
    """RMS level of each second of the audio track in dBFS (-120 for digital silence)."""
    n, sr = media.n_seconds, media.sample_rate
    audio = np.asarray(media.audio[: n * sr], np.float64).reshape(n, sr)
    return 10 * np.log10(np.mean(audio**2, axis=1) + 1e-12)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index, inclusive, of each run of True in a boolean series."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def per_second(
    values: np.ndarray, seconds: np.ndarray, n_seconds: int, how: str = "mean"
) -> np.ndarray:
    """Reduce a per-frame series to one value per second (NaN where a second has no frame).
    ``how``: mean, max, min, sum or std."""
    out = np.full(n_seconds, np.nan, dtype=np.float64)
    fn = {"mean": np.mean, "max": np.max, "min": np.min, "sum": np.sum, "std": np.std}[how]
    for s in range(n_seconds):
        sel = values[seconds == s]
        if len(sel):
            out[s] = float(fn(sel))
    return out
