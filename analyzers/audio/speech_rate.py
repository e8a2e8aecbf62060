"""Speaking rate from the transcript's word timing: words per minute and syllables per
second, per second (over a 5 s window centred on it) and for the whole video.

Speaking time is the time covered by words, with the gaps between words shorter than
``pause_s`` counted in and longer gaps (pauses) left out, so a silent stretch does not
slow the rate down. Syllables are counted from spelling (vowel groups, with a silent final
e), which is within one syllable for most English words.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from analyzers.core import AudioAnalyzer, BaseConfig, Media, register
from analyzers.signals.transcript import Word

_VOWELS = re.compile(r"[aeiouy]+")


@dataclass(frozen=True)
class RateConfig(BaseConfig):
    """``window_s``: seconds the per-second rate is measured over (centred);
    ``pause_s``: a gap between words at least this long is a pause, not speaking time."""

    window_s: float = 5.0
    pause_s: float = 0.5


def syllables(word: str) -> int:
    """English syllables of ``word`` from its spelling (at least 1 for a word)."""
    w = re.sub(r"[^a-z]", "", word.lower())
    if not w:
        return 0
    n = len(_VOWELS.findall(w))
    if w.endswith("e") and not w.endswith(("le", "ee", "ye")) and n > 1:
        n -= 1
    return max(1, n)


def speaking_time(words: list[Word], pause_s: float) -> float:
    """Seconds covered by ``words`` counting gaps under ``pause_s`` as speech."""
    if not words:
        return 0.0
    total = words[0].end - words[0].start
    for prev, w in itertools.pairwise(words):
        gap = w.start - prev.end
        total += (w.end - w.start) + (gap if 0 < gap < pause_s else 0.0)
    return total


@register
class SpeechRate(AudioAnalyzer):
    """Speaking rate per second. ``wpm``: words per minute of speaking time in a
    ``window_s`` window centred on the second (null without words there);
    ``syllables_per_s``: likewise; ``words``: words whose midpoint is in the second;
    ``wpm_video`` / ``syllables_per_s_video``: over the whole video; ``has_audio``."""

    name = "speech_rate"
    version = "1"
    stage = "stage4_fast"
    Config = RateConfig
    requires = ("transcript",)
    model = "whisper word timing"
    output_schema = pa.schema(
        [
            ("wpm", pa.float32()),
            ("syllables_per_s", pa.float32()),
            ("words", pa.int32()),
            ("wpm_video", pa.float32()),
            ("syllables_per_s_video", pa.float32()),
            ("has_audio", pa.bool_()),
        ]
    )
    ranges = {
        "wpm": (0, None),
        "syllables_per_s": (0, None),
        "words": (0, None),
        "wpm_video": (0, None),
        "syllables_per_s_video": (0, None),
    }
    required = ("has_audio",)

    def analyze(  # type: ignore[override]
        self, media: Media, config: RateConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        if not media.has_audio:
            return self.table(media, [{"second": s, "has_audio": False} for s in media.seconds()])
        words = [w for w in signals["transcript"].words if syllables(w.word)]

        def rate(ws: list[Word]) -> tuple[float | None, float | None]:
            t = speaking_time(ws, config.pause_s)
            if not ws or t <= 0:
                return None, None
            return 60 * len(ws) / t, sum(syllables(w.word) for w in ws) / t

        wpm_v, syl_v = rate(words)
        rows = []
        half = config.window_s / 2
        for s in media.seconds():
            centre = s + 0.5
            near = [w for w in words if centre - half <= w.mid < centre + half]
            wpm, syl = rate(near)
            rows.append(
                {
                    "second": s,
                    "wpm": wpm,
                    "syllables_per_s": syl,
                    "words": sum(1 for w in words if s <= w.mid < s + 1),
                    "wpm_video": wpm_v,
                    "syllables_per_s_video": syl_v,
                    "has_audio": True,
                }
            )
        return self.table(media, rows)
