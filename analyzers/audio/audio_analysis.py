"""Audio features per second with librosa: loudness (RMS dB), tempo and beat times,
onset strength and spectral centroid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from analyzers.core import AudioAnalyzer, BaseConfig, Media, register


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


@register
class AudioAnalysis(AudioAnalyzer):
    """Units: ``rms_db`` dBFS, ``tempo`` beats per minute for the whole track, ``beats``
    beat times in seconds inside the row's second, ``onset_strength`` librosa onset
    envelope mean, ``spectral_centroid_hz`` Hz."""

    name = "audio_analysis"
    version = "1"
    stage = "stage4_fast"
    Config = AudioConfig
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
        ]
    )

    def analyze(self, media: Media, config: AudioConfig) -> pa.Table:  # type: ignore[override]
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
        rows = []
        for s in media.seconds():
            seg = media.audio_second(s)
            rms = float(np.sqrt(np.mean(seg.astype(np.float64) ** 2))) if len(seg) else 0.0
            rms_db = 20 * np.log10(max(rms, 1e-10))
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
                }
            )
        return self.table(media, rows)
