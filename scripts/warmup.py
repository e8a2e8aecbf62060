"""Compile librosa's numba kernels once at install time (about 25 s cold), so the first
analysis does not pay for it. Numba caches them beside the installed package."""

import numpy as np

from analyzers.core.synth import click_track

if __name__ == "__main__":
    import librosa

    y = click_track(120, 4)
    onset = librosa.onset.onset_strength(y=y, sr=16_000, hop_length=256)
    librosa.beat.beat_track(onset_envelope=onset, sr=16_000, hop_length=256)
    librosa.feature.spectral_centroid(y=y, sr=16_000, hop_length=256)
    print("librosa kernels compiled", np.round(len(onset)))
