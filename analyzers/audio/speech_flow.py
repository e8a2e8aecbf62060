"""Flow of speech: voice activity (Silero VAD), pauses, filler words, continuity.

Per second: the share of it that is voiced, pauses (silences of at least ``min_pause_s``
between two stretches of speech, so the silence before the first word and after the last
is no pause), filler words from the transcript (um, uh, er, ah, hmm, like, you know, I
mean, sort of, kind of, basically, actually, literally), and a continuity score.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from analyzers.core import AudioAnalyzer, BaseConfig, Media, register

FILLERS = (
    "um",
    "uh",
    "er",
    "ah",
    "hmm",
    "like",
    "you know",
    "i mean",
    "sort of",
    "kind of",
    "basically",
    "actually",
    "literally",
)


@dataclass(frozen=True)
class FlowConfig(BaseConfig):
    """``min_pause_s``: shortest silence between speech that counts as a pause."""

    min_pause_s: float = 0.3


def find_fillers(words: list[str]) -> list[int]:
    """Indices of the words that are (or start) a filler."""
    norm = [re.sub(r"[^a-z']", "", w.lower()) for w in words]
    hits = []
    for i in range(len(norm)):
        for f in FILLERS:
            parts = f.split()
            if norm[i : i + len(parts)] == parts:
                hits.append(i)
                break
    return hits


@register
class SpeechFlow(AudioAnalyzer):
    """Speech flow per second. ``speech_fraction``: voiced share of the second (0-1);
    ``pauses``: pauses overlapping the second, {start, end} in seconds; ``fillers``:
    filler words whose midpoint is in the second; ``continuity``: 0-1, voiced share of the
    speaking span of the whole video less 0.1 per filler per minute (same for every row);
    ``has_audio``."""

    name = "speech_flow"
    version = "1"
    stage = "stage4_fast"
    Config = FlowConfig
    requires = ("voice", "transcript")
    model = "silero-vad"
    output_schema = pa.schema(
        [
            ("speech_fraction", pa.float32()),
            ("pauses", pa.list_(pa.struct([("start", pa.float64()), ("end", pa.float64())]))),
            ("fillers", pa.list_(pa.string())),
            ("continuity", pa.float32()),
            ("has_audio", pa.bool_()),
        ]
    )
    ranges = {"speech_fraction": (0, 1), "continuity": (0, 1)}
    required = ("has_audio",)

    def analyze(  # type: ignore[override]
        self, media: Media, config: FlowConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        if not media.has_audio:
            return self.table(media, [{"second": s, "has_audio": False} for s in media.seconds()])
        voiced = signals["voice"]
        pauses = [
            (a[1], b[0]) for a, b in itertools.pairwise(voiced) if b[0] - a[1] >= config.min_pause_s
        ]
        words = signals["transcript"].words
        filler_idx = set(find_fillers([w.word for w in words]))
        if voiced:
            span = voiced[-1][1] - voiced[0][0]
            talk = sum(b - a for a, b in voiced)
            per_min = len(filler_idx) / max(span / 60, 1 / 60)
            continuity = max(0.0, talk / span - 0.1 * per_min) if span > 0 else None
        else:
            continuity = None
        rows = []
        for s in media.seconds():
            frac = sum(max(0.0, min(b, s + 1) - max(a, s)) for a, b in voiced)
            rows.append(
                {
                    "second": s,
                    "speech_fraction": min(1.0, frac),
                    "pauses": [{"start": a, "end": b} for a, b in pauses if a < s + 1 and b > s],
                    "fillers": [
                        w.word
                        for i, w in enumerate(words)
                        if i in filler_idx and s <= w.mid < s + 1
                    ],
                    "continuity": continuity,
                    "has_audio": True,
                }
            )
        return self.table(media, rows)
