"""Read-only views of one decoded video that analyzers work on (no decoding here)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class FrameStream:
    """Frames of one video at one rate and resolution.

    ``frames`` is uint8 RGB ``(N, H, W, 3)`` (usually a read-only memmap); ``seconds[i]``
    is the per-second row frame ``i`` belongs to; ``pts[i]`` its presentation time in
    seconds; ``fps`` the rate of this stream in frames per second.
    """

    frames: np.ndarray
    seconds: np.ndarray
    pts: np.ndarray
    fps: float

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def indices_in(self, second: int) -> np.ndarray:
        """Indices of the frames inside ``[second, second + 1)``."""
        return np.flatnonzero(self.seconds == second)

    def sample(self, second: int, per_second: float) -> np.ndarray:
        """Up to ``ceil(per_second)`` indices spread evenly over ``second``."""
        idx = self.indices_in(second)
        want = max(1, int(np.ceil(per_second)))
        if len(idx) <= want:
            return idx
        pick = np.linspace(0, len(idx) - 1, want + 2)[1:-1].round().astype(int)
        return idx[pick]


@dataclass(frozen=True)
class Media:
    """Everything an analyzer may read for one video.

    ``frames``: sampled frames at working resolution. ``lowres``: every decoded frame at a
    small size, for analyzers that need full temporal resolution (cuts). ``audio``: mono
    float32 at ``sample_rate`` Hz, exactly ``n_seconds * sample_rate`` samples long (zero
    padded), empty of sound when ``has_audio`` is false. ``bit_rate``: the container's bit
    rate in bits per second (0 when unknown). ``cache``: signals derived from this media
    (content scores, global motion ...) shared by the analyzers that read them, see
    ``derived``.
    """

    video_id: str
    duration_s: float
    n_seconds: int
    video_fps: float
    width: int
    height: int
    frames: FrameStream
    lowres: FrameStream
    audio: np.ndarray
    sample_rate: int
    has_audio: bool
    bit_rate: int = 0
    cache: dict[Any, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    def derived(self, key: Any, compute: Callable[[], T]) -> T:
        """``compute()`` once per media and ``key``: signals several analyzers read (cut
        scores, camera motion) are computed by the first that asks."""
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    def derived_any(self, kind: str) -> Any | None:
        """Any value already derived under a key ``(kind, ...)`` (whatever its settings),
        or None: for readers that take what a producer made rather than make their own."""
        for key, value in self.cache.items():
            if isinstance(key, tuple) and key and key[0] == kind:
                return value
        return None

    def audio_second(self, second: int) -> np.ndarray:
        """The audio samples of ``[second, second + 1)``."""
        sr = self.sample_rate
        return self.audio[second * sr : (second + 1) * sr]

    def seconds(self) -> Iterator[int]:
        """0 .. n_seconds - 1."""
        return iter(range(self.n_seconds))
