"""Speech per second from the ``transcript`` signal (Whisper words aligned to voice
activity, language per voiced stretch: see ``analyzers.signals.transcript``). Whisper's
settings (size, backend, language, beam) are the signal's: ``[transcript]`` in the
analyzer config, read alike by every speech analyzer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from analyzers.core import AudioAnalyzer, BaseConfig, Media, register
from analyzers.signals.transcript import Transcript


@register
class SpeechTranscription(AudioAnalyzer):
    """Speech per second. ``text``: words whose midpoint falls in the second, joined;
    ``words``: those words with start/end (seconds) and probability (0-1); ``language``:
    the language spoken in the second (detected per voiced stretch; in a pause, that of
    the speech around it); ``no_speech_prob``: highest no-speech
    probability of the Whisper segments overlapping the second (1.0 where none does);
    ``has_audio``."""

    name = "speech_transcription"
    version = "2"
    stage = "stage4_fast"
    requires = ("transcript",)
    model = "openai-whisper"
    output_schema = pa.schema(
        [
            ("text", pa.string()),
            (
                "words",
                pa.list_(
                    pa.struct(
                        [
                            ("word", pa.string()),
                            ("start", pa.float64()),
                            ("end", pa.float64()),
                            ("probability", pa.float32()),
                        ]
                    )
                ),
            ),
            ("language", pa.string()),
            ("no_speech_prob", pa.float32()),
            ("has_audio", pa.bool_()),
        ]
    )
    ranges = {"no_speech_prob": (0, 1)}
    required = ("has_audio",)

    def analyze(self, media: Media, config: BaseConfig, signals: Mapping[str, Any]) -> pa.Table:
        if not media.has_audio:
            return self.table(media, [{"second": s, "has_audio": False} for s in media.seconds()])
        tr: Transcript = signals["transcript"]
        rows = []
        for s in media.seconds():
            words = [w for w in tr.words if s <= w.mid < s + 1]
            over = [p for a, b, p in tr.segments if a < s + 1 and b > s]
            rows.append(
                {
                    "second": s,
                    "text": " ".join(w.word for w in words),
                    "words": [w.__dict__ for w in words],
                    "language": tr.language_at(s, s + 1),
                    "no_speech_prob": max(over) if over else 1.0,
                    "has_audio": True,
                }
            )
        return self.table(media, rows)
