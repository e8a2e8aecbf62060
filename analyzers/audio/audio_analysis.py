"""Audio features per second with librosa: loudness (RMS dB and LUFS), tempo and beat
times, onset strength, spectral centroid, musical key, and the music-vs-speech balance.

- LUFS (ITU-R BS.1770-4 with pyloudnorm): ``lufs_short_term`` over a 3 s window centred on
  the second (EBU short-term length; null where the gate leaves nothing: silence) and
  ``lufs_integrated`` for the whole track.
- Key: Krumhansl-Schmuckler, the mean chroma (librosa CQT chroma) of the whole track
  correlated with the 24 rotated major/minor key profiles; ``key_confidence`` is the
  winning correlation (-1..1), and the key is null when no pitch content stands out.
- ``music_speech_balance``: music share minus speech share (-1 all speech .. 1 all music),
  from the AudioSet class scores of ``audio_environment`` (YAMNet when that has not run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from analyzers.core import AudioAnalyzer, BaseConfig, Media, register
from analyzers.core.series import level_db


@dataclass(frozen=True)
class AudioConfig(BaseConfig):
    """``hop``: analysis hop in samples (16 ms at 16 kHz); ``silence_db``: RMS below this
    (dBFS) counts as silent."""

    hop: int = 256
    silence_db: float = -60.0


def tempo_from_beats(beats: np.ndarray) -> float | None:
    """BPM from beat times (seconds): 60 over the mean of the intervals near the median,
    which is finer than librosa's lag-quantized tempo estimate."""
    if len(beats) < 4:
        return None
    iv = np.diff(beats)
    med = float(np.median(iv))
    keep = iv[np.abs(iv - med) < 0.2 * med]
    return float(60.0 / keep.mean()) if len(keep) else None


# Krumhansl-Kessler key profiles (C major, C minor), rotated for the other 11 tonics
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
NOTES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def estimate_key(y: np.ndarray, sr: int) -> tuple[str | None, float | None]:
    """("A minor", correlation) for mono ``y``; (None, None) without pitched content."""
    import librosa

    if len(y) < sr // 2 or float(np.max(np.abs(y))) < 1e-3:
        return None, None
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=512).mean(axis=1)
    if float(chroma.std()) < 0.02:
        return None, None
    best, name = -2.0, None
    for tonic in range(12):
        for profile, mode in ((_MAJOR, "major"), (_MINOR, "minor")):
            r = float(np.corrcoef(chroma, np.roll(profile, tonic))[0, 1])
            if r > best:
                best, name = r, f"{NOTES[tonic]} {mode}"
    return name, best


def loudness(y: np.ndarray, sr: int, n_seconds: int) -> tuple[list[float | None], float | None]:
    """Short-term LUFS per second (3 s centred window) and integrated LUFS of ``y``."""
    import pyloudnorm

    meter = pyloudnorm.Meter(sr)

    def lufs(x: np.ndarray) -> float | None:
        if len(x) < int(0.4 * sr):
            return None
        v = float(meter.integrated_loudness(np.asarray(x, np.float64)))
        return v if np.isfinite(v) else None

    short = [lufs(y[max(0, (s - 1) * sr) : (s + 2) * sr]) for s in range(n_seconds)]
    return short, lufs(y)


@register
class AudioAnalysis(AudioAnalyzer):
    """Units: ``rms_db`` dBFS, ``tempo`` beats per minute for the whole track, ``beats``
    beat times in seconds inside the row's second, ``onset_strength`` librosa onset
    envelope mean, ``spectral_centroid_hz`` Hz."""

    name = "audio_analysis"
    version = "2"
    stage = "stage4_fast"
    Config = AudioConfig
    requires = ("sound_events",)
    model = "librosa"
    output_schema = pa.schema(
        [
            ("has_audio", pa.bool_()),
            ("rms_db", pa.float32()),
            ("silent", pa.bool_()),
            ("tempo", pa.float32()),
            ("beats", pa.list_(pa.float64())),
            ("onset_strength", pa.float32()),
            ("spectral_centroid_hz", pa.float32()),
            ("lufs_short_term", pa.float32()),
            ("lufs_integrated", pa.float32()),
            ("key", pa.string()),
            ("key_confidence", pa.float32()),
            ("music_speech_balance", pa.float32()),
        ]
    )
    ranges = {
        "rms_db": (None, 6),
        "tempo": (0, 400),
        "onset_strength": (0, None),
        "spectral_centroid_hz": (0, 8000),
        "key_confidence": (-1, 1),
        "music_speech_balance": (-1, 1),
    }
    required = ("has_audio",)

    def analyze(  # type: ignore[override]
        self, media: Media, config: AudioConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        if not media.has_audio:
            return self.table(media, [{"second": s, "has_audio": False} for s in media.seconds()])
        import librosa

        y, sr, hop = media.audio.astype(np.float32), media.sample_rate, config.hop
        onset = librosa.onset.onset_strength(y=y, sr=sr, hop_length=hop)
        _, beat_frames = librosa.beat.beat_track(onset_envelope=onset, sr=sr, hop_length=hop)
        beats = librosa.frames_to_time(beat_frames, sr=sr, hop_length=hop)
        tempo = tempo_from_beats(beats)
        centroid = librosa.feature.spectral_centroid(y=y, sr=sr, hop_length=hop)[0]
        t_onset = librosa.frames_to_time(np.arange(len(onset)), sr=sr, hop_length=hop)
        t_cent = librosa.frames_to_time(np.arange(len(centroid)), sr=sr, hop_length=hop)
        short, integrated = loudness(y, sr, media.n_seconds)
        key, key_conf = estimate_key(y, sr)
        balance = [mu - sp for sp, mu in signals["sound_events"].shares()]
        levels = level_db(media)
        rows = []
        for s in media.seconds():
            rms_db = float(levels[s])
            in_on = (t_onset >= s) & (t_onset < s + 1)
            in_ce = (t_cent >= s) & (t_cent < s + 1)
            silent = rms_db < config.silence_db
            rows.append(
                {
                    "second": s,
                    "has_audio": True,
                    "rms_db": max(rms_db, -120.0),
                    "silent": silent,
                    "tempo": tempo,
                    "beats": [float(b) for b in beats if s <= b < s + 1],
                    "onset_strength": float(onset[in_on].mean()) if in_on.any() else None,
                    "spectral_centroid_hz": (
                        None if silent or not in_ce.any() else float(centroid[in_ce].mean())
                    ),
                    "lufs_short_term": short[s],
                    "lufs_integrated": integrated,
                    "key": key,
                    "key_confidence": key_conf,
                    "music_speech_balance": balance[s],
                }
            )
        return self.table(media, rows)
