"""Read-only views of one decoded video that analyzers work on (no decoding here)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

AUDIO_RATE = 16_000
"""The one audio rate of the pipeline: the decode writes mono float32 at this many Hz
and every audio model (Whisper, Silero, YAMNet, AST, wav2vec2) reads it."""


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
    rate in bits per second (0 when unknown). ``frames_id`` / ``audio_id``: identities of
    the decode the frames and the audio come from (a re-decode changes them), which key
    the persisted signals computed from them. Nothing derived is kept here: shared
    results are signals (``analyzers.core.runner``).
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
    frames_id: str = ""
    audio_id: str = ""

    def audio_second(self, second: int) -> np.ndarray:
        """The audio samples of ``[second, second + 1)``."""
        sr = self.sample_rate
        return self.audio[second * sr : (second + 1) * sr]

    def seconds(self) -> Iterator[int]:
        """0 .. n_seconds - 1."""
        return iter(range(self.n_seconds))
