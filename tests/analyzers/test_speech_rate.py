"""speech_rate: espeak-ng at 150 words per minute is measured at that rate (within 15 %),
and the silence after the speech has no rate."""

import pytest

from analyzers.audio.speech_rate import SpeechRate, syllables
from tests.conftest import SPEECH_RATE_WPM, analyze_with


@pytest.fixture(scope="module")
def rows(speech, decode, model_store):
    clip, _ = speech
    return analyze_with(SpeechRate, decode(clip), model_store)


def test_words_per_minute_matches_the_rate_given_to_espeak(rows):
    assert rows[0]["wpm_video"] == pytest.approx(SPEECH_RATE_WPM, rel=0.15)
    mid_sentence = rows[3]["wpm"]  # a window wholly inside the first sentence
    assert mid_sentence == pytest.approx(SPEECH_RATE_WPM, rel=0.15)


def test_word_counts_and_silence(rows, speech):
    _, truth = speech
    assert sum(r["words"] for r in rows) == len(truth.words)
    assert rows[-1]["wpm"] is None and rows[-1]["words"] == 0  # 14-16 s is silent


def test_syllables_per_second(rows, speech):
    _, truth = speech
    n = sum(syllables(w) for w, _, _ in truth.words)
    talk = sum(b - a for a, b in truth.spans)
    assert rows[0]["syllables_per_s_video"] == pytest.approx(n / talk, rel=0.15)


@pytest.mark.parametrize(
    ("word", "n"),
    [
        ("today", 2),
        ("kitchen", 2),
        ("vegetables", 4),
        ("online.", 2),
        ("cleans", 1),
        ("effort", 2),
        ("slices", 2),
    ],
)
def test_syllable_count(word, n):
    assert syllables(word) == n
