"""Sound environment per second from the ``sound_events`` signal (YAMNet or AST AudioSet
scores, see ``analyzers.signals.sound_events``, where the backend is set): top AudioSet
classes, speech / music shares, silence (RMS under ``silence_db``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from analyzers.core import AudioAnalyzer, BaseConfig, Media, register
from analyzers.core.series import level_db
from analyzers.signals.sound_events import SoundEvents, shares


@dataclass(frozen=True)
class EnvironmentConfig(BaseConfig):
    """``top_k``: classes listed per second; ``silence_db``: RMS level (dBFS) under which
    a second is silent."""

    top_k: int = 3
    silence_db: float = -50.0


@register
class AudioEnvironment(AudioAnalyzer):
    """Sound environment per second. ``top_classes``: the ``top_k`` AudioSet classes
    {label, score 0-1}; ``speech_share``, ``music_share``: 0-1 shares of the second's
    evidence; ``silence``: RMS under ``silence_db``; ``rms_db`` (dBFS); ``backend``;
    ``has_audio``."""

    name = "audio_environment"
    version = "1"
    stage = "stage4_fast"
    Config = EnvironmentConfig
    requires = ("sound_events",)
    model = "yamnet|ast-audioset"
    output_schema = pa.schema(
        [
            ("top_classes", pa.list_(pa.struct([("label", pa.string()), ("score", pa.float32())]))),
            ("speech_share", pa.float32()),
            ("music_share", pa.float32()),
            ("silence", pa.bool_()),
            ("rms_db", pa.float32()),
            ("backend", pa.string()),
            ("has_audio", pa.bool_()),
        ]
    )
    ranges = {"speech_share": (0, 1), "music_share": (0, 1), "rms_db": (None, 6)}
    required = ("has_audio",)

    def analyze(  # type: ignore[override]
        self, media: Media, config: EnvironmentConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        if not media.has_audio:
            return self.table(media, [{"second": s, "has_audio": False} for s in media.seconds()])
        events: SoundEvents = signals["sound_events"]
        per_sec, labels = events.scores, events.labels
        levels = level_db(media)
        rows = []
        for s in media.seconds():
            db = float(levels[s])
            p = per_sec[s]
            top = np.argsort(p)[::-1][: config.top_k]
            sp, mu = shares(p, labels)
            rows.append(
                {
                    "second": s,
                    "top_classes": [{"label": labels[i], "score": float(p[i])} for i in top],
                    "speech_share": sp,
                    "music_share": mu,
                    "silence": db < config.silence_db,
                    "rms_db": db,
                    "backend": events.backend,
                    "has_audio": True,
                }
            )
        return self.table(media, rows)
